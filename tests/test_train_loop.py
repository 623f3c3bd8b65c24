"""The training loop and ``segpic train`` command line, on a tiny stand-in model (issue 5).

The stand-in lives here only: it has SegPIC's training interface (forward with ``mask=`` and
``grid=``, four likelihood groups, entropy-bottleneck quantiles, ``aux_loss``) and nothing
else.  Tests with the real model are in test_train_segpic.py.
"""
import argparse
import csv
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck
from PIL import Image
from torch import nn

from segpic import registry
from segpic.train import cli
from segpic.train.data import FullImages, TrainingCrops, ValidationCrops, split_images
from segpic.train.loop import (BEST_CHECKPOINT, CHECKPOINT, LOG, LOG_FIELDS, Settings, Trainer,
                               converged_quantiles, split_parameters, step_prototypes)
from segpic.train.loss import QUALITY_LAMBDAS, STREAMS, RateDistortionLoss
from segpic.train.masks import LabelMapFolder


class StandIn(nn.Module):
    """y = conv(x) / 4 scale, prototypes pooled per mask region (or grid), both EB-coded."""

    def __init__(self, N=4):
        super().__init__()
        self.g_a = nn.Conv2d(3, N, 4, stride=4)
        self.g_s = nn.ConvTranspose2d(N, 3, 4, stride=4)
        self.eb_y, self.eb_z = EntropyBottleneck(N), EntropyBottleneck(N)
        self.eb_p1, self.eb_p2 = EntropyBottleneck(N), EntropyBottleneck(N)
        self.masks_seen, self.grids_seen = [], []

    def forward(self, x, mask=None, grid=4):
        y = self.g_a(x)
        if mask is None:
            self.grids_seen.append(grid)
            protos = F.adaptive_avg_pool2d(y, grid)
            p_map = F.interpolate(protos, size=y.shape[-2:], mode="nearest")
        else:
            self.masks_seen.append(mask)
            onehot = F.one_hot(mask[:, ::4, ::4], int(mask.max()) + 1).permute(0, 3, 1, 2).float()
            protos = torch.einsum("bkhw,bchw->bck", onehot, y) / (onehot.sum((2, 3))[:, None] + 5e-4)
            p_map = torch.einsum("bck,bkhw->bchw", protos, onehot)
            protos = protos[..., None]
        _, p1 = self.eb_p1(protos)
        _, p2 = self.eb_p2(protos.detach())
        y_hat, y_lik = self.eb_y(y + p_map)
        _, z_lik = self.eb_z(F.avg_pool2d(y, 2))
        return {"x_hat": self.g_s(y_hat),
                "likelihoods": {"y": y_lik, "z": z_lik, "z_center": p1, "z_center2": p2}}

    def aux_loss(self):
        return sum(m.loss() for m in self.modules() if isinstance(m, EntropyBottleneck))


def make_data(root, n=6, size=(72, 80)):
    """Random blocky images in root/images, 16-bit label maps in root/masks."""
    rng = np.random.default_rng(0)
    h, w = size
    for i in range(n):
        labels = np.kron(rng.integers(1, 5, (h // 8, w // 8)), np.ones((8, 8), np.int64))
        rgb = rng.integers(0, 256, (5, 3))[labels] + rng.integers(-4, 5, (h, w, 3))
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(labels.astype(np.uint16)).save(root / "masks" / f"{i}.png")
    return root


def trainer_for(root, run_dir, steps, use_masks=True, full_set=None, **kw):
    """A stand-in trainer: 4 images per epoch in batches of 2, i.e. epochs of 2 steps."""
    train, val = split_images(root, 0.3)
    masks = LabelMapFolder(root / "masks")
    torch.manual_seed(0)
    kw = {"epoch_size": 4, **kw}
    settings = Settings(steps=steps, lmbda=0.01, batch_size=2, checkpoint_every=3,
                        use_masks=use_masks, **kw)
    return Trainer(StandIn(), {"arch": "standin", "N": 4},
                   TrainingCrops(train, masks if use_masks else None, 64),
                   ValidationCrops(val, 64, masks), settings, run_dir, {"root": str(root)},
                   full_set=full_set)


def read_log(run_dir):
    with open(run_dir / LOG, newline="") as f:
        return list(csv.DictReader(f))


def test_rd_loss_counts_all_likelihoods():
    x = torch.rand(2, 3, 8, 8)
    lik = {"y": torch.full((2, 4, 2, 2), 0.5), "z": torch.full((2, 1, 1, 1), 0.25),
           "z_center": torch.full((3, 2, 1, 1), 0.5), "z_center2": torch.ones(1)}
    terms = RateDistortionLoss(0.01)({"x_hat": x + 0.1, "likelihoods": lik}, x)
    bits = 2 * 4 * 2 * 2 * 1 + 2 * 2 + 3 * 2 * 1 + 0
    assert terms["bpp"].item() == pytest.approx(bits / (2 * 8 * 8))
    assert terms["mse"].item() == pytest.approx(0.01)
    assert terms["psnr"].item() == pytest.approx(20.0)
    assert terms["loss"].item() == pytest.approx(0.01 * 255 ** 2 * 0.01 + bits / 128)
    assert list(QUALITY_LAMBDAS.values()) == [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483]


def test_ms_ssim_loss():
    x = torch.rand(1, 3, 192, 192)
    out = {"x_hat": x, "likelihoods": {"y": torch.ones(1)}}
    terms = RateDistortionLoss(2.0, "ms-ssim")(out, x)
    assert terms["ms_ssim"].item() == pytest.approx(1.0) and terms["loss"].item() == pytest.approx(0)


def test_quantiles_get_the_aux_optimiser():
    model = StandIn()
    main, aux = split_parameters(model)
    quantiles = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    assert len(quantiles) == 4 and [id(p) for p in aux] == [id(p) for p in quantiles]
    assert len(main) + len(aux) == len(list(model.parameters()))


def test_training_steps_log_and_checkpoint(tmp_path):
    run = tmp_path / "run"
    trainer = trainer_for(make_data(tmp_path / "d"), run, steps=4)
    assert trainer.run()
    rows = read_log(run)
    assert list(rows[0]) == LOG_FIELDS
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [int(r["step"]) for r in train_rows] == [1, 2, 3, 4]
    assert {r["prototypes"] for r in train_rows} == {"mask"}
    # both validation modes at every epoch end (2 steps), then the saved quantiles
    assert [(r["step"], r["epoch"], r["split"], r["prototypes"]) for r in rows
            if r["split"] != "train"] == [("2", "1", "val-mask", "mask"),
                                          ("2", "1", "val-grid", "grid4"),
                                          ("4", "2", "val-mask", "mask"),
                                          ("4", "2", "val-grid", "grid4"),
                                          ("4", "2", "quantiles", "")]
    for r in rows[:-1]:
        assert all(np.isfinite(float(r[k])) for k in ("loss", "bpp", "mse", "psnr"))
        # per-stream rates add up to bpp
        streams = [float(r[f"bpp_{k}"]) for k in STREAMS]
        assert all(b > 0 for b in streams)
        assert sum(streams) == pytest.approx(float(r["bpp"]), rel=1e-4)
    # mask and grid validation code the same crops differently
    val = {r["split"]: r for r in rows if r["step"] == "4"}
    assert val["val-mask"]["bpp_z_center"] != val["val-grid"]["bpp_z_center"]
    assert val["val-mask"]["bpp_y"] != val["val-grid"]["bpp_y"]
    # masks reached the model, relabelled per crop
    mask = trainer.model.masks_seen[0]
    assert mask.shape == (2, 64, 64) and mask.dtype == torch.int64 and mask.min() == 0
    ckpt = torch.load(run / CHECKPOINT, weights_only=False)
    assert ckpt["step"] == 4 and ckpt["config"] == {"arch": "standin", "N": 4}
    assert set(ckpt) >= {"model", "optimizer", "aux_optimizer", "scheduler", "settings", "data",
                         "training_quantiles", "best"}
    fresh = StandIn()
    fresh.load_state_dict(ckpt["model"])
    for key, value in trainer.model.state_dict().items():
        if key.endswith(".quantiles"):  # saved converged, kept as trained for resuming
            assert torch.equal(ckpt["training_quantiles"][key], value)
        else:
            assert torch.equal(fresh.state_dict()[key], value), key
    # the best checkpoint is the epoch with the lowest mask-mode validation loss
    mask_losses = {int(r["step"]): float(r["loss"]) for r in rows if r["split"] == "val-mask"}
    best = torch.load(run / BEST_CHECKPOINT, weights_only=False)
    assert best["step"] == min(mask_losses, key=mask_losses.get)
    assert best["best"] == pytest.approx(min(mask_losses.values()), rel=1e-5)


def test_no_mask_trains_with_grid_prototypes(tmp_path):
    run = tmp_path / "run"
    trainer = trainer_for(make_data(tmp_path / "d"), run, steps=2, use_masks=False)
    assert trainer.run()
    assert len(trainer.model.masks_seen) == 1  # the mask-mode validation batch only
    assert trainer.schedule_split() == "val-grid"
    rows = read_log(run)
    assert {r["prototypes"] for r in rows if r["split"] == "train"} == {"grid4"}
    # validated in both modes all the same (the validation set has masks)
    assert [r["split"] for r in rows if r["step"] == "2"][1:] == ["val-mask", "val-grid",
                                                                 "quantiles"]
    grid_loss = next(float(r["loss"]) for r in rows if r["split"] == "val-grid")
    assert trainer.best == pytest.approx(grid_loss, rel=1e-5)


def test_resume_across_an_epoch_boundary_is_exact(tmp_path):
    """Stopped mid-epoch 2 (step 3 of epochs of 2 steps), resumed through the validation and
    scheduler step at step 4: weights, optimisers, scheduler, best and log as uninterrupted."""
    data = make_data(tmp_path / "d")
    full = FullImages(split_images(data, 0.3)[1][:1])
    straight = trainer_for(data, tmp_path / "a", steps=5, full_set=full, patience=0)
    straight.run()

    first = trainer_for(data, tmp_path / "b", steps=3, full_set=full, patience=0)
    first.run()
    second = trainer_for(data, tmp_path / "b", steps=5, full_set=full, patience=0)
    second.resume()
    assert second.step == 3
    second.run()

    for (name, a), b in zip(straight.model.state_dict().items(),
                            second.model.state_dict().values()):
        assert torch.equal(a, b), name
    for attr in ("optimizer", "aux_optimizer"):
        sa, sb = (getattr(t, attr).state_dict()["state"] for t in (straight, second))
        assert sa.keys() == sb.keys()
        for k in sa:
            assert all(torch.equal(sa[k][n], sb[k][n]) for n in sa[k]), (attr, k)
    assert straight.scheduler.state_dict() == second.scheduler.state_dict()
    assert straight.scheduler.last_epoch == 2  # stepped once per epoch, not per step
    assert straight.best == second.best
    assert read_log(tmp_path / "a") == read_log(tmp_path / "b")
    assert any(r["split"] == "val-full" for r in read_log(tmp_path / "a"))
    for name in (CHECKPOINT, BEST_CHECKPOINT):
        ca, cb = (torch.load(d / name, weights_only=False) for d in (tmp_path / "a", tmp_path / "b"))
        assert ca["step"] == cb["step"]
        assert all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])


def test_plateau_schedule_counts_epochs(tmp_path, monkeypatch):
    """ReduceLROnPlateau sees one validation loss per epoch: with patience 1 and a flat loss
    the rate halves after the 3rd and 5th epochs, down to the floor."""
    data = make_data(tmp_path / "d")
    trainer = trainer_for(data, tmp_path / "run", steps=15, epoch_size=5, patience=1,
                          min_lr=3e-5)
    assert trainer.steps_per_epoch == 3  # ceil(5 images / batch 2)
    flat = {"loss": 1.0, "bpp": 1.0, "mse": 0.1, "psnr": 10.0, "aux_loss": 0.0}
    monkeypatch.setattr(trainer, "validate",
                        lambda: {"val-mask": dict(flat), "val-grid": dict(flat, loss=0.5)})
    assert trainer.run()
    assert trainer.scheduler.last_epoch == 5
    lrs = {int(r["step"]): float(r["lr"]) for r in read_log(tmp_path / "run")
           if r["split"] == "train"}
    assert [lrs[s] for s in (9, 10, 15)] == [1e-4, 5e-5, 5e-5]
    assert trainer.optimizer.param_groups[0]["lr"] == 3e-5  # 2.5e-5 floored
    assert trainer.best == 1.0  # the mask mode, not the lower grid-mode loss


def test_grid_mix_draws_grid_steps_from_seed_and_step(tmp_path):
    settings = Settings(steps=1, lmbda=0.01, grid_mix=0.25, seed=3)
    draws = [step_prototypes(settings, s) for s in range(2000)]
    assert draws == [step_prototypes(settings, s) for s in range(2000)]
    grids = [g for g in draws if g is not None]
    assert 0.2 < len(grids) / len(draws) < 0.3 and set(grids) == set(range(2, 9))
    assert all(step_prototypes(Settings(steps=1, lmbda=0.01), s) is None for s in range(50))
    assert {step_prototypes(Settings(steps=1, lmbda=0.01, use_masks=False), s)
            for s in range(50)} == {4}

    trainer = trainer_for(make_data(tmp_path / "d"), tmp_path / "run", steps=4, grid_mix=1.0)
    assert trainer.run()
    assert len(trainer.model.masks_seen) == 2  # the mask-mode validation batches only
    train_grids = trainer.model.grids_seen[:2]  # before the first validation
    assert train_grids == [step_prototypes(trainer.settings, s) for s in (0, 1)]
    logged = [r["prototypes"] for r in read_log(tmp_path / "run") if r["split"] == "train"]
    assert logged == [f"grid{step_prototypes(trainer.settings, s)}" for s in range(4)]


def test_saved_quantiles_are_converged(tmp_path):
    """The aux optimiser leaves the quantiles far from their targets after a few steps; the
    checkpoint holds bisected ones (aux loss near 0), and the log says both."""
    run = tmp_path / "run"
    trainer = trainer_for(make_data(tmp_path / "d"), run, steps=2)
    assert trainer.run()
    ckpt = torch.load(run / CHECKPOINT, weights_only=False)
    trained, saved = ckpt["quantiles_aux_loss"]
    assert trained > 10 and saved < 0.05 * len(STREAMS)
    model = StandIn()
    model.load_state_dict(ckpt["model"])
    assert float(model.aux_loss().detach()) == pytest.approx(saved, abs=1e-4)
    model.load_state_dict({**ckpt["model"], **ckpt["training_quantiles"]})
    assert float(model.aux_loss().detach()) == pytest.approx(trained, rel=1e-4)
    last = read_log(run)[-1]
    assert last["split"] == "quantiles" and float(last["aux_loss"]) == pytest.approx(saved, rel=1e-3)
    # the live model is left with its training quantiles
    solved, loss = converged_quantiles(trainer.model)
    assert trainer.aux_loss() == pytest.approx(trained, rel=1e-4)
    assert loss == pytest.approx(saved, rel=1e-3)


def test_stop_request_saves_the_last_finished_step(tmp_path):
    data = make_data(tmp_path / "d")
    trainer = trainer_for(data, tmp_path / "run", steps=5)
    trainer._stop = True  # as after SIGINT
    assert trainer.run() is False
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=False)["step"] == 1
    # log rows past the checkpoint are dropped on resume
    with open(tmp_path / "run" / LOG, "a") as f:
        f.write("2,1,train,mask" + ",1" * (len(LOG_FIELDS) - 4) + "\n")
    again = trainer_for(data, tmp_path / "run", steps=5)
    again.resume()
    assert again.run()
    assert [int(r["step"]) for r in read_log(tmp_path / "run") if r["split"] == "train"] == \
        [1, 2, 3, 4, 5]


def test_resume_refuses_other_settings(tmp_path):
    data = make_data(tmp_path / "d")
    trainer_for(data, tmp_path / "run", steps=1).run()
    other = trainer_for(data, tmp_path / "run", steps=2, seed=7)
    with pytest.raises(Exception, match="seed=0, not 7"):
        other.resume()



def test_resume_never_runs_code_from_the_run_folder(tmp_path):
    """checkpoint.pth is read with the weights-only unpickler: a planted payload is refused."""
    data = make_data(tmp_path / "d")
    trainer = trainer_for(data, tmp_path / "run", steps=1)
    trainer.run()
    ckpt = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch '{marker}'",))

    ckpt["settings"]["payload"] = Payload()
    torch.save(ckpt, tmp_path / "run" / CHECKPOINT)
    with pytest.raises(Exception, match="refused: the checkpoint holds objects"):
        trainer_for(data, tmp_path / "run", steps=2).resume()
    assert not marker.exists()

# ---- command line ------------------------------------------------------------------------
def parse(*argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


@pytest.mark.parametrize("extra, message", [
    (["--crop", "100"], "multiple of 64"),
    (["--val-crop", "100"], "--val-crop must be a multiple of 64"),
    (["--epoch-size", "0"], "--epoch-size must be positive"),
    (["--grid-mix", "1.5"], "--grid-mix must be between 0 and 1"),
    (["--val-full", "/nonexistent/kodak"], "does not exist"),
    (["--steps", "0"], "--steps must be positive"),
    (["--loss", "ms-ssim"], "give --lambda"),
    (["--lambda", "-1"], "--lambda must be positive"),
    (["--resume"], "nothing to resume"),
    (["--masks", "/nonexistent/masks"], "does not exist"),
    (["--device", "cuda"], "no CUDA device") if not torch.cuda.is_available() else
    (["--val-fraction", "2"], "between 0 and 1"),
])
def test_cli_errors_are_one_line_and_write_nothing(tmp_path, capsys, extra, message):
    data = make_data(tmp_path / "d", n=3)
    args = parse("--data", data, "--out", tmp_path / "run", "--config", "small", *extra)
    assert cli.run(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_cli_refuses_an_unreadable_full_validation_image_before_training(tmp_path, capsys):
    data = make_data(tmp_path / "d", n=3)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a.png").write_bytes(b"not a png")
    args = parse("--data", data, "--out", tmp_path / "run", "--config", "small",
                 "--val-full", tmp_path / "full")
    assert cli.run(args) == 2
    err = capsys.readouterr().err
    assert "cannot read image" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_cli_refuses_missing_data_and_existing_runs(tmp_path, capsys, monkeypatch):
    assert cli.run(parse("--data", tmp_path / "none", "--out", tmp_path / "run")) == 2
    assert "does not exist" in capsys.readouterr().err

    monkeypatch.setattr(cli, "build_model", lambda config: StandIn())
    data = make_data(tmp_path / "d", n=4)
    common = ["--data", data, "--out", tmp_path / "run", "--masks", data / "masks",
              "--crop", "64", "--val-crop", "64", "--batch-size", "2", "--val-fraction", "0.3"]
    assert cli.run(parse(*common, "--steps", "1")) == 0
    assert cli.run(parse(*common, "--steps", "1")) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert cli.run(parse(*common, "--steps", "1", "--resume")) == 2
    assert "give --steps above it" in capsys.readouterr().err
    assert cli.run(parse(*common, "--steps", "2", "--resume")) == 0
    ckpt = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=False)
    assert ckpt["step"] == 2 and ckpt["config"] == {"arch": "segpic", **registry.get("segpic").configs["paper"]}
    assert ckpt["data"]["masks"] == {"kind": "labels", "root": str(data / "masks")}
    assert ckpt["settings"]["lmbda"] == QUALITY_LAMBDAS["q2"]
    # epochs default to the training set's size; patience 16 epochs, floor 5e-6
    assert ckpt["settings"]["epoch_size"] == ckpt["data"]["train_images"]
    assert (ckpt["settings"]["patience"], ckpt["settings"]["min_lr"]) == (16, 5e-6)


def test_cli_no_mask_run_validates_with_the_given_masks(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "build_model", lambda config: StandIn())
    data = make_data(tmp_path / "d", n=6)
    run = tmp_path / "run"
    args = parse("--data", data, "--out", run, "--no-mask", "--masks", data / "masks",
                 "--crop", "64", "--val-crop", "64", "--batch-size", "2", "--epoch-size", "2",
                 "--val-fraction", "0.3", "--steps", "2", "--val-full", data / "images",
                 "--val-full-images", "1")
    assert cli.run(args) == 0
    rows = read_log(run)
    assert {r["prototypes"] for r in rows if r["split"] == "train"} == {"grid4"}
    assert [r["split"] for r in rows if r["step"] == "1"][1:] == ["val-mask", "val-grid",
                                                                 "val-full"]
    ckpt = torch.load(run / CHECKPOINT, weights_only=False)
    assert ckpt["data"]["val_full"]["images"] == ["0.png"]
    assert ckpt["settings"]["use_masks"] is False
