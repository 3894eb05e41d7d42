"""Extraction outputs scored as the field reports it (core/extract.py): parse, schema
validity, micro P/R/F1 over (field, value) pairs, per-field F1, exact match; intervals
(Wilson for shares, a bootstrap over rows for F1) and paired tests on one holdout.

An output is a model's text (it must parse as a JSON object as it stands: a fenced or
chatty answer is an invalid one, as deployed) or an object a tagger built.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.extract import ExtractScores, FieldScore, PairedF1, WorstRow
from core.quality import QualityMeasure, mcnemar, wilson
from trainers.fields import validator

BOOTSTRAP = 1000


def _norm(v) -> str:
    text = json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else str(v)
    if isinstance(v, bool):
        text = "true" if v else "false"
    return " ".join(text.lower().split())


def pairs(obj: dict | None) -> Counter:
    """(field, normalised value) pairs of an object, a list value giving one per item."""
    out: Counter = Counter()
    for k, v in (obj or {}).items():
        for x in v if isinstance(v, list | tuple) else [v]:
            out[(k, _norm(x))] += 1
    return out


def parse(output: str | dict) -> dict | None:
    if isinstance(output, dict):
        return output
    try:
        obj = json.loads(output.strip())
    except (json.JSONDecodeError, AttributeError):
        return None
    return obj if isinstance(obj, dict) else None


def _listed(obj: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in obj.items()}


@dataclass(frozen=True)
class Scored:
    """Per-row counts behind the scores, for intervals and paired tests."""

    scores: ExtractScores
    tp: np.ndarray  # (Q,)
    fp: np.ndarray  # (Q,)
    fn: np.ndarray  # (Q,)
    exact: str  # '1'/'0' per row
    predicted: tuple[dict | None, ...]


def _f1(tp, fp, fn) -> float:
    return float(2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) else 1.0


def _boot(q: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, q, size=(BOOTSTRAP, q))  # (B, Q)


def f1_interval(tp, fp, fn) -> tuple[float, float]:
    if len(tp) == 0:
        return 0.0, 1.0
    idx = _boot(len(tp))
    t, p, n = tp[idx].sum(1), fp[idx].sum(1), fn[idx].sum(1)  # (B,)
    den = 2 * t + p + n
    f = np.where(den > 0, 2 * t / np.maximum(den, 1), 1.0)
    return float(np.percentile(f, 2.5)), float(np.percentile(f, 97.5))


def _share(k: int, n: int, metric: str) -> QualityMeasure:
    lo, hi = wilson(k, n)
    return QualityMeasure(metric=metric, value=k / max(1, n), ci_low=lo, ci_high=hi, n=n)


def _per_field(pred: list[Counter], gold: list[Counter]) -> tuple[FieldScore, ...]:
    tp, fp, fn = Counter(), Counter(), Counter()
    for p, g in zip(pred, gold, strict=True):
        for (k, _), c in (p & g).items():
            tp[k] += c
        for (k, _), c in (p - g).items():
            fp[k] += c
        for (k, _), c in (g - p).items():
            fn[k] += c
    names = sorted(set(tp) | set(fp) | set(fn), key=lambda k: (-(tp[k] + fn[k]), k))
    return tuple(
        FieldScore(
            field=k,
            precision=tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else 0.0,
            recall=tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else 0.0,
            f1=_f1(tp[k], fp[k], fn[k]),
            support=tp[k] + fn[k],
        )
        for k in names
    )


def score_outputs(
    outputs: Sequence[str | dict], golds: Sequence[dict], schema: dict, seconds: float = 0.0
) -> Scored:
    """Every output against its expected object (`golds`: fields as the data holds them)."""
    check = validator(schema)
    objs = [parse(o) for o in outputs]
    pred = [pairs(o) for o in objs]
    gold = [pairs(g) for g in golds]
    tp = np.array([sum((p & g).values()) for p, g in zip(pred, gold, strict=True)])
    fp = np.array([sum((p - g).values()) for p, g in zip(pred, gold, strict=True)])
    fn = np.array([sum((g - p).values()) for p, g in zip(pred, gold, strict=True)])
    rows = zip(objs, pred, gold, strict=True)
    exact = "".join("1" if o is not None and p == g else "0" for o, p, g in rows)
    valid = sum(o is not None and check.is_valid(_listed(o)) for o in objs)
    q = len(golds)
    lo, hi = f1_interval(tp, fp, fn)
    f1 = _f1(tp.sum(), fp.sum(), fn.sum())
    scores = ExtractScores(
        parsed=_share(sum(o is not None for o in objs), q, "parse rate"),
        valid=_share(valid, q, "schema-valid rate"),
        precision=float(tp.sum() / max(1, tp.sum() + fp.sum())),
        recall=float(tp.sum() / max(1, tp.sum() + fn.sum())),
        f1=QualityMeasure(
            metric="field F1", value=f1, ci_low=min(lo, f1), ci_high=max(hi, f1), n=q
        ),
        exact=_share(exact.count("1"), q, "exact match"),
        per_field=_per_field(pred, gold),
        seconds=round(seconds, 2),
    )
    return Scored(scores=scores, tp=tp, fp=fp, fn=fn, exact=exact, predicted=tuple(objs))


def paired(a: str, sa: Scored, b: str, sb: Scored) -> PairedF1:
    """F1(A) - F1(B) on the same rows: the same bootstrap resamples for both, so the
    interval and the p-value (twice the smaller tail of the resampled differences) are
    those of the difference; McNemar's exact test on the rows' exact matches."""
    idx = _boot(len(sa.tp))

    def f(s: Scored) -> np.ndarray:
        t, p, n = s.tp[idx].sum(1), s.fp[idx].sum(1), s.fn[idx].sum(1)
        return np.where(2 * t + p + n > 0, 2 * t / np.maximum(2 * t + p + n, 1), 1.0)

    d = f(sa) - f(sb)  # (B,)
    tail = min((d <= 0).mean(), (d >= 0).mean())
    return PairedF1(
        a=a,
        b=b,
        f1_delta=sa.scores.f1.value - sb.scores.f1.value,
        ci_low=float(np.percentile(d, 2.5)),
        ci_high=float(np.percentile(d, 97.5)),
        p_value=float(min(1.0, 2 * tail)),
        exact_p_value=mcnemar(sa.exact, sb.exact).p_value,
    )


def worst_rows(texts, golds, s: Scored, k: int = 10) -> tuple[WorstRow, ...]:
    """The k rows with the lowest F1 (rows with nothing expected and nothing predicted are
    right and never shown)."""
    rows = []
    for i, (t, g) in enumerate(zip(texts, golds, strict=True)):
        f = _f1(s.tp[i], s.fp[i], s.fn[i])
        if f < 1.0:
            pred = s.predicted[i]
            shown = json.dumps(_listed(pred), ensure_ascii=False) if pred is not None else "-"
            rows.append(WorstRow(text=t, expected=json.dumps(_listed(g)), predicted=shown, f1=f))
    return tuple(sorted(rows, key=lambda r: r.f1)[:k])
