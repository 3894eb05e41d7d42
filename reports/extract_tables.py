"""An extraction pilot as table rows (plain dicts), for the Runs page and the HTML report
alike: every method on the holdout (parse rate, schema-valid rate, field F1, exact match,
each with its interval), F1 per field, the paired tests, and the worst rows."""

from __future__ import annotations

from core.extract import ExtractStats
from core.measurement import QualityMeasure
from reports.compare import label_of

HELD = " + schema"  # trainers/eval/extract_eval.py: CONSTRAINED


def name_of(name: str) -> str:
    """A variant's name in words: "lora + schema" -> "LoRA, held to the schema"."""
    base = name.removesuffix(HELD)
    words = label_of(base)
    words = words[0].upper() + words[1:]
    return words + (", held to the schema" if name.endswith(HELD) else "")


def _pct(q: QualityMeasure) -> str:
    return f"{q.value:.1%} [{q.ci_low:.1%}, {q.ci_high:.1%}]"


def method_rows(e: ExtractStats) -> list[dict]:
    rows = []
    for name, s in e.methods.items():
        rows.append(
            {
                "Method": name_of(name) + (" (result)" if name == e.result else ""),
                "Parse rate": _pct(s.parsed),
                "Schema-valid": _pct(s.valid),
                "Field F1": _pct(s.f1),
                "Precision": f"{s.precision:.1%}",
                "Recall": f"{s.recall:.1%}",
                "Exact match": _pct(s.exact),
                "Seconds": f"{s.seconds:,.1f}" if s.seconds else "-",
            }
        )
    return rows


def field_rows(e: ExtractStats, top: int = 25) -> list[dict]:
    """The result's F1 per field, most frequent fields first."""
    return [
        {
            "Field": f.field,
            "Values expected": f.support,
            "Precision": f"{f.precision:.1%}",
            "Recall": f"{f.recall:.1%}",
            "F1": f"{f.f1:.1%}",
        }
        for f in e.scores.per_field[:top]
    ]


def paired_rows(e: ExtractStats) -> list[dict]:
    return [
        {
            "Comparison": f"{name_of(p.a)} - {name_of(p.b)}",
            "Field F1 difference": f"{p.f1_delta:+.1%} [{p.ci_low:+.1%}, {p.ci_high:+.1%}]",
            "p (paired bootstrap)": f"{p.p_value:.3f}",
            "Exact match, McNemar p": f"{p.exact_p_value:.3g}",
        }
        for p in e.paired
    ]


def worst_rows(e: ExtractStats) -> list[dict]:
    return [
        {"Text": w.text, "Expected": w.expected, "Predicted": w.predicted, "F1": f"{w.f1:.0%}"}
        for w in e.worst
    ]


def headline(e: ExtractStats) -> str:
    """One sentence: what the result reached, how it was scored, what is out of reach."""
    s = e.scores
    text = (
        f"{name_of(e.result)}: field F1 {_pct(s.f1)}, exact match {_pct(s.exact)}, "
        f"{s.valid.value:.1%} of outputs schema-valid (schema: {e.schema_source}); "
        f"{e.normalisation}."
    )
    if e.constrained_library:
        ratio = (
            f", {e.constrained_time_ratio:.2f}x the free generation time"
            if e.constrained_time_ratio
            else ""
        )
        text += f" Decoding held to the schema by {e.constrained_library}{ratio}."
    if e.out_of_reach is not None:
        text += (
            f" {e.out_of_reach:.1%} of the expected values are not spans of their text: out "
            "of a tagger's reach (counted as misses)."
        )
        if e.out_of_reach_fields:
            text += f" Fields never seen as a span: {', '.join(e.out_of_reach_fields)}."
    return text
