"""Region-Adaptive Transform (RAT) of SegPIC (reference ``RegionAdaTransform``).

Inputs: a feature F (B, C, h, w) and a per-pixel prototype map P (B, Cp, h, w) that is
piecewise constant per region (mask mode) or per grid cell (grid mode).

    F1 = Conv1x1(LReLU(Conv1x1(F)))                                   CTL, channel transform
    K  = GConv3x3_{C -> 9C, groups C}(LReLU(Conv3x3(LReLU(Conv1x1([F1 ; P])))))
                                                                      DKG, kernel generator
    D_c(i) = sum_{d in {-1,0,1}^2} K_{c,d}(i) F1_c(i + d)             DPSConv (zero padding)
    a  = sigmoid(Conv1x1(LReLU(Conv1x1(GAP(D)))))                     CAG, channel attention
    out = F + Conv1x1(a * D)

All leaky ReLUs have slope 0.1. Group c of the kernel generator yields the 9 taps of channel
c, row-major over d.

Memory: the reference materializes K (9C maps) plus an Unfold of F1 (9C more maps). Here the
last, grouped, conv of the DKG and the DPSConv run on blocks of CHANNEL_BLOCK channels, so at
most 9 * CHANNEL_BLOCK kernel maps exist at a time; the grouped conv gives the same numbers
on a block of groups as on all of them, and the taps are summed in place of the Unfold.
At inference the blocks run in parallel (segpic.ops.threads.run_bands), one whole block per
thread, so the result does not depend on the thread count.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.layers import conv1x1, conv3x3

from segpic.ops.threads import run_bands

__all__ = ["RegionAdaptiveTransform", "dps_conv"]

SLOPE = 0.1
CHANNEL_BLOCK = 32


def dps_conv(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per-pixel, per-channel 3x3 dynamic convolution.

    x: (B, C, h, w); kernels: (B, C, 9, h, w), tap t = 3 (dy + 1) + (dx + 1).
    Returns sum_t kernels[:, :, t] * x shifted by (dy, dx), zero outside: (B, C, h, w).
    Summed tap by tap, so no 9-fold copy of x is materialized.
    """
    h, w = x.shape[-2:]
    xp = F.pad(x, (1, 1, 1, 1))
    out = kernels[:, :, 0] * xp[..., 0:h, 0:w]
    for t in range(1, 9):
        dy, dx = divmod(t, 3)
        out = out + kernels[:, :, t] * xp[..., dy : dy + h, dx : dx + w]
    return out


class RegionAdaptiveTransform(nn.Module):
    """RAT on (B, C, h, w) with prototypes (B, Cp, h, w) -> (B, C, h, w).

    Args:
        channels: C.
        prototype_channels: Cp (C everywhere in SegPIC).
    """

    def __init__(self, channels: int, prototype_channels: int):
        super().__init__()
        C = channels
        self.conv = nn.Sequential(conv1x1(C, C), nn.LeakyReLU(SLOPE), conv1x1(C, C))
        self.k_sp_gen = nn.Sequential(
            conv1x1(C + prototype_channels, C), nn.LeakyReLU(SLOPE),
            conv3x3(C, C), nn.LeakyReLU(SLOPE),
            nn.Conv2d(C, 9 * C, kernel_size=3, padding=1, groups=C),
        )
        self.k_ch_gen = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            conv1x1(C, C), nn.LeakyReLU(SLOPE),
            conv1x1(C, C), nn.Sigmoid(),
        )
        self.conv_out = conv1x1(C, C)

    def forward(self, x: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        f1 = self.conv(x)
        d = self._dynamic_conv(f1, self.k_sp_gen[:-1](torch.cat([f1, prototypes], dim=1)))
        return x + self.conv_out(self.k_ch_gen(d) * d)

    def _dynamic_conv(self, f1: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """DPSConv of f1 (B, C, h, w) with the kernels the DKG's grouped conv makes from
        ``hidden`` (B, C, h, w), block of channels by block of channels."""
        B, C, h, w = f1.shape
        gen = self.k_sp_gen[-1]

        def block(c0: int) -> torch.Tensor:
            c1 = min(C, c0 + CHANNEL_BLOCK)
            kernels = F.conv2d(hidden[:, c0:c1], gen.weight[9 * c0 : 9 * c1], gen.bias[9 * c0 : 9 * c1],
                               padding=1, groups=c1 - c0)
            return dps_conv(f1[:, c0:c1], kernels.view(B, c1 - c0, 9, h, w))

        if torch.is_grad_enabled():
            return torch.cat([block(c0) for c0 in range(0, C, CHANNEL_BLOCK)], dim=1)
        out = torch.empty_like(f1)  # inference: independent blocks, each whole on one thread

        def fill(c0: int) -> None:
            out[:, c0 : c0 + CHANNEL_BLOCK] = block(c0)

        run_bands(fill, range(0, C, CHANNEL_BLOCK))
        return out
