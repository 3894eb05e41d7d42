"""Session state shared by the pages, and cached wrappers of the pure library calls.

The cached functions take JSON strings so that st.cache_data can hash their arguments."""

from __future__ import annotations

import streamlit as st

from advisor import Scenario, recommend
from costmodels.amortize import estimate, per_request_curves
from costmodels.assumptions import CostAssumptions
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


@st.cache_data(max_entries=64, show_spinner=False)
def cached_recommendation(scenario_json: str, assumptions_json: str):
    s = Scenario.model_validate_json(scenario_json)
    return recommend(s, cached_estimate(scenario_json, assumptions_json))
