"""Pilot: pick data (upload or demo), see it validated, choose method and model, see the
preflight estimate, launch a detached run, watch it through a polling fragment, cancel.
The run keeps going when the tab closes; reopening the page shows it again."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.log_view import show_log
from app_pages.pilot_inputs import (
    KEY_ENV,
    endpoint_extras,
    pick_data,
    pick_documents,
    show_validation,
)
from app_pages.probe_view import preflight
from app_pages.run_view import pick_run, show_results, watch
from app_pages.schema_inputs import pick_schema
from app_pages.state import current_scenario, suggested_pilot
from app_pages.teacher_inputs import pick_holdout, pick_teacher
from app_pages.widgets import invalid_fields, number_field
from core.labels import method_label
from core.scenario import InputError
from core.vocab import BASELINE_METHODS, METHOD_NAMES, METHODS, curve_applies
from trainers import runs, warm
from trainers.config import PilotConfig, TrainSettings, field_help
from trainers.launch import start_pilot
from trainers.models import DEFAULT_ENCODER, DEFAULT_MODEL

# This server's pilots start by fork from one process that has imported torch once
# (trainers/warm.py): about 10 s sooner each. It starts here, not with the app, so a
# visit that never reaches the Pilot page costs no torch import.
warm.enable()


def launch(cfg: PilotConfig, key: str | None, pre) -> Path:
    """The CLI's launch path; the key goes into the run's environment, nowhere else."""
    secrets = {KEY_ENV: key} if key else None
    return start_pilot(cfg, preflight=pre, secrets=secrets).run_dir


# The form survives a reload (it is saved with the scenario) and a visit to another page
# (Streamlit forgets the widgets of pages it does not draw). The API key never is saved.
FORM = (
    "data_source",
    "demo_choice",
    "method",
    "model",
    "max_steps",
    "max_minutes",
    "holdout_max",
    "holdout_pct",
    "baselines",
    "curve",
    "docs_source",
    "endpoint_url",
    "endpoint_model",
    "max_usd",
    "teacher_url",
    "teacher_model",
    "teacher_source",
    "teacher_run",
    "teacher_folder",
    "holdout_path",
    "upload_path",
    "descriptions_path",
    "docs_path",
    "schema_source",
    "schema_path",
)
for name, value in st.session_state.get("pilot_form", {}).items():
    if name in FORM:
        st.session_state.setdefault(name, value)
suggested = suggested_pilot()
if st.session_state.get("method") not in METHOD_NAMES:
    st.session_state["method"] = suggested

st.title("Pilot")
if st.session_state["method"] == suggested:
    st.caption(
        f"Set to *{method_label(suggested)}*, the pilot the recommendation names for this "
        "scenario (Decide)."
    )
distilling = METHODS[st.session_state["method"]].unlabelled_inputs
path = pick_data(distilling)
data_format = show_validation(path, distilling) if path is not None else None
ok = data_format is not None
schema_ok, schema = pick_schema(path) if ok and not distilling else (True, None)
ok = ok and schema_ok
c1, c2, c3 = st.columns(3)
method = c1.selectbox(
    "method",
    METHOD_NAMES,
    key="method",
    format_func=method_label,
    help=field_help("method"),
)
model = c2.text_input(
    "model (empty: the method's default)",
    key="model",
    placeholder=DEFAULT_ENCODER if METHODS[method].compute == "encoder" else DEFAULT_MODEL,
    help=field_help("model"),
)
trains = METHODS[method].trains
st.session_state.setdefault("max_steps", "60")
st.session_state.setdefault("max_minutes", "10")
st.session_state.setdefault("holdout_max", "64")
st.session_state.setdefault("holdout_pct", "20")
numbers = {}
with c3:
    numbers["max_steps"] = (
        number_field(
            "max training steps", "max_steps", True, 1, 100_000, help=field_help("max_steps")
        )
        if trains
        else 60
    )
c1, c2, c3 = st.columns(3)
with c1:
    numbers["max_minutes"] = (
        number_field(
            "max minutes of training (loading, scoring and baselines come on top)",
            "max_minutes",
            False,
            0.5,
            600.0,
            help=field_help("max_minutes"),
        )
        if trains
        else 10.0
    )
with c3:
    numbers["holdout_pct"] = number_field(
        "holdout share of the data (%)",
        "holdout_pct",
        False,
        1.0,
        90.0,
        help=field_help("holdout_fraction"),
    )
with c2:
    numbers["holdout_max"] = number_field(
        "holdout rows to score (at most)",
        "holdout_max",
        True,
        8,
        5000,
        help=field_help("holdout_max"),
    )
st.session_state.setdefault("baselines", ["prompt"])
baselines = (
    []  # the classifier scores its own cheap baselines
    if METHODS[method].compute == "encoder"
    else c3.multiselect(
        "baselines",
        list(BASELINE_METHODS),
        key="baselines",
        help=field_help("baselines"),
        format_func=method_label,
    )
)
if distilling:
    st.caption(
        "The teacher labels your inputs; a small encoder classifier learns its labels at "
        "25%, 50% and all of them, beside a linear probe and (when the teacher gives "
        "probabilities) soft targets; the run reports its agreement with the teacher and "
        "the teacher-labelled inputs your agreement bar needs."
    )
elif METHODS[method].flow == "extract":
    st.caption(
        "The span tagger is compared with a gazetteer of your training values on the same "
        "holdout: parse and schema-valid rates, field F1 per field, exact match, paired tests."
    )
elif METHODS[method].compute == "encoder":
    st.caption(
        "The classifier is compared with two cheap baselines (the label of the most similar "
        "training example, and a simple classifier on frozen sentence embeddings), and picks "
        "the confidence below which it escalates to the capable model."
    )
docs = None
if METHODS[method].documents or (data_format == "qa" and METHODS[method].closed_book_qa):
    docs = pick_documents(method)
bar = current_scenario().quality_bar_pct
curve = (
    not distilling
    and curve_applies(method, data_format or "")
    and st.checkbox(
        f"learning curve: also train on 25% and 50% of the data, and predict how many examples "
        f"reach the scenario's quality bar ({bar:g}%)",
        key="curve",
    )
)
trust = st.checkbox(
    "trust remote code", key="trust_remote_code", help=field_help("trust_remote_code")
)
if trust:
    st.warning(
        "Remote code runs with your permissions when the model loads. Leave this off "
        "unless you have read the model's code or trust its publisher.",
        icon=":material/warning:",
    )
key = teacher_url = teacher_model = endpoint_url = endpoint_model = descriptions = None
if METHODS[method].endpoint:
    endpoint_url = (
        st.text_input(
            "capable model's endpoint (OpenAI-compatible; empty: the small model)",
            key="endpoint_url",
            help=field_help("endpoint_url"),
        )
        or None
    )
    if endpoint_url:
        c1, c2 = st.columns(2)
        endpoint_model = c1.text_input("endpoint model name", key="endpoint_model")
        key, descriptions = endpoint_extras(numbers, c2)
distilled: dict = {}
if distilling:
    holdout = pick_holdout()
    distilled, key = pick_teacher(numbers)
    distilled |= {"holdout_data": str(holdout)} if holdout else {}
elif METHODS[method].teacher_endpoint:
    teacher_url = (
        st.text_input("teacher endpoint (OpenAI-compatible; empty: local model)", key="teacher_url")
        or None
    )
    teacher_model = st.text_input("teacher model name or local model", key="teacher_model")
    key = st.text_input("API key (kept in this session only)", type="password", key="api_key")

bad = invalid_fields(numbers)
if bad:
    st.button("Launch pilot", type="primary", key="launch", disabled=True)
    st.error(
        "Launch waits for a valid value: " + "; ".join(f"{b.label} ({b.message})" for b in bad),
        icon=":material/block:",
    )
elif ok:
    max_steps, max_minutes = numbers["max_steps"], numbers["max_minutes"]
    holdout_max, max_usd = numbers["holdout_max"], numbers.get("max_usd")
    try:
        fields = dict(
            method=method,
            data=str(path.resolve()),
            **({"model": model.strip()} if model.strip() else {}),
            train=TrainSettings(max_steps=int(max_steps), max_minutes=float(max_minutes)),
            holdout_max=int(holdout_max),
            holdout_fraction=numbers["holdout_pct"] / 100,
            baselines=tuple(baselines),
            teacher_url=teacher_url,
            teacher_model=teacher_model if teacher_url else None,
            teacher=None if teacher_url else (teacher_model or None),
            teacher_key_env=KEY_ENV if key and METHODS[method].teacher_endpoint else None,
            endpoint_url=endpoint_url,
            endpoint_model=endpoint_model or None,
            endpoint_key_env=KEY_ENV if key and endpoint_url else None,
            max_usd=float(max_usd) if endpoint_url and max_usd else None,
            label_descriptions=str(descriptions) if descriptions and endpoint_url else None,
            trust_remote_code=trust,
            docs=str(docs) if docs else None,
            output_schema=schema,
            curve=(0.25, 0.5) if curve and curve_applies(method, data_format) else (),
            quality_bar_pct=bar or None,  # a bar of 0% asks for no bar
        )
        if distilled.get("teacher_url") and max_usd:
            distilled["max_usd"] = float(max_usd)
        cfg = PilotConfig(**(fields | distilled))
        pre = preflight(cfg)
        (st.info if pre.fits else st.error)(pre.summary)
        if st.button("Launch pilot", type="primary", key="launch", disabled=not pre.fits):
            run_dir = launch(cfg, key, pre)
            st.session_state["active_run"] = st.session_state["run_choice"] = run_dir.name
            st.query_params["run"] = run_dir.name
    except (InputError, ValueError) as e:
        st.error(str(e).splitlines()[0])

st.session_state["pilot_form"] = {k: st.session_state[k] for k in FORM if k in st.session_state}
st.divider()
run_dir = pick_run()
if run_dir is not None:
    watch(run_dir)
    if runs.status(run_dir) == "done" and (run_dir / "metrics.json").exists():
        show_results(run_dir)
    show_log(run_dir)
