"""Swin window self-attention (W-MSA / SW-MSA) and its window helpers.

API (stable; used by WAM here and by STF's Swin blocks):

- ``WindowAttention(dim, window_size, num_heads, qkv_bias=True)``;
  ``forward(x_windows, mask=None)`` with ``x_windows`` of shape (B*nW, ws*ws, C) and an
  optional additive ``mask`` of shape (nW, ws*ws, ws*ws); returns the same shape as the input.
- ``window_partition(x, ws)``: (B, H, W, C) -> (B*nW, ws, ws, C), H and W divisible by ws.
- ``window_reverse(windows, ws, H, W)``: the inverse, (B*nW, ws, ws, C) -> (B, H, W, C).
- ``shifted_window_mask(H, W, window_size, shift_size, device)``: the standard Swin mask
  (nW, ws*ws, ws*ws) for a map cyclically rolled by -shift_size, -100 between tokens of
  different roll regions and 0 elsewhere.

Attention per head (Liu et al., Swin Transformer, 2021):
    Attn(Q, K, V) = softmax(Q K^T / sqrt(d) + B + mask) V,  d = C / num_heads,
with B the learned relative-position bias gathered from a ((2ws-1)^2, heads) table.

Without autograd (inference), windows are attended WINDOW_CHUNK at a time: the
(windows, heads, N, N) score tensors of a 1/4-scale map of a 2048x1344 image take 352 MB
each, and several exist at once. The chunks run in parallel (segpic.ops.threads.run_bands),
one whole chunk per thread, so the result does not depend on the thread count.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from segpic.ops.threads import run_bands

__all__ = ["WindowAttention", "window_partition", "window_reverse", "shifted_window_mask"]

WINDOW_CHUNK = 256  # windows per attention call at inference


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Split (B, H, W, C) into non-overlapping windows (B*nW, ws, ws, C), row-major."""
    B, H, W, C = x.shape
    ws = window_size
    x = x.view(B, H // ws, ws, W // ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, C)


def window_reverse(windows: torch.Tensor, window_size: int, H: int, W: int) -> torch.Tensor:
    """Merge windows (B*nW, ws, ws, C) back into a (B, H, W, C) map."""
    ws = window_size
    B = windows.shape[0] // ((H // ws) * (W // ws))
    x = windows.view(B, H // ws, W // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


def shifted_window_mask(H: int, W: int, window_size: int, shift_size: int, device=None) -> torch.Tensor:
    """Additive attention mask (nW, ws*ws, ws*ws) for SW-MSA on an H x W map.

    After a cyclic roll by -shift_size, windows at the bottom/right border hold tokens from
    up to 3x3 regions that were not neighbours in the image; pairs from different regions
    get -100 (softmax weight ~0), all others 0.
    """
    ws, ss = window_size, shift_size
    img = torch.zeros((1, H, W, 1), device=device)
    bands = (slice(0, -ws), slice(-ws, -ss), slice(-ss, None))
    region = 0
    for hs in bands:
        for wsl in bands:
            img[:, hs, wsl, :] = region
            region += 1
    windows = window_partition(img, ws).view(-1, ws * ws)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


def _relative_position_index(window_size: int) -> torch.Tensor:
    """(ws*ws, ws*ws) int64 index into the ((2ws-1)^2, heads) bias table."""
    ws = window_size
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
    coords = coords.flatten(1)  # (2, ws*ws)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
    return rel[:, :, 0] * (2 * ws - 1) + rel[:, :, 1]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with relative-position bias.

    Args:
        dim: channels C (divisible by num_heads).
        window_size: window side ws; tokens per window are ws*ws.
        num_heads: attention heads; head dim C / num_heads.
        qkv_bias: bias of the qkv projection.

    State: ``qkv`` Linear(C, 3C), ``proj`` Linear(C, C), ``relative_position_bias_table``
    ((2ws-1)^2, heads) initialised trunc-normal(std 0.02), buffer ``relative_position_index``.
    """

    def __init__(self, dim: int, window_size: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        self.register_buffer("relative_position_index", _relative_position_index(window_size))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor = None) -> torch.Tensor:
        """x: (B*nW, N=ws*ws, C); mask: None or (nW, N, N). Returns (B*nW, N, C)."""
        Bw = x.shape[0]
        if torch.is_grad_enabled() or Bw <= WINDOW_CHUNK:
            return self._attend(x, mask)
        nW = Bw if mask is None else mask.shape[0]
        out = torch.empty_like(x)

        def chunk(start) -> None:
            b0, w0 = start
            w1 = min(nW, w0 + WINDOW_CHUNK)
            out[b0 + w0 : b0 + w1] = self._attend(x[b0 + w0 : b0 + w1], None if mask is None else mask[w0:w1])

        # batch items, then chunks of their windows; independent, each whole on one thread
        run_bands(chunk, [(b0, w0) for b0 in range(0, Bw, nW) for w0 in range(0, nW, WINDOW_CHUNK)])
        return out

    def _attend(self, x: torch.Tensor, mask: torch.Tensor = None) -> torch.Tensor:
        """Attention on windows x (B*nW, N, C) with mask None or (nW, N, N)."""
        Bw, N, C = x.shape
        h = self.num_heads
        q, k, v = self.qkv(x).reshape(Bw, N, 3, h, C // h).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # (Bw, h, N, N)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(N, N, h).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(Bw // nW, nW, h, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(Bw, h, N, N)
        attn = F.softmax(attn, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(Bw, N, C))
