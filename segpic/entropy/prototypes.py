"""Prototypes of SegPIC: pooling of features per region (mask) or per grid cell, their
small learned codecs (g_ab -> factorized bottleneck -> g_sb), and expansion back to maps.

Mask mode (training with class-agnostic masks; labels 0..K_b-1 per image):
    p_k = sum_{i in R_k} F_i / (|R_k| + 5e-4),   k = 0 .. max(L_b)
so a label that vanished after subsampling still gets (and pays for) a zero prototype.
The prototypes of the whole batch are coded as (sum_b K_b, C, 1, 1) "images".
Grid mode (inference): p = AdaptiveAvgPool(F, (g, g)), coded as a (B, C, g, g) map, and
expanded by nearest-neighbour upsampling.

Prototype codec, widths (a1, a2, c, s1, s2):
    analysis : 1x1 C->a1, GDN, 1x1 a1->a2, GDN, 1x1 a2->c     (c code channels, EB-coded)
    synthesis: 1x1 c->s1, IGDN, 1x1 s1->s2, IGDN, 1x1 s2->C
The reference (N=192, M=320) uses (128, 96, 96, 128, 192) at 1/4 scale (C = N) and
(192, 128, 96, 128, 192) at 1/16 scale (C = M); ``scaled_prototype_widths`` scales them
with N and M for narrower models.
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.layers import GDN, conv1x1

from .hyperprior import quantize_bottleneck

__all__ = [
    "PROTOTYPE_CODE_CHANNELS", "REFERENCE_PROTOTYPE_WIDTHS", "MASK_EPS", "scaled_prototype_widths",
    "prototype_analysis", "prototype_synthesis",
    "subsample_labels", "mask_pool", "mask_expand", "grid_pool", "grid_expand", "code_prototypes",
]

PROTOTYPE_CODE_CHANNELS = 96
#: (a1, a2, code channels, s1, s2) of the two prototype codecs (1/4 scale, 1/16 scale) in
#: the reference, whose (N, M) is REFERENCE_NM.
REFERENCE_PROTOTYPE_WIDTHS = ((128, 96, PROTOTYPE_CODE_CHANNELS, 128, 192),
                             (192, 128, PROTOTYPE_CODE_CHANNELS, 128, 192))
REFERENCE_NM = (192, 320)
MASK_EPS = 5e-4


def scaled_prototype_widths(N: int, M: int, multiple: int = 8) -> Tuple[Tuple[int, ...], ...]:
    """The reference widths times N/192 (1/4-scale codec) and M/320 (1/16-scale codec), each
    rounded to the nearest multiple of ``multiple`` (at least ``multiple``).

    (192, 320) gives REFERENCE_PROTOTYPE_WIDTHS; (48, 64) gives (32, 24, 24, 32, 48) and
    (40, 24, 16, 24, 40).
    """
    def scale(widths, factor):
        return tuple(max(multiple, multiple * round(w * factor / multiple)) for w in widths)
    return tuple(scale(w, c / ref) for w, c, ref in
                 zip(REFERENCE_PROTOTYPE_WIDTHS, (N, M), REFERENCE_NM))


def prototype_analysis(channels: int, widths: Sequence[int]) -> nn.Sequential:
    """C -> code channels; ``widths`` = (a1, a2, c, s1, s2), of which (a1, a2, c) are used."""
    a1, a2, out = widths[:3]
    return nn.Sequential(conv1x1(channels, a1), GDN(a1), conv1x1(a1, a2), GDN(a2), conv1x1(a2, out))


def prototype_synthesis(channels: int, widths: Sequence[int]) -> nn.Sequential:
    """code channels -> C; ``widths`` = (a1, a2, c, s1, s2), of which (c, s1, s2) are used."""
    inp, s1, s2 = widths[2:]
    return nn.Sequential(
        conv1x1(inp, s1), GDN(s1, inverse=True), conv1x1(s1, s2), GDN(s2, inverse=True), conv1x1(s2, channels)
    )


def subsample_labels(labels: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest downsampling of a (B, H, W) label map by ``factor``: top-left pixel of each cell."""
    return labels[:, ::factor, ::factor]


def mask_pool(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Masked average per label: x (B, C, h, w), labels (B, h, w) int64 >= 0.

    Returns (sum_b K_b, C, 1, 1) with K_b = max(labels[b]) + 1, items in batch order.
    """
    B, C = x.shape[:2]
    protos = []
    for b in range(B):
        lab = labels[b].reshape(-1)
        onehot = F.one_hot(lab, int(lab.max()) + 1).to(x.dtype)  # (hw, K)
        sums = onehot.t() @ x[b].reshape(C, -1).t()  # (K, C)
        protos.append(sums / (onehot.sum(0)[:, None] + MASK_EPS))
    return torch.cat(protos).reshape(-1, C, 1, 1)


def mask_expand(prototypes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Inverse layout of ``mask_pool``: (sum_b K_b, C, 1, 1) -> (B, C, h, w), P_i = p_{L(i)}."""
    C = prototypes.shape[1]
    maps, start = [], 0
    for lab in labels:
        k = int(lab.max()) + 1
        table = prototypes[start : start + k].reshape(k, C)
        maps.append(table[lab].permute(2, 0, 1))
        start += k
    return torch.stack(maps)


def grid_pool(x: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, grid, grid) adaptive average pooling."""
    return F.adaptive_avg_pool2d(x, grid)


def grid_expand(prototypes: torch.Tensor, size) -> torch.Tensor:
    """(B, C, g, g) -> (B, C, *size) nearest-neighbour upsampling."""
    return F.interpolate(prototypes, size=tuple(size), mode="nearest")


def code_prototypes(p: torch.Tensor, analysis: nn.Module, bottleneck, synthesis: nn.Module):
    """Training/eval path of a prototype codec: returns (p_hat, likelihoods of the code)."""
    q_hat, likelihoods = quantize_bottleneck(bottleneck, analysis(p))
    return synthesis(q_hat), likelihoods
