"""``python -m segpic train``: train a registry architecture; SegPIC with segmentation masks as
privileged information.

    python -m segpic train --data DIR --out RUN_DIR [--arch ARCH] [--config small|paper]
        [--quality q1..q6 | --lambda X] [--loss mse|ms-ssim] [--masks auto|DIR|coco:DIR]
        [--no-mask] [--steps N] [--crop 256] [--batch-size 8] [--epoch-size N]
        [--val-crop 256] [--val-full DIR] [--grid-mix P] [--device cpu|cuda] [--resume]

The run folder receives ``checkpoint.pth`` (loadable with ``segpic.zoo.load_checkpoint``),
``checkpoint_best.pth`` (the best validation loss in the training mode) and ``log.csv``.
``--resume`` continues the run in RUN_DIR up to the new ``--steps``.  The mask options
(``--masks``, ``--no-mask``, ``--grid-mix``) apply to architectures with a segmentation prior
(registry ``masks``); the others train on images alone with the same loop, loss and resume.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from segpic import registry

from .config import ARCHS, CONFIG_NAMES, build_model, model_config
from .data import FullImages, TrainingCrops, ValidationCrops, find_images, split_images
from .loop import CHECKPOINT, Settings, Trainer, TrainingError
from .loss import MS_SSIM_MIN_SIDE, QUALITY_LAMBDAS
from .masks import mask_source, read_image

CROP_MULTIPLE = 64  # the window attention at 1/16 scale needs sides divisible by 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``segpic train``."""
    parser.add_argument("--data", type=Path, required=True,
                        help="image folder; a 'validation' (or 'val') subfolder is the "
                             "validation set, else --val-fraction of the images is held out")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--arch", choices=ARCHS, default=ARCHS[0],
                        help=f"architecture (segpic.registry; default {ARCHS[0]}); the mask options "
                             "apply to architectures with a segmentation prior")
    parser.add_argument("--config", choices=CONFIG_NAMES, default="paper",
                        help="model size: paper (the published one) or small (default: paper)")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--quality", choices=sorted(QUALITY_LAMBDAS),
                      help="lambda preset for the MSE loss (default q2 = 0.0035)")
    rate.add_argument("--lambda", dest="lmbda", type=float, help="rate-distortion lambda")
    parser.add_argument("--loss", choices=("mse", "ms-ssim"), default="mse")
    parser.add_argument("--masks",
                        help="auto|felzenszwalb|slic (generated, cached), sam:CKPT, "
                             "coco:DIR (panoptic PNGs) or DIR (label-map PNGs); default auto. "
                             "With --no-mask they serve the mask-mode validation only")
    parser.add_argument("--no-mask", action="store_true",
                        help="train with grid prototypes only (the paper's ablation)")
    parser.add_argument("--mask-cache", type=Path,
                        help="cache for generated masks (default ~/.cache/segpic/masks)")
    parser.add_argument("--steps", type=int, default=2000, help="train up to this step")
    parser.add_argument("--crop", type=int, default=256, help="square crop side (multiple of 64)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--epoch-size", type=int,
                        help="images per epoch (default: the training set's size); each "
                             "epoch ends with validation and one LR-scheduler step")
    parser.add_argument("--val-crop", type=int, default=256,
                        help="validation centre-crop side (multiple of 64; default 256)")
    parser.add_argument("--val-full", type=Path,
                        help="folder of whole images (e.g. Kodak) also validated each epoch "
                             "with grid prototypes; logged, not used by the scheduler")
    parser.add_argument("--val-full-images", type=int, default=4,
                        help="how many of --val-full's images (sorted by name; default 4)")
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--patience", type=int, default=16,
                        help="epochs without improvement before the LR halves (default 16)")
    parser.add_argument("--min-lr", type=float, default=5e-6)
    parser.add_argument("--grid-mix", type=float, default=0.0,
                        help="fraction of steps trained with grid prototypes of a random "
                             "size 2..8 (a deviation from the authors; default 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="data loader processes")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")


def _settings(args, train_images: int) -> Settings:
    for name in ("steps", "crop", "batch_size", "checkpoint_every", "val_crop",
                 "val_full_images"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if args.epoch_size is not None and args.epoch_size <= 0:
        raise ValueError("--epoch-size must be positive")
    if args.patience < 0:
        raise ValueError("--patience must not be negative")
    for name in ("crop", "val_crop"):
        if getattr(args, name) % CROP_MULTIPLE:
            raise ValueError(f"--{name.replace('_', '-')} must be a multiple of "
                             f"{CROP_MULTIPLE}, got {getattr(args, name)}")
    if args.loss == "ms-ssim":
        if args.lmbda is None:
            raise ValueError("--loss ms-ssim has no quality presets: give --lambda")
        if args.crop < MS_SSIM_MIN_SIDE:
            raise ValueError(f"--loss ms-ssim needs --crop of at least {MS_SSIM_MIN_SIDE}")
    lmbda = args.lmbda if args.lmbda is not None else QUALITY_LAMBDAS[args.quality or "q2"]
    if lmbda <= 0:
        raise ValueError("--lambda must be positive")
    if not 0 <= args.grid_mix <= 1:
        raise ValueError("--grid-mix must be between 0 and 1")
    return Settings(steps=args.steps, lmbda=lmbda, metric=args.loss,
                    batch_size=args.batch_size, epoch_size=args.epoch_size or train_images,
                    patience=args.patience, min_lr=args.min_lr,
                    checkpoint_every=args.checkpoint_every, use_masks=not args.no_mask,
                    grid_mix=args.grid_mix, seed=args.seed)


def _full_images(args):
    """(FullImages or None, its description for the checkpoint)."""
    if args.val_full is None:
        return None, None
    if not args.val_full.is_dir():
        raise ValueError(f"--val-full {args.val_full} does not exist")
    paths = find_images(args.val_full)[:args.val_full_images]
    if not paths:
        raise ValueError(f"--val-full {args.val_full} holds no images")
    for path in paths:  # fail now rather than at the end of the first epoch
        read_image(path)
    return FullImages(paths), {"root": str(args.val_full.resolve()),
                               "images": [p.name for p in paths]}


def _trainer(args) -> Trainer:
    if not 0 < args.val_fraction < 1:
        raise ValueError("--val-fraction must be between 0 and 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    has_run = (args.out / CHECKPOINT).is_file()
    if has_run and not args.resume:
        raise ValueError(f"{args.out} already holds a run: pass --resume or choose another --out")
    if args.resume and not has_run:
        raise ValueError(f"nothing to resume: {args.out / CHECKPOINT} does not exist")
    config = model_config(args.arch, args.config)
    if not registry.get(args.arch).masks:
        if args.masks is not None or args.grid_mix:
            with_masks = ", ".join(n for n in registry.trainable() if registry.get(n).masks)
            raise ValueError(f"--masks and --grid-mix apply to architectures with a segmentation prior "
                             f"({with_masks}), not to {args.arch}")
        args.no_mask = True  # images only

    train_paths, val_paths = split_images(args.data, args.val_fraction)
    settings = _settings(args, len(train_paths))
    full_set, full = _full_images(args)
    spec = args.masks if args.masks is not None else (None if args.no_mask else "auto")
    masks = mask_source(spec, args.mask_cache) if spec is not None else None
    if masks is not None:
        masks.prepare(val_paths if args.no_mask else train_paths + val_paths)
    data = {"root": str(args.data.resolve()), "train_images": len(train_paths),
            "val_images": len(val_paths), "val_fraction": args.val_fraction,
            "crop": args.crop, "val_crop": args.val_crop, "val_full": full,
            "masks": masks.describe() if masks else None}

    torch.manual_seed(settings.seed)
    trainer = Trainer(build_model(config), config,
                      TrainingCrops(train_paths, None if args.no_mask else masks, args.crop,
                                    settings.seed),
                      ValidationCrops(val_paths, args.val_crop, masks), settings, args.out,
                      data, device=args.device, workers=args.workers, full_set=full_set)
    if args.resume:
        trainer.resume()
        if trainer.step >= settings.steps:
            raise ValueError(f"the run is at step {trainer.step}: give --steps above it")
    return trainer


def run(args) -> int:
    """Run ``segpic train``; returns the exit status (errors: one line on stderr)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        trainer = _trainer(args)
        finished = trainer.run()
    except (ValueError, TrainingError) as err:  # MaskError is a ValueError
        print(f"segpic train: error: {err}", file=sys.stderr)
        return 2
    if not finished:
        print(f"segpic train: stopped at step {trainer.step}; checkpoint saved, "
              f"continue with --resume", file=sys.stderr)
        return 130
    print(f"trained to step {trainer.step}: {args.out / CHECKPOINT}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="segpic train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
