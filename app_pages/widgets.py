"""Widgets generated from pydantic fields: one widget per field, keyed by the field name,
with the field's docstring as help text."""

from __future__ import annotations

import functools
import typing
from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import BaseModel

from core.labels import field_label, label
from core.numbers import parse_number, show_number
from core.scenario import (
    DEFAULT_CAPABLE_MODEL,
    NO_MODEL,
    InputError,
    Scenario,
    read_document,
    scenario_from_dict,
)
from costmodels.assumptions import assumptions_from_dict
from costmodels.prices import load_catalog

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


@functools.cache  # the picker asks on every rerun; the example files do not change
def example_title(stem: str) -> str:
    """An example file's scenario name, for the picker ("Ticket triage at ...")."""
    try:
        return str(read_document(EXAMPLES / f"{stem}.yaml").get("name", stem))
    except InputError:
        return stem


def field_widget(
    model: type[BaseModel], name: str, current: BaseModel | None = None, key_prefix: str = ""
) -> Any:
    """Draw the widget for one field; its value lives in st.session_state[key_prefix+name].
    Streamlit forgets a widget's state on pages that do not draw it, so the value starts
    from `current` (the last model built) when the key is missing."""
    f = model.model_fields[name]
    key, text, help_ = key_prefix + name, field_label(name), f.description
    ann = f.annotation
    if name in MODEL_FIELDS:
        return model_widget(model, name, current, key_prefix)
    if key not in st.session_state:
        value = getattr(current, name) if current is not None else f.default
        st.session_state[key] = state_value(value)
    if typing.get_origin(ann) is tuple:  # tuple[Literal[...], ...]: pick several
        options = list(typing.get_args(typing.get_args(ann)[0]))
        return tuple(st.multiselect(text, options, key=key, help=help_, format_func=label))
    if typing.get_origin(ann) is typing.Literal:
        options = list(typing.get_args(ann))
        return st.selectbox(text, options, key=key, help=help_, format_func=label)
    if ann is bool:
        return st.checkbox(text, key=key, help=help_)
    if ann in (int, float):
        lo = next((m.ge for m in f.metadata if hasattr(m, "ge")), None)
        hi = next((m.le for m in f.metadata if hasattr(m, "le")), None)
        return number_field(text, key, integer=ann is int, low=lo, high=hi, help=help_)
    return st.text_input(text, key=key, help=help_)


class Invalid:
    """What a number field returns while its text is not an allowed number: the pages
    block whatever depends on it (the advice, Launch) and say which field."""

    def __init__(self, label: str, message: str) -> None:
        self.label, self.message = label, message

    def __repr__(self) -> str:
        return f"{self.label}: {self.message}"


def number_field(
    text: str,
    key: str,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    help: str | None = None,
) -> float | int | Invalid:
    """A number typed as people type them ("2e6", "2,000,000", "2M", "1.5k"); anything
    else, or a value out of range, is refused in words under the field and returned as
    Invalid. The state holds the text; a number put there by code is shown formatted."""
    if not isinstance(st.session_state.get(key, ""), str):
        st.session_state[key] = show_number(st.session_state[key])
    if low is not None and high is not None:
        help = f"{help or ''} Allowed: {show_number(low)} to {show_number(high)}.".strip()
    raw = st.text_input(text, key=key, help=help)
    try:
        return parse_number(raw, integer=integer, low=low, high=high)
    except InputError as e:
        st.error(f"{text}: {e}", icon=":material/error:")
        return Invalid(text, str(e))


def invalid_fields(values: dict[str, Any]) -> list[Invalid]:
    return [v for v in values.values() if isinstance(v, Invalid)]


# The Costs page's assumption widgets: they start from the assumptions, so a loaded file's
# `costs:` section must reach them afresh.
ASSUMPTION_WIDGETS = (
    "teacher_model",
    "gpu",
    "gpu_utilization",
    "eng_rate",
    "retrain",
    "escalation",
    "tps",
    "volume_range",
    "price_range",
    "student_b",
    "training_method",
)


def load_into_state(data: dict[str, Any], key_prefix: str = "") -> Scenario:
    """Validate a scenario mapping and copy its values into the widgets' state; its
    `costs:` section (defaults when it has none) becomes the assumptions."""
    assumptions = assumptions_from_dict(data.get("costs") if isinstance(data, dict) else None)
    scenario = scenario_from_dict({k: v for k, v in data.items() if k != "costs"})
    for name, value in scenario.model_dump().items():
        st.session_state[key_prefix + name] = state_value(value)
    st.session_state["assumptions"] = assumptions
    for key in ASSUMPTION_WIDGETS:
        st.session_state.pop(key, None)
    return scenario


def state_value(value: Any) -> Any:
    """A field's value as its widget holds it: a list for several choices, the text of a
    number (its field is a text box), the value itself otherwise."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return show_number(value)
    return value


def load_example(path: Path) -> Scenario:
    return load_into_state(read_document(path))


__all__ = [
    "InputError",
    "Invalid",
    "example_files",
    "field_widget",
    "invalid_fields",
    "load_example",
    "load_into_state",
    "number_field",
]


MODEL_FIELDS = ("capable_model",)
COMMON_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1", "claude-3-5-haiku-latest")


@functools.cache
def chat_models() -> tuple[str, ...]:
    """The catalog's chat models, the common ones first."""
    models = load_catalog().models
    names = sorted(k for k, m in models.items() if m.mode == "chat")
    common = [m for m in COMMON_MODELS if m in names]
    return (*common, *(n for n in names if n not in common))


def model_label(name: str) -> str:
    return f"No model yet (priced as {DEFAULT_CAPABLE_MODEL})" if name == NO_MODEL else name


def model_widget(model: type[BaseModel], name: str, current, key_prefix: str = "") -> str:
    """A catalog model picker for a model field (its state, its help)."""
    f, key = model.model_fields[name], key_prefix + name
    options = [NO_MODEL, *chat_models()]
    if key not in st.session_state:
        st.session_state[key] = getattr(current, name) if current is not None else f.default
    if st.session_state[key] not in options:  # a file's own name: kept, and checked on use
        options.append(st.session_state[key])
    return st.selectbox(
        field_label(name), options, key=key, help=f.description, format_func=model_label
    )
