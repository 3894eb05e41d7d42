"""Pilot: pick data (upload or demo), see it validated, choose method and model, see the
preflight estimate, launch a detached run, watch it through a polling fragment, cancel.
The run keeps going when the tab closes; reopening the page shows it again."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.state import current_scenario
from app_pages.widgets import EXAMPLES
from core.scenario import InputError
from core.vocab import BASELINE_METHODS, METHOD_NAMES, METHODS
from reports import figures
from trainers import runs
from trainers.config import PilotConfig, TrainSettings, field_help
from trainers.data import data_warnings, validate
from trainers.launch import start_pilot
from trainers.metrics import read_metrics
from trainers.models import DEFAULT_MODEL
from trainers.preflight import estimate_pilot

DEMOS = {
    "support intents (classification, CSV)": EXAMPLES / "data" / "support_intents.csv",
    "support summaries (generation, chat JSONL)": EXAMPLES / "data" / "support_summaries.jsonl",
}
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


def pick_data() -> Path | None:
    source = st.radio("data", ["demo data", "upload"], horizontal=True, key="data_source")
    if source == "demo data":
        return DEMOS[st.selectbox("demo set", list(DEMOS), key="demo_choice")]
    up = st.file_uploader(
        "examples (.csv text,label / .jsonl / .json)", type=list(UPLOAD_TYPES), key="pilot_upload"
    )
    if up is None:
        return None
    if st.session_state.get("upload_id") != up.file_id:
        try:
            st.session_state["upload_path"] = str(save_upload(up))
            st.session_state["upload_id"] = up.file_id
        except InputError as e:
            st.error(str(e))
            return None
    return Path(st.session_state["upload_path"])


def show_validation(path: Path) -> bool:
    try:
        ds, errors = validate(path)
    except InputError as e:
        st.error(str(e).replace(str(path), "the file"))
        return False
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
        return False
    return True


def launch(cfg: PilotConfig, key: str | None, pre) -> Path:
    """The CLI's launch path; the key goes into the run's environment, nowhere else."""
    secrets = {KEY_ENV: key} if key else None
    return start_pilot(cfg, preflight=pre, secrets=secrets).run_dir


def active_run() -> Path | None:
    """This session's run; else the one named in the URL; else the latest still running."""
    ref = st.session_state.get("active_run") or st.query_params.get("run")
    if ref:
        try:  # a run id from the index only: a URL never names a path
            return runs.find_run(Path(ref).name, index_only=True)
        except InputError:
            return None
    running = [r for r in runs.index_list() if r["status"] == "running"]
    return Path(running[0]["run_dir"]) if running else None


@st.fragment(run_every=1.0)
def watch(run_dir: Path) -> None:
    status = runs.status(run_dir)
    events = runs.read_events(run_dir)
    steps = [e for e in events if e["event"] == "step"]
    plan = next((e["planned_steps"] for e in reversed(events) if e.get("planned_steps")), None)
    st.markdown(f"**Run** `{run_dir.name}`: **{status}**")
    if steps and plan:
        last = steps[-1]
        st.progress(
            min(1.0, last["step"] / plan),
            text=f"step {last['step']}/{plan} · loss "
            f"{last['loss']:.3f} · {last['tokens_per_second']:.0f} tokens/s · ETA "
            f"{last['eta_seconds']:.0f}s",
        )
        st.plotly_chart(figures.loss_curve(steps), key=f"loss_{len(steps)}")
    elif status in ("running", "queued"):
        phase = events[-1]["event"] if events else "starting"
        detail = {
            k: v for k, v in (events[-1] if events else {}).items() if k not in ("time", "event")
        }
        st.info(f"{phase}: {json.dumps(detail)}")
    if status in ("running", "queued"):
        if st.button("Cancel run", key="cancel_run"):
            runs.cancel(run_dir)
            st.rerun(scope="app")
    elif status == "done" and not st.session_state.get(f"shown_{run_dir.name}"):
        # once: rerun the whole page so the results draw outside this fragment
        st.session_state[f"shown_{run_dir.name}"] = True
        st.rerun(scope="app")
    elif status in ("failed", "cancelled", "resumable"):
        err = next((e.get("message") for e in reversed(events) if e["event"] == "error"), None)
        st.error(f"{status}: {err or 'see log.txt in the run directory'}")


def show_results(run_dir: Path) -> None:
    st.session_state[f"shown_{run_dir.name}"] = True  # a finished run needs no rerun
    try:
        m = read_metrics(run_dir)
    except InputError as e:
        st.error(str(e))
        return
    meas, h = m.measurement, m.quality
    scores = {f"baseline: {k}": v for k, v in meas.baselines.items()}
    scores[f"{meas.method} (this run)"] = h
    st.plotly_chart(figures.quality_bars(scores), key="quality_bars")
    if m.stopped_early:
        st.warning(
            f"Training stopped by its {m.training.stopped_by} limit after "
            f"{m.training.steps} of {m.training.planned_steps} steps: this quality is a "
            "lower bound, not what the method reaches."
        )
    c1, c2, c3 = st.columns(3)
    zero = meas.baseline.value if meas.baseline else 0.0
    c1.metric(f"holdout {h.metric}", f"{h.value:.1%}", f"{h.value - zero:+.1%} vs zero-shot")
    c2.metric(
        "training tokens/s",
        f"{meas.tokens_per_second:.0f}",
        help="measured; the preflight estimate is shown above the launch button",
    )
    if m.forgetting:
        f = m.forgetting
        c3.metric(
            "forgetting check",
            f.pattern.replace("_", " "),
            f"probe {f.probe_before:.0%} -> {f.probe_after:.0%}",
            delta_color="off",
        )
    if m.learning_curve:
        show_curve(m.learning_curve)
    used = st.session_state.setdefault("use_runs", [])
    if run_dir.name not in used and st.button(
        "Use this run's measurements in the advice and costs", key="use_run"
    ):
        used.append(run_dir.name)
        st.success("Added: the Decide, Costs and Export pages now use this run.")
    st.dataframe(pd.DataFrame([x.model_dump() for x in m.samples]), hide_index=True, key="samples")


def show_curve(curve) -> None:
    st.subheader("How much data is enough")
    st.plotly_chart(figures.learning_curve(curve), key="learning_curve")
    needed = curve.examples_needed
    st.metric(
        "examples needed for the bar",
        f"{needed:,}" if needed is not None else "not reachable",
        help="from a saturating curve fitted to the measured points; see the note below",
    )
    st.caption(curve.summary)


st.title("Pilot")
path = pick_data()
ok = path is not None and show_validation(path)
c1, c2, c3 = st.columns(3)
method = c1.selectbox(
    "method",
    METHOD_NAMES,
    index=METHOD_NAMES.index("lora"),
    key="method",
    format_func=lambda m: f"{m} ({METHODS[m].label})",
    help=field_help("method"),
)
model = c2.text_input("model", DEFAULT_MODEL, key="model", help=field_help("model"))
max_steps = c3.number_input(
    "max steps", 1, 100_000, 60, key="max_steps", help=field_help("max_steps")
)
c1, c2, c3 = st.columns(3)
max_minutes = c1.number_input(
    "max minutes", 0.5, 600.0, 10.0, key="max_minutes", help=field_help("max_minutes")
)
holdout_max = c2.number_input(
    "holdout rows to score (at most)",
    8,
    5000,
    64,
    key="holdout_max",
    help=field_help("holdout_max"),
)
baselines = c3.multiselect(
    "baselines", list(BASELINE_METHODS), ["prompt"], key="baselines", help=field_help("baselines")
)
bar = current_scenario().quality_bar_pct
curve = st.checkbox(
    f"learning curve: also train on 25% and 50% of the data, and predict how many examples "
    f"reach the scenario's quality bar ({bar:g}%)",
    key="curve",
    disabled=not METHODS[method].curve,
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
key = teacher_url = teacher_model = None
if method == "distill_seq":
    teacher_url = (
        st.text_input("teacher endpoint (OpenAI-compatible; empty: local model)", key="teacher_url")
        or None
    )
    teacher_model = st.text_input("teacher model name or local model", key="teacher_model")
    key = st.text_input("API key (kept in this session only)", type="password", key="api_key")

if ok:
    try:
        cfg = PilotConfig(
            method=method,
            data=str(path.resolve()),
            model=model,
            train=TrainSettings(max_steps=int(max_steps), max_minutes=float(max_minutes)),
            holdout_max=int(holdout_max),
            baselines=tuple(baselines),
            teacher_url=teacher_url,
            teacher_model=teacher_model if teacher_url else None,
            teacher=None if teacher_url else (teacher_model or None),
            teacher_key_env=KEY_ENV if key else None,
            trust_remote_code=trust,
            curve=(0.25, 0.5) if curve and METHODS[method].curve else (),
            quality_bar_pct=bar or None,  # a bar of 0% asks for no bar
        )
        pre = estimate_pilot(cfg)
        probed = st.session_state.get("probe")
        if probed and probed[0] == cfg.model_dump_json():
            pre = probed[1]  # a probe of this very configuration outranks the estimator
        elif st.button("Probe first (a few real steps, about a minute)", key="probe_btn"):
            with st.spinner("probing: loading the model and training a few steps..."):
                pre = estimate_pilot(cfg, probe=True)
            st.session_state["probe"] = (cfg.model_dump_json(), pre)
        (st.info if pre.fits else st.error)(pre.summary)
        if st.button("Launch pilot", type="primary", key="launch", disabled=not pre.fits):
            run_dir = launch(cfg, key, pre)
            st.session_state["active_run"] = str(run_dir)
            st.query_params["run"] = run_dir.name
    except (InputError, ValueError) as e:
        st.error(str(e).splitlines()[0])

run_dir = active_run()
if run_dir is not None:
    st.divider()
    watch(run_dir)
    if runs.status(run_dir) == "done" and (run_dir / "metrics.json").exists():
        show_results(run_dir)
