"""``bench run --metrics`` and ``bench metrics``: metric columns in per_image.csv and the JSON,
added afterwards from stored streams only when a stream reproduces its row, resumable, with
one-line errors."""
import csv
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from bench import metrics
from bench.__main__ import main
from bench.codecs import get_codec
from bench.images import load_rgb
from bench.results import COLUMNS, load_json

EXTRA = ("vmaf", "psnr-hvs-m", "psnr-yuv")
EXTRA_COLUMNS = metrics.columns_of(metrics.parse(EXTRA))


@pytest.fixture
def crops(tmp_path, data_root):
    """A folder dataset of two 192x176 crops of Kodak images (every metric is defined at that size)."""
    folder = tmp_path / "crops"
    folder.mkdir()
    for name in ("kodim05.png", "kodim23.png"):
        rgb = np.asarray(Image.open(data_root / "kodak" / name).convert("RGB"))[100:276, 200:392]
        Image.fromarray(rgb).save(folder / name)
    return folder


def _run(folder, out, *extra):
    return main(["run", "--models", "jpeg", "--dataset", str(folder), "--qualities", "10", "40", "--out", str(out),
                 "--quiet", "--threads", "1", *extra])


def _rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def _expected(folder, out, row):
    stream = out / "crops" / "streams" / "default" / "jpeg" / f"q{row['quality']}" / row["image"].replace(".png", ".jpg")
    decoded = get_codec("jpeg").decode(stream)
    values, _ = metrics.compute(load_rgb(folder / row["image"]).rgb, decoded, metrics.parse(EXTRA))
    return values


def test_run_with_metrics_writes_columns_and_json_keys(crops, tmp_path):
    out = tmp_path / "runs"
    assert _run(crops, out, "--metrics", *EXTRA) == 0
    header, rows = _rows(out / "crops" / "default" / "per_image.csv")
    assert tuple(header) == COLUMNS + EXTRA_COLUMNS
    for row in rows:
        for column, value in _expected(crops, out, row).items():
            assert float(row[column]) == pytest.approx(value, abs=1e-6), column
    document = load_json(out / "crops" / "default" / "jpeg.json")["results"]
    for key in ("vmaf", "psnr-hvs-m", "psnr-y", "psnr-cb", "psnr-cr", "psnr-yuv"):
        assert len(document[key]) == 2 and all(v > 0 for v in document[key])
    q10 = [r for r in rows if r["quality"] == "10"]
    assert document["vmaf"][0] == pytest.approx(np.mean([float(r["vmaf"]) for r in q10]), abs=1e-5)


def test_run_without_metrics_keeps_the_default_columns(crops, tmp_path):
    out = tmp_path / "runs"
    assert _run(crops, out) == 0
    header, _ = _rows(out / "crops" / "default" / "per_image.csv")
    assert tuple(header) == COLUMNS


def test_unknown_metric_is_one_line(crops, tmp_path, capsys):
    assert _run(crops, tmp_path / "runs", "--metrics", "vmaf", "sharpness") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sharpness" in err and "vmaf" in err
    assert not (tmp_path / "runs").exists()


def test_metrics_adds_columns_from_stored_streams_and_resumes(crops, tmp_path, capsys):
    out = tmp_path / "runs"
    assert _run(crops, out) == 0
    path = out / "crops" / "default" / "per_image.csv"
    _, before = _rows(path)
    argv = ["metrics", "--dataset", str(crops), "--results", str(out), "--metrics", *EXTRA, "--quiet"]
    assert main(argv) == 0
    header, after = _rows(path)
    assert tuple(header) == COLUMNS + EXTRA_COLUMNS
    for old, new in zip(before, after):
        assert {c: new[c] for c in COLUMNS} == old           # nothing recoded, nothing else changed
        for column, value in _expected(crops, out, new).items():
            assert float(new[column]) == pytest.approx(value, abs=1e-6)
    assert "vmaf" in load_json(out / "crops" / "default" / "jpeg.json")["results"]
    capsys.readouterr()
    assert main(argv) == 0                                  # done already: nothing measured again
    assert "0 rows" in capsys.readouterr().err
    assert _rows(path)[1] == after


def test_metrics_without_streams_stops_in_one_line(crops, tmp_path, capsys):
    out = tmp_path / "runs"
    assert _run(crops, out) == 0
    shutil.rmtree(out / "crops" / "streams")
    path = out / "crops" / "default" / "per_image.csv"
    text = path.read_text()
    capsys.readouterr()
    assert main(["metrics", "--dataset", str(crops), "--results", str(out), "--metrics", "vmaf", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "4 of 4 rows" in err and "--recreate-streams" in err
    assert path.read_text() == text


def test_recreated_streams_are_kept_only_when_they_reproduce_the_row(crops, tmp_path, capsys):
    out = tmp_path / "runs"
    assert _run(crops, out) == 0
    shutil.rmtree(out / "crops" / "streams")
    path = out / "crops" / "default" / "per_image.csv"
    header, rows = _rows(path)
    tampered = next(r for r in rows if r["image"] == "kodim05.png" and r["quality"] == "40")
    tampered["psnr_rgb"] = f"{float(tampered['psnr_rgb']) + 0.001:.6f}"   # a row this stream cannot give
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    capsys.readouterr()
    rc = main(["metrics", "--dataset", str(crops), "--results", str(out), "--metrics", "vmaf", "--quiet",
               "--recreate-streams"])
    err = capsys.readouterr().err
    assert rc == 1 and "jpeg q=40 kodim05.png: re-created stream differs from the record" in err
    _, after = _rows(path)
    for row in after:
        if row["image"] == "kodim05.png" and row["quality"] == "40":
            assert row["vmaf"] == "" and row["psnr_rgb"] == tampered["psnr_rgb"]
            assert not (out / "crops" / "streams" / "default" / "jpeg" / "q40" / "kodim05.jpg").exists()
        else:
            assert float(row["vmaf"]) == pytest.approx(_expected(crops, out, row)["vmaf"], abs=1e-6)


def test_metric_sizes_give_nan_with_a_reason():
    """Each metric just at and just below its smallest side."""
    rng = np.random.RandomState(0)
    for metric in metrics.parse(["all"]):
        side = metric.min_side
        for size, defined in ((side, True), (side - 1, False)):
            if size < 1:
                continue
            a = rng.randint(0, 256, (size, size + 3, 3), dtype=np.uint8)
            b = np.clip(a.astype(int) + rng.randint(-9, 10, a.shape), 0, 255).astype(np.uint8)
            values, notes = metrics.compute(a, b, [metric])
            assert all(math.isnan(values[c]) != defined for c in metric.columns), (metric.name, size)
            assert any(f"{size + 3}x{size}" in n for n in notes) != defined, (metric.name, size)


def test_parse_names_default_and_all():
    assert [m.name for m in metrics.parse(None)] == list(metrics.DEFAULT)
    assert [m.name for m in metrics.parse(["vmaf", "psnr"])] == ["psnr", "vmaf"]   # registry order
    assert len(metrics.parse(["all"])) == len(metrics.REGISTRY)
    with pytest.raises(ValueError, match="sharpness"):
        metrics.parse(["sharpness"])


def test_a_metric_without_its_package_is_named(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "piq" else real(name, *a))
    with pytest.raises(ValueError, match=r"vif, iw-ssim need piq: pip install 'segpic-bench\[metrics\]'"):
        metrics.parse(["vif", "iw-ssim", "vmaf"])
    assert [m.name for m in metrics.parse(["vmaf"])] == ["vmaf"]


def test_run_names_rows_that_lack_new_metrics(crops, tmp_path, capsys):
    out = tmp_path / "runs"
    assert _run(crops, out) == 0
    capsys.readouterr()
    assert _run(crops, out, "--metrics", "vmaf") == 0       # nothing to code: the rows exist
    err = capsys.readouterr().err
    assert "0 to code" in err and "note: 4 rows already there lack some of psnr, ms-ssim, vmaf" in err
    assert "python -m bench metrics" in err
