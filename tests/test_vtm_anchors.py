"""The shipped vtm17 anchors: rebuilt from shared/, agreeing with the shared READMEs, and the
colour pipeline checked against the real VTM-17.0 bitstreams (decoded by ffmpeg's VVC decoder)."""
import csv
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from numeric import assert_same_csv
from PIL import Image

from bench.anchors_build import main as build_main
from bench.colour import read_yuv, rgb_to_ycbcr, ycbcr_to_rgb
from bench.curves import CurveLibrary
from bench.metrics import psnr_rgb
from bench.vtmlog import read_vtm_log

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "anchors" / "vtm17"
SETS = {"kodak.csv": "kodak-10bit", "kodak-8bit.csv": "kodak"}


def test_shipped_files_are_the_build_output(shared_dir, tmp_path):
    assert build_main(["--shared", str(shared_dir), "--out", str(tmp_path)]) == 0
    for name in ("kodak.csv", "kodak-8bit.csv", "clic2020-pro-valid.csv"):
        assert_same_csv((tmp_path / name).read_text(), (SHIPPED / name).read_text())


def test_build_without_shared_is_one_line(tmp_path, capsys):
    assert build_main(["--shared", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--shared" in err
    assert not (tmp_path / "out").exists()


def _readme_means(text):
    """{qp: (bpp, psnr)} from the 'Per-QP means' paragraph of a shared anchor README."""
    means = text[text.index("Per-QP means"):]
    found = re.findall(r"QP (\d+): (\d+\.\d+)(?: bpp)?, (\d+\.\d+)", means)
    return {int(q): (float(b), float(p)) for q, b, p in found[:4]}


@pytest.mark.parametrize("name", sorted(SETS))
def test_per_qp_means_match_the_readme(shared_dir, tmp_path, name):
    expected = _readme_means((shared_dir / "anchors/vtm17" / SETS[name] / "README.md").read_text())
    assert sorted(expected) == [27, 32, 37, 42]
    with open(SHIPPED / name, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 96 and len({r["image"] for r in rows}) == 24
    for qp, (bpp, psnr) in expected.items():
        at = [r for r in rows if int(r["quality"]) == qp]
        assert np.mean([float(r["bpp"]) for r in at]) == pytest.approx(bpp, abs=5e-5)
        assert np.mean([float(r["psnr_rgb"]) for r in at]) == pytest.approx(psnr, abs=5e-4)
    if name == "kodak.csv":       # the default: what `bdrate --anchor vtm17 --dataset kodak` reads
        curve = CurveLibrary("kodak", tmp_path, ROOT / "anchors").resolve("vtm17")
        np.testing.assert_allclose(curve.bpp, [expected[q][0] for q in (42, 37, 32, 27)], atol=5e-5)
        assert "10-bit input" in curve.source


def _decode_with_ffmpeg(path, out):
    """The decoded 10-bit planes of a VTM bitstream (ffmpeg's native VVC decoder)."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "vvc", "-i", str(path),
                    "-f", "rawvideo", "-pix_fmt", "yuv444p10le", "-y", str(out)], check=True)


@pytest.mark.parametrize("name, points", [
    ("kodak-8bit.csv", [("kodim01", 27), ("kodim04", 42), ("kodim23", 32)]),
    ("kodak.csv", [("kodim01", 27), ("kodim18", 37), ("kodim23", 32)]),
])
def test_colour_pipeline_reproduces_the_anchor(shared_dir, data_root, tmp_path, name, points):
    """Forward conversion: the plane PSNRs of the encoder log (peak 255 << 2 at VTM's internal
    10 bits) come out to the log's 4 decimals.  Inverse: PSNR-RGB equals the anchor's exactly."""
    folder = shared_dir / "anchors/vtm17" / SETS[name]
    bits = 10 if SETS[name] == "kodak-10bit" else 8
    with open(SHIPPED / name, newline="") as f:
        rows = {(r["image"], int(r["quality"])): r for r in csv.DictReader(f)}
    assert all(image.endswith(".png") for image, _ in rows)          # as `bench run` names them
    for image, qp in points:
        rgb = np.asarray(Image.open(data_root / "kodak" / f"{image}.png").convert("RGB"))
        height, width = rgb.shape[:2]
        _decode_with_ffmpeg(folder / "bitstreams" / f"{image}_qp{qp}.bin", tmp_path / "rec.yuv")
        rec = np.stack(read_yuv(tmp_path / "rec.yuv", width, height, 10)).astype(np.int64)
        fed = rgb_to_ycbcr(rgb, bits).astype(np.int64) << (10 - bits)
        log = read_vtm_log(folder / "logs" / f"{image}_qp{qp}.log")
        for plane, logged in zip(range(3), (log.psnr_y, log.psnr_u, log.psnr_v)):
            mse = np.mean((rec[plane] - fed[plane]) ** 2)
            assert round(10 * np.log10(1020.0 ** 2 / mse), 4) == logged, (image, qp, plane)
        if bits == 8:                                   # DecoderAppStatic -d 8: rounded shift
            rec = np.clip((rec + 2) >> 2, 0, 255)
        decoded = ycbcr_to_rgb(rec, bits)
        shipped = float(rows[(f"{image}.png", qp)]["psnr_rgb"])
        assert psnr_rgb(rgb, decoded) == pytest.approx(shipped, rel=0, abs=1e-9)
