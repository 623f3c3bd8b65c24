"""Swin Transformer pieces of STF (Zou et al., CVPR 2022): pre-norm blocks,
patch embedding, merging (analysis) and splitting (synthesis), and a stage.

All maps here are channels-last, ``(B, H, W, C)``, so LayerNorm and Linear act on
the last dimension without reshapes.  Window attention itself (W-MSA with
relative position bias) is :class:`segpic.layers.window_attention.WindowAttention`,
shared with WACNN and SegPIC.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import StochasticDepth

from segpic.layers.window_attention import (
    WindowAttention,
    shifted_window_mask,
    window_partition,
    window_reverse,
)


def _pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad a (B, H, W, C) map right/bottom to multiples of ``multiple`` (no copy when
    it already fits)."""
    pad_h, pad_w = (-x.shape[1]) % multiple, (-x.shape[2]) % multiple
    return F.pad(x, (0, 0, 0, pad_w, 0, pad_h)) if pad_h or pad_w else x


class Mlp(nn.Module):
    """Linear(C -> hidden), GELU, Linear(hidden -> C), on the last dimension."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm Swin block:  x + DropPath(W-MSA(LN(x))),  then  x + DropPath(MLP(LN(x))).

    The normed map is zero-padded right/bottom to a multiple of the window and
    cropped back after attention.  With ``shift_size > 0`` the padded map is rolled
    by ``-shift_size`` (SW-MSA) and the caller passes the matching attention mask.

    Args:
        dim: channels C.
        num_heads: attention heads (C must divide by it).
        window_size: window side, tokens.
        shift_size: cyclic shift of SW-MSA (0 for W-MSA).
        mlp_ratio: MLP hidden width / C.
        drop_path: stochastic-depth probability (training only).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int = 4,
        shift_size: int = 0,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size must be in [0, window_size): {shift_size}")
        self.window_size = window_size
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.drop_path = StochasticDepth(drop_path, mode="row")
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B, H, W, C); mask: (nW, ws*ws, ws*ws) for the padded size, used when shifted."""
        B, H, W, C = x.shape
        ws, s = self.window_size, self.shift_size
        h = _pad_to(self.norm1(x), ws)
        Hp, Wp = h.shape[1:3]
        if s:
            h = torch.roll(h, shifts=(-s, -s), dims=(1, 2))
        windows = window_partition(h, ws).reshape(-1, ws * ws, C)
        windows = self.attn(windows, mask=mask if s else None)
        h = window_reverse(windows.reshape(-1, ws, ws, C), ws, Hp, Wp)
        if s:
            h = torch.roll(h, shifts=(s, s), dims=(1, 2))
        x = x + self.drop_path(h[:, :H, :W, :])
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Conv2d(3 -> C, k=2, s=2) then LayerNorm: (B, 3, H, W) -> (B, ceil(H/2), ceil(W/2), C).

    Odd sides are zero-padded right/bottom first.
    """

    def __init__(self, in_ch: int = 3, dim: int = 48, patch_size: int = 2):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_ch, dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        pad_w, pad_h = (-x.shape[3]) % p, (-x.shape[2]) % p
        if pad_w or pad_h:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """2x downsampling: (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 2C).

    The 2x2 neighbours are concatenated in the order (even row, even col),
    (odd, even), (even, odd), (odd, odd), normed with LayerNorm(4C) and reduced by
    Linear(4C -> 2C, no bias).  Odd sides are zero-padded right/bottom.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad_to(x, 2)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class PatchSplit(nn.Module):
    """2x upsampling: (B, H, W, C) -> (B, 2H, 2W, C/2).

    LayerNorm(C), Linear(C -> 2C, no bias), then PixelShuffle(2) on the 2C channels.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(dim)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduction(self.norm(x)).permute(0, 3, 1, 2)
        return self.shuffle(x).permute(0, 2, 3, 1)


class SwinStage(nn.Module):
    """``depth`` Swin blocks alternating W-MSA and SW-MSA (shift = window / 2),
    followed by an optional resampling layer (``PatchMerging``/``PatchSplit``).

    The reference stores the resampling layer as ``downsample`` in both
    directions; the name is kept so its checkpoints load unchanged.

    Args:
        dim: channels C of the stage.
        depth: number of blocks.
        num_heads: attention heads.
        window_size: window side, tokens.
        drop_path: one stochastic-depth probability per block.
        resample: ``PatchMerging``, ``PatchSplit`` or ``None``; built with ``dim``.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int = 4,
        mlp_ratio: float = 4.0,
        drop_path: Sequence[float] = (),
        resample: Optional[type] = None,
    ):
        super().__init__()
        drop_path = list(drop_path) or [0.0] * depth
        self.window_size = window_size
        self.shift_size = window_size // 2
        self.blocks = nn.ModuleList(
            SwinBlock(dim, num_heads, window_size, 0 if i % 2 == 0 else self.shift_size, mlp_ratio, drop_path[i])
            for i in range(depth)
        )
        self.downsample = resample(dim) if resample is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C) -> the resampled map (or x itself after the blocks)."""
        ws = self.window_size
        Hp, Wp = -(-x.shape[1] // ws) * ws, -(-x.shape[2] // ws) * ws
        mask = shifted_window_mask(Hp, Wp, ws, self.shift_size, x.device)
        for block in self.blocks:
            x = block(x, mask)
        return self.downsample(x) if self.downsample is not None else x
