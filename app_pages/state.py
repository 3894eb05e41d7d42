"""Session state shared by the pages, and cached wrappers of the pure library calls.

The cached functions take JSON strings so that st.cache_data can hash their arguments."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import streamlit as st
from pydantic import ValidationError

from advisor import Scenario, recommend
from core.measurement import Measurement, load_measurement
from core.scenario import InputError, read_document, scenario_from_dict
from costmodels.amortize import estimate, per_request_curves
from costmodels.assumptions import CostAssumptions, assumptions_from_dict
from costmodels.calibrate import Calibration, calibrate
from costmodels.prices import load_catalog
from costmodels.uncertainty import simulate

STARTER = Path(__file__).resolve().parent.parent / "examples" / "prototype_prompt.yaml"


def current_scenario() -> Scenario:
    """The one scenario every page reads and writes (Decide's questionnaire, Costs' volume
    and horizon), or a neutral default before any page set it."""
    return st.session_state.get("scenario") or Scenario()


def current_assumptions() -> CostAssumptions:
    return st.session_state.get("assumptions") or CostAssumptions()


def set_scenario(scenario: Scenario) -> None:
    st.session_state["scenario"] = scenario


def state_file() -> Path:
    """Where the scenario and its assumptions are kept between reloads: ADAPT_STATE, else
    the user's data folder (beside the run index). One file: the app is a local tool."""
    if env := os.environ.get("ADAPT_STATE"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "adapt" / "app_state.json"


def restore() -> None:
    """A new browser session (a reload, a new tab) starts from the saved state; a first
    visit, or a file that no longer validates (an older version, a hand edit), starts
    from a named example instead of blank answers."""
    if st.session_state.get("_restored"):
        return
    st.session_state["_restored"] = True
    try:
        saved = json.loads(state_file().read_text(encoding="utf-8"))
        st.session_state["scenario"] = Scenario.model_validate(saved["scenario"])
        st.session_state["assumptions"] = CostAssumptions.model_validate(saved["assumptions"])
        st.session_state["use_runs"] = list(saved.get("use_runs", []))
        st.session_state["pilot_form"] = dict(saved.get("pilot_form", {}))
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        starter = read_document(STARTER)  # its costs: section too, as a loaded example
        st.session_state["scenario"] = scenario_from_dict(
            {k: v for k, v in starter.items() if k != "costs"}
        )
        st.session_state["assumptions"] = assumptions_from_dict(starter.get("costs"))


def persist() -> None:
    """Save the scenario, assumptions and chosen runs when they changed (atomic write)."""
    state = {
        "scenario": current_scenario().model_dump(mode="json"),
        "assumptions": current_assumptions().model_dump(mode="json"),
        "use_runs": list(st.session_state.get("use_runs", [])),
        "pilot_form": dict(st.session_state.get("pilot_form", {})),
    }
    text = json.dumps(state, indent=1)
    if st.session_state.get("_persisted") == text:
        return
    path = state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one temporary name per thread: sessions of one server save concurrently
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        st.session_state["_persisted"] = text
    except OSError:
        pass  # a read-only home loses nothing in this session; the next reload starts fresh


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
def cached_simulation(
    scenario_json: str, assumptions_json: str, draws: int, among: tuple[str, ...] | None = None
):
    """among: the strategies that meet the needs (P(cheapest) is counted among them)."""
    return simulate(
        Scenario.model_validate_json(scenario_json),
        CostAssumptions.model_validate_json(assumptions_json),
        draws=draws,
        among=among,
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


def suggested_pilot() -> str:
    """The pilot method the recommendation names for the current scenario."""
    s, a = current_scenario(), current_assumptions()
    try:
        rec = cached_recommendation(s.model_dump_json(), a.model_dump_json())
    except InputError:
        return "lora"
    return rec.next_pilot.method


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
