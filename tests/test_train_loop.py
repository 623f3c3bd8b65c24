"""The training loop and ``segpic train`` command line, on a tiny stand-in model (issue 5).

The stand-in lives here only: it has SegPIC's training interface (forward with ``mask=`` and
``grid=``, four likelihood groups, entropy-bottleneck quantiles, ``aux_loss``) and nothing
else.  Tests with the real model are in test_train_segpic.py.
"""
import argparse
import csv

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck
from PIL import Image
from torch import nn

from segpic.train import cli
from segpic.train.data import TrainingCrops, ValidationCrops, split_images
from segpic.train.loop import CHECKPOINT, LOG, Settings, Trainer, split_parameters
from segpic.train.loss import QUALITY_LAMBDAS, RateDistortionLoss
from segpic.train.masks import LabelMapFolder


class StandIn(nn.Module):
    """y = conv(x) / 4 scale, prototypes pooled per mask region (or grid), both EB-coded."""

    def __init__(self, N=4):
        super().__init__()
        self.g_a = nn.Conv2d(3, N, 4, stride=4)
        self.g_s = nn.ConvTranspose2d(N, 3, 4, stride=4)
        self.eb_y, self.eb_z = EntropyBottleneck(N), EntropyBottleneck(N)
        self.eb_p1, self.eb_p2 = EntropyBottleneck(N), EntropyBottleneck(N)
        self.masks_seen = []

    def forward(self, x, mask=None, grid=4):
        y = self.g_a(x)
        if mask is None:
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


def trainer_for(root, run_dir, steps, use_masks=True, **kw):
    train, val = split_images(root, 0.3)
    masks = LabelMapFolder(root / "masks") if use_masks else None
    torch.manual_seed(0)
    settings = Settings(steps=steps, lmbda=0.01, batch_size=2, val_every=2,
                        checkpoint_every=3, use_masks=use_masks, **kw)
    return Trainer(StandIn(), {"arch": "standin", "N": 4}, TrainingCrops(train, masks, 64),
                   ValidationCrops(val, 64), settings, run_dir, {"root": str(root)})


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
    train_rows = [r for r in rows if r["split"] == "train"]
    val_rows = [r for r in rows if r["split"] == "val"]
    assert [int(r["step"]) for r in train_rows] == [1, 2, 3, 4]
    assert [int(r["step"]) for r in val_rows] == [2, 4]
    assert all(np.isfinite(float(r[k])) for r in rows for k in ("loss", "bpp", "mse", "psnr"))
    assert float(train_rows[0]["bpp"]) > 0
    # masks reached the model, relabelled per crop
    mask = trainer.model.masks_seen[0]
    assert mask.shape == (2, 64, 64) and mask.dtype == torch.int64 and mask.min() == 0
    ckpt = torch.load(run / CHECKPOINT, weights_only=False)
    assert ckpt["step"] == 4 and ckpt["config"] == {"arch": "standin", "N": 4}
    assert set(ckpt) >= {"model", "optimizer", "aux_optimizer", "scheduler", "settings", "data"}
    fresh = StandIn()
    fresh.load_state_dict(ckpt["model"])
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                 trainer.model.state_dict().values()))


def test_no_mask_trains_with_grid_prototypes(tmp_path):
    trainer = trainer_for(make_data(tmp_path / "d"), tmp_path / "run", steps=2, use_masks=False)
    assert trainer.run() and trainer.model.masks_seen == []


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    data = make_data(tmp_path / "d")
    straight = trainer_for(data, tmp_path / "a", steps=5)
    straight.run()

    first = trainer_for(data, tmp_path / "b", steps=3)
    first.run()
    second = trainer_for(data, tmp_path / "b", steps=5)
    second.resume()
    assert second.step == 3
    second.run()

    for (name, a), b in zip(straight.model.state_dict().items(),
                            second.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert read_log(tmp_path / "a") == read_log(tmp_path / "b")
    assert (straight.scheduler.state_dict()["best"] == second.scheduler.state_dict()["best"])


def test_stop_request_saves_the_last_finished_step(tmp_path):
    data = make_data(tmp_path / "d")
    trainer = trainer_for(data, tmp_path / "run", steps=5)
    trainer._stop = True  # as after SIGINT
    assert trainer.run() is False
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=False)["step"] == 1
    # log rows past the checkpoint are dropped on resume
    with open(tmp_path / "run" / LOG, "a") as f:
        f.write("2,train,1,1,1,1,1,1\n")
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


# ---- command line ------------------------------------------------------------------------
def parse(*argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


@pytest.mark.parametrize("extra, message", [
    (["--crop", "100"], "multiple of 64"),
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


def test_cli_refuses_missing_data_and_existing_runs(tmp_path, capsys, monkeypatch):
    assert cli.run(parse("--data", tmp_path / "none", "--out", tmp_path / "run")) == 2
    assert "does not exist" in capsys.readouterr().err

    monkeypatch.setattr(cli, "build_model", lambda config: StandIn())
    data = make_data(tmp_path / "d", n=4)
    common = ["--data", data, "--out", tmp_path / "run", "--masks", data / "masks",
              "--crop", "64", "--batch-size", "2", "--val-every", "1", "--val-fraction", "0.3"]
    assert cli.run(parse(*common, "--steps", "1")) == 0
    assert cli.run(parse(*common, "--steps", "1")) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert cli.run(parse(*common, "--steps", "1", "--resume")) == 2
    assert "give --steps above it" in capsys.readouterr().err
    assert cli.run(parse(*common, "--steps", "2", "--resume")) == 0
    ckpt = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=False)
    assert ckpt["step"] == 2 and ckpt["config"] == {"arch": "segpic", **cli.MODEL_CONFIGS["paper"]}
    assert ckpt["data"]["masks"] == {"kind": "labels", "root": str(data / "masks")}
    assert ckpt["settings"]["lmbda"] == QUALITY_LAMBDAS["q2"]
