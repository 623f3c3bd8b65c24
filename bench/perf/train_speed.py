"""Training speed of SegPIC: steps per second of the real training step.

    python -m bench.perf.train_speed [--configs small paper] [--device cpu|cuda]
        [--threads 1] [--steps 5] [--small 8x128] [--paper 2x256]

Each configuration runs ``Trainer.train_step`` of ``segpic.train`` (forward with a mask,
RD loss, backward, clipping, both Adam steps) on random images with blocky 16-region
masks; the first ``--warmup`` steps are not timed, then the median over ``--steps`` steps
is reported: wall seconds per step, CPU seconds per step of this process (on a shared
machine wall time includes waiting for the cores; the load average is printed), steps per
second and training pixels per second.  Not a test: the paper configuration takes minutes
on a CPU.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
from tabulate import tabulate

from segpic import registry
from segpic.train.config import CONFIG_NAMES, build_model, model_config
from segpic.train.loop import Settings, Trainer


def batch_shape(text: str):
    """``"8x128"`` -> (8, 128): batch size and square crop side."""
    try:
        b, s = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BATCHxCROP like 8x128, got {text!r}") from None
    return b, s


def random_batch(batch: int, crop: int, device: str, regions: int = 4):
    """Random images and (regions x regions)-block masks with ids 0..regions^2-1."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, crop, crop, generator=g)
    ids = torch.arange(regions * regions).reshape(regions, regions)
    mask = ids.repeat_interleave(crop // regions, 0).repeat_interleave(crop // regions, 1)
    return {"image": x.to(device), "mask": mask.expand(batch, -1, -1).contiguous().to(device)}


def measure(arch: str, name: str, batch: int, crop: int, device: str, steps: int, warmup: int):
    config = model_config(arch, name)
    torch.manual_seed(0)
    model = build_model(config)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model, config, None, None, Settings(steps=steps + warmup, lmbda=0.0067,
                                                              batch_size=batch),
                          run_dir, data={}, device=device)
        data = random_batch(batch, crop, device)
        walls, cpus = [], []
        for i in range(warmup + steps):
            if device == "cuda":
                torch.cuda.synchronize()
            w, c = time.perf_counter(), time.process_time()
            trainer.train_step(data)  # .item() inside synchronises
            if i >= warmup:
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    size = ", ".join(f"{k}={v}" for k, v in config.items() if k != "arch")
    return [name, size, f"{params:.1f}", f"{batch}x{crop}x{crop}", f"{wall:.3f}", f"{cpu:.3f}",
            f"{1 / wall:.3f}", f"{batch * crop * crop / wall / 1e3:.0f}"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf.train_speed",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=registry.trainable(), default=registry.trainable()[0],
                        help=f"registry entry (default {registry.trainable()[0]})")
    parser.add_argument("--configs", nargs="+", default=["small", "paper"],
                        choices=CONFIG_NAMES)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--small", type=batch_shape, default=(8, 128), help="BATCHxCROP")
    parser.add_argument("--paper", type=batch_shape, default=(2, 256), help="BATCHxCROP")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.exit(2, "train_speed: error: --device cuda: no CUDA device is available\n")
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {args.threads} thread(s)"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"device: {where}; {os.cpu_count()} cores; load average {load}; torch {torch.__version__}")
    rows = [measure(args.arch, name, *getattr(args, name), args.device, args.steps, args.warmup)
            for name in args.configs]
    print(tabulate(rows, headers=["config", "model", "Mparams", "batch", "s/step (wall)",
                                  "CPU s/step", "steps/s", "kpixel/s"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
