"""bench.metrics: PSNR-RGB and MS-SSIM-RGB as defined in the module docstring."""
import math

import numpy as np
import torch
from pytorch_msssim import ms_ssim

from bench.metrics import MS_SSIM_MIN_SIDE, measure, psnr_rgb, to_db


def test_psnr_of_a_known_error():
    a = np.zeros((10, 10, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 30  # MSE = 900 / 300 = 3
    assert math.isclose(psnr_rgb(a, b), 10 * math.log10(255**2 / 3.0), rel_tol=1e-12)


def test_psnr_does_not_wrap_around_uint8():
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((2, 2, 3), 255, np.uint8)
    assert math.isclose(psnr_rgb(a, b), 0.0, abs_tol=1e-12)
    assert math.isclose(psnr_rgb(b, a), 0.0, abs_tol=1e-12)


def test_identical_images_give_infinite_psnr_and_unit_ms_ssim():
    a = np.random.RandomState(0).randint(0, 256, (200, 180, 3), dtype=np.uint8)
    q = measure(a, a)
    assert q.psnr_rgb == math.inf
    assert math.isclose(q.ms_ssim_rgb, 1.0, abs_tol=1e-6)


def test_ms_ssim_equals_pytorch_msssim_on_rgb_with_range_255():
    rng = np.random.RandomState(1)
    a = rng.randint(0, 256, (192, 176, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.randint(-20, 21, a.shape), 0, 255).astype(np.uint8)
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None].double() for x in (a, b))
    expected = ms_ssim(ta, tb, data_range=255).item()
    q = measure(a, b)
    assert math.isclose(q.ms_ssim_rgb, expected, rel_tol=1e-5)
    assert math.isclose(q.ms_ssim_db, -10 * math.log10(1 - expected), rel_tol=1e-3)
    assert q.note == ""


def test_small_images_give_nan_ms_ssim_with_reason():
    for h, w in [(1, 1), (63, 65), (MS_SSIM_MIN_SIDE - 1, 400)]:
        a = np.zeros((h, w, 3), np.uint8)
        q = measure(a, a)
        assert math.isnan(q.ms_ssim_rgb) and math.isnan(q.ms_ssim_db)
        assert f"{w}x{h}" in q.note
    a = np.zeros((MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE, 3), np.uint8)
    assert not math.isnan(measure(a, a + 1).ms_ssim_rgb)


def test_db_conversion():
    assert math.isclose(to_db(0.99), 20.0, rel_tol=1e-12)
    assert to_db(1.0) == math.inf and math.isnan(to_db(math.nan))
