"""The learned-codec adapter: one checkpoint per quality, loaded once, outside the timings."""
import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.__main__ import main
from bench.codecs import get_codec

SMALL_WACNN = dict(N=32, M=64, num_slices=2, max_support_slices=1)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two small random-weight WACNN checkpoints in the project's format (two 'rates')."""
    from segpic.zoo import model_class

    d = tmp_path_factory.mktemp("ckpt")
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = model_class("wacnn")(**SMALL_WACNN)
        path = d / f"wacnn{seed}.pth"
        torch.save({"model": model.state_dict(), "config": {"arch": "wacnn", **SMALL_WACNN}}, path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs") / "small"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(70, 90), (64, 64)]):
        yy, xx = np.mgrid[0:h, 0:w]
        rgb = np.stack([xx * 2.0, yy * 3.0, (xx + yy) % 200], -1) + rng.normal(0, 10, (h, w, 3))
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(d / f"img{i}.png")
    return d


def test_bench_run_with_one_checkpoint_per_quality(tmp_path, checkpoints, images, monkeypatch):
    from segpic.codec import ImageCodec, file_sha256

    loads = []
    original = ImageCodec.from_checkpoint.__func__

    def counting(cls, path, *args, **kwargs):
        loads.append(str(path))
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(ImageCodec, "from_checkpoint", classmethod(counting))
    out = tmp_path / "r"
    status = main(["run", "--models", "wacnn", "--checkpoint", "wacnn=" + ",".join(map(str, checkpoints)),
                   "--dataset", str(images), "--out", str(out), "--quiet", "--threads", "1"])
    assert status == 0
    assert loads == [str(checkpoints[0]), str(checkpoints[1])], "each rate's model is loaded once"
    with open(out / "small" / "default" / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    for row in rows:
        ckpt = checkpoints[int(row["quality"]) - 1]
        assert row["checkpoint_sha"] == file_sha256(ckpt)
        # the stream file decodes, in a fresh codec, to the encoder's own reconstruction
        stream = out / "small" / "streams" / "default" / "wacnn" / f"q{row['quality']}" / (row["image"][:-4] + ".sgp")
        assert stream.stat().st_size == int(row["bytes"])
        codec = original(ImageCodec, ckpt)
        rgb = np.asarray(Image.open(images / row["image"]).convert("RGB"))
        decoded = codec.decode(stream.read_bytes())
        assert np.array_equal(decoded, codec.reconstruct(rgb))
        err = np.mean((rgb.astype(float) - decoded) ** 2)
        assert math.isclose(float(row["psnr_rgb"]), 10 * math.log10(255**2 / err), abs_tol=1e-5)
        assert math.isnan(float(row["ms_ssim_rgb"]))  # images below MS-SSIM's 161 px


def test_learned_codec_pickles_without_its_model(checkpoints, tmp_path):
    import pickle

    codec = get_codec("wacnn", checkpoints=[str(p) for p in checkpoints])
    codec.prepare(1)
    clone = pickle.loads(pickle.dumps(codec))
    assert clone._model is None and clone.checkpoints == codec.checkpoints
    rgb = np.zeros((64, 64, 3), np.uint8)
    codec.encode(rgb, 1, tmp_path / "a.sgp")
    clone.prepare(1)
    assert np.array_equal(clone.decode(tmp_path / "a.sgp"), codec.decode(tmp_path / "a.sgp"))


def test_each_checkpoint_loads_once_per_process(checkpoints, monkeypatch):
    """Tasks reach a worker each with its own unpickled codec; the model still loads once."""
    import pickle

    from segpic.codec import ImageCodec

    loads = []
    original = ImageCodec.from_checkpoint.__func__
    monkeypatch.setattr(ImageCodec, "from_checkpoint",
                        classmethod(lambda cls, path, *a, **k: loads.append(path) or original(cls, path, *a, **k)))
    codec = get_codec("wacnn", checkpoints=[str(p) for p in checkpoints])
    codec.prepare(2)  # whatever this process held before, it now holds the second rate's model
    loads.clear()
    for _ in range(3):
        copy = pickle.loads(pickle.dumps(codec))
        copy.prepare(2)
        assert copy.extra_columns(2)["device"] == "cpu"
    assert loads == []
    copy.prepare(1)
    pickle.loads(pickle.dumps(codec)).prepare(1)
    assert loads == [checkpoints[0]], "one model held at a time, each loaded once"


def test_another_checkpoint_under_the_same_label_is_recoded(tmp_path, checkpoints, images, capsys):
    """Rows are identified by their checkpoint's SHA: swapping the checkpoints recodes every row
    and replaces the old rows; the same checkpoints again code nothing."""
    from segpic.codec import file_sha256

    out = tmp_path / "r"

    def run(paths):
        argv = ["run", "--models", "wacnn", "--checkpoint", "wacnn=" + ",".join(map(str, paths)),
                "--dataset", str(images), "--out", str(out), "--quiet", "--threads", "1"]
        assert main(argv) == 0
        with open(out / "small" / "default" / "per_image.csv", newline="") as f:
            return capsys.readouterr().err, list(csv.DictReader(f))

    run(checkpoints)
    swapped = checkpoints[::-1]
    err, rows = run(swapped)
    assert "4 to code, 0 already in" in err and "4 recorded there by another codec version or checkpoint" in err
    assert len(rows) == 4
    assert all(r["checkpoint_sha"] == file_sha256(swapped[int(r["quality"]) - 1]) for r in rows)
    err, rows = run(swapped)
    assert "0 to code, 4 already in" in err and len(rows) == 4


def test_a_checkpoint_other_than_the_planned_one_is_refused(checkpoints):
    """A cluster worker must load the very file the client hashed when it planned the run."""
    from bench.codecs import CodecError

    codec = get_codec("wacnn", checkpoints=[str(checkpoints[0])])
    codec.extra_columns(1)  # the client hashes the checkpoint when it plans
    codec._shas[1] = "0" * 64  # as if the worker's file at that path were another
    with pytest.raises(CodecError, match="not the file the run was planned with"):
        codec.prepare(1)


def test_one_table_and_one_plot_for_segpic_its_baselines_and_compressai_models(tmp_path, capsys):
    """``bench run --models segpic stf wacnn mbt2018-mean elic2022-official`` with one checkpoint
    per rate point (the golden test weights; ELIC's in CompressAI's format, a bare state_dict)
    gives one table and ``bench plot`` one figure with all five."""
    from segpic import registry

    golden = Path(__file__).resolve().parents[1] / "results" / "golden" / "checkpoints"
    names = ["segpic", "stf", "wacnn", "mbt2018-mean", "elic2022-official"]
    paths = {n: [golden / f"{n}-q{q}.pth" for q in (1, 2)] for n in names[:4]}
    paths["elic2022-official"] = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        paths["elic2022-official"].append(tmp_path / f"elic-{seed}.pth.tar")
        torch.save(registry.get("elic2022-official").build("test").state_dict(), paths["elic2022-official"][-1])
    images = tmp_path / "two"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(64, 64), (40, 72)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(images / f"img{i}.png")
    argv = ["run", "--models", *names, "--dataset", str(images), "--out", str(tmp_path / "r"), "--quiet",
            "--threads", "1"]
    for name in names:
        argv += ["--checkpoint", f"{name}=" + ",".join(map(str, paths[name]))]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert all(sum(line.startswith(f"{n} ") for line in table.splitlines()) == 2 for n in names), table
    with open(tmp_path / "r" / "two" / "default" / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({r["codec"] for r in rows}) == sorted(names) and len(rows) == 5 * 2 * 2
    out = tmp_path / "rd.png"
    assert main(["plot", "--dataset", "two", "--results", str(tmp_path / "r"), "--codecs", *names,
                 "--anchor", "none", "--out", str(out)]) == 0
    assert "(5 curves)" in capsys.readouterr().out and out.stat().st_size > 0
