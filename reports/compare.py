"""Every method and baseline scored on one frozen holdout, side by side, each with its 95%
interval and McNemar's exact test against the best of them: whether two accuracies on
the same rows really differ, not just whether their intervals overlap (a paired test
sees more: both were scored on the very same rows).

Runs are grouped by the fingerprint of their holdout; only classification runs keep the
per-row record (PilotMetrics.correct) that the test needs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.labels import VALUE_LABELS, method_label
from core.measurement import Paired, QualityMeasure, mcnemar, wilson
from core.vocab import METHODS
from trainers.metrics import PilotMetrics

SIGNIFICANT = 0.05


class Compared(BaseModel):
    """One method or baseline on the shared holdout."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    """What was scored: a method, a baseline, or a method with constrained decoding."""
    label: str
    run_id: str
    accuracy: QualityMeasure
    vs_best: Paired | None = None
    """McNemar against the best on this holdout (None: this is the best)."""


def label_of(name: str) -> str:
    if name.endswith("_constrained") and name.removesuffix("_constrained") in METHODS:
        return f"{method_label(name.removesuffix('_constrained'))}, label-constrained"
    if name in METHODS:
        return method_label(name)
    return VALUE_LABELS.get(name, name.replace("_", " "))


def _measure(hits: str) -> QualityMeasure:
    k, n = hits.count("1"), len(hits)
    lo, hi = wilson(k, n)
    return QualityMeasure(metric="accuracy", value=k / max(1, n), ci_low=lo, ci_high=hi, n=n)


def _trained(name: str) -> bool:
    method = name.removesuffix("_constrained")
    return method in METHODS and METHODS[method].trains


def holdout_comparison(pilots: list[PilotMetrics]) -> list[list[Compared]]:
    """One table per shared holdout (two or more entries), best first. A baseline scored
    by several runs on the same holdout is shown once; every trained run is shown."""
    groups: dict[str, dict[str, tuple[str, str, str]]] = {}  # holdout -> key -> entry
    for p in pilots:
        if not p.holdout_fingerprint or not p.correct:
            continue
        seen = groups.setdefault(p.holdout_fingerprint, {})
        run = p.measurement.run_id
        for name, hits in p.correct.items():
            seen.setdefault(f"{name} {run}" if _trained(name) else name, (run, name, hits))
    tables = []
    for entries in groups.values():
        if len(entries) < 2:
            continue
        ranked = sorted(entries.values(), key=lambda e: -e[2].count("1"))
        best = ranked[0][2]
        tables.append(
            [
                Compared(
                    name=name,
                    label=label_of(name),
                    run_id=run,
                    accuracy=_measure(hits),
                    vs_best=mcnemar(best, hits) if i else None,
                )
                for i, (run, name, hits) in enumerate(ranked)
            ]
        )
    return tables


def comparison_rows(table: list[Compared]) -> list[dict]:
    """The table as a page or a report shows it."""
    out = []
    for r in table:
        q, t = r.accuracy, r.vs_best
        if t is None:
            verdict, p, only_best, only_this = "the best on this holdout", "", "", ""
        else:
            verdict = "worse than the best" if t.p_value < SIGNIFICANT else "no clear difference"
            p, only_best, only_this = f"{t.p_value:.2g}", f"{t.only_a:,}", f"{t.only_b:,}"
        out.append(
            {
                "Method or baseline": r.label,
                "Run": r.run_id,
                "Accuracy": f"{q.value:.1%}",
                "95% interval": f"{q.ci_low:.1%} to {q.ci_high:.1%}",
                "Against the best": verdict,
                "McNemar p": p,
                "Rows only the best got right": only_best,
                "Rows only this got right": only_this,
            }
        )
    return out
