"""Costs: the scenario's volume and horizon (the same values Decide shows), assumptions,
the recommendation, every strategy's cost against volume, break-evens, Monte Carlo bands
and the tornado."""

from __future__ import annotations

import pandas as pd
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
from app_pages.widgets import (
    ASSUMPTION_WIDGETS,
    chat_models,
    field_widget,
    invalid_fields,
    number_field,
)
from core.labels import label, money
from core.labels import volume as fmt_volume
from core.scenario import InputError, field_help, scenario_from_dict
from core.vocab import ADAPTED
from costmodels.assumptions import CostAssumptions, Range, assumptions_from_dict, nominal
from costmodels.prices import load_catalog, today
from reports import figures
from reports.tables import cost_table, plan_headline, plan_rows

st.title("Costs")
scenario: Scenario = current_scenario()
catalog = load_catalog()
helps = field_help(CostAssumptions)
if warning := catalog.stale_warning(today()):
    st.warning(warning)

a0 = current_assumptions()


def _sticky(key: str, value) -> None:
    """Streamlit forgets a widget's value on pages that do not draw it: start it from the
    saved assumptions, so that leaving Costs and coming back keeps every choice."""
    if key not in st.session_state:
        st.session_state[key] = value


def _span(value) -> tuple[float, float]:
    return (value.low, value.high) if isinstance(value, Range) else (value, value)


def _likely(value) -> str:
    """A range's mode for the widget's label, so the whole assumption is on screen."""
    return f" (most likely {nominal(value):,.4g})" if isinstance(value, Range) else ""


def _kept(shown, original, build):
    """The assumption as it was while its widget still shows it (a range keeps its mode,
    a fraction its digits); a moved widget builds the new value."""
    return original if shown == _shown(original) else build(shown)


def _shown(value):
    """What a widget shows of an assumption (the same conversion as the widget's start)."""
    if isinstance(value, Range):
        return _span(value)
    return value


def _moved_range(span, original) -> Range:
    """A moved slider's span; the old mode stays when it still lies inside it."""
    lo, hi = span
    mode = nominal(original)
    return Range(low=lo, high=hi, mode=mode if lo <= mode <= hi else None)


a0 = current_assumptions()
catalog_gpus = [g.name for g in catalog.gpus]
with st.sidebar:
    st.subheader("Volume and model")
    st.caption("These are the scenario's own answers: Decide and Export use the same values.")
    volume = field_widget(Scenario, "requests_per_month", scenario, key_prefix="costs_")
    capable = field_widget(Scenario, "capable_model", scenario, key_prefix="costs_")
    horizon = field_widget(Scenario, "horizon_months", scenario, key_prefix="costs_")
    st.subheader("Assumptions")
    teachers = ["", *chat_models()]
    if (a0.teacher_model or "") not in teachers:
        teachers.append(a0.teacher_model)
    for key, value in {
        "teacher_model": a0.teacher_model or "",
        "gpu": a0.gpu,
        "gpu_utilization": _shown(a0.gpu_utilization),
        "eng_rate": _shown(a0.engineering_usd_per_hour),
        "retrain": float(a0.retrain_every_months or 0),
        "escalation": _shown(a0.escalation_rate),
        "tps": _shown(a0.serving_tokens_per_second),
        "volume_range": _shown(a0.volume_multiplier),
        "price_range": _shown(a0.price_multiplier),
        "student_b": a0.student_params_billions,
        "training_method": a0.training_method,
    }.items():
        assert key in ASSUMPTION_WIDGETS, key  # a loaded scenario file resets each one
        _sticky(key, value)
    teacher = st.selectbox(
        "Distillation teacher",
        teachers,
        key="teacher_model",
        help=helps["teacher_model"],
        format_func=lambda m: m or "The model you call today",
    )
    gpu = st.selectbox("GPU", catalog_gpus, key="gpu", help=helps["gpu"])
    student_b = number_field(
        "Self-hosted model size (billions of parameters)",
        "student_b",
        False,
        0.01,
        2000.0,
        help=helps["student_params_billions"],
    )
    method = st.selectbox(
        "Self-hosted fine-tuning",
        ["lora", "qlora", "full"],
        key="training_method",
        help=helps["training_method"],
        format_func={"lora": "LoRA", "qlora": "QLoRA (4-bit)", "full": "Full (every weight)"}.get,
    )
    util = st.slider(
        f"GPU utilization{_likely(a0.gpu_utilization)}",
        0.01,
        1.0,
        key="gpu_utilization",
        help=helps["gpu_utilization"],
    )
    rate = (
        number_field(
            "Engineering rate (USD/hour)",
            "eng_rate",
            False,
            0.0,
            10_000.0,
            help=helps["engineering_usd_per_hour"],
        )
        if not isinstance(a0.engineering_usd_per_hour, Range)
        else a0.engineering_usd_per_hour
    )
    retrain = number_field(
        "Retrain every N months (0: derive from the facts)",
        "retrain",
        False,
        0.0,
        120.0,
        help=helps["retrain_every_months"],
    )
    esc = st.slider(
        f"Cascade escalation rate{_likely(a0.escalation_rate)}",
        0.0,
        1.0,
        key="escalation",
        help=helps["escalation_rate"],
    )
    tps = st.slider(
        f"Student serving tokens/s per GPU{_likely(a0.serving_tokens_per_second)}",
        10.0,
        20_000.0,
        key="tps",
        format="%.0f",
        help=helps["serving_tokens_per_second"],
    )
    st.subheader("Uncertainty of the forecast")
    vol_range = st.slider(
        f"Volume, as a multiple of the forecast{_likely(a0.volume_multiplier)}",
        0.0,
        5.0,
        key="volume_range",
        help=helps["volume_multiplier"],
    )
    price_range = st.slider(
        f"API prices, as a multiple of today's{_likely(a0.price_multiplier)}",
        0.0,
        3.0,
        key="price_range",
        help=helps["price_multiplier"],
    )


def _ranged(shown, original) -> Range | float:
    """A slider's value as the assumption: a span is a range, a single value a number."""
    if isinstance(shown, tuple | list):
        return _kept(tuple(shown), original, lambda span: _moved_range(span, original))
    return _kept(shown, original, float)


if bad := invalid_fields({"v": volume, "h": horizon, "r": rate, "n": retrain, "b": student_b}):
    st.error(
        "The costs wait for a valid answer to: "
        + "; ".join(f"{b.label} ({b.message})" for b in bad),
        icon=":material/block:",
    )
    st.stop()
try:
    assumptions = assumptions_from_dict(
        a0.model_dump()
        | {
            "teacher_model": teacher or None,
            "gpu": gpu,
            "student_params_billions": student_b,
            "training_method": method,
            "engineering_usd_per_hour": rate,
            "gpu_utilization": _ranged(util, a0.gpu_utilization),
            "escalation_rate": _ranged(esc, a0.escalation_rate),
            "serving_tokens_per_second": _ranged(tps, a0.serving_tokens_per_second),
            "retrain_every_months": retrain or None,
            "volume_multiplier": _ranged(vol_range, a0.volume_multiplier),
            "price_multiplier": _ranged(price_range, a0.price_multiplier),
        }
    )
    scenario = scenario_from_dict(
        scenario.model_dump()
        | {"requests_per_month": volume, "horizon_months": horizon, "capable_model": capable}
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

draws = st.select_slider(
    "Monte Carlo draws",
    [1000, 5000, 10000],
    value=5000,
    key="draws",
    help="how many times the uncertain assumptions (the ranges) are drawn at random; more "
    "draws give steadier bands; Export's HTML report uses the same number",
)
unc = cached_simulation(s_json, cal.assumptions.model_dump_json(), draws, candidates)
left, right = st.columns(2)
left.plotly_chart(figures.uncertainty_bands(unc), key="chart_bands")
right.plotly_chart(figures.tornado(unc), key="chart_tornado")

st.subheader("Strategies")
st.table(cost_table(report, rec.recommended).set_index("Strategy"))  # static: fits, wraps
if report.training_plans:
    st.subheader("Training on rented GPUs")
    if line := plan_headline(report, rec.recommended):
        st.info(line, icon=":material/memory:")
    st.table(pd.DataFrame(plan_rows(report)).set_index("Model trained"))
    st.caption(
        "The fewest GPUs of the assumed type that hold each run (1, 2, 4, 8, then nodes of "
        "8; FSDP full shard beyond one GPU, 10% of memory kept free); hours over the MFU "
        "and scaling-efficiency ranges. `adapt plan` writes the launch files of such a run."
    )
with st.expander("Price sources and dates"):
    for src in report.price_sources:
        st.markdown(f"- {src}")
