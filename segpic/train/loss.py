"""The rate-distortion training objective (spec section 4).

    L = lambda * 255^2 * MSE + bpp          (loss "mse")
    L = lambda * (1 - MS-SSIM) + bpp        (loss "ms-ssim")

bpp = sum over the likelihood groups (y, z and both prototype streams) of -log2(likelihood),
divided by the number of pixels B*H*W; ``bpp_<group>`` is each group's share (STREAMS).  MSE is the mean over B*3*H*W on images in [0, 1].
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

#: SegPIC's likelihood groups, one per bitstream: the latent y, the hyper-latent z, the
#: prototypes at 1/4 scale (q', ``z_center``) and at 1/16 scale (q, ``z_center2``).
STREAMS = ("y", "z", "z_center", "z_center2")

#: The smallest crop side pytorch-msssim's 5-scale MS-SSIM (window 11) accepts.
MS_SSIM_MIN_SIDE = 161


def stream_bits_per_pixel(likelihoods: Dict[str, torch.Tensor],
                          num_pixels: int) -> Dict[str, torch.Tensor]:
    """Estimated rate of each likelihood group: sum of -log2, per pixel (scalars)."""
    return {k: torch.log(p).sum() / (-math.log(2) * num_pixels) for k, p in likelihoods.items()}


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
            ``loss`` (the objective), ``bpp``, ``bpp_<group>`` for each likelihood group
            (detached), ``mse`` and ``psnr`` (dB, from the batch MSE), and ``ms_ssim`` for the
            MS-SSIM loss; all scalars.  Rates are per pixel of ``target``, so a padded
            input's likelihoods count against the unpadded image.
        """
        b, _, h, w = target.shape
        streams = stream_bits_per_pixel(output["likelihoods"], b * h * w)
        terms = {"bpp": sum(streams.values()),
                 "mse": torch.mean((output["x_hat"] - target) ** 2)}
        terms.update({f"bpp_{k}": v.detach() for k, v in streams.items()})
        terms["psnr"] = -10 * torch.log10(terms["mse"].detach())
        if self.metric == "mse":
            distortion = 255 ** 2 * terms["mse"]
        else:
            terms["ms_ssim"] = ms_ssim(output["x_hat"], target, data_range=1.0)
            distortion = 1 - terms["ms_ssim"]
        terms["loss"] = self.lmbda * distortion + terms["bpp"]
        return terms
