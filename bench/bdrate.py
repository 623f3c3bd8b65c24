"""Bjontegaard delta rate and delta metric (VCEG-M33, JCTVC-E137 / JVET CTC, Akima).

Two rate-distortion curves, an anchor and a test, each given as points (rate, metric): rate in
any positive unit (bpp, kbit/s), metric in any unit where higher is better (PSNR in dB, MS-SSIM
in dB).  With r = log10(rate) and D the metric:

    BD-rate (VCEG-M33 eq.):  fit r_A(D), r_T(D);  over the overlap [D_lo, D_hi] of the two
        metric ranges,  dr = (1 / (D_hi - D_lo)) * integral_{D_lo}^{D_hi} (r_T(D) - r_A(D)) dD
        BD-rate = (10^dr - 1) * 100          [percent; negative = the test saves bits]

    BD-metric (BD-PSNR):     fit D_A(r), D_T(r);  over the overlap [r_lo, r_hi] of the two
        log-rate ranges,  BD-metric = (1 / (r_hi - r_lo)) * integral (D_T(r) - D_A(r)) dr
                                             [metric units; positive = the test is better]

Note the two directions: BD-rate fits log-rate as a function of the metric, BD-PSNR fits the
metric as a function of log-rate (VCEG-M33 does the same).  The base of the logarithm cancels.

The fit of x -> y differs by method:

- ``cubic``: VCEG-M33, a least-squares cubic polynomial through all points (exactly through four).
  Needs at least 4 points.
- ``pchip``: the JCT-VC / JVET common-test-conditions spreadsheet (JCTVC-E137): piecewise cubic
  Hermite interpolation with Fritsch-Carlson slopes (scipy ``PchipInterpolator``).  Needs at
  least 3 points: with 2 it degenerates to a straight line.
- ``akima``: Akima's piecewise cubic interpolation (scipy ``Akima1DInterpolator``, original Akima
  slopes, two slopes extrapolated at each end).  Needs at least 3 points for the same reason.

The two curves may have different numbers of points, in any order.  Inputs that make the number
meaningless raise ``BDRateError``: fewer points than the method needs, NaN or infinite values,
a rate <= 0, a rate or a metric value repeated within a curve, no overlap.  Results that are
computable but doubtful carry flags (see ``BDResult``).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from scipy.interpolate import Akima1DInterpolator, PchipInterpolator

from bench.errors import UserError

METHODS = ("cubic", "pchip", "akima")
MIN_POINTS = {"cubic": 4, "pchip": 3, "akima": 3}
MIN_OVERLAP = 0.75

FLAG_LOW_OVERLAP = "low-overlap"
FLAG_NON_MONOTONIC_ANCHOR = "non-monotonic-anchor"
FLAG_NON_MONOTONIC_TEST = "non-monotonic-test"


class BDRateError(UserError, ValueError):
    """The inputs do not define a Bjontegaard delta (too few points, NaN, no overlap, ...)."""


class BDResult(float):
    """A Bjontegaard delta: the value itself (a float: percent for BD-rate, metric units for
    BD-metric), carrying what qualifies it.

    Attributes:
        value: the delta as a plain float.
        method: ``"cubic"``, ``"pchip"`` or ``"akima"``.
        interval: (lo, hi), the integration interval (metric units for BD-rate, log10-rate for
            BD-metric).
        overlap: length of ``interval`` over the length of the union of the two ranges, in [0, 1].
        flags: warnings as short names: ``"low-overlap"`` (overlap below 75 %),
            ``"non-monotonic-anchor"`` / ``"non-monotonic-test"`` (the metric does not rise
            strictly with the rate).
    """

    method: str
    interval: Tuple[float, float]
    overlap: float
    flags: Tuple[str, ...]

    def __new__(cls, value, method, interval, overlap, flags=()):
        self = super().__new__(cls, value)
        self.method = method
        self.interval = (float(interval[0]), float(interval[1]))
        self.overlap = float(overlap)
        self.flags = tuple(flags)
        return self

    @property
    def value(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return (f"BDResult({float(self)!r}, method={self.method!r}, overlap={self.overlap:.3f}, "
                f"flags={self.flags!r})")


def bd_rate(anchor_rates: Sequence[float], anchor_dist: Sequence[float],
            test_rates: Sequence[float], test_dist: Sequence[float],
            method: str = "cubic") -> BDResult:
    """Average bit-rate difference of the test against the anchor at equal quality, in percent.

    Args:
        anchor_rates, test_rates: rates (> 0, any unit, the same for both curves).
        anchor_dist, test_dist: the quality metric at those rates (higher is better).
        method: ``"cubic"`` (VCEG-M33), ``"pchip"`` (JCTVC-E137 / CTC) or ``"akima"``.
    """
    anchor = _Curve("anchor", anchor_rates, anchor_dist, method)
    test = _Curve("test", test_rates, test_dist, method)
    mean_log_rate_diff, interval, overlap = _average_gap(
        (anchor.metric, anchor.log_rate), (test.metric, test.log_rate), method)
    return BDResult((10.0 ** mean_log_rate_diff - 1.0) * 100.0, method, interval, overlap,
                    _flags(anchor, test, overlap))


def bd_psnr(anchor_rates: Sequence[float], anchor_dist: Sequence[float],
            test_rates: Sequence[float], test_dist: Sequence[float],
            method: str = "cubic") -> BDResult:
    """Average metric difference of the test against the anchor at equal rate (BD-PSNR for PSNR),
    in the metric's unit.  Arguments as ``bd_rate``."""
    anchor = _Curve("anchor", anchor_rates, anchor_dist, method)
    test = _Curve("test", test_rates, test_dist, method)
    mean_metric_diff, interval, overlap = _average_gap(
        (anchor.log_rate, anchor.metric), (test.log_rate, test.metric), method)
    return BDResult(mean_metric_diff, method, interval, overlap, _flags(anchor, test, overlap))



class _Curve:
    """One validated RD curve: points sorted by rate, log10 of the rate, monotonicity."""

    def __init__(self, role: str, rates, dist, method: str):
        if method not in METHODS:
            raise BDRateError(f"unknown BD method {method!r} (choose from {', '.join(METHODS)})")
        rates = np.asarray(rates, dtype=np.float64).ravel()
        dist = np.asarray(dist, dtype=np.float64).ravel()
        if rates.shape != dist.shape:
            raise BDRateError(f"{role} curve: {rates.size} rates but {dist.size} metric values")
        if rates.size < MIN_POINTS[method]:
            raise BDRateError(f"{role} curve has {rates.size} points; the {method} method needs "
                              f"at least {MIN_POINTS[method]}")
        if not (np.all(np.isfinite(rates)) and np.all(np.isfinite(dist))):
            raise BDRateError(f"{role} curve has NaN or infinite values")
        if np.any(rates <= 0):
            raise BDRateError(f"{role} curve has a non-positive rate")
        if np.unique(rates).size != rates.size:
            raise BDRateError(f"{role} curve has duplicate rates")
        order = np.argsort(rates)
        self.role = role
        self.log_rate = np.log10(rates[order])
        self.metric = dist[order]
        self.monotonic = bool(np.all(np.diff(self.metric) > 0))


def _average_gap(anchor_xy, test_xy, method: str):
    """Mean of y_test(x) - y_anchor(x) over the overlap of the two x ranges.

    Returns (mean difference, (lo, hi), overlap fraction of the union)."""
    (xa, ya), (xt, yt) = anchor_xy, test_xy
    lo, hi = max(xa.min(), xt.min()), min(xa.max(), xt.max())
    union = max(xa.max(), xt.max()) - min(xa.min(), xt.min())
    if not hi > lo:
        raise BDRateError("the two curves do not overlap")
    integral_a = _integral(xa, ya, method, lo, hi)
    integral_t = _integral(xt, yt, method, lo, hi)
    return (integral_t - integral_a) / (hi - lo), (lo, hi), (hi - lo) / union


def _integral(x: np.ndarray, y: np.ndarray, method: str, lo: float, hi: float) -> float:
    """Integral over [lo, hi] of the fit of y as a function of x."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) == 0):
        raise BDRateError("a curve repeats a metric value at two rates; the metric must "
                          "differ between points")
    if method == "cubic":
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))
    interpolant = PchipInterpolator(x, y) if method == "pchip" else Akima1DInterpolator(x, y)
    return float(interpolant.integrate(lo, hi))


def _flags(anchor: _Curve, test: _Curve, overlap: float) -> Tuple[str, ...]:
    flags = []
    if overlap < MIN_OVERLAP:
        flags.append(FLAG_LOW_OVERLAP)
    if not anchor.monotonic:
        flags.append(FLAG_NON_MONOTONIC_ANCHOR)
    if not test.monotonic:
        flags.append(FLAG_NON_MONOTONIC_TEST)
    return tuple(flags)
