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
from core.scenario import InputError, Scenario, read_document, scenario_from_dict

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
    if key not in st.session_state:
        value = getattr(current, name) if current is not None else f.default
        st.session_state[key] = list(value) if isinstance(value, tuple) else value
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
        step = 1 if ann is int else None
        if lo is not None and hi is not None:  # the browser refuses values outside silently
            help_ = f"{help_} Allowed: {_number(lo)} to {_number(hi)}."
        return st.number_input(text, min_value=lo, max_value=hi, step=step, key=key, help=help_)
    return st.text_input(text, key=key, help=help_)


def _number(x: float) -> str:
    """1e11 as 100,000,000,000; 0.5 as 0.5."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,g}"


def load_into_state(data: dict[str, Any], key_prefix: str = "") -> Scenario:
    """Validate a scenario mapping and copy its values into the widgets' state."""
    data = {k: v for k, v in data.items() if k != "costs"}
    scenario = scenario_from_dict(data)
    for name, value in scenario.model_dump().items():
        st.session_state[key_prefix + name] = list(value) if isinstance(value, tuple) else value
    return scenario


def load_example(path: Path) -> Scenario:
    return load_into_state(read_document(path))


__all__ = ["InputError", "example_files", "field_widget", "load_example", "load_into_state"]
