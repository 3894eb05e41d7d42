"""The one-file HTML report: scenario, recommendation and reasons, cost tables and charts,
pilot results, assumptions with sources and dates. Plotly's JavaScript is inlined once, so
the file opens in a browser with no network. No streamlit here."""

from __future__ import annotations

import datetime as dt
import html

from advisor import STRATEGY_LABELS, Scenario
from advisor.recommend import Recommendation
from costmodels.amortize import CostReport, per_request_curves
from costmodels.export import assumption_rows, strategy_rows
from costmodels.prices import PriceCatalog
from costmodels.uncertainty import Uncertainty
from reports import figures
from trainers.curve import LearningCurve
from trainers.metrics import PilotMetrics

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;
padding:4px 8px;text-align:left}th{background:#f3f3f3}h1{margin-bottom:0}.muted{color:#666}"""


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
    chart_html = "".join(_html(fig, include_plotlyjs=i == 0) for i, fig in enumerate(charts))
    ranking = [
        {
            "strategy": STRATEGY_LABELS[r.strategy],
            "verdict": r.verdict,
            "score": r.score,
            "reasons": "; ".join(x.text for x in r.reasons),
        }
        for r in rec.ranking
    ]
    reasons = "".join(
        f"<li><b>{html.escape(r.situation)}</b>: {html.escape(r.text)} "
        f"<span class=muted>({html.escape(r.source)})</span></li>"
        for r in rec.fired
    )
    pilot_rows = [
        {
            "run": p.measurement.run_id,
            "method": p.measurement.method,
            "metric": p.quality.metric,
            "value": p.quality.value,
            "95% CI": f"{p.quality.ci_low:.3f}-{p.quality.ci_high:.3f}",
            "zero-shot": p.measurement.baseline.value if p.measurement.baseline else None,
            "tokens/s": p.measurement.tokens_per_second,
            "training": p.training.stopped_by if p.training else "none",
            "forgetting": p.forgetting.pattern if p.forgetting else None,
        }
        for p in pilots or []
    ]
    scen = [{"field": k, "value": v} for k, v in scenario.model_dump(mode="json").items()]
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>adapt report: {html.escape(scenario.name)}</title><style>{CSS}</style></head><body>
<h1>{html.escape(scenario.name)}</h1><p class=muted>adapt report, {dt.date.today()}</p>
<h2>Recommendation</h2><p><b>{html.escape(rec.summary)}</b></p>
<p>Next pilot: <code>{html.escape(rec.next_pilot.command)}</code></p>{_table(ranking)}
<h3>Reasons that fired</h3><ul>{reasons}</ul>
<h3>What would change the decision</h3><ul>{
        "".join(f"<li>{html.escape(x)}</li>" for x in rec.would_change)
    }</ul>
<h2>Costs</h2>{_table(strategy_rows(report))}{chart_html}
<h2>Pilot results</h2>{_table(pilot_rows) or "<p>No pilot run yet.</p>"}
{_learning(learning_curve)}
<h2>Scenario</h2>{_table(scen)}
<h2>Assumptions and sources</h2>{_table(assumption_rows(report))}
</body></html>"""


def _html(fig, include_plotlyjs: bool) -> str:
    fig.update_layout(template=figures.REPORT_TEMPLATE)
    return fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs)


def _learning(curve: LearningCurve | None) -> str:
    if not curve:
        return ""
    needed = curve.examples_needed
    fig = _html(figures.learning_curve(curve), include_plotlyjs=False)
    return (
        "<h3>How much data is enough</h3>"
        f"<p><b>Examples needed for the bar: "
        f"{f'{needed:,}' if needed is not None else 'not reachable with this model'}</b>. "
        f"{html.escape(curve.summary)}</p>{fig}"
    )


def latest_curve(pilots: list[PilotMetrics] | None) -> LearningCurve | None:
    """The newest finished pilot's learning curve, if any pilot measured one."""
    return next((p.learning_curve for p in pilots or [] if p.learning_curve), None)
