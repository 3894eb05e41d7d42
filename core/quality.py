"""Scores with their 95% intervals, and paired tests of two methods on one holdout."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (sound for small n and k near 0 or n)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


class Paired(NamedTuple):
    """McNemar's exact test of two methods scored on the same holdout rows."""

    only_a: int
    """Rows A got right and B got wrong."""
    only_b: int
    p_value: float
    """Two-sided: the chance of a split at least this uneven if A and B were equally good."""


def mcnemar(a: str, b: str) -> Paired:
    """Exact McNemar test on two per-row '1'/'0' records of the same holdout (written by
    trainers.eval.scoring.hits): only the rows where they disagree count, and under "no
    difference" each is a fair coin flip, so p = P(Binomial(n, 1/2) at least as far from
    n/2)."""
    if len(a) != len(b):
        raise ValueError(f"not the same holdout: {len(a)} rows against {len(b)}")
    only_a = sum(x == "1" and y == "0" for x, y in zip(a, b, strict=True))
    only_b = sum(x == "0" and y == "1" for x, y in zip(a, b, strict=True))
    n, k = only_a + only_b, min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n if n else 1.0
    return Paired(only_a=only_a, only_b=only_b, p_value=min(1.0, 2 * tail))


class QualityMeasure(BaseModel):
    """A holdout score with its 95% interval (accuracy, chrF or token F1, all 0-1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str
    value: float = Field(ge=0, le=1)
    ci_low: float = Field(ge=0, le=1)
    ci_high: float = Field(ge=0, le=1)
    n: int = Field(ge=0)

    def text(self) -> str:
        return f"{self.value:.1%} [{self.ci_low:.1%}, {self.ci_high:.1%}] (n={self.n})"


def mean_score(values: Sequence[float], metric: str) -> QualityMeasure:
    """Mean with a normal-approximation 95% interval (t-free; fine from n of about 30).
    No values: nothing is known, so the interval is the whole range [0, 1] (never a
    confident zero)."""
    n = len(values)
    if n == 0:
        return QualityMeasure(metric=metric, value=0.0, ci_low=0.0, ci_high=1.0, n=0)
    mean = sum(values) / max(1, n)
    var = sum((v - mean) ** 2 for v in values) / max(1, n - 1)
    half = Z95 * math.sqrt(var / max(1, n))
    return QualityMeasure(
        metric=metric, value=mean, ci_low=max(0.0, mean - half), ci_high=min(1.0, mean + half), n=n
    )
