"""Abstention: a classifier answers when its confidence (top label probability) reaches a
threshold and escalates the rest to the capable model.

The threshold is picked on the training split only, from out-of-fold confidences (each
fold scored by a classifier that never saw it), as the lowest confidence at which the
answered rows still reach the target accuracy. The holdout then measures what that
threshold does: accuracy on the answered share, the escalated share, and, when the
holdout holds labels the training never saw (out-of-scope requests), how many of those
were escalated. Out-of-fold models saw less data than the final one, so they are less
sure of themselves: the threshold errs towards escalating too much, never too little.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.measurement import Abstention, QualityMeasure, wilson

CURVE_POINTS = 11  # answered shares 0%, 10%, ..., 100% on the holdout


def pick_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest confidence whose answered rows (confidence >= it) are at least `target`
    accurate; above every confidence (escalate all) when no answered set reaches it."""
    order = np.argsort(-confidence, kind="stable")  # most confident first
    conf, hits = confidence[order], correct[order].astype(float)
    running = np.cumsum(hits) / np.arange(1, len(hits) + 1)  # accuracy of the top k
    ok = np.nonzero(running >= target)[0]
    if not len(ok):
        return float(conf[0]) + 1e-6 if len(conf) else 1.0
    return float(conf[ok[-1]])


def _answered(correct: np.ndarray, answered: np.ndarray) -> QualityMeasure:
    k, n = int(correct[answered].sum()), int(answered.sum())
    lo, hi = wilson(k, n)
    return QualityMeasure(metric="accuracy", value=k / max(1, n), ci_low=lo, ci_high=hi, n=n)


def curve(confidence: np.ndarray, correct: np.ndarray) -> tuple[tuple[float, float], ...]:
    """(answered share, accuracy on it) answering the most confident rows first."""
    order = np.argsort(-confidence, kind="stable")
    hits = correct[order].astype(float)
    points = []
    for share in np.linspace(0, 1, CURVE_POINTS)[1:]:
        k = max(1, round(share * len(hits)))
        points.append((round(float(share), 2), round(float(hits[:k].mean()), 4)))
    return tuple(points)


def abstention(
    confidence: np.ndarray,
    correct: np.ndarray,
    threshold: float,
    target: float,
    out_of_scope: Sequence[bool],
) -> Abstention:
    """What the threshold does on the holdout. `correct` is False for out-of-scope rows
    (no training label can be right), so answering them counts against the accuracy."""
    answered = confidence >= threshold
    oos = np.asarray(out_of_scope, dtype=bool)
    return Abstention(
        threshold=round(threshold, 4),
        target_accuracy=target,
        answered=_answered(correct, answered),
        escalated_share=float(1 - answered.mean()) if len(answered) else 0.0,
        out_of_scope_rows=int(oos.sum()),
        out_of_scope_caught=float((~answered[oos]).mean()) if oos.any() else None,
        curve=curve(confidence, correct),
    )


def two_folds(labels: Sequence[str], seed: int) -> np.ndarray:
    """Fold id (0/1) per row, stratified: each label's rows alternate between the folds
    in a seeded order, so both folds see nearly every label."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=int)
    by: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by.setdefault(lab, []).append(i)
    start = 0
    for rows in by.values():
        rows = list(rng.permutation(rows))
        for j, i in enumerate(rows):
            fold[i] = (j + start) % 2
        start += len(rows) % 2  # odd groups take turns giving the extra row
    return fold
