"""The one-file HTML report: scenario, recommendation and reasons, cost tables and charts,
pilot results, assumptions with sources and dates. Plotly's JavaScript is inlined once, so
the file opens in a browser with no network. No streamlit here."""

from __future__ import annotations

import functools
import html
from pathlib import Path

from advisor import Scenario
from advisor.recommend import Recommendation
from core.labels import STOPPED_WORDS, field_label, label, unit_price
from core.numbers import show_figure
from core.vocab import METHODS
from costmodels.amortize import CostReport, per_request_curves
from costmodels.export import assumption_rows
from costmodels.prices import PriceCatalog
from costmodels.uncertainty import Uncertainty
from reports import extract_tables, figures
from reports.compare import comparison_rows, holdout_comparison
from reports.tables import cost_table, plan_headline, plan_rows, ranking_table, rules_for
from trainers.eval.curve import LearningCurve
from trainers.metrics import PilotMetrics

# The page fits a laptop screen or an A4 page: long cells wrap instead of widening tables.
CSS = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px;width:100%}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;overflow-wrap:break-word;
vertical-align:top}th{background:#f3f3f3}h1{margin-bottom:0}.muted{color:#666}
.chart{width:100%;margin:1em 0}@media print{.chart{break-inside:avoid}}"""
# plotly.js's basic bundle (scatter and bar, MIT), inlined once: 1.2 MB instead of the
# full bundle's 4.8 MB, so the report stays one small file that opens with no network.
PLOTLY_JS = Path(__file__).resolve().parent / "assets" / "plotly-basic.min.js"


def _table(rows: list[dict]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r.values()) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 1 else f"{v:,.2f}"
    return "" if v is None else str(v)


def build_report(
    scenario: Scenario,
    rec: Recommendation,
    report: CostReport,
    unc: Uncertainty | None = None,
    pilots: list[PilotMetrics] | None = None,
    learning_curve: LearningCurve | None = None,
    catalog: PriceCatalog | None = None,
) -> str:
    """catalog: the prices the report was estimated with (--prices), for the curves too."""
    learning_curve = learning_curve or latest_curve(pilots)
    curves = per_request_curves(scenario, report.assumptions, catalog)
    charts = [
        figures.cost_per_request(curves, report, scenario.requests_per_month),
        figures.cumulative_cost(report),
    ]
    if unc is not None:
        charts += [figures.uncertainty_bands(unc), figures.tornado(unc)]
    chart_html = "".join(_html(fig) for fig in charts)
    ranking = ranking_table(rec).to_dict("records")
    mine, others = rules_for(rec)
    reasons = "".join(
        f"<li><b>{html.escape(r.situation)}</b>: {html.escape(r.text)} "
        f"<span class=muted>({html.escape(r.source)})</span></li>"
        for r in mine
    )
    if others:
        reasons += (
            f"<li class=muted>{len(others)} more rule(s) fired for other options: "
            + html.escape("; ".join(r.situation for r in others))
            + "</li>"
        )
    draws = (
        f"<p class=muted>Uncertainty: {unc.draws:,} Monte Carlo draws of the uncertain "
        "assumptions (ranges below).</p>"
        if unc is not None
        else ""
    )
    pilot_rows = [_pilot_row(p) for p in pilots or []]
    same = "".join(
        f"<h3>On one holdout of {t[0].accuracy.n} rows</h3>{_table(comparison_rows(t))}"
        for t in holdout_comparison(pilots or [])
    )
    scen = [
        {"Question": field_label(k), "Answer": _answer(v)}
        for k, v in scenario.model_dump(mode="json").items()
    ]
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>adapt report: {html.escape(scenario.name)}</title><style>{CSS}</style>
<script>{_plotly_js()}</script></head><body>
<h1>{html.escape(scenario.name)}</h1><p class=muted>adapt report, {report.starts_on}</p>
<h2>Recommendation</h2><p><b>{html.escape(rec.summary)}</b></p>
<p>Prompting priced as <b>{html.escape(report.capable_model)}</b>: {
        html.escape(unit_price(report.cost("prompt").per_request_usd))
    } a request; distillation teacher {html.escape(report.teacher_model)}.</p>
<p>Next pilot: <code>{html.escape(rec.next_pilot.command)}</code></p>{_table(ranking)}
<h3>Reasons that fired</h3><ul>{reasons}</ul>
<h3>What would change the decision</h3><ul>{
        "".join(f"<li>{html.escape(x)}</li>" for x in rec.would_change)
    }</ul>
<h2>Costs</h2>{_table(cost_table(report, rec.recommended).to_dict("records"))}
<p class=muted>Total = one-time + running costs over the horizon (growth included) +
retrains; month 1 is the first month's running cost.</p>{_training(report, rec.recommended)}
{draws}{chart_html}
<h2>Pilot results</h2>{_table(pilot_rows) or "<p>No pilot run yet.</p>"}{same}
{"".join(_documents(p) for p in pilots or [] if p.measurement.rag)}
{"".join(_distillation(p) for p in pilots or [] if p.measurement.distill)}
{"".join(_extraction(p) for p in pilots or [] if p.measurement.extract)}
{_learning(learning_curve)}
<h2>Scenario</h2>{_table(scen)}
<h2>Assumptions and sources</h2>{_table(_assumptions(report))}
</body></html>"""


@functools.cache
def _plotly_js() -> str:
    """Read once per process: the Export page builds a report on every rerun."""
    return PLOTLY_JS.read_text(encoding="utf-8")


def _html(fig) -> str:
    fig.update_layout(template=figures.REPORT_TEMPLATE)
    div = fig.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})
    return f"<div class=chart>{div}</div>"


def _learning(curve: LearningCurve | None) -> str:
    if not curve:
        return ""
    needed = curve.examples_needed
    fig = _html(figures.learning_curve(curve))
    return (
        "<h3>How much data is enough</h3>"
        f"<p><b>Examples needed for the bar: "
        f"{f'{needed:,}' if needed is not None else 'not reachable with this model'}</b>. "
        f"{html.escape(curve.summary)}</p>{fig}"
    )


def _pilot_row(p: PilotMetrics) -> dict:
    q, m = p.quality, p.measurement
    return {
        "Run": m.run_id,
        "Method": METHODS[m.method].label,
        "Holdout quality": f"{q.value:.1%} ({q.metric})",
        "95% interval": f"{q.ci_low:.1%} to {q.ci_high:.1%}",
        "Zero-shot": f"{m.baseline.value:.1%}" if m.baseline else "",
        "Training tokens/s": f"{m.tokens_per_second:,.0f}" if m.tokens_per_second else "",
        "Training": STOPPED_WORDS.get(p.training.stopped_by, p.training.stopped_by)
        if p.training
        else "none",
        "Forgetting": p.forgetting.pattern if p.forgetting else "",
        "Label-constrained": f"{m.constrained.value:.1%}" if m.constrained else "",
        "CPU serving": f"{m.serving.requests_per_second:,.0f} requests/s" if m.serving else "",
        "Escalated": f"{m.abstention.escalated_share:.1%} below {m.abstention.threshold:.2f}"
        if m.abstention
        else "",
    }


def _documents(p: PilotMetrics) -> str:
    """A pilot over documents: index, retrieval, answers, and the worst answers."""
    from reports import rag_tables as t

    r = p.measurement.rag
    retrieval = t.retrieval_row(r)
    return (
        f"<h3>Run {html.escape(p.measurement.run_id)}: answers over your documents</h3>"
        f"{_table([t.index_row(r)])}{_table([retrieval] if retrieval else [])}"
        f"{_table(t.answer_rows(r))}{_table(t.gain_rows(r))}"
        f"<h4>Worst answers, with the passages they were given</h4>{_table(t.wrong_answer_rows(p))}"
    )


def _distillation(p: PilotMetrics) -> str:
    """A distillation pilot: teacher and filter, the student at each size, the curve."""
    from reports import distill_tables as t

    d = p.measurement.distill
    curve = t.agreement_curve(d)
    fig = figures.learning_curve(
        curve, "How many teacher labels are enough", "teacher-labelled inputs", "0 = chance"
    )
    return (
        f"<h3>Run {html.escape(p.measurement.run_id)}: distillation from {html.escape(d.teacher)}"
        f"</h3>{_table([t.teacher_row(d)])}{_table(t.student_rows(d))}"
        f"<p>{html.escape(t.headline(d))}</p>{_html(fig)}{_table(t.paired_rows(p))}"
    )


def _extraction(p: PilotMetrics) -> str:
    """An extraction pilot: every method's validity and field scores, F1 per field, the
    paired tests and the worst rows, expected against predicted."""
    e = p.measurement.extract
    return (
        f"<h3>Run {html.escape(p.measurement.run_id)}: extraction</h3>"
        f"<p>{html.escape(extract_tables.headline(e))}</p>{_table(extract_tables.method_rows(e))}"
        f"{_table(extract_tables.paired_rows(e))}<h4>F1 per field</h4>"
        f"{_table(extract_tables.field_rows(e))}<h4>The worst rows</h4>"
        f"{_table(extract_tables.worst_rows(e))}"
    )


def _training(report: CostReport, pick: str) -> str:
    """The self-hosted training runs and their GPU plans (none: through a vendor's API)."""
    if not report.training_plans:
        return ""
    line = plan_headline(report, pick)
    head = f"<p><b>{html.escape(line)}</b></p>" if line else ""
    return f"<h3>Training on rented GPUs</h3>{head}{_table(plan_rows(report))}"


def _assumptions(report: CostReport) -> list[dict]:
    """The assumption rows with human names ("engineering_hours.rag" -> "Engineering hours:
    Retrieval-augmented generation (RAG)")."""
    rows = []
    for r in assumption_rows(report):
        name, _, strategy = str(r["assumption"]).partition(".")
        shown = field_label(name) + (f": {label(strategy)}" if strategy else "")
        rows.append(
            {
                "Assumption": shown[0].upper() + shown[1:],
                "Value": _answer(r["value"]) if r["value"] != "" else "",
                "Low": _answer(r["low"]) if r["low"] != "" else "",
                "High": _answer(r["high"]) if r["high"] != "" else "",
                "Source": r["source"],
            }
        )
    return rows


def _answer(v) -> str:
    if isinstance(v, list):
        return ", ".join(label(x) for x in v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        return show_figure(v)
    return label(v)


def latest_curve(pilots: list[PilotMetrics] | None) -> LearningCurve | None:
    """The newest finished pilot's learning curve, if any pilot measured one."""
    return next((p.learning_curve for p in pilots or [] if p.learning_curve), None)
