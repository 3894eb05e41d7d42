"""The Pilot page's schema for extraction data: a JSON Schema uploaded (or the demo set's
own), else one inferred from the training fields, shown before launch with how many rows
satisfy it; a schema that is no JSON Schema, or that no row satisfies, is an error box."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.pilot_inputs import DEMO_SCHEMAS, kept
from core.scenario import InputError
from trainers.config import field_help
from trainers.data import validate
from trainers.fields import check_against, infer_schema, load_schema


def pick_schema(path: Path) -> tuple[bool, str | None]:
    """(usable, the schema file or None for the inferred one); not extraction: (True, None)."""
    try:
        ds, _ = validate(path)
    except InputError:
        return True, None  # show_validation has said what is wrong
    if ds.task != "extract":
        return True, None
    demo = DEMO_SCHEMAS.get(path)
    options = (["the demo set's schema"] if demo else []) + ["inferred from the data", "upload"]
    source = st.radio("output schema", options, horizontal=True, key="schema_source")
    chosen: Path | None = demo if source == "the demo set's schema" else None
    if source == "upload":
        up = st.file_uploader(
            "JSON Schema (.json)",
            type=["json"],
            key="schema_upload",
            help=field_help("output_schema"),
        )
        chosen = kept(up, "schema")
        if chosen is None:
            return False, None
    rows = [e.fields or {} for e in ds.examples]
    try:
        schema = load_schema(chosen) if chosen else infer_schema(rows)
        bad = check_against(schema, rows, "the schema")
    except InputError as e:
        st.error(str(e).replace(str(chosen), "the schema"), icon=":material/block:")
        return False, None
    fields = ", ".join(sorted(schema.get("properties", {}))) or "none named"
    st.caption(
        f"Every output is held to this schema ({fields}); {len(rows) - bad} of {len(rows)} "
        "training rows satisfy it." + (" The run saves it as schema.json." if not chosen else "")
    )
    with st.expander("the schema"):
        st.json(schema, expanded=False)
    return True, str(chosen) if chosen else None
