"""``bench bdrate`` on every metric: ``--metric vmaf|nlpd|...|all``, the anchor's metrics joined
from ``anchors/<name>/<dataset>-metrics.csv``, and ``--complexity`` columns; synthetic curves
whose BD-rate is known exactly."""
import csv

import pytest

from bench.__main__ import main as bench_main
from bench.metrics import REGISTRY

QUALITIES = (1, 2, 3, 4)
IMAGES = 3
#: Per metric column: its value at quality q (NLPD falls with quality, the others rise).
VALUES = {"psnr_rgb": lambda q: 28 + 3 * q, "ms_ssim_rgb": lambda q: 1 - 10 ** (-(10 + 2 * q) / 10),
          "vmaf": lambda q: 30 + 12 * q, "vif": lambda q: 0.2 * q, "nlpd": lambda q: 0.5 / q,
          "psnr_yuv": lambda q: 30 + 2.5 * q}
BASE = ["dataset", "image", "width", "height", "codec", "codec_version", "quality", "bytes", "bpp", "psnr_rgb",
        "ms_ssim_rgb", "ms_ssim_db", "encode_s", "decode_s"]


def write_rows(path, codec, factor, metric_columns, split_metrics=None):
    """Rows at rate 0.1 * 2^q * factor with the VALUES at q: the BD-rate against factor 1 is
    (factor - 1) * 100 on every metric.  ``split_metrics``: write the metric columns there (the
    anchor's -metrics.csv) instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, extra = [], []
    for i in range(IMAGES):
        for q in QUALITIES:
            bpp = 0.1 * 2 ** q * factor
            row = dict(zip(BASE, ["kodak", f"kodim{i + 1:02d}.png", 768, 512, codec, "test", q,
                                  round(bpp * 768 * 512 / 8), bpp, VALUES["psnr_rgb"](q), VALUES["ms_ssim_rgb"](q),
                                  10 + 2 * q, 0.1, 0.1]))
            metrics = {c: VALUES[c](q) for c in metric_columns}
            if split_metrics:
                extra.append({"image": row["image"], "quality": q, **metrics})
            else:
                row.update(metrics)
            rows.append(row)
    for target, items in ((path, rows), (split_metrics, extra)):
        if target and items:
            with open(target, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(items[0]), lineterminator="\n")
                writer.writeheader()
                writer.writerows(items)


@pytest.fixture
def setup(tmp_path):
    anchors = tmp_path / "anchors"
    (anchors / "published").mkdir(parents=True)
    anchor = anchors / "vtm17" / "kodak.csv"
    write_rows(anchor, "vtm", 1.0, ["vmaf", "vif", "nlpd", "psnr_yuv"],
               split_metrics=anchors / "vtm17" / "kodak-metrics.csv")
    results = tmp_path / "results"
    write_rows(results / "kodak" / "default" / "per_image.csv", "jpeg", 0.8, ["vmaf", "vif", "nlpd"])
    write_rows(results / "kodak" / "b" / "per_image.csv", "segpic", 1.1, [])
    write_rows(results / "kodak" / "learned.csv", "stf", 1.2, [])
    return anchors, results, tmp_path


def run(capsys, setup, *argv):
    anchors, results, _ = setup
    rc = bench_main(["bdrate", "--anchors", str(anchors), "--results", str(results), "--codecs", "all", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("metric", ["vmaf", "vif", "nlpd", "psnr"])
def test_bd_rate_on_a_metric(capsys, setup, metric):
    rc, out, err = run(capsys, setup, "--metric", metric, "--format", "csv")
    assert rc == 0, err
    rows = {r["name"]: r for r in csv.DictReader(out.splitlines())}
    assert float(rows["jpeg"]["BD-rate (%)"]) == pytest.approx(-20.0, abs=1e-9)
    if metric == "psnr":
        assert float(rows["segpic@b"]["BD-rate (%)"]) == pytest.approx(10.0, abs=1e-9)
    else:
        assert "segpic@b" not in rows          # no such column in its results: not compared


def test_all_metrics_table_has_a_column_per_anchor_metric(capsys, setup):
    rc, out, err = run(capsys, setup, "--metric", "all", "--format", "csv")
    assert rc == 0, err
    reader = csv.DictReader(out.splitlines())
    rows = {r["name"]: r for r in reader}
    assert reader.fieldnames[5:11] == ["psnr", "ms-ssim", "psnr-yuv", "vmaf", "vif", "nlpd"]
    for metric in ("psnr", "ms-ssim", "vmaf", "vif", "nlpd"):
        assert float(rows["jpeg"][metric]) == pytest.approx(-20.0, abs=1e-9), metric
    assert rows["jpeg"]["psnr-yuv"] == ""       # the codec lacks it
    assert float(rows["segpic@b"]["psnr"]) == pytest.approx(10.0, abs=1e-9) and rows["segpic@b"]["vmaf"] == ""
    rc, out, err = run(capsys, setup, "--metric", "all")
    assert rc == 0 and "| VMAF" in out and "-NLPD" in out
    assert "The anchor has no VIFp" not in out and "The anchor has no FSIM, IW-SSIM, PSNR-HVS-M" in out


def test_all_metrics_takes_one_method(capsys, setup):
    rc, out, err = run(capsys, setup, "--metric", "all", "--method", "all")
    assert rc == 2 and err.count("\n") == 1 and "one --method" in err


def test_an_anchor_metrics_file_missing_a_row_is_one_line(capsys, setup):
    anchors, _, _ = setup
    path = anchors / "vtm17" / "kodak-metrics.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    rc, out, err = run(capsys, setup, "--metric", "vmaf")
    assert rc == 2 and err.count("\n") == 1 and "no row for kodim03.png quality 4" in err


def test_complexity_columns_come_from_the_complexity_file(capsys, setup):
    _, _, tmp_path = setup
    path = tmp_path / "complexity.csv"
    path.write_text("arch,width,height,encoder_kmac_per_pixel,decoder_kmac_per_pixel,encoder_gmac,decoder_gmac,"
                    "parameters,encoder_parameters,decoder_parameters,torch\n"
                    "stf,768,512,420.00,473.00,165.0,186.0,84300000,50000000,40000000,2.14\n"
                    "segpic,768,512,1.00,1.00,1.0,1.0,1,1,1,2.14\n")
    rc, out, err = run(capsys, setup, "--metric", "all", "--format", "csv", "--complexity",
                       "--complexity-file", str(path))
    assert rc == 0, err
    rows = {r["name"]: r for r in csv.DictReader(out.splitlines())}
    assert (rows["stf"]["enc kMAC/px"], rows["stf"]["dec kMAC/px"]) == ("420.00", "473.00")
    assert (rows["stf"]["params (M)"], rows["stf"]["dec params (M)"]) == ("84.30", "40.00")
    assert rows["jpeg"]["dec kMAC/px"] == ""
    assert rows["segpic@b"]["dec kMAC/px"] == ""     # a named result set: its configuration is unknown


def test_complexity_of_the_published_paper_curves(capsys, setup):
    anchors, _, tmp_path = setup
    (anchors / "published" / "p.csv").write_text(
        "codec,dataset,point,bpp,psnr_rgb,ms_ssim_rgb,source\n" + "".join(
            f"stf-paper,kodak,{q},{0.1 * 2 ** q * 0.9},{28 + 3 * q},,paper\n" for q in QUALITIES))
    path = tmp_path / "complexity.csv"
    path.write_text("arch,width,height,encoder_kmac_per_pixel,decoder_kmac_per_pixel,encoder_gmac,decoder_gmac,"
                    "parameters,encoder_parameters,decoder_parameters,torch\n"
                    "stf,768,512,320.06,411.49,125.853,161.805,99855639,81462042,88550877,2.14\n")
    rc, out, err = run(capsys, setup, "--format", "csv", "--complexity", "--complexity-file", str(path))
    assert rc == 0, err
    rows = {r["name"]: r for r in csv.DictReader(out.splitlines())}
    assert float(rows["stf-paper"]["BD-rate (%)"]) == pytest.approx(-10.0, abs=1e-9)
    assert (rows["stf-paper"]["dec kMAC/px"], rows["stf-paper"]["params (M)"]) == ("411.49", "99.86")
    rc, out, err = run(capsys, setup, "--metric", "psnr", "--complexity", "--complexity-file", str(path),
                       "--complexity-size", "1024x768")
    assert rc == 2 and err.count("\n") == 1 and "no row at 1024x768" in err


def test_every_registered_metric_has_a_bd_direction():
    assert {m.bd for m in REGISTRY.values()} <= {"identity", "db", "negate"}
    assert REGISTRY["nlpd"].bd == "negate" and REGISTRY["ms-ssim"].bd == "db"
