"""Decide: the questionnaire, then the recommendation with its reasons."""

from __future__ import annotations

import streamlit as st
import yaml

from advisor import Scenario
from app_pages.state import cached_recommendation, current_assumptions, use_runs_widget
from app_pages.widgets import (
    example_files,
    example_title,
    field_widget,
    invalid_fields,
    load_example,
    load_into_state,
)
from core.labels import method_label
from core.scenario import InputError, scenario_from_dict
from core.vocab import METHODS
from reports.tables import ranking_table, rules_for

GROUPS = {
    "The task": [
        "name",
        "task_kind",
        "gaps",
        "task_definition",
        "strict_output_format",
        "fields_in_text",
        "quality_bar_pct",
        "latency_target_ms",
    ],
    "Data and knowledge": [
        "labelled_examples_available",
        "labelled_examples_obtainable",
        "label_classes",
        "facts_change_interval_days",
        "frontier_outputs_good",
        "base_model_is_distilled",
    ],
    "Volume and deployment": [
        "requests_per_month",
        "capable_model",
        "monthly_growth_pct",
        "instruction_tokens_per_request",
        "input_tokens_per_request",
        "output_tokens_per_request",
        "deployment",
        "horizon_months",
        "team_ml_experience",
    ],
}
assert sum(map(len, GROUPS.values())) == len(Scenario.model_fields), "every field in a group"


def _on_example() -> None:
    choice = st.session_state.get("example_choice")
    if choice:
        load_example(next(p for p in example_files() if p.stem == choice))


def _on_upload() -> None:
    up = st.session_state.get("scenario_upload")
    if up is None:
        return
    try:
        data = yaml.safe_load(up.getvalue().decode("utf-8"))
        if not isinstance(data, dict):
            raise InputError("expected a mapping of field: value")
        load_into_state(data)
        st.session_state.pop("upload_error", None)
    except (InputError, UnicodeDecodeError, yaml.YAMLError) as e:
        st.session_state["upload_error"] = f"{up.name}: {e}".splitlines()[0]


st.title("Decide")
st.caption("Answer the questionnaire; the recommendation updates as you go.")

with st.sidebar:
    st.selectbox(
        "Load an example scenario",
        [p.stem for p in example_files()],
        index=None,
        key="example_choice",
        on_change=_on_example,
        placeholder="choose an example",
        format_func=example_title,
    )
    st.file_uploader(
        "...or load a saved scenario (YAML/JSON)",
        type=["yaml", "yml", "json"],
        key="scenario_upload",
        on_change=_on_upload,
    )
    if err := st.session_state.get("upload_error"):
        st.error(err)

values = {}
saved = st.session_state.get("scenario")
cols = st.columns(3)
for col, (title, names) in zip(cols, GROUPS.items(), strict=True):
    with col:
        st.subheader(title)
        for name in names:
            values[name] = field_widget(Scenario, name, saved)

if bad := invalid_fields(values):
    st.error(
        "The recommendation waits for a valid answer to: "
        + "; ".join(f"{b.label} ({b.message})" for b in bad),
        icon=":material/block:",
    )
    st.stop()
try:
    scenario = scenario_from_dict(values)
except InputError as e:
    st.error(str(e))
    st.stop()
st.session_state["scenario"] = scenario

measured = use_runs_widget()
rec = cached_recommendation(
    scenario.model_dump_json(), current_assumptions().model_dump_json(), measured
)
st.divider()
if rec.overturned:
    st.warning("A pilot measurement changed the recommendation.", icon=":material/science:")
st.success(rec.summary, icon=":material/recommend:")
st.markdown(
    f"**Next pilot:** {rec.next_pilot.why}: *{METHODS[rec.next_pilot.method].label}* on the "
    f"Pilot page, or `{rec.next_pilot.command}`."
)
if st.button(f"Set up this pilot: {method_label(rec.next_pilot.method)}", key="to_pilot"):
    st.session_state["method"] = rec.next_pilot.method
    st.session_state["pilot_suggested"] = rec.next_pilot.method
    st.switch_page("app_pages/pilot.py")

st.table(ranking_table(rec).set_index("Strategy"))  # a static table: long reasons wrap

left, right = st.columns(2)
with left:
    st.subheader("Why: the rules behind this pick")
    mine, others = rules_for(rec)
    for r in mine:
        st.markdown(
            f"- **{r.situation}**: {r.text}  \n  <small>Source: {r.source}</small>",
            unsafe_allow_html=True,
        )
    if others:
        with st.expander(f"{len(others)} more rule(s) that fired for other options"):
            for r in others:
                st.markdown(f"- **{r.situation}**: {r.text}")
with right:
    st.subheader("What would change the decision")
    for line in rec.would_change or ("Nothing in the usual what-ifs changes the pick.",):
        st.markdown(f"- {line}")

st.download_button(
    "Save this scenario (YAML)",
    yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False),
    file_name="scenario.yaml",
    mime="application/x-yaml",
    key="save_scenario",
)
