"""Comparing tables of floating-point results across machines: as numbers, never as text.

The bench's BD-rates, means and anchor points are float64 arithmetic in numpy and scipy,
whose vectorised sums pick their kernels by CPU (AVX-512 or AVX2) and so may differ in the
last bits: measured, BD-rates moved in the 13th significant digit between an Intel and an
AMD machine. A relative tolerance of 1e-9 is six orders of magnitude above that and far
below any printed digit that matters.
"""
import csv
import io
import math

REL = 1e-9
ABS = 1e-12  # for values that are zero up to rounding


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def assert_same_csv(got: str, want: str, rel: float = REL) -> None:
    """Same header and rows; a cell matches when its text is equal, or when both cells are
    numbers within ``rel`` (NaN matches NaN)."""
    a, b = list(csv.reader(io.StringIO(got))), list(csv.reader(io.StringIO(want)))
    assert a[:1] == b[:1], f"headers differ: {a[:1]} != {b[:1]}"
    assert len(a) == len(b), f"{len(a) - 1} rows, expected {len(b) - 1}"
    for i, (row, expected) in enumerate(zip(a, b)):
        assert len(row) == len(expected), f"row {i}: {row} != {expected}"
        for g, w in zip(row, expected):
            if g == w:
                continue
            x, y = _number(g), _number(w)
            assert x is not None and y is not None, f"row {i}: {g!r} != {w!r}"
            assert (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=rel, abs_tol=ABS), \
                f"row {i}: {g} != {w} (rel {rel})"
