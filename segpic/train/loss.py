"""The rate-distortion training objective (spec section 4).

    L = lambda * 255^2 * MSE + bpp          (loss "mse")
    L = lambda * (1 - MS-SSIM) + bpp        (loss "ms-ssim")

bpp = sum over the likelihood groups (y, z and both prototype streams) of -log2(likelihood),
divided by the number of pixels B*H*W.  MSE is the mean over B*3*H*W on images in [0, 1].
"""
from __future__ import annotations

import math
from typing import Dict

import torch
from pytorch_msssim import ms_ssim
from torch import nn

#: Quality presets q1..q6 -> lambda for the MSE loss (the STF/CompressAI set, increasing bpp).
QUALITY_LAMBDAS = {"q1": 0.0018, "q2": 0.0035, "q3": 0.0067,
                   "q4": 0.0130, "q5": 0.0250, "q6": 0.0483}

#: The smallest crop side pytorch-msssim's 5-scale MS-SSIM (window 11) accepts.
MS_SSIM_MIN_SIDE = 161


def bits_per_pixel(likelihoods: Dict[str, torch.Tensor], num_pixels: int) -> torch.Tensor:
    """Estimated rate: sum of -log2 over all likelihood tensors, per pixel (scalar)."""
    total = sum(torch.log(p).sum() for p in likelihoods.values())
    return total / (-math.log(2) * num_pixels)


class RateDistortionLoss(nn.Module):
    """lambda-weighted distortion plus estimated bpp.

    Args:
        lmbda: the rate-distortion trade-off lambda.
        metric: ``"mse"`` or ``"ms-ssim"``.
    """

    def __init__(self, lmbda: float, metric: str = "mse"):
        super().__init__()
        if metric not in ("mse", "ms-ssim"):
            raise ValueError(f"unknown distortion metric {metric!r} (mse or ms-ssim)")
        self.lmbda, self.metric = lmbda, metric

    def forward(self, output: Dict, target: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Loss terms for a batch.

        Args:
            output: the model's forward output, ``{"x_hat": (B,3,H,W), "likelihoods": {...}}``.
            target: (B, 3, H, W) original images in [0, 1].
        Returns:
            ``loss`` (the objective), ``bpp``, ``mse`` and ``psnr`` (dB, from the batch MSE),
            and ``ms_ssim`` for the MS-SSIM loss; all scalars.
        """
        b, _, h, w = target.shape
        terms = {"bpp": bits_per_pixel(output["likelihoods"], b * h * w),
                 "mse": torch.mean((output["x_hat"] - target) ** 2)}
        terms["psnr"] = -10 * torch.log10(terms["mse"].detach())
        if self.metric == "mse":
            distortion = 255 ** 2 * terms["mse"]
        else:
            terms["ms_ssim"] = ms_ssim(output["x_hat"], target, data_range=1.0)
            distortion = 1 - terms["ms_ssim"]
        terms["loss"] = self.lmbda * distortion + terms["bpp"]
        return terms
