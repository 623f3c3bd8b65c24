"""``segpic train`` with the real SegPIC model (small configuration) (issue 5)."""
import argparse
import csv
import math

import pytest
import torch

from segpic.train import cli
from segpic.train.config import build_model, model_config
from segpic.train.loop import CHECKPOINT, LOG, Settings, Trainer
from segpic.train.loss import STREAMS
from segpic.zoo import load_checkpoint
from test_train_loop import make_data


def parse(*argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


@pytest.mark.heavy
def test_cli_train_resume_and_load_real_model(tmp_path):
    data = make_data(tmp_path / "d", n=4, size=(64, 72))
    run = tmp_path / "run"
    common = ["--data", data, "--out", run, "--config", "small", "--masks", "auto",
              "--mask-cache", tmp_path / "cache", "--crop", "64", "--batch-size", "2",
              "--epoch-size", "4", "--val-crop", "64", "--val-fraction", "0.3",
              "--quality", "q3"]
    assert cli.run(parse(*common, "--steps", "2")) == 0
    assert len(list((tmp_path / "cache").rglob("*.png"))) >= 2  # Felzenszwalb masks cached
    assert cli.run(parse(*common, "--steps", "3", "--resume")) == 0

    with open(run / LOG, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["split"]) for r in rows] == [
        ("1", "train"), ("2", "train"), ("2", "val-mask"), ("2", "val-grid"), ("3", "train"),
        ("3", "quantiles")]
    assert all(math.isfinite(float(r["loss"])) and float(r["bpp"]) > 0 for r in rows[:-1])

    model = load_checkpoint(run / CHECKPOINT)
    ckpt = torch.load(run / CHECKPOINT, weights_only=False)
    assert ckpt["step"] == 3 and ckpt["config"] == model_config("segpic", "small")
    assert all(torch.equal(ckpt["model"][k], p) for k, p in model.named_parameters())
    # the trained model codes an image with real bitstreams, without any mask
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        enc = model.compress(x)
        out = model.decompress(enc["strings"], enc["shape"])
    assert out["x_hat"].shape == x.shape and len(enc["strings"]) == 4


def test_single_region_step_and_checkpoint_round_trip(tmp_path):
    """A batch whose crops are one region each (the reference crashes on this) trains, and
    the saved checkpoint loads through segpic.zoo with the trained weights."""
    config = model_config("segpic", "small")
    torch.manual_seed(0)
    trainer = Trainer(build_model(config), config, None, None,
                      Settings(steps=1, lmbda=0.0067, batch_size=2), tmp_path, data={})
    batch = {"image": torch.rand(2, 3, 64, 64), "mask": torch.zeros(2, 64, 64, dtype=torch.int64)}
    terms = trainer.train_step(batch)
    assert all(math.isfinite(v) for k, v in terms.items() if k != "prototypes")
    assert terms["bpp"] == pytest.approx(sum(terms[f"bpp_{k}"] for k in STREAMS), rel=1e-5)
    trainer.step = 1
    path = trainer.save()
    trained, saved = torch.load(path, weights_only=False)["quantiles_aux_loss"]
    assert trained > 100 and saved < 1  # 3 bottlenecks, 88 channels, 3 quantiles each
    model = load_checkpoint(path)
    assert isinstance(model, type(trainer.model)) and not model.training
    assert all(torch.equal(p, q) for (k, p), q in zip(model.named_parameters(), trainer.model.parameters())
               if not k.endswith(".quantiles"))
    assert float(model.aux_loss().detach()) == pytest.approx(saved, rel=1e-4)


def test_small_config_scales_the_prototype_codecs():
    """``small`` narrows the prototype codecs with N and M (issue 17); the default
    constructor (golden weights, reference checkpoints) keeps the reference's widths."""
    from segpic.entropy.prototypes import REFERENCE_PROTOTYPE_WIDTHS, scaled_prototype_widths
    from segpic.models import SegPIC
    from segpic.zoo import infer_kwargs

    assert scaled_prototype_widths(192, 320) == REFERENCE_PROTOTYPE_WIDTHS
    assert scaled_prototype_widths(48, 64) == ((32, 24, 24, 32, 48), (40, 24, 16, 24, 40))
    small = build_model(model_config("segpic", "small"))
    assert sum(p.numel() for p in small.parameters()) == 6_899_099
    assert small.entropy_bottleneck_b.quantiles.shape[0] == 24
    assert small.entropy_bottleneck_b2.quantiles.shape[0] == 16
    unscaled = SegPIC(N=48, M=64, num_slices=2, max_support_slices=1)
    assert sum(p.numel() for p in unscaled.parameters()) == 7_243_163
    assert unscaled.entropy_bottleneck_b.quantiles.shape[0] == 96
    # a config-less state_dict of the small model tells its widths
    kwargs = infer_kwargs("segpic", small.state_dict())
    assert kwargs == {k: v for k, v in model_config("segpic", "small").items() if k != "arch"}
    with torch.no_grad():
        out = small(torch.rand(1, 3, 64, 64), grid=2)
    assert out["likelihoods"]["z_center"].shape == (1, 24, 2, 2)
    assert out["likelihoods"]["z_center2"].shape == (1, 16, 2, 2)
