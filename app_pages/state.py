"""Session state shared by the pages, and cached wrappers of the pure library calls.

The cached functions take JSON strings so that st.cache_data can hash their arguments."""

from __future__ import annotations

import json

import streamlit as st

from advisor import Scenario, recommend
from core.measurement import Measurement, load_measurement
from core.scenario import InputError
from costmodels.amortize import estimate, per_request_curves
from costmodels.assumptions import CostAssumptions
from costmodels.calibrate import Calibration, calibrate
from costmodels.prices import load_catalog
from costmodels.uncertainty import simulate


def current_scenario() -> Scenario:
    """The scenario the Decide page built, or a neutral default before it ran."""
    return st.session_state.get("scenario") or Scenario()


def current_assumptions() -> CostAssumptions:
    return st.session_state.get("assumptions") or CostAssumptions()


@st.cache_data(max_entries=64, show_spinner=False)
def cached_estimate(scenario_json: str, assumptions_json: str):
    return estimate(
        Scenario.model_validate_json(scenario_json),
        CostAssumptions.model_validate_json(assumptions_json),
    )


@st.cache_data(max_entries=64, show_spinner=False)
def cached_curves(scenario_json: str, assumptions_json: str):
    return per_request_curves(
        Scenario.model_validate_json(scenario_json),
        CostAssumptions.model_validate_json(assumptions_json),
    )


@st.cache_data(max_entries=32, show_spinner=False)
def cached_simulation(scenario_json: str, assumptions_json: str, draws: int):
    return simulate(
        Scenario.model_validate_json(scenario_json),
        CostAssumptions.model_validate_json(assumptions_json),
        draws=draws,
    )


def current_measurements_json() -> str:
    """The Measurements of the runs chosen to inform the advice (session key use_runs)."""
    from trainers import runs

    found = []
    for ref in st.session_state.get("use_runs", []):
        try:
            found.append(load_measurement(runs.find_run(ref)).model_dump(mode="json"))
        except InputError:
            continue  # a run deleted since it was chosen
    return json.dumps(found)


def _measurements(measurements_json: str) -> list[Measurement]:
    return [Measurement.model_validate(m) for m in json.loads(measurements_json)]


@st.cache_data(max_entries=64, show_spinner=False)
def cached_calibration(scenario_json: str, assumptions_json: str, measurements_json: str):
    return calibrate(
        Scenario.model_validate_json(scenario_json),
        CostAssumptions.model_validate_json(assumptions_json),
        _measurements(measurements_json),
        load_catalog(),
    )


@st.cache_data(max_entries=64, show_spinner=False)
def cached_recommendation(scenario_json: str, assumptions_json: str, measurements_json: str = "[]"):
    s = Scenario.model_validate_json(scenario_json)
    cal: Calibration = cached_calibration(scenario_json, assumptions_json, measurements_json)
    report = cached_estimate(scenario_json, cal.assumptions.model_dump_json())
    return recommend(s, report, measurements=_measurements(measurements_json))


def use_runs_widget() -> str:
    """Sidebar choice of finished pilots whose measurements inform costs and advice;
    returns their Measurements as JSON (the cache key of the calls that use them)."""
    from trainers import runs

    done = [r["run_id"] for r in runs.index_list() if r["status"] == "done" and r["metrics"]]
    chosen = [r for r in st.session_state.get("use_runs", []) if r in done]
    with st.sidebar:
        st.multiselect(
            "Pilot measurements to use",
            done,
            default=chosen,
            key="use_runs_widget",
            on_change=lambda: st.session_state.update(use_runs=st.session_state.use_runs_widget),
            help="finished pilot runs: measured quality and speed replace the assumptions",
        )
    return current_measurements_json()
