"""The training loop: optimisation, validation, logging, checkpoints and exact resume.

One step (spec section 4): forward with the batch's masks (or grid prototypes), the
rate-distortion loss, gradient clipping at 1.0, Adam on everything but the entropy
bottlenecks' ``quantiles``; then the auxiliary quantile loss on its own Adam.  Every
``val_every`` steps the held-out loss (grid prototypes, eval mode: what inference sees) steps
a ReduceLROnPlateau schedule (only there, so a run's schedule does not depend on where it
was stopped and resumed).

All randomness is derived from (seed, step): the batch of step s is fixed by the data set
(see :mod:`.data`), and the model's training noise is drawn after seeding torch with
(seed, s).  A resumed run therefore repeats an uninterrupted one exactly.
"""
from __future__ import annotations

import csv
import math
import os
import signal
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .loss import RateDistortionLoss

CHECKPOINT = "checkpoint.pth"
LOG = "log.csv"
LOG_FIELDS = ["step", "split", "loss", "bpp", "mse", "psnr", "aux_loss", "lr"]


class TrainingError(RuntimeError):
    """The run cannot start or continue; the message is one line."""


@dataclass
class Settings:
    """How to train.  ``RECIPE`` fields must match when a run is resumed.

    Attributes:
        steps: the step to train up to (a resumed run may raise it).
        lmbda: rate-distortion lambda; metric: ``"mse"`` or ``"ms-ssim"``.
        batch_size: crops per step; grid: prototype grid at validation (and with no mask).
        lr, aux_lr: Adam learning rates of the main and the quantile parameters.
        clip: max gradient norm; patience, min_lr: ReduceLROnPlateau (factor 0.5).
        val_every: steps between validations (and scheduler steps).
        checkpoint_every: steps between checkpoints (one is always written at the end).
        use_masks: train with the data set's masks (else grid prototypes).
        seed: fixes the model's initialisation, the batches and the training noise.
    """

    steps: int
    lmbda: float
    metric: str = "mse"
    batch_size: int = 8
    grid: int = 4
    lr: float = 1e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    patience: int = 8
    min_lr: float = 5e-6
    val_every: int = 100
    checkpoint_every: int = 500
    use_masks: bool = True
    seed: int = 0

    RECIPE = ("lmbda", "metric", "batch_size", "grid", "lr", "aux_lr", "clip", "patience",
              "min_lr", "use_masks", "seed")


def split_parameters(model: nn.Module):
    """(main, quantiles): the entropy bottlenecks' ``quantiles`` get the auxiliary optimiser."""
    main, aux = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (aux if name.endswith(".quantiles") else main).append(param)
    return main, aux


def step_seed(seed: int, step: int) -> int:
    """The torch seed for the training noise of ``step``."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1, np.uint32)[0])


def ignore_stop_signals(worker_id: int) -> None:
    """Data-loader workers leave SIGINT/SIGTERM to the main process, which finishes the step,
    saves a checkpoint and then shuts the workers down (a terminal's Ctrl-C and ``timeout``
    signal the whole process group)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Trainer:
    """Trains one model in a run folder (``checkpoint.pth`` and ``log.csv``).

    Args:
        model: a CompressAI-style model whose forward takes ``mask=`` and ``grid=``.
        model_config: ``{"arch": ..., **constructor kwargs}``, saved with the weights.
        train_set: items ``{"image": (3,h,w), "mask": (h,w)}`` indexed by sample number.
        val_set: (3, h, w) validation images.
        settings: see :class:`Settings`.
        run_dir: the run folder.
        data: a JSON-able description of the data, saved in checkpoints.
        device: ``"cpu"`` or ``"cuda"``; workers: data loader processes.
    """

    def __init__(self, model: nn.Module, model_config: Dict, train_set: Dataset,
                 val_set: Dataset, settings: Settings, run_dir: Path, data: Dict,
                 device: str = "cpu", workers: int = 0):
        self.model = model.to(device)
        self.model_config, self.settings, self.data = model_config, settings, data
        self.train_set, self.val_set = train_set, val_set
        self.run_dir, self.device, self.workers = Path(run_dir), device, workers
        self.criterion = RateDistortionLoss(settings.lmbda, settings.metric)
        main, aux = split_parameters(model)
        self.main_params = main
        self.optimizer = torch.optim.Adam(main, lr=settings.lr)
        self.aux_optimizer = torch.optim.Adam(aux, lr=settings.aux_lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=0.5, patience=settings.patience,
            min_lr=settings.min_lr)
        self.step = 0
        self._stop = False

    # ---- checkpoints -------------------------------------------------------------------
    def state(self) -> Dict:
        """The checkpoint: ``model`` and ``config`` as segpic.zoo.load_checkpoint reads them."""
        return {"model": self.model.state_dict(), "config": dict(self.model_config),
                "optimizer": self.optimizer.state_dict(),
                "aux_optimizer": self.aux_optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step,
                "settings": asdict(self.settings), "data": self.data}

    def save(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / CHECKPOINT
        save_atomic(self.state(), path)
        return path

    def resume(self) -> None:
        """Load ``checkpoint.pth`` of the run folder; the recipe and model must match."""
        path = self.run_dir / CHECKPOINT
        if not path.is_file():
            raise TrainingError(f"nothing to resume: {path} does not exist")
        try:
            ckpt = torch.load(path, map_location=self.device, weights_only=False)
        except Exception as err:  # a damaged file: torch raises many kinds
            raise TrainingError(f"cannot read {path}: {err}") from None
        if ckpt.get("config") != self.model_config:
            raise TrainingError(f"{path} holds a model {ckpt.get('config')}, "
                                f"not {self.model_config}")
        for key in Settings.RECIPE:
            old, new = ckpt["settings"].get(key), getattr(self.settings, key)
            if old != new:
                raise TrainingError(f"{path} was trained with {key}={old}, not {new}; "
                                    f"resume with the same settings")
        if ckpt["data"] != self.data:
            raise TrainingError(f"{path} was trained on other data: {ckpt['data']}")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.step = ckpt["step"]

    # ---- log ---------------------------------------------------------------------------
    def _truncate_log(self) -> None:
        """Drop log rows after the current step (left by a run stopped between checkpoints)."""
        path = self.run_dir / LOG
        if not path.is_file():
            return
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        fd, tmp = tempfile.mkstemp(prefix=LOG, dir=self.run_dir)
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)

    def _open_log(self):
        path = self.run_dir / LOG
        new = not path.is_file()
        f = open(path, "a", newline="")
        writer = csv.DictWriter(f, LOG_FIELDS)
        if new:
            writer.writeheader()
        return f, writer

    # ---- training ----------------------------------------------------------------------
    def train_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, float]:
        """One optimisation step on a batch; returns the loss terms as floats."""
        x = batch["image"].to(self.device, non_blocking=True)
        mask = batch["mask"].to(self.device) if self.settings.use_masks else None
        torch.manual_seed(step_seed(self.settings.seed, self.step))
        self.optimizer.zero_grad(set_to_none=True)
        self.aux_optimizer.zero_grad(set_to_none=True)
        terms = self.criterion(self.model(x, mask=mask, grid=self.settings.grid), x)
        terms["loss"].backward()
        nn.utils.clip_grad_norm_(self.main_params, self.settings.clip)
        self.optimizer.step()
        aux_loss = self.model.aux_loss()
        aux_loss.backward()
        self.aux_optimizer.step()
        out = {k: v.item() for k, v in terms.items()}
        out["aux_loss"] = aux_loss.item()
        return out

    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        """Mean loss terms over the validation set, eval mode, grid prototypes, no mask."""
        self.model.eval()
        sums: Dict[str, float] = {}
        loader = DataLoader(self.val_set, batch_size=self.settings.batch_size,
                            num_workers=self.workers, worker_init_fn=ignore_stop_signals)
        for x in loader:
            x = x.to(self.device)
            terms = self.criterion(self.model(x, grid=self.settings.grid), x)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(x)
        self.model.train()
        out = {k: v / len(self.val_set) for k, v in sums.items()}
        out["psnr"] = -10 * math.log10(out["mse"])  # PSNR of the mean MSE
        out["aux_loss"] = float(self.model.aux_loss())
        return out

    def _interrupt(self, signum, frame):
        if self._stop:
            raise KeyboardInterrupt
        self._stop = True

    def run(self) -> bool:
        """Train from ``self.step`` up to ``settings.steps``.

        Returns True when the last step was reached, False when stopped by SIGINT/SIGTERM
        (a checkpoint of the last finished step is written either way).
        """
        s = self.settings
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._truncate_log()
        self.model.train()
        loader = DataLoader(self.train_set, batch_size=s.batch_size,
                            sampler=range(self.step * s.batch_size, s.steps * s.batch_size),
                            num_workers=self.workers, pin_memory=self.device != "cpu",
                            worker_init_fn=ignore_stop_signals)
        handlers = {sig: signal.signal(sig, self._interrupt)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        log_file, log = self._open_log()
        bar = tqdm(total=s.steps, initial=self.step, desc="train", unit="step",
                   dynamic_ncols=True)
        try:
            for batch in loader:
                terms = self.train_step(batch)
                self.step += 1
                lr = self.optimizer.param_groups[0]["lr"]
                log.writerow(_row(self.step, "train", terms, lr))
                bar.update(1)
                bar.set_postfix(loss=f"{terms['loss']:.3f}", bpp=f"{terms['bpp']:.3f}",
                                psnr=f"{terms['psnr']:.2f}")
                if not math.isfinite(terms["loss"]):
                    raise TrainingError(f"loss became {terms['loss']} at step {self.step}")
                if self.step % s.val_every == 0:
                    val = self.validate()
                    self.scheduler.step(val["loss"])
                    log.writerow(_row(self.step, "val", val, lr))
                    bar.write(f"step {self.step}: val loss {val['loss']:.4f} "
                              f"bpp {val['bpp']:.4f} psnr {val['psnr']:.2f} dB")
                log_file.flush()
                if self.step % s.checkpoint_every == 0 or self.step == s.steps:
                    self.save()
                if self._stop:
                    self.save()
                    return False
            return True
        finally:
            bar.close()
            log_file.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)


def _row(step: int, split: str, terms: Dict[str, float], lr: float) -> Dict:
    row = {"step": step, "split": split, "lr": f"{lr:.3g}"}
    row.update({k: f"{terms[k]:.6g}" for k in ("loss", "bpp", "mse", "psnr", "aux_loss")})
    return row

