"""Window attention module (WAM) of WACNN/SegPIC: the reference's ``Win_noShift_Attention``.

    WAM(x)      = x + A(x) * sigmoid(B(x))
    A           = RU -> RU -> RU
    B           = SwinAttn -> RU -> RU -> RU -> Conv1x1(C -> C)
    RU(x)       = GELU(x + Conv1x1(C/2 -> C)(GELU(Conv3x3(C/2)(GELU(Conv1x1(C -> C/2)(x))))))
    SwinAttn(x) = x + W-MSA(x)     (cyclic shift by -shift_size with the Swin region mask;
                                    no LayerNorm, no MLP, no drop-path)

Despite the reference's name "noShift", the shift is applied (shift_size = window_size / 2).
"""
import torch
import torch.nn as nn
from compressai.layers import conv1x1, conv3x3

from .window_attention import WindowAttention, shifted_window_mask, window_partition, window_reverse

__all__ = ["ResidualUnit", "SwinAttention", "WAM"]


class ResidualUnit(nn.Module):
    """Bottleneck residual unit on (B, C, H, W); C must be even."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.conv = nn.Sequential(
            conv1x1(channels, half), nn.GELU(), conv3x3(half, half), nn.GELU(), conv1x1(half, channels)
        )
        self.relu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.conv(x))


class SwinAttention(nn.Module):
    """x + W-MSA(x) on a (B, C, H, W) map, windows of ws x ws, cyclic shift ``shift_size``.

    H and W must be multiples of ``window_size``.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, shift_size: int):
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size {shift_size} must be in [0, window_size {window_size})")
        self.window_size = window_size
        self.shift_size = shift_size
        self.attn = WindowAttention(dim, window_size, num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        ws, ss = self.window_size, self.shift_size
        if H % ws or W % ws:
            raise ValueError(f"feature map {H}x{W} is not a multiple of the window size {ws}")
        t = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        mask = None
        if ss > 0:
            t = torch.roll(t, shifts=(-ss, -ss), dims=(1, 2))
            mask = shifted_window_mask(H, W, ws, ss, device=x.device).to(x.dtype)
        windows = window_partition(t, ws).view(-1, ws * ws, C)
        t = window_reverse(self.attn(windows, mask=mask).view(-1, ws, ws, C), ws, H, W)
        if ss > 0:
            t = torch.roll(t, shifts=(ss, ss), dims=(1, 2))
        return x + t.permute(0, 3, 1, 2)


class WAM(nn.Module):
    """Window attention module on (B, C, H, W) -> (B, C, H, W).

    Args:
        dim: channels C (even, divisible by num_heads).
        num_heads: attention heads (8 in the reference).
        window_size: ws (8 at 1/4 scale, 4 at 1/16 scale in the reference).
        shift_size: cyclic shift, ws // 2 in the reference.
    """

    def __init__(self, dim: int, num_heads: int = 8, window_size: int = 8, shift_size: int = 4):
        super().__init__()
        self.conv_a = nn.Sequential(ResidualUnit(dim), ResidualUnit(dim), ResidualUnit(dim))
        self.conv_b = nn.Sequential(
            SwinAttention(dim, num_heads, window_size, shift_size),
            ResidualUnit(dim),
            ResidualUnit(dim),
            ResidualUnit(dim),
            conv1x1(dim, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_a(x) * torch.sigmoid(self.conv_b(x))
