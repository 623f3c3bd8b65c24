"""The ``bdrate`` command: the SegPIC CLIC headline from published curves, per-image spread and
bootstrap on synthetic per-image results, and one-line errors."""
import csv
import io
import json
import shutil

import numpy as np
import pytest

from bench.__main__ import main as bench_main
from bench.bdrate import bd_rate
from bench.published import curve_csv, generate, read_reference, vtm17_clic_rows

QUALITIES = (1, 2, 3, 4)
FACTORS = (0.80, 0.85, 0.90, 0.95, 1.02)  # test rate / anchor rate, per image


def run(capsys, *argv):
    rc = bench_main(["bdrate", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def anchors(shared_dir, tmp_path_factory):
    """An anchors folder: the published curves and the published VTM-17.0 CLIC anchor, from
    shared/, plus a per-image Kodak anchor with synthetic points."""
    root = tmp_path_factory.mktemp("anchors")
    generate(shared_dir, root / "published")
    (root / "vtm17").mkdir()
    (root / "vtm17" / "clic2020-pro-valid.csv").write_text(
        curve_csv(vtm17_clic_rows(read_reference(shared_dir))))
    write_per_image(root / "vtm17" / "kodak.csv", "vtm", [1.0] * len(FACTORS), ext="")
    return root


def write_per_image(path, codec, factors, qualities=QUALITIES, ext=".png"):
    """Per-image results: every image has rate 0.1 * 2^q * factor at PSNR 28 + 3 q, so the
    per-image BD-rate against factor 1 is exactly (factor - 1) * 100 for every method."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "image", "width", "height", "codec", "codec_version", "quality",
                    "bytes", "bpp", "psnr_rgb", "ms_ssim_rgb", "ms_ssim_db", "encode_s",
                    "decode_s"])
        for i, factor in enumerate(factors):
            for q in qualities:
                bpp = 0.1 * 2 ** q * factor
                ms_ssim = 1 - 10 ** (-(10 + 2 * q) / 10)
                w.writerow(["kodak", f"kodim{i + 1:02d}{ext}", 768, 512, codec, "test", q,
                            round(bpp * 768 * 512 / 8), bpp, 28 + 3 * q, ms_ssim,
                            10 + 2 * q, 0.1, 0.1])


def test_segpic_paper_against_vtm17_on_clic(capsys, anchors, tmp_path, shared_dir):
    rc, out, err = run(capsys, "--anchor", "vtm17", "--dataset", "clic2020-pro-valid",
                       "--method", "cubic", "--anchors", str(anchors),
                       "--results", str(tmp_path), "--codecs", "all")
    assert rc == 0 and err == ""
    (segpic,) = [line for line in out.splitlines() if "| SegPIC (paper)" in line]
    assert "| -8.26 " in segpic and "cubic" in segpic
    for name in ("stf-paper", "wacnn-paper", "mlic-paper", "tcm-large-paper"):
        assert f"| {name} " in out
    assert "VTM-17.0" in out.splitlines()[0]
    assert "Sources:" in out and "SegPIC-for-Image-Compression" in out


def test_csv_values_equal_direct_bd_rate(capsys, anchors, tmp_path, shared_dir):
    rc, out, _ = run(capsys, "--dataset", "clic2020-pro-valid", "--method", "all",
                     "--format", "csv", "--anchors", str(anchors), "--results", str(tmp_path),
                     "--codecs", "segpic-paper")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["method"] for r in rows] == ["cubic", "pchip", "akima"]
    reference = read_reference(shared_dir)
    vtm = [r for r in reference if r["codec"].startswith("VTM-17.0")]
    seg = [r for r in reference if r["codec"].startswith("SegPIC")
           and r["dataset"].startswith("CLIC2020-professional-valid")]
    for row in rows:
        direct = bd_rate([float(r["bpp"]) for r in vtm], [float(r["psnr"]) for r in vtm],
                         [float(r["bpp"]) for r in seg], [float(r["psnr"]) for r in seg],
                         method=row["method"])
        assert float(row["BD-rate (%)"]) == direct.value
        assert row["source"] == seg[0]["source"] and row["anchor"] == "vtm17"


def test_latex_format(capsys, anchors, tmp_path):
    rc, out, _ = run(capsys, "--dataset", "clic2020-pro-valid", "--format", "latex",
                     "--anchors", str(anchors), "--results", str(tmp_path))
    assert rc == 0 and "\\begin{tabular}" in out and "\\bottomrule" in out
    assert out.startswith("% BD-rate against VTM-17.0")


def test_per_image_spread_and_bootstrap(capsys, anchors, tmp_path):
    write_per_image(tmp_path / "kodak" / "ours.csv", "segpic", FACTORS)
    argv = ["--dataset", "kodak", "--anchors", str(anchors), "--results", str(tmp_path),
            "--codecs", "segpic", "--per-image", "--bootstrap", "100", "--seed", "7",
            "--format", "csv", "--method", "all"]
    rc, out, _ = run(capsys, *argv)
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 and rows[0]["codec"] == "SegPIC (ours)"
    per_image = [(f - 1) * 100 for f in FACTORS]
    for row in rows:
        # all images share one rate grid, so the mean curve's saving is the mean factor's
        assert float(row["BD-rate (%)"]) == pytest.approx((np.mean(FACTORS) - 1) * 100,
                                                          abs=1e-9)
        assert row["images"] == "5/5"
        assert float(row["per-image median (%)"]) == pytest.approx(np.median(per_image))
        low, high = (float(v) for v in row["per-image min..max (%)"].split(".."))
        assert (low, high) == pytest.approx((min(per_image), max(per_image)))
        ci = [float(v) for v in row["bootstrap 95% CI"].strip("[]").split(", ")]
        assert min(per_image) <= ci[0] < float(row["BD-rate (%)"]) < ci[1] <= max(per_image)
    assert run(capsys, *argv)[1] == out  # same seed, same table


def test_ms_ssim_metric(capsys, anchors, tmp_path):
    write_per_image(tmp_path / "kodak" / "ours.csv", "segpic", [0.9] * 3)
    rc, out, _ = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results",
                     str(tmp_path), "--metric", "ms-ssim", "--codecs", "segpic")
    assert rc == 0 and "BD-MS-SSIM (dB)" in out and "| -10.00 " in out


def test_curve_that_defines_no_bd_rate_prints_na(capsys, anchors, tmp_path):
    write_per_image(tmp_path / "kodak" / "short.csv", "jpeg", [0.9], qualities=(1, 2, 3))
    rc, out, _ = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results",
                     str(tmp_path), "--codecs", "jpeg")
    assert rc == 0
    (row,) = [line for line in out.splitlines() if "| JPEG (ours)" in line]
    assert "| n/a " in row and "needs at least 4" in row


def test_anchor_as_a_file_and_as_a_published_name(capsys, anchors, tmp_path):
    rc, out, _ = run(capsys, "--dataset", "clic2020-pro-valid", "--anchors", str(anchors),
                     "--results", str(tmp_path), "--anchor",
                     str(anchors / "vtm17" / "clic2020-pro-valid.csv"), "--codecs",
                     "segpic-paper")
    assert rc == 0 and "| -8.26 " in out
    rc, out, _ = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results",
                     str(tmp_path), "--anchor", "stf-paper")
    assert rc == 0 and "against STF (paper)" in out
    assert "| stf-msssim-paper " not in out  # no PSNR values
    assert "| segpic-paper " in out and "| stf-paper " not in out
    rc, out, _ = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results",
                     str(tmp_path), "--anchor", "stf-msssim-paper", "--metric", "ms-ssim",
                     "--codecs", "all")
    assert rc == 0 and "| stf-msssim-paper " not in out and "| stf-paper " not in out
    assert "| wacnn-msssim-paper " in out


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "tecnick-100"],
     "python -m bench run --models vtm --dataset tecnick-100"),
    (["--codecs", "nonesuch"], "no curve named nonesuch"),
    (["--anchor", "nonesuch"], "no curve named 'nonesuch'"),
    (["--anchor", "missing.csv"], "curve file missing.csv not found"),
    (["--bootstrap", "-1"], "--bootstrap must be >= 0"),
])
def test_bad_input_is_one_line(capsys, anchors, tmp_path, argv, message):
    rc, out, err = run(capsys, "--anchors", str(anchors), "--results", str(tmp_path), *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_result_sets_of_bench_run(capsys, anchors, tmp_path):
    """`bench run --label SET` writes <results>/<dataset>/<SET>/per_image.csv; bitstreams under
    streams/ are not results."""
    write_per_image(tmp_path / "kodak" / "default" / "per_image.csv", "segpic", [0.9] * 2)
    write_per_image(tmp_path / "kodak" / "ablation" / "per_image.csv", "segpic", [0.8] * 2)
    (tmp_path / "kodak" / "streams" / "default").mkdir(parents=True)
    (tmp_path / "kodak" / "streams" / "default" / "junk.csv").write_text("x\n1\n")
    rc, out, _ = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results",
                     str(tmp_path), "--codecs", "segpic", "segpic@ablation")
    assert rc == 0
    assert "| SegPIC (ours) " in out and "| -10.00 " in out
    assert "| SegPIC (ours, ablation) " in out and "| -20.00 " in out


# --- hostile and careless curve files ------------------------------------------------------

def _curve_file(path, points, codec="mine"):
    """A curve file (codec,dataset,point,bpp,psnr_rgb,ms_ssim_rgb,source) on kodak."""
    lines = ["codec,dataset,point,bpp,psnr_rgb,ms_ssim_rgb,source"]
    lines += [f"{codec},kodak,{k},{b},{p},,test" for k, (b, p) in enumerate(points, start=1)]
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = [(0.2, 31.0), (0.4, 34.0), (0.8, 37.0), (1.6, 40.0)]


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_a_nan_point_in_a_curve_file_is_flagged_not_dropped_silently(capsys, anchors, tmp_path, method):
    published = tmp_path / "anchors"
    shutil.copytree(anchors, published)
    _curve_file(published / "published" / "mine.csv", GOOD[:2] + [(0.8, "nan")] + GOOD[3:])
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(published), "--results", str(tmp_path / "none"),
                       "--codecs", "mine", "--method", method, "--format", "csv")
    assert rc == 0, err
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert "incomplete: PSNR-RGB missing at point 3" in row["flags"]
    if method == "cubic":
        assert row["BD-rate (%)"] == "n/a" and "3 points" in row["flags"]


@pytest.mark.parametrize("bad, message", [
    ((-0.4, 34.0), "line 3: bpp is -0.4"),
    ((0.0, 34.0), "line 3: bpp is 0.0"),
    ((0.4, "inf"), "line 3: psnr_rgb is inf"),
    (("inf", 34.0), "line 3: bpp is inf"),
])
def test_invalid_values_are_refused_naming_file_and_line(capsys, anchors, tmp_path, bad, message):
    path = _curve_file(tmp_path / "c.csv", [GOOD[0], bad] + GOOD[2:])
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results", str(tmp_path / "none"),
                       "--anchor", str(path))
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and str(path) in lines[0] and message in lines[0], err


def test_negative_bpp_in_per_image_rows_is_refused(capsys, anchors, tmp_path):
    results = tmp_path / "results"
    write_per_image(results / "kodak" / "neg.csv", "neg", FACTORS)
    text = (results / "kodak" / "neg.csv").read_text().splitlines()
    fields = text[5].split(",")
    fields[8] = "-" + fields[8]
    text[5] = ",".join(fields)
    (results / "kodak" / "neg.csv").write_text("\n".join(text) + "\n")
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results", str(results))
    assert rc == 2 and "neg.csv, line 6: bpp is -" in err and len(err.strip().splitlines()) == 1


def test_anchor_with_one_nan_psnr_is_incomplete_and_said_once(capsys, anchors, tmp_path):
    """One image's PSNR missing at one quality of a per-image anchor: that point has no PSNR
    (never a mean over fewer images), the anchor is flagged incomplete, the cubic method has
    too few anchor points, and the reason is said once above the table, not on every row."""
    anchor = tmp_path / "anchor.csv"
    write_per_image(anchor, "vtm", [1.0] * len(FACTORS), ext="")
    rows = list(csv.DictReader(anchor.open()))
    rows[5]["psnr_rgb"] = "nan"
    with anchor.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    results = tmp_path / "results"
    for name, factor in (("a", 0.9), ("b", 1.1), ("c", 0.8)):
        write_per_image(results / "kodak" / f"{name}.csv", name, [factor] * len(FACTORS))
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results", str(results),
                       "--anchor", str(anchor), "--method", "cubic")
    assert rc == 0, err
    note = f"anchor incomplete: PSNR-RGB missing at quality {rows[5]['quality']} (1 of 5 images)"
    assert out.count(note) == 1 and f"Every row: {note}" in out
    assert out.count("anchor curve has 3 points") == 1
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results", str(results),
                       "--anchor", str(anchor), "--method", "all")
    assert rc == 0 and out.count(note) == 1
    assert out.count("anchor curve has 3 points") == 1
    assert "Every cubic row: n/a: anchor curve has 3 points; the cubic method needs at least 4" in out
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--results", str(results),
                       "--anchor", str(anchor), "--method", "pchip", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) > 3 and all(note in r["flags"] for r in table)  # csv rows stand alone


def test_per_image_rows_become_one_curve_by_one_rule(tmp_path):
    """bench run's JSON curve and bench bdrate's curve from the same rows: same numbers, and a
    point with a missing metric is missing (null) and flagged in both."""
    from bench.curves import read_curve_file
    from bench.results import ResultTable

    path = tmp_path / "kodak" / "default" / "per_image.csv"
    write_per_image(path, "jpeg", FACTORS)
    rows = list(csv.DictReader(path.open()))
    rows[1]["ms_ssim_rgb"] = "nan"
    table = ResultTable(path)
    for row in rows:
        table.add({**row, **{c: float(row[c]) for c in ("bpp", "psnr_rgb", "ms_ssim_rgb", "ms_ssim_db")}})
    table.save()
    document = json.loads(table.write_json("jpeg", "kodak", "default").read_text())
    (curve,) = read_curve_file(path, kind="ours")
    quality = int(rows[1]["quality"])
    assert document["results"]["ms-ssim-rgb"][quality - 1] is None
    assert np.isnan(curve.ms_ssim_rgb[quality - 1])
    note = f"incomplete: MS-SSIM-RGB missing at quality {quality} (1 of 5 images)"
    assert note in document["description"] and note in curve.notes
    np.testing.assert_array_equal(curve.bpp, document["results"]["bpp"])
    np.testing.assert_array_equal(curve.psnr_rgb, document["results"]["psnr-rgb"])


def test_default_table_is_your_runs_and_the_headline_references(capsys, anchors, tmp_path, monkeypatch):
    """Without --results and --codecs: the curves of runs/ (where bench run writes) and the
    headline published curves; --codecs all adds every other curve; no runs is said on stderr."""
    from bench.published import HEADLINE

    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--format", "csv")
    assert rc == 0 and "note: no results in runs/kodak" in err
    names = {r["name"] for r in csv.DictReader(io.StringIO(out))}
    assert names and names <= set(HEADLINE)
    write_per_image(tmp_path / "runs" / "kodak" / "default" / "per_image.csv", "jpeg", FACTORS)
    write_per_image(tmp_path / "runs" / "kodak" / "trained" / "per_image.csv", "segpic", FACTORS, qualities=(1,))
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--format", "csv")
    default = {r["name"] for r in csv.DictReader(io.StringIO(out))}
    assert rc == 0 and err == "" and default == names | {"jpeg", "segpic@trained"}
    rc, out, err = run(capsys, "--dataset", "kodak", "--anchors", str(anchors), "--format", "csv",
                       "--codecs", "all")
    every = {r["name"] for r in csv.DictReader(io.StringIO(out))}
    assert rc == 0 and default < every and len(every) > 40
