"""Plotly figure builders: plain functions from library models to figures. No streamlit
here, so the HTML report and the tests use them as they are."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.labels import field_label, label
from core.measurement import QualityMeasure
from core.vocab import STRATEGIES, STRATEGY_LABELS
from costmodels.amortize import CostReport
from costmodels.uncertainty import Uncertainty
from trainers.eval.curve import LearningCurve

COLORS = dict(
    zip(
        STRATEGIES,
        (
            "#636efa",
            "#ef553b",
            "#00cc96",
            "#ab63fa",
            "#ffa15a",
            "#19d3f3",
            "#ff6692",
            "#b6e880",
            "#ff97ff",
        ),
        strict=True,
    )
)
# No template here: in the app, st.plotly_chart's default Streamlit theme styles the
# charts, and validating plotly_white cost 8 ms per figure (a third of a Costs-page
# rerun's CPU). The HTML report, which has no Streamlit theme, applies REPORT_TEMPLATE.
REPORT_TEMPLATE = "plotly_white"
# Legends go below the plot, so a nine-strategy legend never squeezes the plot area.
LAYOUT = dict(
    height=600,
    margin=dict(l=10, r=10, t=70, b=200),
    legend=dict(font=dict(size=11), orientation="h", yref="container", yanchor="bottom", y=0, x=0),
)
NO_LEGEND = dict(margin=dict(l=10, r=10, t=70, b=10), height=420)
SHORT_LEGEND = dict(margin=dict(l=10, r=10, t=70, b=90), height=480)  # two or three entries


def cost_per_request(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    report: CostReport,
    volume: float,
    shown: tuple[str, ...] = STRATEGIES,
) -> go.Figure:
    """Cost per request against monthly volume (log axes), break-evens with prompt marked.
    `curves` maps strategy -> (volumes, USD per request)."""
    fig = go.Figure()
    for k in shown:
        v, usd = curves[k]
        fig.add_scatter(
            x=v, y=usd, name=STRATEGY_LABELS[k], mode="lines", line=dict(color=COLORS[k])
        )
    for b in report.break_even:
        if "prompt" in (b.a, b.b) and b.requests_per_month and {b.a, b.b} <= set(shown):
            other = b.b if b.a == "prompt" else b.a
            v, usd = curves[other]
            y = float(np.interp(b.requests_per_month, v, usd))
            fig.add_scatter(
                x=[b.requests_per_month],
                y=[y],
                mode="markers",
                showlegend=False,
                marker=dict(color=COLORS[other], size=10, symbol="diamond"),
                hovertemplate=f"break-even {other} vs prompt: %{{x:,.0f}}/month",
            )
    fig.add_vline(x=volume, line_dash="dot", annotation_text="your volume")
    fig.update_layout(
        title=dict(
            text="Cost per request by monthly volume",
            subtitle=dict(text="diamonds: where a strategy breaks even with prompting"),
        ),
        xaxis_type="log",
        yaxis_type="log",
        yaxis_dtick=1,  # one label per decade; without it plotly crowds 2s and 5s in between
        xaxis_title="requests per month",
        yaxis_title="USD per request",
        **LAYOUT,
    )
    return fig


def cumulative_cost(report: CostReport, shown: tuple[str, ...] = STRATEGIES) -> go.Figure:
    fig = go.Figure()
    for k in shown:
        rows = [m for m in report.monthly if m.strategy == k]
        fig.add_scatter(
            x=[m.month + 1 for m in rows],
            y=[float(m.cumulative_usd) for m in rows],
            name=STRATEGY_LABELS[k],
            mode="lines",
            line=dict(color=COLORS[k]),
        )
    fig.update_layout(
        title=f"Cumulative cost over {report.horizon_months} months",
        xaxis_title="month",
        yaxis_title="USD",
        **LAYOUT,
    )
    return fig


def uncertainty_bands(unc: Uncertainty) -> go.Figure:
    """P10-P90 of total cost per strategy as bars around the P50."""
    d = sorted(unc.distributions, key=lambda x: x.p50_tco_usd)
    fig = go.Figure(
        go.Bar(
            x=[x.p90_tco_usd - x.p10_tco_usd for x in d],
            base=[x.p10_tco_usd for x in d],
            y=[STRATEGY_LABELS[x.strategy] for x in d],
            orientation="h",
            marker_color=[COLORS[x.strategy] for x in d],
            customdata=[[x.p50_tco_usd, x.probability_cheapest] for x in d],
            hovertemplate="P10-P90 %{base:$,.0f} .. %{x:$,.0f} wide<br>P50 %{customdata[0]:$,.0f}"
            "<br>P(cheapest) %{customdata[1]:.0%}<extra></extra>",
        )
    )
    fig.add_scatter(
        x=[x.p50_tco_usd for x in d],
        y=[STRATEGY_LABELS[x.strategy] for x in d],
        mode="markers",
        marker=dict(color="black", symbol="line-ns-open", size=14),
        name="P50",
    )
    fig.update_layout(
        title=dict(
            text="Total cost, P10 to P90",
            subtitle=dict(text=f"{unc.draws:,} Monte Carlo draws; the tick is the median"),
        ),
        xaxis_title="USD over the horizon",
        showlegend=False,
        **(LAYOUT | NO_LEGEND),
    )
    return fig


def tornado(unc: Uncertainty, top: int = 8) -> go.Figure:
    bars = list(unc.tornado[:top])[::-1]
    base = unc.nominal_margin_usd
    fig = go.Figure()
    fig.add_bar(
        y=[field_label(b.input) for b in bars],
        x=[b.low_margin_usd - base for b in bars],
        base=base,
        orientation="h",
        name="input at its P10 (or -50%)",
        marker_color="#636efa",
    )
    fig.add_bar(
        y=[field_label(b.input) for b in bars],
        x=[b.high_margin_usd - base for b in bars],
        base=base,
        orientation="h",
        name="input at its P90 (or +50%)",
        marker_color="#ef553b",
    )
    fig.add_vline(x=0, line_color="black", annotation_text="decision flips")
    fig.update_layout(
        barmode="overlay",
        title=dict(
            text="What moves the decision",
            subtitle=dict(text=f"{label(unc.cheapest)} against {label(unc.alternative)}"),
        ),
        xaxis_title="USD saved by the cheaper choice",
        **(LAYOUT | SHORT_LEGEND),
    )
    return fig


def loss_curve(fits: dict[str, list[dict]]) -> go.Figure:
    """Training loss by step, one line per fit (a classifier's own fit and its two
    threshold folds each start again at step 1)."""
    fig = go.Figure(
        [
            go.Scatter(
                x=[s["step"] for s in steps], y=[s["loss"] for s in steps], mode="lines", name=n
            )
            for n, steps in fits.items()
        ]
    )
    fig.update_layout(
        title="Training loss",
        xaxis_title="step",
        yaxis_title="loss",
        **(LAYOUT | (NO_LEGEND | {"height": 300} if len(fits) == 1 else SHORT_LEGEND)),
    )
    return fig


def quality_bars(scores: dict[str, QualityMeasure]) -> go.Figure:
    """Holdout quality with 95% intervals, one bar per method or baseline."""
    names = list(scores)
    vals = [scores[n].value for n in names]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=vals,
            error_y=dict(
                type="data",
                symmetric=False,
                array=[scores[n].ci_high - scores[n].value for n in names],
                arrayminus=[scores[n].value - scores[n].ci_low for n in names],
            ),
        )
    )
    fig.update_layout(
        title="Holdout quality with 95% intervals",
        yaxis_range=[0, 1],
        **(LAYOUT | NO_LEGEND | {"height": 340}),
    )
    return fig


def learning_curve(
    c: LearningCurve,
    title: str = "How much data is enough",
    unit: str = "training examples",
    origin: str = "0 = zero-shot",
) -> go.Figure:
    """Holdout quality against training examples (or teacher-labelled inputs): measured
    points with 95% intervals, the fitted saturating curve, the bar, and the examples it
    predicts are needed."""
    ns = [p.examples for p in c.points]
    right = max(ns) * 2 if c.examples_needed is None else max(max(ns), c.examples_needed) * 1.3
    xs = np.linspace(0, right, 200)
    fig = go.Figure()
    fig.add_scatter(x=xs, y=c.predict(xs), mode="lines", name="fitted curve")
    fig.add_scatter(
        x=[0, *ns],
        y=[c.floor, *[p.quality.value for p in c.points]],
        mode="markers",
        name=f"measured ({origin})",
        error_y=dict(
            type="data",
            symmetric=False,
            array=[0, *[p.quality.ci_high - p.quality.value for p in c.points]],
            arrayminus=[0, *[p.quality.value - p.quality.ci_low for p in c.points]],
        ),
    )
    if c.bar is not None:
        fig.add_hline(y=c.bar, line_dash="dash", annotation_text=f"bar {c.bar:.0%}")
    if c.examples_needed:
        fig.add_vline(
            x=c.examples_needed,
            line_dash="dot",
            annotation_text=f"{c.examples_needed:,} {unit.split()[-1]}",
        )
    metric = c.points[-1].quality.metric
    fig.update_layout(
        title=title,
        xaxis_title=unit,
        yaxis_title=f"holdout {metric}",
        yaxis_range=[0, 1],
        **(LAYOUT | SHORT_LEGEND),
    )
    return fig
