"""Metrics on the BT.709 full-range YCbCr planes (float64 in [0, 1], not rounded; see
:class:`bench.metrics.pair.Pair`), as JPEG AI's quality assessment framework computes them.

* PSNR-Y, -Cb, -Cr: ``10 log10(1 / MSE)`` of each plane; PSNR-YUV = (6 PSNR-Y + PSNR-Cb +
  PSNR-Cr) / 8 (the JPEG AI / JVET weighting).  Identical planes give ``inf``.
* VIFp: piq 0.8.0 ``vif_p`` (pixel-domain VIF, Sheikh and Bovik 2006; four scales, sigma_n^2 = 2)
  on Y with ``data_range=1``.  Needs both sides >= 41.
* NLPD: IQA_pytorch 0.1 ``NLPD(channels=1)`` (Laparra et al. 2016: six-level Laplacian pyramid,
  each level divided by a local-amplitude estimate; the root-mean-square of the differences
  per level, averaged over levels), the implementation JPEG AI's framework uses, on Y in [0, 1].
  Lower is better.  Needs both sides >= 96.
* IW-SSIM: piq 0.8.0 ``information_weighted_ssim`` (Wang and Li 2011, five scales) on Y scaled
  to [0, 255] with ``data_range=255``.  Needs both sides >= 161.
* PSNR-HVS-M: ``psnr_hvsm`` 0.3.0 (Ponomarenko et al. 2007: 8x8 DCT blocks weighted by a CSF and
  a contrast-masking model) on Y in [0, 1], padded by edge replication to multiples of 8.

All of these run on float32 torch tensors except PSNR and PSNR-HVS-M (float64 NumPy).
"""
from __future__ import annotations

import contextlib
import math
import os

import numpy as np


def _plane_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean(np.square(a - b)))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def psnr_yuv(pair) -> dict:
    original, decoded = pair.ycbcr
    y, cb, cr = (_plane_psnr(original[k], decoded[k]) for k in range(3))
    return {"psnr_y": y, "psnr_cb": cb, "psnr_cr": cr, "psnr_yuv": (6.0 * y + cb + cr) / 8.0}


def _y_tensors(pair, scale: float = 1.0):
    """(original, decoded) Y as ``1 x 1 x H x W`` float32 tensors, times ``scale``."""
    import torch

    return tuple(torch.from_numpy((planes[0] * scale).astype(np.float32))[None, None] for planes in pair.ycbcr)


def vif(pair) -> dict:
    import piq
    import torch

    with torch.no_grad():
        return {"vif": float(piq.vif_p(*_y_tensors(pair), data_range=1.0))}


def nlpd(pair) -> dict:
    import torch
    from IQA_pytorch import NLPD

    original, decoded = _y_tensors(pair)
    with torch.no_grad():  # IQA_pytorch's argument order: (distorted, reference)
        return {"nlpd": float(NLPD(channels=1)(decoded, original, as_loss=False))}


def iw_ssim(pair) -> dict:
    import piq
    import torch

    with torch.no_grad():
        return {"iw_ssim": float(piq.information_weighted_ssim(*_y_tensors(pair, 255.0), data_range=255.0))}


def _pad8(plane: np.ndarray) -> np.ndarray:
    height, width = plane.shape
    return np.pad(plane, ((0, -height % 8), (0, -width % 8)), mode="edge")


def psnr_hvs_m(pair) -> dict:
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):  # it prints a note on its torch extra
        from psnr_hvsm import hvs_hvsm_mse
    original, decoded = pair.ycbcr
    with np.errstate(invalid="ignore", divide="ignore"):  # flat 8x8 blocks: its masking divides 0 by 0
        _, mse = hvs_hvsm_mse(_pad8(original[0]), _pad8(decoded[0]))
    mse = float(mse)
    return {"psnr_hvs_m": math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)}
