"""The VTM-17.0 Kodak anchor's metrics beyond PSNR-RGB and MS-SSIM (anchors/vtm17/kodak-metrics.csv):
recomputed from a shipped bitstream by ffmpeg's VVC decoder, the reconstruction reproduces the
anchor's PSNR-RGB and MS-SSIM, and the shipped metric values; the default anchor carries them."""
import csv
from pathlib import Path

import pytest

from bench import anchor_metrics
from bench.curves import CurveLibrary
from bench.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "anchors" / "vtm17"


def _rows(path):
    with open(path, newline="") as f:
        return {(r["image"], r["quality"]): r for r in csv.DictReader(f)}


def test_a_bitstream_reproduces_its_shipped_metrics(shared_dir, data_root):
    anchor = _rows(SHIPPED / "kodak.csv")
    shipped = _rows(SHIPPED / "kodak-metrics.csv")
    assert set(shipped) == set(anchor) and len(anchor) == 96
    row = anchor[("kodim23.png", "42")]
    measured = anchor_metrics.measure_row(
        (row, shared_dir / "anchors" / "vtm17" / anchor_metrics.SET / "bitstreams", data_root / "kodak"))
    assert float(measured["psnr_rgb_gap"]) < 1e-14 and measured["ms_ssim_rgb_gap"] == "0"  # exact reconstruction
    for column, value in measured.items():
        if column not in ("image", "quality", "psnr_rgb_gap", "ms_ssim_rgb_gap"):
            # float32 metrics (VIF, FSIM, NLPD, IW-SSIM) may move in the last printed digit on another CPU
            assert float(value) == pytest.approx(float(shipped[("kodim23.png", "42")][column]), rel=1e-6), column


def test_every_shipped_row_reproduced_the_anchor():
    """MS-SSIM identical, PSNR-RGB to a few units in the last place of the float64 (summation order)."""
    for row in _rows(SHIPPED / "kodak-metrics.csv").values():
        assert row["ms_ssim_rgb_gap"] == "0" and float(row["psnr_rgb_gap"]) < 1e-14, row["image"]


def test_default_anchor_has_every_metric(tmp_path):
    anchor = CurveLibrary("kodak", tmp_path, ROOT / "anchors").resolve("vtm17")
    for metric in REGISTRY:
        bpp, values = anchor.points(metric)
        assert len(bpp) == 4, metric
    assert "kodak-metrics.csv" in anchor.source
    _, vmaf = anchor.points("vmaf")
    assert list(vmaf) == sorted(vmaf) and 60 < vmaf[0] < vmaf[-1] < 100   # rises with the rate


def test_mismatching_reconstruction_is_refused(shared_dir, data_root):
    row = dict(_rows(SHIPPED / "kodak.csv")[("kodim23.png", "42")], quality="37")  # another QP's stream
    with pytest.raises(anchor_metrics.AnchorMetricsError, match="off the anchor row"):
        anchor_metrics.measure_row(
            (row, shared_dir / "anchors" / "vtm17" / anchor_metrics.SET / "bitstreams", data_root / "kodak"))
