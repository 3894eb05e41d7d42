"""The Pilot page's inputs: the data (a demo set or an upload, saved once under a
generated name and kept across reloads), the documents, and the data's validation."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.widgets import EXAMPLES, number_field
from core.scenario import InputError
from core.vocab import METHODS
from trainers import runs
from trainers.config import field_help
from trainers.data import validate
from trainers.inputs import load_inputs
from trainers.labelcheck import data_warnings

DEMOS = {
    "support intents (classification, CSV)": EXAMPLES / "data" / "support_intents.csv",
    "support summaries (generation, chat JSONL)": EXAMPLES / "data" / "support_summaries.jsonl",
    "policy questions (answers from documents, JSONL)": EXAMPLES
    / "data"
    / "policy_questions.jsonl",
    "invoice fields (extraction, JSONL)": EXAMPLES / "data" / "invoice_fields.jsonl",
}
DEMO_SCHEMAS = {  # a demo extraction set's own JSON Schema
    EXAMPLES / "data" / "invoice_fields.jsonl": EXAMPLES / "data" / "invoice_fields.schema.json"
}
DEMO_DOCS = EXAMPLES / "docs" / "larkspur"
DOC_TYPES = ("txt", "md", "html", "htm", "pdf", "docx", "jsonl")
UPLOAD_TYPES = ("csv", "jsonl", "json")
KEY_ENV = "ADAPT_TEACHER_KEY"  # the typed key reaches the run only through its environment


def save_upload(up) -> Path:
    """Store an upload under a generated name: the user's file name never becomes a path."""
    ext = up.name.rsplit(".", 1)[-1].lower() if "." in up.name else ""
    if ext not in UPLOAD_TYPES:
        raise InputError(f"upload: expected a .csv, .jsonl or .json file, got {up.name!r}")
    folder = runs.runs_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.{ext}"
    path.write_bytes(up.getvalue())
    return path


def pick_data(distilling: bool = False) -> Path | None:
    """The examples, or for distillation the unlabelled inputs the teacher labels."""
    source = st.radio("data", ["demo data", "upload"], horizontal=True, key="data_source")
    if source == "demo data":
        if distilling:
            st.caption("Distillation reads the demo set's texts only: the teacher labels them.")
        return DEMOS[st.selectbox("demo set", list(DEMOS), key="demo_choice")]
    what = (
        "unlabelled inputs (.csv with a text column / .jsonl of text or messages)"
        if distilling
        else "examples (.csv text,label / .jsonl / .json)"
    )
    up = st.file_uploader(what, type=list(UPLOAD_TYPES), key="pilot_upload")
    return kept(up, "upload")


def kept(up, slot: str) -> Path | None:
    """An upload saved once (not at every rerun) under a generated name. After a reload
    the uploader is empty, but the file saved before is still used, and the page says so."""
    if up is None:
        before = st.session_state.get(f"{slot}_path")
        if before and Path(before).is_file():
            st.caption(
                f"Using the file uploaded before ({Path(before).name}); upload another to "
                "replace it."
            )
            return Path(before)
        return None
    if st.session_state.get(f"{slot}_id") != up.file_id:
        try:
            st.session_state[f"{slot}_path"] = str(save_upload(up))
            st.session_state[f"{slot}_id"] = up.file_id
        except InputError as e:
            st.error(str(e))
            return None
    return Path(st.session_state[f"{slot}_path"])


def save_documents(ups) -> Path:
    """Uploaded documents into a new folder; each keeps its base name (questions may name
    it as their gold source) with every character outside [A-Za-z0-9._-] replaced."""
    folder = runs.runs_root() / "uploads" / f"docs-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    for up in ups:
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(up.name).name)
        (folder / (name.lstrip(".") or "document")).write_bytes(up.getvalue())
    return folder


def pick_documents(method: str) -> Path | None:
    """The documents a rag or fine_tune_rag pilot retrieves from (optional for lora)."""
    needed = METHODS[method].documents
    options = ([] if needed else ["none"]) + ["demo documents", "upload"]
    source = st.radio("documents", options, horizontal=True, key="docs_source")
    if source == "none":
        return None
    if source == "demo documents":
        st.caption(f"{len(list(DEMO_DOCS.iterdir()))} policy documents of a fictional bike shop")
        return DEMO_DOCS
    ups = st.file_uploader(
        "documents (.txt .md .html .pdf .docx, or JSONL of id,title,text)",
        type=list(DOC_TYPES),
        accept_multiple_files=True,
        key="docs_upload",
    )
    if not ups:
        before = st.session_state.get("docs_path")
        if before and Path(before).is_dir():
            st.caption("Using the documents uploaded before; upload others to replace them.")
            return Path(before)
        return None
    ids = tuple(u.file_id for u in ups)
    if st.session_state.get("docs_ids") != ids:
        st.session_state["docs_path"] = str(save_documents(ups))
        st.session_state["docs_ids"] = ids
    return Path(st.session_state["docs_path"])


def show_inputs(path: Path) -> str | None:
    """Unlabelled inputs: how many (repeats dropped), or what is wrong with the file."""
    try:
        ds = load_inputs(path)
    except InputError as e:
        st.error(str(e).replace(str(path), "the file"))
        return None
    repeats = ds.dropped.get("repeats", 0)
    st.success(
        f"{len(ds.examples):,} unlabelled inputs"
        + (f" ({repeats:,} repeats dropped)" if repeats else "")
    )
    return ds.format


def show_validation(path: Path, distilling: bool = False) -> str | None:
    """The data's format once every row is usable (None: what is wrong is on the page)."""
    if distilling:
        return show_inputs(path)
    try:
        ds, errors = validate(path)
    except InputError as e:
        st.error(str(e).replace(str(path), "the file"))
        return None
    st.success(
        f"{len(ds.examples)} usable examples ({ds.task}, {ds.format})"
        + (f", {len(ds.labels)} labels" if ds.labels else "")
    )
    for warning in data_warnings(ds):
        st.warning(warning, icon=":material/warning:")
    if errors:
        st.error(f"{len(errors)} bad row(s): fix them or remove them before a pilot")
        st.dataframe(
            pd.DataFrame([e.model_dump() for e in errors]), hide_index=True, key="bad_rows"
        )
        return None
    return ds.format


def endpoint_extras(numbers: dict, column) -> tuple[str | None, Path | None]:
    """What every endpoint asks beside its URL: the spend cap (into `numbers`, drawn in
    `column`), the API key (this session only, never saved) and optional label
    descriptions. Returns (key, descriptions file)."""
    st.session_state.setdefault("max_usd", "5")
    with column:
        numbers["max_usd"] = number_field(
            "spend cap (USD)", "max_usd", False, 0.01, 100_000.0, help=field_help("max_usd")
        )
    key = st.text_input("API key (kept in this session only)", type="password", key="api_key")
    descriptions = kept(
        st.file_uploader(
            "label descriptions (optional; CSV label,description)",
            type=["csv"],
            key="descriptions_upload",
            help=field_help("label_descriptions"),
        ),
        "descriptions",
    )
    return key or None, descriptions
