"""BD-rate over the common quality interval, against cases whose answer is known in closed form."""

from __future__ import annotations

import math

import pytest

from vidpipe.ffmpeg.bdrate import bd_rate, upper_envelope


def _curve(a: float, b: float, qualities: list[float]) -> list[tuple[float, float]]:
    """Points with log(kbps) = a + b * quality: PCHIP reproduces a straight line exactly."""
    return [(math.exp(a + b * q), q) for q in qualities]


def test_the_same_curve_at_80_percent_of_the_bits_is_minus_20_percent() -> None:
    ref = [(800, 80.0), (1400, 88.0), (2800, 94.0), (5000, 97.0)]
    assert bd_rate(ref, [(k * 0.8, q) for k, q in ref]) == pytest.approx(-20.0)
    assert bd_rate(ref, ref) == pytest.approx(0.0)


def test_only_the_common_quality_interval_counts() -> None:
    # Reference covers 70..98, test 85..100; the lines cross at q = 90. Over 85..98 the mean log difference is
    # the integral of (0.05 * (q - 90)) divided by 13: 0.05 * ((98-90)^2 - (85-90)^2) / 2 / 13.
    ref = _curve(1.0, 0.06, [70, 80, 90, 98])
    test = _curve(1.0 - 0.05 * 90, 0.11, [85, 92, 100])
    expected = (math.exp(0.05 * (8**2 - 5**2) / 2 / 13) - 1) * 100
    assert bd_rate(ref, test) == pytest.approx(expected, rel=1e-9)
    assert bd_rate(test, ref) == pytest.approx((math.exp(-0.05 * (8**2 - 5**2) / 2 / 13) - 1) * 100, rel=1e-9)


def test_curves_that_do_not_overlap_have_no_bd_rate() -> None:
    high = [(1500, 97.0), (2800, 98.8)]
    low = [(130, 87.0), (270, 93.4)]
    assert bd_rate(high, low) is None  # any number would be extrapolation
    assert bd_rate(high, [(300, 93.0)]) is None  # one point is not a curve


def test_dominated_rungs_leave_the_curve() -> None:
    # The 480p rung costs more than 360p and looks worse: no player would pick it.
    rungs = [(1541, 98.8), (937, 90.0), (586, 96.8)]
    assert upper_envelope(rungs) == [(586, 96.8), (1541, 98.8)]


def test_the_interpolation_is_scipys_pchip_on_a_bent_curve() -> None:
    from vidpipe.ffmpeg.bdrate import _integral

    curve = [(300, 70.0), (500, 82.0), (900, 90.0), (2000, 95.5), (5000, 98.0)]
    # scipy 1.17.1: PchipInterpolator(quality, log(kbps)).integrate(75, 97)
    assert _integral(curve, 75.0, 97.0) == pytest.approx(145.11090540041474, rel=1e-12)
