"""The training loop: optimisation, validation, logging, checkpoints and exact resume.

One step (spec section 4): forward with the batch's masks (or grid prototypes), the
rate-distortion loss, gradient clipping at 1.0, Adam on everything but the entropy
bottlenecks' ``quantiles``; then the auxiliary quantile loss on its own Adam.

Schedule by epochs, as the authors: an epoch is ``epoch_size`` images, i.e.
ceil(epoch_size / batch_size) steps.  At the end of each epoch the validation set is coded
with mask prototypes and with grid prototypes (eval mode), optionally a few whole images
with grid prototypes too; the loss in the training mode (masks, or the grid with
``use_masks=False``) steps ReduceLROnPlateau (factor 0.5, patience in epochs, floor
``min_lr``) and decides the best checkpoint.  The schedule happens only there, so a run's
schedule does not depend on where it was stopped and resumed.

Checkpoints carry converged entropy-bottleneck quantiles (bisection, ``converged_quantiles``)
in ``model``, so ``segpic.zoo.load_checkpoint`` builds CDF tables that cover the latents;
the training quantiles (what the aux optimiser left) are kept apart for resuming.

All randomness is derived from (seed, step): the batch of step s is fixed by the data set
(see :mod:`.data`), and the model's training noise is drawn after seeding torch with
(seed, s); with ``grid_mix`` the choice of prototypes is a function of (seed, s) too.  A
resumed run therefore repeats an uninterrupted one exactly.

Any registry architecture trains with this loop.  Masks and grids concern models with a
segmentation prior (``forward`` takes ``mask=`` and ``grid=``: SegPIC); another model is called
on the image alone, its ``val-grid`` split is plain validation and ``prototypes`` stays empty.
"""
from __future__ import annotations

import csv
import inspect
import math
import os
import signal
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from compressai.entropy_models import EntropyBottleneck
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from segpic.models.base import crop, pad_to_multiple
from segpic.zoo import CheckpointError, read_checkpoint

from .loss import STREAMS, RateDistortionLoss

CHECKPOINT = "checkpoint.pth"
BEST_CHECKPOINT = "checkpoint_best.pth"
LOG = "log.csv"
#: ``split``: train, val-mask, val-grid, val-full (validation modes) or quantiles (the
#: auxiliary loss of the saved, converged quantiles at the end of a run).  ``prototypes``:
#: ``mask`` or ``gridG``.  Rates are bits per pixel; ``bpp`` is the sum of the streams.
LOG_FIELDS = ["step", "epoch", "split", "prototypes", "loss", "bpp",
              *(f"bpp_{k}" for k in STREAMS), "mse", "psnr", "aux_loss", "lr"]
GRID_MIX_SIDES = (2, 8)  # grid sizes drawn by grid_mix, inclusive


class TrainingError(RuntimeError):
    """The run cannot start or continue; the message is one line."""


@dataclass
class Settings:
    """How to train.  ``RECIPE`` fields must match when a run is resumed.

    Attributes:
        steps: the step to train up to (a resumed run may raise it).
        lmbda: rate-distortion lambda; metric: ``"mse"`` or ``"ms-ssim"``.
        batch_size: crops per step; grid: prototype grid at validation (and with no mask).
        epoch_size: images per epoch (0: the training set's size); an epoch is
            ceil(epoch_size / batch_size) steps.
        lr, aux_lr: Adam learning rates of the main and the quantile parameters.
        clip: max gradient norm; patience (epochs), min_lr: ReduceLROnPlateau (factor 0.5),
            stepped once per epoch.
        checkpoint_every: steps between checkpoints (one is always written at the end).
        use_masks: train with the data set's masks (else grid prototypes).
        grid_mix: fraction of steps trained with grid prototypes of a random size
            (GRID_MIX_SIDES) instead of the masks (or the fixed grid); a deviation from the
            authors, 0 = off.
        seed: fixes the model's initialisation, the batches and the training noise.
    """

    steps: int
    lmbda: float
    metric: str = "mse"
    batch_size: int = 8
    grid: int = 4
    epoch_size: int = 0
    lr: float = 1e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    patience: int = 16
    min_lr: float = 5e-6
    checkpoint_every: int = 500
    use_masks: bool = True
    grid_mix: float = 0.0
    seed: int = 0

    RECIPE = ("lmbda", "metric", "batch_size", "grid", "epoch_size", "lr", "aux_lr", "clip",
              "patience", "min_lr", "use_masks", "grid_mix", "seed")


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


def step_prototypes(settings: Settings, step: int) -> Optional[int]:
    """The prototypes of ``step``: None for the batch's masks, else the grid side."""
    grid = None if settings.use_masks else settings.grid
    if settings.grid_mix > 0:
        rng = np.random.default_rng([settings.seed, step, 2])
        if rng.random() < settings.grid_mix:
            grid = int(rng.integers(GRID_MIX_SIDES[0], GRID_MIX_SIDES[1] + 1))
    return grid


def bottlenecks(model: nn.Module):
    """(name, module) of the model's factorized entropy bottlenecks."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, EntropyBottleneck)]


@torch.no_grad()
def converged_quantiles(model: nn.Module) -> Tuple[Dict[str, torch.Tensor], float]:
    """Quantiles solved by bisection (CompressAI's ``_update_quantiles``), model unchanged.

    Returns ({state_dict key: (C, 1, 3) quantiles}, the auxiliary loss they reach).  The aux
    loss sum |logits(q) - target| is what the aux optimiser minimises step by step; the
    bisection solves logits(q) = target for each quantile to within 1e-3 + 1e-4 |q|.
    """
    solved, loss = {}, 0.0
    for name, module in bottlenecks(model):
        trained = module.quantiles.detach().clone()
        module._update_quantiles()
        solved[f"{name}.quantiles"] = module.quantiles.detach().clone()
        loss += float(module.loss())
        module.quantiles.copy_(trained)
    return solved, loss


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
        val_set: items ``{"image": (3,h,w)}``, with ``"mask"`` (h,w) for mask-mode validation.
        settings: see :class:`Settings`.
        run_dir: the run folder.
        data: a JSON-able description of the data, saved in checkpoints.
        device: ``"cpu"`` or ``"cuda"``; workers: data loader processes.
        full_set: optional whole (3, H, W) images, validated with grid prototypes, logged
            only (they drive neither the schedule nor the best checkpoint).
    """

    def __init__(self, model: nn.Module, model_config: Dict, train_set: Dataset,
                 val_set: Dataset, settings: Settings, run_dir: Path, data: Dict,
                 device: str = "cpu", workers: int = 0, full_set: Optional[Dataset] = None):
        self.model = model.to(device)
        # a segmentation prior: forward takes mask= and grid= (SegPIC); others take the image only
        self.prototypes = "grid" in inspect.signature(model.forward).parameters
        self.model_config, self.settings, self.data = model_config, settings, data
        self.train_set, self.val_set, self.full_set = train_set, val_set, full_set
        epoch_size = settings.epoch_size or (len(train_set) if train_set is not None else 1)
        self.steps_per_epoch = max(1, math.ceil(epoch_size / settings.batch_size))
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
        self.best = math.inf  # best validation loss in the training mode
        self._stop = False

    # ---- checkpoints -------------------------------------------------------------------
    def state(self) -> Dict:
        """The checkpoint: ``model`` and ``config`` as segpic.zoo.load_checkpoint reads them.

        ``model`` holds converged quantiles; ``training_quantiles`` the aux optimiser's, and
        ``quantiles_aux_loss`` the aux loss of both, (training, saved).
        """
        model = self.model.state_dict()
        solved, solved_loss = converged_quantiles(self.model)
        training = {k: model[k] for k in solved}
        return {"model": {**model, **solved}, "config": dict(self.model_config),
                "training_quantiles": training,
                "quantiles_aux_loss": (self.aux_loss(), solved_loss),
                "optimizer": self.optimizer.state_dict(),
                "aux_optimizer": self.aux_optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step,
                "best": self.best, "settings": asdict(self.settings), "data": self.data}

    def aux_loss(self) -> float:
        with torch.no_grad():
            return float(self.model.aux_loss())

    def save(self, name: str = CHECKPOINT, state: Optional[Dict] = None) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / name
        save_atomic(state if state is not None else self.state(), path)
        return path

    def resume(self) -> None:
        """Load ``checkpoint.pth`` of the run folder; the recipe and model must match."""
        path = self.run_dir / CHECKPOINT
        if not path.is_file():
            raise TrainingError(f"nothing to resume: {path} does not exist")
        try:  # a run folder's file is untrusted too: the weights-only unpickler, as for coding
            ckpt = read_checkpoint(path)
        except CheckpointError as err:
            raise TrainingError(str(err)) from None
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
        self.model.load_state_dict({**ckpt["model"], **ckpt["training_quantiles"]})
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.step, self.best = ckpt["step"], ckpt["best"]

    # ---- log ---------------------------------------------------------------------------
    def _truncate_log(self) -> None:
        """Drop log rows after the current step (left by a run stopped between checkpoints)
        and the ``quantiles`` rows of the checkpoint that training now continues."""
        path = self.run_dir / LOG
        if not path.is_file():
            return
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f)
                    if int(r["step"]) <= self.step and r["split"] != "quantiles"]
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
        grid = step_prototypes(self.settings, self.step)
        mask = batch["mask"].to(self.device) if grid is None else None
        torch.manual_seed(step_seed(self.settings.seed, self.step))
        self.optimizer.zero_grad(set_to_none=True)
        self.aux_optimizer.zero_grad(set_to_none=True)
        terms = self.criterion(self._forward(x, mask=mask, grid=grid or self.settings.grid), x)
        terms["loss"].backward()
        nn.utils.clip_grad_norm_(self.main_params, self.settings.clip)
        self.optimizer.step()
        aux_loss = self.model.aux_loss()
        aux_loss.backward()
        self.aux_optimizer.step()
        out = {k: v.item() for k, v in terms.items()}
        out["aux_loss"] = aux_loss.item()
        if self.prototypes:
            out["prototypes"] = "mask" if grid is None else f"grid{grid}"
        return out

    @torch.no_grad()
    def validate(self) -> Dict[str, Dict]:
        """Mean loss terms per validation split, eval mode.

        ``val-mask``: the validation crops with their masks' prototypes (when the validation
        set has masks); ``val-grid``: the same crops with grid prototypes (what inference
        sees); ``val-full``: the whole ``full_set`` images, zero-padded to multiples of 64 as
        at inference, grid prototypes, rates per pixel of the unpadded image.
        """
        self.model.eval()
        sums: Dict[str, Dict[str, float]] = {}
        loader = DataLoader(self.val_set, batch_size=self.settings.batch_size,
                            num_workers=self.workers, worker_init_fn=ignore_stop_signals)
        for batch in loader:
            x = batch["image"].to(self.device)
            if "mask" in batch:
                self._add(sums, "val-mask", x, self._forward(x, mask=batch["mask"].to(self.device)))
            self._add(sums, "val-grid", x, self._forward(x, grid=self.settings.grid))
        for x in self.full_set if self.full_set is not None else ():
            x = x[None].to(self.device)
            padded, padding = pad_to_multiple(x)
            out = self._forward(padded, grid=self.settings.grid)
            out["x_hat"] = crop(out["x_hat"], padding)
            self._add(sums, "val-full", x, out)
        self.model.train()
        aux = self.aux_loss()
        results = {}
        for split, totals in sums.items():
            count = totals.pop("_count")
            terms = {k: v / count for k, v in totals.items()}
            terms["psnr"] = -10 * math.log10(terms["mse"])  # PSNR of the mean MSE
            terms["aux_loss"] = aux
            if self.prototypes:
                terms["prototypes"] = "mask" if split == "val-mask" else f"grid{self.settings.grid}"
            results[split] = terms
        return results

    def _forward(self, x: torch.Tensor, **prototypes) -> Dict:
        """The model's forward; ``mask=``/``grid=`` go only to a model with prototypes."""
        return self.model(x, **prototypes) if self.prototypes else self.model(x)

    def _add(self, sums: Dict[str, Dict[str, float]], split: str, x: torch.Tensor,
             output: Dict) -> None:
        """Add a batch's loss terms, weighted by its size, to ``sums[split]``."""
        totals = sums.setdefault(split, {"_count": 0})
        for k, v in self.criterion(output, x).items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(x)
        totals["_count"] += len(x)

    def schedule_split(self) -> str:
        """The validation split that steps the scheduler and picks the best checkpoint: the
        training mode (the authors validate with masks)."""
        return "val-mask" if self.settings.use_masks else "val-grid"

    def end_epoch(self, log, bar) -> None:
        """Validate, step the scheduler on the training mode's loss, keep the best checkpoint."""
        lr = self.optimizer.param_groups[0]["lr"]
        results = self.validate()
        for split, terms in results.items():
            log.writerow(self._row(split, terms, lr))
        key = self.schedule_split()
        if key not in results:
            raise TrainingError(f"no {key} validation: the validation set has no masks")
        loss = results[key]["loss"]
        self.scheduler.step(loss)
        if loss < self.best:
            self.best = loss
            self.save(BEST_CHECKPOINT)
        bar.write(f"epoch {self.step // self.steps_per_epoch} (step {self.step}): " + " | ".join(
            f"{split} loss {t['loss']:.4f} bpp {t['bpp']:.4f} psnr {t['psnr']:.2f}"
            for split, t in results.items()))

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
                log.writerow(self._row("train", terms, lr))
                bar.update(1)
                bar.set_postfix(loss=f"{terms['loss']:.3f}", bpp=f"{terms['bpp']:.3f}",
                                psnr=f"{terms['psnr']:.2f}")
                if not math.isfinite(terms["loss"]):
                    raise TrainingError(f"loss became {terms['loss']} at step {self.step}")
                if self.step % self.steps_per_epoch == 0:
                    self.end_epoch(log, bar)
                log_file.flush()
                if self._stop:
                    self._finish(log, bar)
                    return False
                if self.step % s.checkpoint_every == 0 and self.step != s.steps:
                    self.save()
            self._finish(log, bar)
            return True
        finally:
            bar.close()
            log_file.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _finish(self, log, bar) -> None:
        """Save the last checkpoint and log how far the auxiliary loss got."""
        state = self.state()
        self.save(state=state)
        trained, solved = state["quantiles_aux_loss"]
        log.writerow(self._row("quantiles", {"aux_loss": solved},
                               self.optimizer.param_groups[0]["lr"]))
        bar.write(f"entropy-bottleneck quantiles at step {self.step}: aux loss {trained:.4g} "
                  f"after training, {solved:.4g} as saved (bisection)")

    def _row(self, split: str, terms: Dict, lr: float) -> Dict:
        row = {"step": self.step, "epoch": f"{self.step / self.steps_per_epoch:.4g}",
               "split": split, "prototypes": terms.get("prototypes", ""), "lr": f"{lr:.3g}"}
        row.update({k: f"{terms[k]:.6g}" for k in LOG_FIELDS if k in terms and k not in row})
        return row
