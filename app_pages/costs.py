"""Costs: assumptions pre-filled from the scenario, every strategy's cost against volume,
break-evens, Monte Carlo bands and the tornado."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from advisor import STRATEGY_LABELS, Scenario
from app_pages.state import (
    cached_calibration,
    cached_curves,
    cached_estimate,
    cached_simulation,
    current_scenario,
    use_runs_widget,
)
from core.scenario import InputError, field_help
from core.vocab import ADAPTED
from costmodels.assumptions import CostAssumptions, Range, assumptions_from_dict
from costmodels.prices import load_catalog
from reports import figures

st.title("Costs")
scenario: Scenario = current_scenario()
catalog = load_catalog()
helps = field_help(CostAssumptions)
if warning := catalog.stale_warning(dt.date.today()):
    st.warning(warning)

with st.sidebar:
    st.subheader("Volume")
    volume = st.number_input(
        "requests per month",
        min_value=0,
        max_value=10**11,
        value=scenario.requests_per_month,
        step=10_000,
        key="volume",
        help=Scenario.model_fields["requests_per_month"].description,
    )
    horizon = st.slider("planning horizon (months)", 1, 60, scenario.horizon_months, key="horizon")
    st.subheader("Assumptions")
    chat_models = sorted(k for k, m in catalog.models.items() if m.mode == "chat")
    frontier = st.selectbox(
        "frontier model",
        chat_models,
        key="frontier_model",
        index=chat_models.index("gpt-4o"),
        help=helps["frontier_model"],
    )
    gpus = [g.name for g in catalog.gpus]
    gpu = st.selectbox("GPU", gpus, key="gpu", help=helps["gpu"])
    util = st.slider(
        "GPU utilization",
        0.05,
        1.0,
        (0.3, 0.7),
        key="gpu_utilization",
        help=helps["gpu_utilization"],
    )
    rate = st.number_input(
        "engineering USD per hour",
        0.0,
        10_000.0,
        100.0,
        key="eng_rate",
        help=helps["engineering_usd_per_hour"],
    )
    retrain = st.number_input(
        "retrain every N months (0: derive from the facts)",
        0,
        120,
        0,
        key="retrain",
        help=helps["retrain_every_months"],
    )
    esc = st.slider(
        "cascade escalation rate",
        0.0,
        1.0,
        (0.05, 0.3),
        key="escalation",
        help=helps["escalation_rate"],
    )
    tps = st.slider(
        "student serving tokens/s per GPU",
        50,
        20_000,
        (800, 3000),
        key="tps",
        help=helps["serving_tokens_per_second"],
    )

try:
    assumptions = assumptions_from_dict(
        {
            "frontier_model": frontier,
            "gpu": gpu,
            "engineering_usd_per_hour": rate,
            "gpu_utilization": Range(low=util[0], high=util[1]),
            "escalation_rate": Range(low=esc[0], high=esc[1]),
            "serving_tokens_per_second": Range(low=tps[0], high=tps[1]),
            "retrain_every_months": retrain or None,
        }
    )
    scenario = scenario.model_copy(
        update={"requests_per_month": int(volume), "horizon_months": int(horizon)}
    )
    measured = use_runs_widget()
    cal = cached_calibration(scenario.model_dump_json(), assumptions.model_dump_json(), measured)
    report = cached_estimate(scenario.model_dump_json(), cal.assumptions.model_dump_json())
except InputError as e:
    st.error(str(e))
    st.stop()
st.session_state["assumptions"] = assumptions
st.session_state["cost_scenario"] = scenario
if cal.measurements:
    with st.expander(f"Calibrated by {len(cal.measurements)} pilot run(s)", expanded=True):
        for note in cal.notes:
            st.markdown(f"- {note}")

cheapest = min(report.strategies, key=lambda c: c.tco_usd)
adapted = [c for c in report.strategies if c.strategy in ADAPTED]
best_adapted = min(adapted, key=lambda c: c.tco_usd)
be = next(b for b in report.break_even if {b.a, b.b} == {"prompt", best_adapted.strategy})
c1, c2, c3 = st.columns(3)
c1.metric(
    "Cheapest over the horizon",
    STRATEGY_LABELS[cheapest.strategy],
    f"${float(cheapest.tco_usd):,.0f}",
    delta_color="off",
)
c2.metric(
    "Break-even month",
    "never"
    if best_adapted.break_even_month is None
    else f"month {best_adapted.break_even_month:.1f}",
    help=f"when {best_adapted.strategy}, the cheapest adaptation, has cost less in total "
    "than prompting, at this volume and growth",
)
c3.metric(
    "Break-even volume",
    f"{be.requests_per_month:,.0f} /month" if be.requests_per_month else "never",
    help=f"{best_adapted.strategy} against prompting, with the one-time "
    "cost spread over the horizon",
)

shown = tuple(
    st.multiselect(
        "strategies on the charts",
        list(STRATEGY_LABELS),
        default=list(STRATEGY_LABELS),
        key="shown",
    )
    or STRATEGY_LABELS
)
curves = cached_curves(scenario.model_dump_json(), cal.assumptions.model_dump_json())
left, right = st.columns(2)
left.plotly_chart(figures.cost_per_request(curves, report, volume, shown), key="chart_volume")
right.plotly_chart(figures.cumulative_cost(report, shown), key="chart_cumulative")

draws = st.select_slider("Monte Carlo draws", [1000, 5000, 10000], value=5000, key="draws")
unc = cached_simulation(scenario.model_dump_json(), cal.assumptions.model_dump_json(), draws)
left, right = st.columns(2)
left.plotly_chart(figures.uncertainty_bands(unc), key="chart_bands")
right.plotly_chart(figures.tornado(unc), key="chart_tornado")

st.subheader("Strategies")
st.dataframe(
    pd.DataFrame(
        [
            {
                "strategy": STRATEGY_LABELS[c.strategy],
                "one-time USD": float(c.one_time_usd),
                "monthly USD": float(c.monthly_usd),
                "per request USD": float(c.per_request_usd),
                f"total over {report.horizon_months} months USD": float(c.tco_usd),
                "pays back (month)": c.break_even_month,
            }
            for c in report.strategies
        ]
    ),
    hide_index=True,
    width="stretch",
    key="strategy_table",
)
with st.expander("Price sources and dates"):
    for src in report.price_sources:
        st.markdown(f"- {src}")
