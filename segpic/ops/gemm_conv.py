"""Convolutions as banded GEMMs: the same numbers at any thread count, bounded memory.

Every output pixel is one dot product over (input channel, tap), computed by MKL's SGEMM.
The work is split into bands of output rows by the tensor shapes alone; inside the codec's
deterministic inference each band is computed whole by one thread with single-threaded MKL
(:func:`segpic.ops.threads.run_bands`), so a result depends on the shapes only, never on the
thread count. oneDNN's convolutions (PyTorch's default)
change their 1x1 and small-map summation order with the thread count, and PyTorch's own
im2col path materializes the whole (C_in k^2, H_out W_out) column matrix: 3.3 GB for the
second 5x5 convolution of a 2048x1344 image.

The tap formulation. A zero-padded source S (C_in, H_s, W_s) is flattened row-major. For a
stride-1 correlation, output pixel (i, j) reads S[:, i + dy, j + dx] at flat index
(i W_s + j) + (dy W_s + dx): every tap is a constant offset. So a band of output rows,
computed on the full source width W_s, is

    out[:, band] = b + sum_t W_t @ S_flat[:, o_t + band]        (one GEMM per tap)

where each S_flat[:, o_t + band] is a strided view of S that the GEMM reads in place (no
im2col copy), the taps accumulate in tap order, and the W_s - W_out columns past the right
edge are discarded.
Stride 2 is the same on the four polyphase components of the input (tap (ky, kx) reads
phase (ky mod 2, kx mod 2) at offset (ky div 2, kx div 2)); a stride-2 transposed
convolution is four stride-1 correlations, one per output phase, interleaved.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F

from .threads import run_bands

__all__ = ["conv2d", "conv_transpose2d", "linear", "transpose_supported", "band_bounds", "BAND_COLUMNS"]

# Target GEMM width (output pixels per band, counted on the padded source width): wide
# enough for full-speed SGEMM, small enough that a band's columns stay in cache.
BAND_COLUMNS = 4096
# A smaller map is still cut into MIN_BANDS bands, so that 2 to 4 threads share it, as long
# as each band keeps MIN_BAND_COLUMNS columns: MKL's single-threaded SGEMM computes a column
# (or, for a linear layer, a row) alike whatever the band's width only from 12 columns (4
# rows) up (measured on this AMD EPYC); narrower GEMMs take other kernels with other sums.
MIN_BANDS = 4
MIN_BAND_COLUMNS = 256


def band_bounds(rows: int, width: int) -> List[int]:
    """Bounds r_0 = 0 < r_1 < ... < r_n = rows of bands of ``rows`` rows of ``width`` columns:
    about BAND_COLUMNS columns per band, at least MIN_BANDS bands where each keeps
    MIN_BAND_COLUMNS, sizes balanced (they differ by at most one row), and several bands come
    in a multiple of MIN_BANDS where there are rows enough, so that 2 or 4 threads get equal
    shares (the 1/4-scale maps of a 768 x 512 image made 7 bands: one of 2 threads idled an
    eighth of the time). Shapes alone decide."""
    per = max(1, BAND_COLUMNS // width)
    per = min(per, max(-(-MIN_BAND_COLUMNS // width), -(-rows // MIN_BANDS)))
    n = max(1, -(-rows // per))
    if n > 1:
        n = min(rows, -(-n // MIN_BANDS) * MIN_BANDS)
    return [rows * i // n for i in range(n + 1)]


def _pair(v) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _tap_gemm(sources: Sequence[torch.Tensor], taps: Sequence[Tuple[int, int, int]],
              w_taps: Sequence[torch.Tensor], bias, out: torch.Tensor) -> None:
    """out (C_out, H_o, W_o) = bias + sum over taps t of w_taps[t] @ (source shifted by tap t).

    sources: zero-padded (C_in, H_s, W_s) maps of one image, all the same size, with at least
        one spare zero row at the bottom so that the last band's reads stay inside;
    taps: (source index, dy, dx) per tap;
    w_taps: one contiguous (C_out, C_in) matrix per tap.
    """
    c_in, _, w_s = sources[0].shape
    h_o, w_o = out.shape[1:]
    flat = [s.reshape(c_in, -1) for s in sources]
    bounds = band_bounds(h_o, w_s)

    def band(i: int) -> None:
        r0, r1 = bounds[i], bounds[i + 1]
        n = (r1 - r0) * w_s
        acc = None
        for w_t, (src, dy, dx) in zip(w_taps, taps):
            start = (r0 + dy) * w_s + dx
            view = flat[src][:, start : start + n]  # a strided matrix: no copy
            if acc is None:
                acc = torch.addmm(bias[:, None], w_t, view) if bias is not None else w_t @ view
            else:
                acc.addmm_(w_t, view)
        out[:, r0:r1].copy_(acc.view(-1, r1 - r0, w_s)[:, :, :w_o])

    run_bands(band, range(len(bounds) - 1))


def linear(x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
    """``F.linear`` on bands of rows: x (..., K), weight (N, K), bias (N,) or None ->
    (..., N). Each row of x is one output row; bands of rows (``band_bounds`` with width 1)
    run on the thread pool, each one SGEMM."""
    k, n = x.shape[-1], weight.shape[0]
    rows = x.reshape(-1, k)
    out = torch.empty(rows.shape[0], n, dtype=x.dtype, device=x.device)
    w_t = weight.t()
    bounds = band_bounds(rows.shape[0], 1)

    def band(i: int) -> None:
        r0, r1 = bounds[i], bounds[i + 1]
        if bias is None:
            torch.mm(rows[r0:r1], w_t, out=out[r0:r1])
        else:
            torch.addmm(bias, rows[r0:r1], w_t, out=out[r0:r1])

    run_bands(band, range(len(bounds) - 1))
    return out.view(*x.shape[:-1], n)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias=None, stride=1, padding=0) -> torch.Tensor:
    """Cross-correlation like ``F.conv2d`` (groups 1, dilation 1, stride 1 or 2, zero padding).

    x: (B, C_in, H, W); weight: (C_out, C_in, kh, kw); returns (B, C_out, H_out, W_out).
    """
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    B, c_in, H, W = x.shape
    c_out, _, kh, kw = weight.shape
    if (sh, sw) not in ((1, 1), (2, 2)):
        raise NotImplementedError(f"stride {stride}")
    h_o, w_o = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    out = torch.empty(B, c_out, h_o, w_o, dtype=x.dtype, device=x.device)
    taps_k = [(ky, kx) for ky in range(kh) for kx in range(kw)]
    per_tap = weight.permute(2, 3, 0, 1).contiguous()  # (kh, kw, C_out, C_in)
    w_taps = [per_tap[ky, kx] for ky, kx in taps_k]
    s = sh
    # pad to the stride's multiple, plus spare zero rows so the last band reads inside
    hp = -(-(H + 2 * ph) // s) * s + s
    wp = -(-(W + 2 * pw) // s) * s
    for b in range(B):
        xp = F.pad(x[b], (pw, wp - W - pw, ph, hp - H - ph))
        if s == 1:
            sources = [xp]
            taps = [(0, ky, kx) for ky, kx in taps_k]
        else:
            sources = [xp[:, a::2, c::2].contiguous() for a in (0, 1) for c in (0, 1)]
            taps = [(2 * (ky % 2) + kx % 2, ky // 2, kx // 2) for ky, kx in taps_k]
        _tap_gemm(sources, taps, w_taps, bias, out[b])
    return out


def transpose_supported(weight: torch.Tensor, stride, padding) -> bool:
    """Whether ``conv_transpose2d`` takes this kernel (C_in, C_out, kh, kw), stride and padding:
    every output phase needs a tap (k >= s) and the padding must stay inside the kernel."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    kh, kw = weight.shape[-2:]
    return 0 <= ph < kh and 0 <= pw < kw and kh >= sh >= 1 and kw >= sw >= 1


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias=None, stride=1, padding=0,
                     output_padding=0) -> torch.Tensor:
    """Transposed convolution like ``F.conv_transpose2d`` (groups 1, dilation 1).

    x: (B, C_in, H, W); weight: (C_in, C_out, kh, kw);
    returns (B, C_out, (H-1) s - 2p + kh + op, (W-1) s - 2p + kw + op).

    Output row o = s m + r receives x[i] w[kk] for o = s i - p + kk, i.e. the taps
    kk = (r + p) mod s + s j read x[m + (r + p) div s - j]: per output phase r, a stride-1
    correlation with the taps of that residue (flipped), done by ``_tap_gemm``.
    """
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    oph, opw = _pair(output_padding)
    B, c_in, H, W = x.shape
    _, c_out, kh, kw = weight.shape
    if not transpose_supported(weight, stride, padding):
        raise NotImplementedError(f"padding {padding} and stride {stride} for a {kh}x{kw} kernel")
    h_o = (H - 1) * sh - 2 * ph + kh + oph
    w_o = (W - 1) * sw - 2 * pw + kw + opw
    out = torch.empty(B, c_out, h_o, w_o, dtype=x.dtype, device=x.device)
    # margin: the largest |offset| a tap can have, so every read lands in the padded source
    mh, mw = kh // sh + 1, kw // sw + 1
    per_tap = weight.permute(2, 3, 1, 0).contiguous()  # (kh, kw, C_out, C_in)
    for b in range(B):
        xp = F.pad(x[b], (mw, mw, mh, mh + 1))
        for r in range(min(sh, h_o)):
            rows_k = [((r + ph) % sh + sh * j, (r + ph) // sh - j) for j in range(kh) if (r + ph) % sh + sh * j < kh]
            for c in range(min(sw, w_o)):
                cols_k = [((c + pw) % sw + sw * j, (c + pw) // sw - j) for j in range(kw) if (c + pw) % sw + sw * j < kw]
                taps = [(0, mh + dy, mw + dx) for _, dy in rows_k for _, dx in cols_k]
                w_taps = [per_tap[ky, kx] for ky, _ in rows_k for kx, _ in cols_k]
                _tap_gemm([xp], taps, w_taps, bias, out[b, :, r::sh, c::sw])
    return out

