"""BD-rate / BD-PSNR: the published vectors, a cross-check against the bjontegaard package,
exact properties, errors and flags."""
import csv
import warnings
from collections import defaultdict

import numpy as np
import pytest

from bench.bdrate import (FLAG_LOW_OVERLAP, FLAG_NON_MONOTONIC_ANCHOR, FLAG_NON_MONOTONIC_TEST,
                          METHODS, BDRateError, bd_psnr, bd_rate)

COMPUTED_COLUMNS = {"cubic": "computed_cubic_vcegm33", "pchip": "computed_pchip",
                    "akima": "computed_akima"}
FUNCTIONS = {"bd_rate_pct": bd_rate, "bd_psnr_db": bd_psnr}

# A smooth, strictly increasing curve (rates in kbit/s, PSNR in dB).
ANCHOR = ([100.0, 200.0, 400.0, 800.0], [30.0, 33.0, 35.5, 37.5])


@pytest.fixture(scope="module")
def vectors(shared_dir):
    """(expected rows, {vector: {"anchor": (rates, psnr), "test": (rates, psnr)}})."""
    folder = shared_dir / "reference" / "bdrate"
    with open(folder / "vectors_expected.csv", newline="") as f:
        expected = list(csv.DictReader(f))
    points = defaultdict(lambda: defaultdict(lambda: ([], [])))
    with open(folder / "vectors_points.csv", newline="") as f:
        for row in csv.DictReader(f):
            rates, psnr = points[row["vector"]][row["curve"]]
            rates.append(float(row["rate"]))
            psnr.append(float(row["psnr"]))
    assert expected and points
    return expected, points


def _run(row, points, method):
    anchor, test = points[row["vector"]]["anchor"], points[row["vector"]]["test"]
    return FUNCTIONS[row["metric"]](*anchor, *test, method=method)


def test_vectors_reproduce_published_values(vectors):
    """Where the vector's method is one of ours and `match` says yes: 1e-9 (percent or dB).
    Vectors from other tools (google visual_metrics) are held to their own published tolerance."""
    expected, points = vectors
    checked = 0
    for row in expected:
        assert row["match"] == "yes", row["vector"]
        if row["method"] in METHODS:
            tolerance = 1e-9
            value = _run(row, points, row["method"])
        else:
            tolerance = float(row["tolerance"])
            value = _run(row, points, "cubic")
        assert abs(value - float(row["published_expected"])) <= tolerance, (row["vector"], value)
        checked += 1
    assert checked == len(expected) == 6


def test_vectors_reproduce_every_computed_value(vectors):
    """Every method against the listed computed values (given to 10 decimals) at 1e-9."""
    expected, points = vectors
    for row in expected:
        for method, column in COMPUTED_COLUMNS.items():
            value = _run(row, points, method)
            assert abs(value - float(row[column])) <= 1e-9, (row["vector"], method, value)
        same = row["method"] if row["method"] in METHODS else "cubic"
        assert abs(_run(row, points, same) -
                   float(row["bjontegaard_pypi_1.3.0_same_method"])) <= 1e-9


def _random_monotone_curve(rng, n):
    """n points with rates and PSNR both strictly increasing, in a realistic range."""
    log_rates = np.sort(rng.uniform(np.log10(0.05), np.log10(2.0), n))
    while np.any(np.diff(log_rates) < 0.02):
        log_rates = np.sort(rng.uniform(np.log10(0.05), np.log10(2.0), n))
    steps = rng.uniform(0.5, 3.0, n)
    return 10 ** log_rates, 26.0 + np.cumsum(steps)


def test_cross_check_against_bjontegaard_package():
    """All three methods, BD-rate and BD-PSNR, on 100 seeded random monotone curve pairs with
    unequal point counts.  The package's "cubic" is np.polyfit of degree 3 on log10 rate, i.e.
    VCEG-M33 (the VCEG-M33 vector above agrees with it too)."""
    import bjontegaard

    rng = np.random.default_rng(20240927)
    compared = 0
    for _ in range(100):
        anchor = _random_monotone_curve(rng, int(rng.integers(4, 9)))
        test = _random_monotone_curve(rng, int(rng.integers(4, 9)))
        for method in METHODS:
            for ours, theirs in ((bd_rate, bjontegaard.bd_rate), (bd_psnr, bjontegaard.bd_psnr)):
                try:
                    value = ours(*anchor, *test, method=method)
                except BDRateError as e:
                    assert "overlap" in str(e)
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    reference = theirs(*anchor, *test, method=method,
                                       require_matching_points=False, min_overlap=0)
                assert value == pytest.approx(reference, rel=1e-9, abs=1e-9), method
                compared += 1
    assert compared > 400


@pytest.mark.parametrize("method", METHODS)
def test_rate_scaled_curve_gives_exact_saving(method):
    """Same quality at 90 % of the rate is a BD-rate of exactly -10 %."""
    rates, psnr = np.array([80.0, 120.0, 200.0, 330.0, 520.0, 900.0]), \
        np.array([29.0, 31.0, 33.2, 35.1, 36.9, 38.6])
    result = bd_rate(rates, psnr, 0.9 * rates, psnr, method=method)
    assert result == pytest.approx(-10.0, abs=1e-9)
    assert result.method == method and result.flags == () and result.overlap == 1.0


@pytest.mark.parametrize("method", METHODS)
def test_unequal_point_counts(method):
    """Log-rate linear in PSNR is reproduced exactly by every method, so a 4-point test curve
    at 90 % of the rate of a 6-point anchor is -10 %, over the test's PSNR range."""
    psnr = np.array([29.0, 31.0, 33.2, 35.1, 36.9, 38.6])
    rates = 10 ** (0.1 * psnr - 1.0)
    result = bd_rate(rates, psnr, 0.9 * rates[1:5], psnr[1:5], method=method)
    assert result == pytest.approx(-10.0, abs=1e-9)
    assert result.flags == (FLAG_LOW_OVERLAP,)
    assert result.interval == (psnr[1], psnr[4])
    assert result.overlap == pytest.approx((psnr[4] - psnr[1]) / (psnr[5] - psnr[0]))


@pytest.mark.parametrize("method", METHODS)
def test_psnr_offset_and_symmetry(method):
    rates, psnr = ANCHOR
    shifted = np.array(psnr) + 0.7
    assert bd_psnr(rates, psnr, rates, shifted, method=method) == pytest.approx(0.7, abs=1e-12)
    assert bd_psnr(rates, shifted, rates, psnr, method=method) == pytest.approx(-0.7, abs=1e-12)
    assert bd_rate(rates, psnr, rates, psnr, method=method) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_point_order_does_not_matter(method):
    rates, psnr = np.array([90.0, 181.0, 333.0, 548.0, 700.0]), \
        np.array([27.9, 31.2, 34.4, 38.1, 39.0])
    test = (np.array([127.0, 186.0, 307.0, 482.0]), np.array([29.9, 32.4, 34.7, 37.5]))
    order = [3, 0, 4, 1, 2]
    a = bd_rate(rates, psnr, *test, method=method)
    b = bd_rate(rates[order], psnr[order], test[0][::-1], test[1][::-1], method=method)
    assert a == pytest.approx(b, abs=1e-12)


def test_result_is_a_float_with_its_qualifiers():
    result = bd_rate(*ANCHOR, [90.0, 180.0, 360.0, 720.0], ANCHOR[1])
    assert isinstance(result, float) and result.value == float(result)
    assert result.flags == () and result.overlap == 1.0
    assert result.interval == (30.0, 37.5)
    assert "BDResult" in repr(result)


def test_non_monotonic_curves_are_flagged():
    bumpy = [30.0, 33.0, 32.5, 37.5]
    result = bd_rate(*ANCHOR, ANCHOR[0], bumpy, method="cubic")
    assert result.flags == (FLAG_NON_MONOTONIC_TEST,)
    result = bd_psnr(ANCHOR[0], bumpy, *ANCHOR, method="pchip")
    assert result.flags == (FLAG_NON_MONOTONIC_ANCHOR,)


@pytest.mark.parametrize("method,too_few", [("cubic", 3), ("pchip", 2), ("akima", 2)])
def test_too_few_points(method, too_few):
    rates, psnr = ANCHOR
    with pytest.raises(BDRateError, match="needs at least"):
        bd_rate(rates, psnr, rates[:too_few], psnr[:too_few], method=method)
    if method != "cubic":  # three points are enough for the piecewise methods
        bd_rate(rates, psnr, rates[:3], psnr[:3], method=method)


@pytest.mark.parametrize("rates,psnr,message", [
    ([100, 200, np.nan, 800], [30, 33, 35, 37], "NaN or infinite"),
    ([100, 200, 400, 800], [30, 33, np.inf, 37], "NaN or infinite"),
    ([0, 200, 400, 800], [30, 33, 35, 37], "non-positive rate"),
    ([-100, 200, 400, 800], [30, 33, 35, 37], "non-positive rate"),
    ([100, 200, 200, 800], [30, 33, 35, 37], "duplicate rates"),
    ([100, 200, 400, 800], [30, 33, 35], "4 rates but 3"),
])
@pytest.mark.parametrize("function", [bd_rate, bd_psnr])
def test_bad_input_raises(function, rates, psnr, message):
    with pytest.raises(BDRateError, match=message):
        function(*ANCHOR, rates, psnr)
    with pytest.raises(ValueError):  # BDRateError is a ValueError
        function(rates, psnr, *ANCHOR)


@pytest.mark.parametrize("method", METHODS)
def test_no_overlap(method):
    with pytest.raises(BDRateError, match="do not overlap"):
        bd_rate(*ANCHOR, ANCHOR[0], [40.0, 41.0, 42.0, 43.0], method=method)
    with pytest.raises(BDRateError, match="do not overlap"):
        bd_psnr(*ANCHOR, [1000.0, 2000.0, 3000.0, 4000.0], ANCHOR[1], method=method)


@pytest.mark.parametrize("method", METHODS)
def test_repeated_metric_value_is_an_error(method):
    """BD-rate fits log-rate over the metric: two rates at one metric value define no fit."""
    flat = [30.0, 33.0, 33.0, 37.5]
    with pytest.raises(BDRateError, match="repeats a metric value"):
        bd_rate(*ANCHOR, ANCHOR[0], flat, method=method)


def test_unknown_method():
    with pytest.raises(BDRateError, match="unknown BD method"):
        bd_rate(*ANCHOR, *ANCHOR, method="spline")
