"""The learning-curve fit: recovers a known curve, says when the bar is out of reach."""

import pytest

from core.measurement import QualityMeasure
from trainers.eval.curve import CurvePoint, learning_curve


def pts(ns, f):
    return [
        CurvePoint(
            examples=n,
            quality=QualityMeasure(metric="accuracy", value=f(n), ci_low=0.0, ci_high=1.0, n=300),
        )
        for n in ns
    ]


def test_recovers_a_known_saturating_curve():
    floor, top, k = 0.05, 0.9, 200.0
    true = lambda n: floor + (top - floor) * n / (n + k)  # noqa: E731
    c = learning_curve(pts([100, 200, 400], true), floor, bar=0.8)
    assert c.top == pytest.approx(top, abs=0.01)
    assert c.half_examples == pytest.approx(k, rel=0.03)
    want = k * (0.8 - floor) / (top - 0.8)  # 1,500
    assert c.examples_needed == pytest.approx(want, rel=0.05)
    assert f"{c.examples_needed:,}" in c.summary


def test_a_flat_curve_below_the_bar_is_not_reachable():
    c = learning_curve(pts([100, 200, 400], lambda n: 0.6), 0.0, bar=0.9)
    assert c.examples_needed is None and c.top < 0.9
    assert c.summary.startswith("Not reachable with this model")


def test_long_extrapolations_are_flagged():
    floor, top, k = 0.0, 0.95, 5000.0
    c = learning_curve(pts([50, 100, 200], lambda n: top * n / (n + k)), floor, bar=0.9)
    assert c.examples_needed > 10 * 200 and "long extrapolation" in c.summary


def test_prediction_passes_through_the_floor_and_stays_in_range():
    c = learning_curve(pts([10, 20, 40], lambda n: min(1.0, 0.3 + n / 50)), 0.3, bar=None)
    assert c.predict(0) == pytest.approx(0.3)
    assert 0.3 <= c.predict(10**9) <= 1.0 and c.examples_needed is None
