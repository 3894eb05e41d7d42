"""Costs: the scenario's volume and horizon (the same values Decide shows), assumptions,
the recommendation, every strategy's cost against volume, break-evens, Monte Carlo bands
and the tornado."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from advisor import STRATEGY_LABELS, Scenario
from app_pages.state import (
    cached_calibration,
    cached_curves,
    cached_estimate,
    cached_recommendation,
    cached_simulation,
    current_assumptions,
    current_scenario,
    set_scenario,
    use_runs_widget,
)
from app_pages.widgets import field_widget
from core.labels import label, money
from core.labels import volume as fmt_volume
from core.scenario import InputError, field_help, scenario_from_dict
from core.vocab import ADAPTED
from costmodels.assumptions import CostAssumptions, Range, assumptions_from_dict, nominal
from costmodels.prices import load_catalog
from reports import figures
from reports.tables import cost_table

st.title("Costs")
scenario: Scenario = current_scenario()
catalog = load_catalog()
helps = field_help(CostAssumptions)
if warning := catalog.stale_warning(dt.date.today()):
    st.warning(warning)

a0 = current_assumptions()


def _sticky(key: str, value) -> None:
    """Streamlit forgets a widget's value on pages that do not draw it: start it from the
    saved assumptions, so that leaving Costs and coming back keeps every choice."""
    if key not in st.session_state:
        st.session_state[key] = value


def _span(value) -> tuple[float, float]:
    return (value.low, value.high) if isinstance(value, Range) else (value, value)


with st.sidebar:
    st.subheader("Volume")
    st.caption("These are the scenario's own answers: Decide and Export use the same values.")
    volume = field_widget(Scenario, "requests_per_month", scenario, key_prefix="costs_")
    horizon = field_widget(Scenario, "horizon_months", scenario, key_prefix="costs_")
    st.subheader("Assumptions")
    chat_models = sorted(k for k, m in catalog.models.items() if m.mode == "chat")
    for key, value in {
        "frontier_model": a0.frontier_model,
        "gpu": a0.gpu,
        "gpu_utilization": _span(a0.gpu_utilization),
        "eng_rate": float(nominal(a0.engineering_usd_per_hour)),
        "retrain": int(a0.retrain_every_months or 0),
        "escalation": _span(a0.escalation_rate),
        "tps": tuple(int(x) for x in _span(a0.serving_tokens_per_second)),
        "volume_range": _span(a0.volume_multiplier),
        "price_range": _span(a0.price_multiplier),
    }.items():
        _sticky(key, value)
    frontier = st.selectbox(
        "Frontier model", chat_models, key="frontier_model", help=helps["frontier_model"]
    )
    gpu = st.selectbox("GPU", [g.name for g in catalog.gpus], key="gpu", help=helps["gpu"])
    util = st.slider(
        "GPU utilization", 0.05, 1.0, key="gpu_utilization", help=helps["gpu_utilization"]
    )
    rate = st.number_input(
        "Engineering rate (USD/hour)",
        0.0,
        10_000.0,
        key="eng_rate",
        help=helps["engineering_usd_per_hour"],
    )
    retrain = st.number_input(
        "Retrain every N months (0: derive from the facts)",
        0,
        120,
        key="retrain",
        help=helps["retrain_every_months"],
    )
    esc = st.slider(
        "Cascade escalation rate", 0.0, 1.0, key="escalation", help=helps["escalation_rate"]
    )
    tps = st.slider(
        "Student serving tokens/s per GPU",
        50,
        20_000,
        key="tps",
        help=helps["serving_tokens_per_second"],
    )
    st.subheader("Uncertainty of the forecast")
    vol_range = st.slider(
        "Volume, as a multiple of the forecast",
        0.1,
        5.0,
        key="volume_range",
        help=helps["volume_multiplier"],
    )
    price_range = st.slider(
        "API prices, as a multiple of today's",
        0.1,
        3.0,
        key="price_range",
        help=helps["price_multiplier"],
    )


def _range(span: tuple[float, float]) -> Range:
    """A slider's span as a range around 1 (the forecast) when 1 lies inside it."""
    lo, hi = span
    return Range(low=lo, high=hi, mode=1.0 if lo <= 1.0 <= hi else None)


try:
    assumptions = assumptions_from_dict(
        a0.model_dump()
        | {
            "frontier_model": frontier,
            "gpu": gpu,
            "engineering_usd_per_hour": rate,
            "gpu_utilization": Range(low=util[0], high=util[1]),
            "escalation_rate": Range(low=esc[0], high=esc[1]),
            "serving_tokens_per_second": Range(low=tps[0], high=tps[1]),
            "retrain_every_months": retrain or None,
            "volume_multiplier": _range(vol_range),
            "price_multiplier": _range(price_range),
        }
    )
    scenario = scenario_from_dict(
        scenario.model_dump() | {"requests_per_month": volume, "horizon_months": horizon}
    )
    measured = use_runs_widget()
    s_json, a_json = scenario.model_dump_json(), assumptions.model_dump_json()
    cal = cached_calibration(s_json, a_json, measured)
    report = cached_estimate(s_json, cal.assumptions.model_dump_json())
    rec = cached_recommendation(s_json, a_json, measured)
except InputError as e:
    st.error(str(e))
    st.stop()
set_scenario(scenario)
st.session_state["assumptions"] = assumptions
if cal.measurements:
    with st.expander(f"Calibrated by {len(cal.measurements)} pilot run(s)", expanded=True):
        for note in cal.notes:
            st.markdown(f"- {note}")

st.success(rec.summary, icon=":material/recommend:")
candidates = rec.candidates
adapted = [k for k in candidates if k in ADAPTED]
plain = [k for k in candidates if k not in ADAPTED]
c1, c2, c3 = st.columns(3)
c1.metric(
    f"Total cost over {report.horizon_months} months",
    money(report.cost(rec.recommended).tco_usd),
    help=f"of the recommended option, {STRATEGY_LABELS[rec.recommended]}",
)
if adapted and plain:
    a_best = min(adapted, key=lambda k: report.cost(k).tco_usd)
    n_best = min(plain, key=lambda k: report.cost(k).tco_usd)
    month = report.payback_month(a_best, n_best)
    even = report.break_even_volume(a_best, n_best)
    pair = f"{STRATEGY_LABELS[a_best]} against {STRATEGY_LABELS[n_best]}"
    c2.metric(
        "Break-even month",
        "never" if month is None else f"month {month:.1f}",
        help=f"when {pair} has cost less in total, at this volume and growth",
    )
    c3.metric(
        "Break-even volume",
        f"{fmt_volume(even)} a month" if even else "never",
        help=f"{pair}, with the one-time cost spread over the horizon",
    )
else:
    c2.metric("Break-even month", "n/a", help="no trained and untrained pair meets your needs")
    c3.metric("Break-even volume", "n/a", help="no trained and untrained pair meets your needs")

shown = tuple(
    st.multiselect(
        "Strategies on the charts",
        list(STRATEGY_LABELS),
        default=list(STRATEGY_LABELS),
        format_func=label,
        key="shown",
    )
    or STRATEGY_LABELS
)
curves = cached_curves(s_json, cal.assumptions.model_dump_json())
left, right = st.columns(2)
left.plotly_chart(figures.cost_per_request(curves, report, volume, shown), key="chart_volume")
right.plotly_chart(figures.cumulative_cost(report, shown), key="chart_cumulative")

draws = st.select_slider("Monte Carlo draws", [1000, 5000, 10000], value=5000, key="draws")
unc = cached_simulation(s_json, cal.assumptions.model_dump_json(), draws, candidates)
left, right = st.columns(2)
left.plotly_chart(figures.uncertainty_bands(unc), key="chart_bands")
right.plotly_chart(figures.tornado(unc), key="chart_tornado")

st.subheader("Strategies")
st.dataframe(
    cost_table(report, rec.recommended), hide_index=True, width="stretch", key="strategy_table"
)
with st.expander("Price sources and dates"):
    for src in report.price_sources:
        st.markdown(f"- {src}")
