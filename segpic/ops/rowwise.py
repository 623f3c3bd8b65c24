"""Local maps applied band of rows by band of rows, to bound inference memory.

A chain of 1x1 convolutions, GDNs and activations at full or half resolution holds several
full-size temporaries at once (GDN: x^2, its norm and the output; SAL: two hidden maps and
the 2C-channel [s; b]): about 2 GB for a 192-channel map of a 2048x1344 image at half
resolution. Applied to bands of rows, the same per-pixel function needs one band of each
(``map_rows``). Chains with spatial support (strided convolutions) are banded with a halo
of rows that covers their receptive field (``map_row_bands``). The bands depend on the
shapes only, so results stay independent of the thread count.
"""
from typing import Callable, Optional

import torch

__all__ = ["map_rows", "map_row_bands", "BAND_PIXELS"]

BAND_PIXELS = 16384  # pixels per band; the bands depend on the map's shape only


def map_rows(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
             out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``fn(x)`` for a per-pixel ``fn`` on (B, C, H, W) -> (B, C', H, W), by bands of rows.

    ``out`` receives the result (it may be ``x`` itself when C' = C: each band is read before
    it is overwritten); a new tensor is made when it is None.
    """
    return map_row_bands(fn, x, 1, 1, 0, max(1, BAND_PIXELS // x.shape[-1]), out=out)


def map_row_bands(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, up: int, down: int,
                  halo: int, band_rows: int, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``fn(x)`` for a local ``fn`` that resizes rows by up/down, computed on bands of rows.

    x: (B, C, H, W); fn maps a band of n input rows to n * up / down output rows, and output
    row o depends only on input rows within ``halo`` of o * down / up (convolutions with
    zero padding, per-pixel maps). Each band of ``band_rows`` input rows is extended by
    ``halo`` rows on both sides (clipped at the image), evaluated, and its rows outside the
    band are dropped, so no full-size intermediate map of ``fn`` exists. ``band_rows`` and
    ``halo`` must be multiples of ``down`` (stride alignment); H a multiple of ``down``.
    ``out`` receives the result when given (``x`` itself only with halo 0 and up = down,
    where each band is read before it is overwritten); else a new tensor is made.
    """
    H = x.shape[-2]
    if band_rows % down or halo % down or H % down:
        raise ValueError(f"band_rows {band_rows}, halo {halo} and height {H} must be multiples of {down}")
    for r0 in range(0, H, band_rows):
        r1 = min(H, r0 + band_rows)
        a, b = max(0, r0 - halo), min(H, r1 + halo)
        y = fn(x[..., a:b, :])
        if out is None:
            out = y.new_empty(*y.shape[:2], H * up // down, y.shape[-1])
        out[..., r0 * up // down : r1 * up // down, :] = y[..., (r0 - a) * up // down : (r1 - a) * up // down, :]
    return out
