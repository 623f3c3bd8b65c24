"""Hyperprior transforms of the ChARM models (STF, WACNN, SegPIC) and median-centred
quantization for factorized entropy bottlenecks.

    h_a : conv3x3 M->M, GELU, conv3x3 M->a1, GELU, conv3x3/2 a1->a2, GELU, conv3x3 a2->a3,
          GELU, conv3x3/2 a3->N                                  (B, M, h, w) -> (B, N, h/4, w/4)
    h_s : conv3x3 N->b1, GELU, subpel(b1->b2, x2), GELU, conv3x3 b2->b3, GELU,
          subpel(b3->b4, x2), GELU, conv3x3 b4->M                (B, N, h/4, w/4) -> (B, M, h, w)

WACNN/SegPIC (N=192, M=320): a = (288, 256, 224), b = (192, 224, 256, 288);
STF (M=384): a = (336, 288, 240), b = (240, 288, 336, 384).
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck
from compressai.layers import conv3x3, subpel_conv3x3
from compressai.ops import quantize_ste

__all__ = ["hyper_analysis", "hyper_synthesis", "interpolated_widths", "quantize_bottleneck"]


def interpolated_widths(N: int, M: int) -> Tuple[Tuple[int, int, int], Tuple[int, int, int, int]]:
    """WACNN's hyper widths for any (N, M): a_k = M - k(M-N)/4, b_k = N + (k-1)(M-N)/4."""
    step = (M - N) // 4
    return (M - step, M - 2 * step, M - 3 * step), (N, N + step, N + 2 * step, N + 3 * step)


def hyper_analysis(M: int, N: int, widths: Sequence[int]) -> nn.Sequential:
    """h_a with widths (a1, a2, a3); two stride-2 convs, so (h, w) -> (h/4, w/4)."""
    a1, a2, a3 = widths
    return nn.Sequential(
        conv3x3(M, M), nn.GELU(),
        conv3x3(M, a1), nn.GELU(),
        conv3x3(a1, a2, stride=2), nn.GELU(),
        conv3x3(a2, a3), nn.GELU(),
        conv3x3(a3, N, stride=2),
    )


def hyper_synthesis(N: int, M: int, widths: Sequence[int]) -> nn.Sequential:
    """h_mean_s / h_scale_s with widths (b1, b2, b3, b4); two x2 sub-pixel upsamplings."""
    b1, b2, b3, b4 = widths
    return nn.Sequential(
        conv3x3(N, b1), nn.GELU(),
        subpel_conv3x3(b1, b2, 2), nn.GELU(),
        conv3x3(b2, b3), nn.GELU(),
        subpel_conv3x3(b3, b4, 2), nn.GELU(),
        conv3x3(b4, M),
    )


def quantize_bottleneck(bottleneck: EntropyBottleneck, x: torch.Tensor):
    """Returns (x_hat, likelihoods) for a factorized bottleneck.

    x_hat = round(x - m) + m around the channel medians m (straight-through gradient), the
    value the synthesis sees in training and evaluation; the likelihoods come from the
    bottleneck's own forward pass (uniform noise in training, median rounding in eval).
    """
    _, likelihoods = bottleneck(x)
    medians = bottleneck._get_medians()
    return quantize_ste(x - medians) + medians, likelihoods
