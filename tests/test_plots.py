"""The ``plot`` command renders real image files, atomically, and refuses bad input in one line."""

import pytest
from PIL import Image

from bench import plots
from bench.__main__ import main as bench_main
from bench.published import curve_csv, generate, read_reference, vtm17_clic_rows


@pytest.fixture(scope="module")
def anchors(shared_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("anchors")
    generate(shared_dir, root / "published")
    (root / "vtm17").mkdir()
    (root / "vtm17" / "clic2020-pro-valid.csv").write_text(
        curve_csv(vtm17_clic_rows(read_reference(shared_dir))))
    return root


def run(capsys, anchors, results, *argv):
    rc = bench_main(["plot", "--anchors", str(anchors), "--results", str(results), *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_png(capsys, anchors, tmp_path):
    out = tmp_path / "rd.png"
    rc, stdout, _ = run(capsys, anchors, tmp_path, "--dataset", "clic2020-pro-valid",
                        "--out", str(out))
    assert rc == 0 and "6 curves" in stdout  # the anchor and five headline published curves
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    with Image.open(out) as image:
        assert image.size == (1200, 650)
        image.load()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rd.png"]  # no temporary left


@pytest.mark.parametrize("suffix,magic", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_vector_formats(capsys, anchors, tmp_path, suffix, magic):
    out = tmp_path / f"rd{suffix}"
    rc, _, _ = run(capsys, anchors, tmp_path, "--dataset", "kodak", "--metric", "ms-ssim",
                   "--codecs", "stf-msssim-paper", "wacnn-msssim-paper", "--out", str(out))
    assert rc == 0 and out.read_bytes().startswith(magic)
    if suffix == ".svg":
        text = out.read_text()
        assert "MS-SSIM-RGB (dB)" in text and "rate (bpp)" in text


def test_selection_styles_ours_solid_published_thin_anchor_dashed(anchors, tmp_path):
    (tmp_path / "kodak").mkdir()
    (tmp_path / "kodak" / "r.csv").write_text(
        "dataset,image,codec,quality,bpp,psnr_rgb,ms_ssim_rgb\n"
        + "".join(f"kodak,kodim01,segpic,{q},{0.1 * q},{28 + q},0.9\n" for q in range(1, 5)))
    library = plots.CurveLibrary("kodak", tmp_path, anchors)
    curves = plots.select(library, "psnr", None, library.resolve("vtm-compressai"))
    assert curves[0].name == "vtm-compressai" and curves[1].label == "SegPIC (ours)"
    assert "segpic-paper" in [c.name for c in curves]
    figure = plots.rd_figure(curves, "psnr", "kodak")
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert lines["SegPIC (ours)"].get_linestyle() == "-"
    assert lines["SegPIC (ours)"].get_linewidth() > lines["SegPIC (paper)"].get_linewidth()
    assert lines["VTM, version unrecorded (CompressAI)"].get_linestyle() == "--"
    assert figure.axes[0].get_xlabel() == "rate (bpp)"
    assert figure.axes[0].get_ylabel() == "PSNR-RGB (dB)"


def test_up_to_twenty_curves_each_get_their_own_colour(anchors, tmp_path):
    library = plots.CurveLibrary("kodak", tmp_path, anchors)
    curves = plots.select(library, "psnr", ["all"], library.resolve("vtm-compressai"))[:len(plots.PALETTE)]
    assert len(curves) == 20  # more than matplotlib's default cycle of 10 colours
    colours = [line.get_color() for line in plots.rd_figure(curves, "psnr", "kodak").axes[0].get_lines()]
    assert len(set(map(str, colours))) == len(colours)


@pytest.mark.parametrize("argv,message", [
    (["--out", "rd.gif"], "--out must end in"),
    (["--codecs", "nonesuch", "--out", "rd.png"], "no curve named nonesuch on clic2020"),
    (["--anchor", "nonesuch", "--out", "rd.png"], "no curve named 'nonesuch'"),
])
def test_bad_input_is_one_line_and_writes_nothing(capsys, anchors, tmp_path, argv, message):
    argv = ["--dataset", "clic2020-pro-valid"] + \
        [str(tmp_path / a) if a.startswith("rd.") else a for a in argv]
    rc, stdout, err = run(capsys, anchors, tmp_path, *argv)
    assert rc == 2 and stdout == "" and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []
