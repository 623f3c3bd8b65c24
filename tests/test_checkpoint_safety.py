"""Loading a checkpoint never runs code from it: a pickle payload in any of the accepted
formats is refused with one line (library, ``python -m segpic``, ``python -m bench run``)
and its payload does not run; ``trust=True`` / ``--trust-checkpoint`` is the explicit opt-in."""
import argparse
import os

import numpy as np
import pytest
import torch
from PIL import Image

from segpic.zoo import CheckpointError, load_checkpoint, model_class

SMALL = dict(N=32, M=64, num_slices=2, max_support_slices=1)


class Payload:
    """Unpickling this calls ``os.system`` (what a hostile checkpoint does); here it only
    creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="module")
def state_dict():
    torch.manual_seed(0)
    return model_class("wacnn")(**SMALL).state_dict()


def _hostile(fmt: str, sd: dict, marker) -> dict:
    """A checkpoint of format ``fmt`` with the payload hidden where that format keeps extras."""
    sd = dict(sd)
    authors = {"epoch": 3, "loss": torch.tensor(1.5), "state_dict": sd,
               "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "args": argparse.Namespace(lr=1e-4)}
    if fmt == "bare":
        return {**sd, "g_a.0.weight": Payload(marker)}
    if fmt == "authors-optimizer":
        return {**authors, "optimizer": Payload(marker)}
    if fmt == "authors-args":
        return {**authors, "args": argparse.Namespace(lr=1e-4, hook=Payload(marker))}
    if fmt == "authors-state_dict":
        return {**authors, "state_dict": {**sd, "module.h_a.0.bias": Payload(marker)}}
    if fmt == "project-config":
        return {"model": sd, "config": {"arch": "wacnn", **SMALL, "N": Payload(marker)}}
    raise ValueError(fmt)


FORMATS = ["bare", "authors-optimizer", "authors-args", "authors-state_dict", "project-config"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_checkpoint_is_refused_and_its_payload_does_not_run(fmt, state_dict, tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "hostile.pth"
    torch.save(_hostile(fmt, state_dict, marker), path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    message = str(e.value)
    assert "\n" not in message and "refused" in message and "posix.system" in message
    assert not marker.exists()


@pytest.mark.parametrize("fmt", ["bare", "authors-optimizer"])
def test_segpic_cli_refuses_hostile_checkpoint(fmt, state_dict, tmp_path, capsys):
    from segpic.__main__ import main

    marker = tmp_path / "payload-ran"
    path = tmp_path / "hostile.pth"
    torch.save(_hostile(fmt, state_dict, marker), path)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "img.png")
    rc = main(["encode", str(tmp_path / "img.png"), str(tmp_path / "out.sgp"), "--checkpoint", str(path)])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "refused" in err and "--trust-checkpoint" in err
    assert "Traceback" not in err and not marker.exists() and not (tmp_path / "out.sgp").exists()


@pytest.mark.parametrize("trust", [False, True])
def test_bench_run_refuses_hostile_checkpoint_unless_trusted(trust, state_dict, tmp_path, capsys):
    from bench.__main__ import main

    marker = tmp_path / "payload-ran"
    path = tmp_path / "hostile.pth"
    torch.save(_hostile("authors-optimizer", state_dict, marker), path)
    images = tmp_path / "imgs"
    images.mkdir()
    Image.fromarray(np.full((64, 64, 3), 100, np.uint8)).save(images / "a.png")
    status = main(["run", "--models", "wacnn", "--checkpoint", f"wacnn={path}", "--dataset", str(images),
                   "--out", str(tmp_path / "r"), "--quiet", "--threads", "1"] + (["--trust-checkpoint"] if trust else []))
    err = capsys.readouterr().err
    if trust:  # the flag reaches the loader: full pickle, the payload runs
        assert status == 0 and marker.exists()
    else:
        assert status != 0 and "refused" in err and not marker.exists()


def test_authors_metadata_loads_without_trust(state_dict, tmp_path):
    """What the authors' checkpoints hold next to the weights (training arguments as an
    argparse.Namespace, numpy scalars, optimizer and scheduler state) is read safely."""
    path = tmp_path / "authors.pth.tar"
    torch.save({"epoch": np.int64(7), "loss": np.float64(1.25), "state_dict": state_dict,
                "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
                              "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}]},
                "lr_scheduler": {"mode": "min", "factor": 0.5, "best": float("inf"), "_last_lr": [1e-4]},
                "args": argparse.Namespace(lr=1e-4, lmbda=0.0483, patch_size=(256, 256))}, path)
    assert type(load_checkpoint(path)).__name__ == "WACNN"


def test_trust_is_an_explicit_opt_in(state_dict, tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "trusted.pth"
    torch.save({"state_dict": state_dict, "optimizer": Payload(marker)}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()
    assert type(load_checkpoint(path, trust=True)).__name__ == "WACNN"
    assert marker.exists()  # full pickle: exactly what the flag's help warns about
