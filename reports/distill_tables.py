"""A distillation pilot as table rows (plain dicts) and its agreement curve, for the Runs
page and the HTML report alike: the teacher and its filter, the student at each size of
the teacher-labelled set beside the probe and soft targets, and paired tests on the one
holdout."""

from __future__ import annotations

from core.distill import DistillStats
from core.measurement import QualityMeasure, mcnemar
from trainers.eval.curve import CurvePoint, LearningCurve, learning_curve
from trainers.metrics import PilotMetrics

REASONS = {
    "empty": "empty",
    "too_long": "too long",
    "regex": "failed the regex",
    "no_label": "no label",
}


def _pct(q: QualityMeasure | None) -> str:
    return f"{q.value:.1%} [{q.ci_low:.1%}, {q.ci_high:.1%}] (n={q.n})" if q else "-"


def teacher_row(d: DistillStats) -> dict:
    dropped = ", ".join(f"{REASONS.get(k, k)} {v:,}" for k, v in d.dropped.items() if v)
    row = {
        "Teacher": f"{d.teacher} ({d.teacher_kind.replace('_', ' ')})",
        "Inputs labelled": f"{d.inputs_labelled:,}",
        "Kept": f"{d.kept:,}",
        "Dropped by the filter": dropped or "none",
        "Teacher on gold": _pct(d.teacher_accuracy) if d.gold_holdout else "no gold holdout",
        "Teacher seconds": f"{d.teacher_seconds:,.1f}",
    }
    if d.teacher_usd_per_request is not None:
        row["Teacher cost a call"] = f"${d.teacher_usd_per_request:.6f}"
        row["Teacher cost paid"] = f"${d.teacher_usd_spent or 0:.4f}"
    return row


def _row(name: str, s) -> dict:
    return {
        "Student": name,
        "Teacher labels": f"{s.inputs:,}",
        "Agreement with the teacher": _pct(s.agreement),
        "Accuracy on gold": _pct(s.accuracy),
        "Training seconds": f"{s.train_seconds:,.1f}",
    }


def student_rows(d: DistillStats) -> list[dict]:
    """The curve student at each size, then the students compared on the full set; the
    reported one is marked."""
    rows = [_row(d.curve_student, s) for s in d.sizes]
    rows += [_row(name, s) for name, s in d.compared.items()]
    for r in rows:
        full = r["Teacher labels"] == f"{d.kept:,}"
        if r["Student"] == d.student and full:
            r["Student"] += " (reported)"
    return rows


def paired_rows(m: PilotMetrics) -> list[dict]:
    """McNemar's exact test of the student against the probe, soft targets and teacher."""
    mine = m.correct.get(m.measurement.method)
    if not mine:
        return []
    names = {
        "student_linear_probe": "linear probe",
        "student_fine-tuned_on_labels": "fine-tuned on labels",
        "teacher": "the teacher",
    }
    rows = []
    for key, name in names.items():
        if key in m.correct:
            t = mcnemar(mine, m.correct[key])
            rows.append(
                {
                    f"{m.measurement.distill.curve_student} against": name,
                    "Rows only the student got right": t.only_a,
                    "Rows only the other got right": t.only_b,
                    "McNemar p": f"{t.p_value:.3g}",
                }
            )
    return rows


def agreement_curve(d: DistillStats) -> LearningCurve:
    """The saturating curve through the measured agreement at each size."""
    points = [CurvePoint(examples=s.inputs, quality=s.agreement) for s in d.sizes]
    curve = learning_curve(points, floor=d.curve_floor, bar=d.agreement_bar)
    # the run's count: a measured size that met the bar outranks the extrapolation
    return curve.model_copy(update={"examples_needed": d.inputs_needed, "summary": d.curve_summary})


def headline(d: DistillStats) -> str:
    """One sentence: what was measured against what, and the inputs the bar needs."""
    against = (
        "scored against the holdout's gold labels and against the teacher"
        if d.gold_holdout
        else "the holdout was labelled by the teacher, so this measures agreement only"
    )
    return f"The {d.student} student is reported ({against}). {d.curve_summary}"
