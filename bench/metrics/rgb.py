"""Metrics on the 8-bit RGB images: PSNR-RGB and MS-SSIM-RGB as the learned-compression papers
compute them, and FSIM.

* PSNR-RGB: ``10 log10(255^2 / MSE)`` with the MSE over all pixels and the three channels
  of the 8-bit images (dB).  Identical images give ``inf``.
* MS-SSIM-RGB: pytorch-msssim's ``ms_ssim`` on ``1 x 3 x H x W`` float tensors with
  ``data_range=255`` (the five-scale Wang et al. weights), linear in [0, 1], and in dB as
  ``-10 log10(1 - ms_ssim)``.  Its Gaussian window (11 taps) and four 2x downsamplings need
  both sides larger than 160 pixels; smaller images give NaN with the reason.
* FSIM: piq 0.8.0's ``fsim`` (Zhang et al. 2011, the chromatic FSIMc: phase congruency and
  gradient on Y of YIQ, plus I and Q similarity) on ``1 x 3 x H x W`` RGB in [0, 1], as the
  JPEG AI quality assessment framework calls it (on RGB, not on Y).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: The smallest side MS-SSIM accepts: (win_size - 1) * 2**4 with an 11-tap window.
MS_SSIM_MIN_SIDE = 161


@dataclass(frozen=True)
class Quality:
    """The metrics of one decoded image against its original.

    Attributes:
        psnr_rgb: dB.
        ms_ssim_rgb: linear, in [0, 1]; NaN when undefined.
        ms_ssim_db: ``-10 log10(1 - ms_ssim_rgb)``; NaN when undefined.
        note: why a metric is NaN, or ``""``.
    """

    psnr_rgb: float
    ms_ssim_rgb: float
    ms_ssim_db: float
    note: str = ""


def psnr_rgb(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB between two ``H x W x 3`` uint8 images (``inf`` when identical)."""
    diff = original.astype(np.int32) - decoded.astype(np.int32)
    mse = float(np.mean(np.square(diff, dtype=np.int64)))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ms_ssim_rgb(original: np.ndarray, decoded: np.ndarray) -> float:
    """MS-SSIM (linear) between two ``H x W x 3`` uint8 images, both sides >= 161 pixels."""
    # torch is imported on first use: it takes seconds, and most commands never need it.
    import torch
    from pytorch_msssim import ms_ssim

    def tensor(a):
        return torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)

    with torch.no_grad():
        return float(ms_ssim(tensor(original), tensor(decoded), data_range=255.0))


def to_db(ms_ssim_value: float) -> float:
    """``-10 log10(1 - v)``: MS-SSIM in dB (``inf`` for a perfect 1.0)."""
    if math.isnan(ms_ssim_value):
        return math.nan
    return math.inf if ms_ssim_value >= 1.0 else -10.0 * math.log10(1.0 - ms_ssim_value)


def measure(original: np.ndarray, decoded: np.ndarray) -> Quality:
    """All metrics of ``decoded`` against ``original`` (both ``H x W x 3`` uint8)."""
    if original.shape != decoded.shape:
        raise ValueError(f"decoded shape {decoded.shape} differs from the original's {original.shape}")
    psnr = psnr_rgb(original, decoded)
    height, width = original.shape[:2]
    if min(height, width) < MS_SSIM_MIN_SIDE:
        reason = f"MS-SSIM undefined for {width}x{height} (both sides must be >= {MS_SSIM_MIN_SIDE} px)"
        return Quality(psnr, math.nan, math.nan, reason)
    value = ms_ssim_rgb(original, decoded)
    return Quality(psnr, value, to_db(value))


def _tensor01(rgb: np.ndarray):
    """``H x W x 3`` uint8 -> ``1 x 3 x H x W`` float32 in [0, 1]."""
    import torch

    return torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)


def psnr(pair) -> dict:
    return {"psnr_rgb": psnr_rgb(pair.original, pair.decoded)}


def ms_ssim(pair) -> dict:
    value = ms_ssim_rgb(pair.original, pair.decoded)
    return {"ms_ssim_rgb": value, "ms_ssim_db": to_db(value)}


def fsim(pair) -> dict:
    import piq
    import torch

    with torch.no_grad():
        return {"fsim": float(piq.fsim(_tensor01(pair.original), _tensor01(pair.decoded), data_range=1.0))}
