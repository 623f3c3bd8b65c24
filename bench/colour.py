"""RGB <-> YCbCr (BT.709, full range) and planar YUV files, as the VTM anchors use them.

Forward, for 8-bit RGB scaled to [0, 1] and ``maxval = 2**bits - 1``::

    Y  = Kr R + Kg G + Kb B                      Kr = 0.2126, Kb = 0.0722, Kg = 1 - Kr - Kb
    Cb = 0.5 (B - Y) / (1 - Kb) + 0.5
    Cr = 0.5 (R - Y) / (1 - Kr) + 0.5
    stored = clip(round(maxval * value), 0, maxval)

and back to 8-bit RGB by the exact inverse, scaled by 255, rounded and clipped.  Rounding is
``numpy.round`` (half to even) of the formulas evaluated literally in float64, never truncation:
this reproduces the shipped VTM-17.0 anchors bit for bit (the per-plane PSNRs in their encoder
logs), including the exact ties such as Cb = 112.5 that occur when R = G (anchors/README.md).

Pictures are planar: an array of shape (3, H, W) holding Y, Cb, Cr.  On disk, 8-bit samples are
bytes and deeper samples are 16-bit little-endian words, planes one after another (4:4:4), or
Y then the two half-size chroma planes (4:2:0).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

KR = 0.2126
KB = 0.0722
KG = 1.0 - KR - KB


def _round_clip(x: np.ndarray, maxval: int) -> np.ndarray:
    dtype = np.uint8 if maxval < 256 else np.uint16
    return np.clip(np.round(x), 0, maxval).astype(dtype)


def rgb_planes_float(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB (H, W, 3) -> planar float64 YCbCr (3, H, W) in [0, 1], not rounded (the
    formulas above; the quality metrics take Y, Cb and Cr from here)."""
    r, g, b = (rgb[..., c].astype(np.float64) / 255.0 for c in range(3))
    y = KR * r + KG * g + KB * b
    cb = 0.5 * (b - y) / (1.0 - KB) + 0.5
    cr = 0.5 * (r - y) / (1.0 - KR) + 0.5
    return np.stack([y, cb, cr])


def rgb_to_ycbcr(rgb: np.ndarray, bits: int = 8) -> np.ndarray:
    """8-bit RGB (H, W, 3) -> planar YCbCr (3, H, W), uint8 for 8 bits else uint16."""
    maxval = (1 << bits) - 1
    return _round_clip(rgb_planes_float(rgb) * maxval, maxval)


def ycbcr_to_rgb(ycc: np.ndarray, bits: int = 8) -> np.ndarray:
    """Planar YCbCr (3, H, W) at ``bits`` (integers, or floats on that scale) -> RGB (H, W, 3)
    uint8."""
    maxval = (1 << bits) - 1
    y, cb, cr = (p.astype(np.float64) / maxval - off for p, off in zip(ycc, (0.0, 0.5, 0.5)))
    r = y + 2.0 * (1.0 - KR) * cr
    b = y + 2.0 * (1.0 - KB) * cb
    g = (y - KR * r - KB * b) / KG
    return _round_clip(np.stack([r, g, b], axis=-1) * 255.0, 255)


def subsample_420(ycc: np.ndarray, bits: int) -> list:
    """Planar 4:4:4 (3, H, W), H and W even -> [Y (H, W), Cb (H/2, W/2), Cr (H/2, W/2)].

    Each chroma sample is the rounded mean of a 2x2 block (chroma sited at the block centre).
    """
    maxval = (1 << bits) - 1
    chroma = ycc[1:].astype(np.float64)
    c, h, w = chroma.shape
    means = chroma.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    return [ycc[0], *_round_clip(means, maxval)]


def upsample_420(planes: list) -> np.ndarray:
    """[Y (H, W), Cb, Cr (H/2, W/2)] -> float planar (3, H, W), chroma interpolated.

    The centre-sited inverse of :func:`subsample_420`: each output sample is 3/4 of its own chroma
    sample and 1/4 of the neighbour on its side, separably, with edges replicated.
    """
    def up(p: np.ndarray, axis: int) -> np.ndarray:
        n = p.shape[axis]
        prev = np.take(p, np.clip(np.arange(n) - 1, 0, n - 1), axis=axis)
        nxt = np.take(p, np.clip(np.arange(n) + 1, 0, n - 1), axis=axis)
        even, odd = 0.75 * p + 0.25 * prev, 0.75 * p + 0.25 * nxt
        return np.stack([even, odd], axis=axis + 1).reshape(
            p.shape[:axis] + (2 * n,) + p.shape[axis + 1:])

    y = planes[0].astype(np.float64)
    chroma = [up(up(c.astype(np.float64), 0), 1) for c in planes[1:]]
    return np.stack([y, *chroma])


def _dtype(bits: int) -> np.dtype:
    return np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2")


def write_yuv(path: Path, planes, bits: int) -> None:
    """Write planes (Y, Cb, Cr; any sizes) one after another: bytes, or 16-bit LE above 8 bits."""
    with open(path, "wb") as f:
        for p in planes:
            f.write(np.ascontiguousarray(p, dtype=_dtype(bits)).tobytes())


def read_yuv(path: Path, width: int, height: int, bits: int, chroma: str = "444") -> list:
    """Read one planar picture written as :func:`write_yuv` does; ``chroma`` is "444" or "420".

    Returns [Y (H, W), Cb, Cr] (chroma (H, W) or (H/2, W/2)).  Raises ValueError when the file
    size is not exactly one picture of that format.
    """
    cw, ch = (width, height) if chroma == "444" else ((width + 1) // 2, (height + 1) // 2)
    shapes = [(height, width), (ch, cw), (ch, cw)]
    dtype = _dtype(bits)
    data = np.fromfile(path, dtype=dtype)
    expected = sum(h * w for h, w in shapes)
    if data.size != expected:
        raise ValueError(f"{path}: {data.size} samples, expected {expected} "
                         f"({width}x{height} {chroma} at {bits} bits)")
    planes, start = [], 0
    for h, w in shapes:
        planes.append(data[start:start + h * w].reshape(h, w))
        start += h * w
    if int(max(p.max() for p in planes)) >= (1 << bits):
        raise ValueError(f"{path}: samples exceed {bits} bits")
    return planes
