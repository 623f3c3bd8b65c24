"""``segpic train --arch`` takes every registry entry that trains: a CompressAI model trains
with the same loop, loss and exact resume as SegPIC, on images alone."""
import argparse
import csv

import numpy as np
import pytest
import torch
from PIL import Image

from segpic import registry
from segpic.train import cli
from segpic.train.loop import CHECKPOINT, LOG
from segpic.zoo import load_checkpoint

ARCH = "mbt2018-mean"


def _images(root, n=4):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def _parse(*argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def test_every_trainable_entry_is_offered():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    choices = next(a.choices for a in parser._actions if a.dest == "arch")
    assert tuple(choices) == registry.trainable() and ARCH in choices


def test_a_compressai_model_trains_and_resumes_exactly(tmp_path):
    data = _images(tmp_path / "images")
    common = ["--data", data, "--arch", ARCH, "--config", "small", "--crop", "64", "--val-crop", "64",
              "--batch-size", "2", "--val-fraction", "0.3", "--epoch-size", "2", "--threads", "1"]
    assert cli.run(_parse(*common, "--out", tmp_path / "a", "--steps", "2")) == 0
    assert cli.run(_parse(*common, "--out", tmp_path / "a", "--steps", "3", "--resume")) == 0
    assert cli.run(_parse(*common, "--out", tmp_path / "b", "--steps", "3")) == 0

    resumed = torch.load(tmp_path / "a" / CHECKPOINT, weights_only=False)
    straight = torch.load(tmp_path / "b" / CHECKPOINT, weights_only=False)
    assert resumed["step"] == straight["step"] == 3
    assert resumed["config"] == {"arch": ARCH, **registry.get(ARCH).configs["small"]}
    assert all(torch.equal(v, straight["model"][k]) for k, v in resumed["model"].items())
    with open(tmp_path / "a" / LOG, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["split"] for r in rows} >= {"train", "val-grid"} and all(r["prototypes"] == "" for r in rows)
    assert [r["step"] for r in rows if r["split"] == "train"] == ["1", "2", "3"]
    model = load_checkpoint(tmp_path / "a" / CHECKPOINT)  # the project's format: config stored
    assert registry.name_of(model) == ARCH


def test_mask_options_are_refused_for_a_model_without_a_segmentation_prior(tmp_path, capsys):
    data = _images(tmp_path / "images")
    args = _parse("--data", data, "--out", tmp_path / "run", "--arch", ARCH, "--masks", "auto")
    assert cli.run(args) == 2
    assert "apply to architectures with a segmentation prior" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("arch", registry.trainable())
def test_every_trainable_entry_has_a_small_config(arch):
    assert set(registry.get(arch).configs) >= set(cli.CONFIG_NAMES)
