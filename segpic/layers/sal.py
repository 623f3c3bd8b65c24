"""Scale Affine Layer (SAL) and the SegPIC down/up-sampling blocks that carry it.

    SAL(v)  = v * (1 + s) + b,   [s ; b] = Conv1x1(C -> 2C)(GELU(Conv1x1(C -> C)(v)))

s and b are generated per pixel from v itself (no mask or prototype input). The paper's figure
draws v * s; the reference code uses (1 + s).

Without autograd (inference), the per-pixel GDN and SAL of a block run on bands of rows
(segpic.ops.rowwise), so that their full-size temporaries never exist at once.
"""
import torch
import torch.nn as nn
from compressai.layers import GDN, conv1x1
from compressai.models.utils import conv, deconv

from segpic.ops.rowwise import map_rows

__all__ = ["ScaleAffine", "DownSAL", "UpSAL"]


class ScaleAffine(nn.Sequential):
    """SAL on (B, C, H, W) -> (B, C, H, W). Its layers generate [s ; b] (2C channels)."""

    def __init__(self, channels: int):
        super().__init__(conv1x1(channels, channels), nn.GELU(), conv1x1(channels, 2 * channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sb = super().forward(x)
        s, b = sb.chunk(2, dim=1)
        if sb.requires_grad:
            return x * (1 + s) + b
        # inference: the same operations in place, which saves two full-size maps
        return s.add_(1).mul_(x).add_(b)


class DownSAL(nn.Module):
    """SAL(GDN(Conv5x5/2(x))): (B, C_in, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv_groups = nn.Sequential(conv(in_channels, out_channels), GDN(out_channels))
        self.scales_bias = ScaleAffine(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.scales_bias(self.conv_groups(x))
        conv, gdn = self.conv_groups
        y = conv(x)
        return map_rows(lambda band: self.scales_bias(gdn(band)), y, out=y)


class UpSAL(nn.Module):
    """GDN(ConvT5x5/2(SAL(x))): (B, C_in, H, W) -> (B, C_out, 2H, 2W).

    The SAL acts on the input channels, and the GDN is the forward GDN, not IGDN (as in the
    reference).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.scales_bias = ScaleAffine(in_channels)
        self.conv_groups = nn.Sequential(deconv(in_channels, out_channels), GDN(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.conv_groups(self.scales_bias(x))
        deconv, gdn = self.conv_groups
        y = deconv(map_rows(self.scales_bias, x))
        return map_rows(gdn, y, out=y)
