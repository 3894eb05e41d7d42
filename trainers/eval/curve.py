"""How much data is enough: fit a saturating curve to holdout quality measured at several
training-set sizes, and read off how many examples would reach the quality bar.

The curve is quality(n) = floor + (top - floor) * n / (n + k): it starts at the zero-shot
score (n = 0, measured), rises with the data, and levels off at `top`. For a fixed k the
best `top` is a closed-form least-squares fit, so a grid over k finds the global optimum
(no optimiser to fail on three points). Examples needed for a bar b below top:
n = k (b - floor) / (top - b). When top is under the bar, the honest answer is "not
reachable with this model".
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.measurement import QualityMeasure

K_GRID = np.logspace(0, 7, 701)  # half-saturation sizes tried, 1 .. 10 million examples
FAR = 10  # needing more than FAR x the largest measured size is a long extrapolation


class CurvePoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    examples: int = Field(ge=0)
    quality: QualityMeasure


class LearningCurve(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    points: tuple[CurvePoint, ...]
    floor: float
    """Measured zero-shot quality: the curve at n = 0."""
    top: float
    """Fitted level the curve saturates at (0-1)."""
    half_examples: float
    """Fitted k: examples at which half the gain from floor to top is reached."""
    bar: float | None
    """Quality bar (0-1), if one was given."""
    examples_needed: int | None
    """Examples predicted to reach the bar; None when not reachable or no bar."""
    summary: str

    def predict(self, n) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        return self.floor + (self.top - self.floor) * n / (n + self.half_examples)


def fit(ns: list[int], values: list[float], floor: float) -> tuple[float, float]:
    """(top, k) minimising the squared error over the measured points."""
    n, y = np.asarray(ns, dtype=float), np.asarray(values, dtype=float) - floor
    g = n[None, :] / (n[None, :] + K_GRID[:, None])  # (K, P)
    gain = (g * y).sum(1) / np.maximum((g * g).sum(1), 1e-12)  # (K,) closed form per k
    gain = np.clip(gain, 0.0, 1.0 - floor)  # quality cannot exceed 1 nor fall below floor
    err = ((g * gain[:, None] - y) ** 2).sum(1)
    best = int(np.argmin(err))
    return float(floor + gain[best]), float(K_GRID[best])


def learning_curve(points: list[CurvePoint], floor: float, bar: float | None) -> LearningCurve:
    points = sorted(points, key=lambda p: p.examples)
    ns = [p.examples for p in points]
    top, k = fit(ns, [p.quality.value for p in points], floor)
    needed, largest = None, max(ns)
    metric = points[-1].quality.metric
    if bar is None:
        summary = f"The curve levels off near {top:.1%} {metric} with this model."
    elif top <= bar:
        summary = (
            f"Not reachable with this model: the curve levels off near {top:.1%} {metric}, "
            f"below the bar of {bar:.0%} (measured {points[-1].quality.value:.1%} at "
            f"{largest:,} examples). A larger model, retrieval, or a different method is "
            "needed, not more data."
        )
    else:
        needed = max(1, int(np.ceil(k * (bar - floor) / (top - bar)))) if bar > floor else 0
        summary = (
            f"About {needed:,} training examples would reach the bar of {bar:.0%} {metric} "
            f"(measured {points[-1].quality.value:.1%} at {largest:,}; the curve levels off "
            f"near {top:.1%})."
        )
        if needed > FAR * largest:
            summary += (
                f" That is more than {FAR}x the largest size measured: a long "
                "extrapolation, so treat it as an order of magnitude."
            )
    return LearningCurve(
        points=tuple(points),
        floor=floor,
        top=top,
        half_examples=k,
        bar=bar,
        examples_needed=needed,
        summary=summary,
    )
