"""Bjøntegaard delta rate (BD-rate) between two rate-quality curves, over the quality range both cover.

The standard method (VCEG-M33, with the piecewise cubic interpolation that replaced its cubic fit): log bitrate
as a function of quality, interpolated monotonically (PCHIP) through each curve's points, integrated over the
*common* quality interval only; the mean log-rate difference there, as a percentage. No extrapolation: curves
that do not overlap have no BD-rate (None), because any number would come from a guess outside the measurements.

Pure (numpy only; the PCHIP slopes are Fritsch-Carlson's, as scipy's PchipInterpolator): the bench measures the
points, the tests check this against known cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]  # (kbps, quality)


def upper_envelope(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats (fewer or equal bits *and* higher quality), sorted by rate.

    A ladder's rungs at different sizes are one curve only after the dominated ones are removed: a player would
    never choose a rung that costs more and looks worse than another.
    """
    ordered = sorted(points, key=lambda p: (p[0], -p[1]))
    front: list[Point] = []
    for kbps, quality in ordered:
        if not front or quality > front[-1][1]:
            front.append((kbps, quality))
    return front


def bd_rate(reference: Sequence[Point], test: Sequence[Point], *, min_overlap: float = 0.5) -> float | None:
    """Mean bitrate difference (%) of `test` against `reference` at equal quality; negative is fewer bits.

    Each curve needs two or more points after `upper_envelope`; the common quality interval must be at least
    `min_overlap` wide (VMAF points), else None.
    """
    ref, tst = upper_envelope(reference), upper_envelope(test)
    if len(ref) < 2 or len(tst) < 2:
        return None
    low = max(ref[0][1], tst[0][1])
    high = min(ref[-1][1], tst[-1][1])
    if high - low < min_overlap:
        return None
    diff = (_integral(tst, low, high) - _integral(ref, low, high)) / (high - low)
    return (math.exp(diff) - 1.0) * 100.0


_GAUSS_X = np.array([-math.sqrt(3 / 5), 0.0, math.sqrt(3 / 5)])  # 3-point Gauss-Legendre: exact for cubics
_GAUSS_W = np.array([5 / 9, 8 / 9, 5 / 9])


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Monotone (Fritsch-Carlson) slopes at the knots: no overshoot between measured points."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    if len(x) == 2:
        return np.array([delta[0], delta[0]])
    d = np.zeros_like(y)
    for k in range(1, len(x) - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    d[0] = _end_slope(h[0], h[1], delta[0], delta[1])
    d[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _end_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
        return 3 * m0
    return float(d)


def _integral(curve: Sequence[Point], low: float, high: float) -> float:
    """Integral of the PCHIP through (quality, log kbps) over [low, high] (inside the curve's range)."""
    x = np.array([q for _, q in curve], dtype=float)
    y = np.log(np.array([k for k, _ in curve], dtype=float))
    d = pchip_slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(low, x[k]), min(high, x[k + 1])
        if b <= a:
            continue
        h = x[k + 1] - x[k]
        t = ((a + b) / 2 + (b - a) / 2 * _GAUSS_X - x[k]) / h
        value = ((2 * t**3 - 3 * t**2 + 1) * y[k] + (t**3 - 2 * t**2 + t) * h * d[k]
                 + (-2 * t**3 + 3 * t**2) * y[k + 1] + (t**3 - t**2) * h * d[k + 1])
        total += float(np.dot(_GAUSS_W, value)) * (b - a) / 2
    return total
