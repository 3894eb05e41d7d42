"""The Pilot page's distillation inputs: the teacher (a finished run that can teach, an
OpenAI-compatible endpoint with its key and spend cap, or a local model folder) and an
optional labelled holdout. Returns the config fields they set."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.pilot_inputs import KEY_ENV, endpoint_extras, kept
from trainers import runs
from trainers.config import field_help

SOURCES = ("a finished pilot run", "an endpoint (OpenAI-compatible)", "a local model folder")


def teaching_runs() -> dict[str, str]:
    """Finished runs with a model that can teach: run id -> what it is."""
    out = {}
    for row in runs.index_list():
        folder = Path(row["run_dir"])
        if row["status"] != "done":
            continue
        if (folder / "classifier" / "labels.json").exists():
            out[row["run_id"]] = f"{row['run_id']} (classifier)"
        elif (folder / "merged" / "config.json").exists():
            out[row["run_id"]] = f"{row['run_id']} ({row['method']}, merged model)"
    return out


def pick_holdout() -> Path | None:
    """A labelled holdout, or none (the teacher then labels a share of the inputs)."""
    up = st.file_uploader(
        "labelled holdout (optional; CSV text,label): the student and the teacher are "
        "scored against its labels; without one, agreement with the teacher only",
        type=["csv"],
        key="holdout_upload",
        help=field_help("holdout_data"),
    )
    return kept(up, "holdout")


def pick_teacher(numbers: dict) -> tuple[dict, str | None]:
    """(config fields of the teacher, the API key typed: session only, never saved)."""
    source = st.radio("teacher", SOURCES, horizontal=True, key="teacher_source")
    if source == SOURCES[0]:
        able = teaching_runs()
        if not able:
            st.warning(
                "No finished run can teach yet: run a classifier pilot (or a LoRA pilot with "
                "merge) on your labelled examples first, or use an endpoint.",
                icon=":material/school:",
            )
            return {}, None
        run = st.selectbox("teacher run", list(able), format_func=able.get, key="teacher_run")
        return {"teacher": run}, None
    if source == SOURCES[2]:
        folder = st.text_input("teacher model folder (safetensors)", key="teacher_folder")
        return ({"teacher": folder.strip()} if folder.strip() else {}), None
    c1, c2, c3 = st.columns(3)
    url = c1.text_input("teacher endpoint", key="teacher_url", help=field_help("teacher_url"))
    name = c2.text_input("teacher model name", key="teacher_model")
    key, descriptions = endpoint_extras(numbers, c3)
    fields = {
        "teacher_url": url.strip() or None,
        "teacher_model": name.strip() or None,
        "teacher_key_env": KEY_ENV if key else None,
        "label_descriptions": str(descriptions) if descriptions else None,
    }
    return fields, key
