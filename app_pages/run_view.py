"""A pilot run as the app shows it: which run (the latest, or one picked), its phase in
words, progress with an ETA that knows the time cap, the results with "Use this run's
measurements", and its log. Used by the Pilot and Runs pages."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.distill_view import show_distillation
from app_pages.extract_view import show_extraction
from app_pages.rag_view import show_documents
from core.labels import label, method_label
from core.scenario import InputError
from reports import figures
from reports.rag_tables import system_name
from trainers import runs
from trainers.metrics import read_metrics

# What each event says about where a run is, in words.
PHASES = {
    "queued": "waiting for a free slot (another pilot is running)",
    "start": "starting",
    "data": "reading and splitting the data",
    "model": "loading the model",
    "teacher": "the teacher is labelling the training inputs",
    "curve": "training a learning-curve point",
    "resume": "resuming from the last checkpoint",
    "checkpoint": "training",
    "fit": "training",
    "resume_requested": "resuming",
}
OUTCOMES = {
    "done": "finished",
    "cancelled": "cancelled",
    "failed": "failed",
    "resumable": "stopped (resumable)",
    "running": "running",
    "queued": "queued",
}


def pick_run() -> Path | None:
    """This session's run, else the one in the URL, else the latest in the index (running
    or finished); earlier runs can be picked. A URL names a run id, never a path."""
    rows = runs.index_list()
    if not rows:
        return None
    ids = [r["run_id"] for r in rows]
    wanted = st.session_state.get("active_run") or st.query_params.get("run") or ids[0]
    wanted = Path(str(wanted)).name
    choice = st.selectbox(
        "run",
        ids,
        index=ids.index(wanted) if wanted in ids else 0,
        key="run_choice",
        # no status in the label: a picker drawn while a run is queued would keep saying so
        help="the latest run first; pick an earlier one to see its results",
    )
    try:
        return runs.find_run(choice, index_only=True)
    except InputError:
        return None


def phase_text(events: list[dict]) -> str:
    """Where the run is, in words ("scoring the holdout: row 64/300")."""
    if not events:
        return "starting"
    last = events[-1]
    if last["event"] == "eval":
        what = {
            "baseline": "scoring the zero-shot baseline",
            "tuned": "scoring the tuned model",
            "teacher": "scoring the teacher",
        }.get(last.get("phase"), f"scoring the {last.get('phase')}")
        rows = f": row {last['rows']}/{last['of']}" if last.get("of") else ""
        return what + rows
    return PHASES.get(last["event"], last["event"].replace("_", " "))


def training_eta(events: list[dict], max_minutes: float | None) -> float | None:
    """Seconds of training left: the loop's own estimate, capped by the time limit."""
    steps = [e for e in events if e["event"] == "step"]
    if not steps:
        return None
    eta = steps[-1]["eta_seconds"]
    start = next(
        (e["time"] for e in events if e["event"] == "start" and "planned_steps" in e), None
    )
    if max_minutes and start:
        eta = min(eta, max(0.0, start + max_minutes * 60 - time.time()))
    return eta


def fits(events: list[dict]) -> list[tuple[str, int, list[dict]]]:
    """The run's training fits in order, as (name, planned steps, step events): a new fit
    starts at each training start (a classifier trains three: itself, then two threshold
    folds); a resumed fit continues its own."""
    out: list[tuple[str, int, list[dict]]] = []
    name, of, resumed = "training", None, False
    for e in events:
        if e["event"] == "fit":
            name, of = e["name"], e.get("of")
        elif e["event"] == "curve" and e.get("status") == "training":
            name, of = f"learning curve, {e['examples']:,} examples", None
        elif e["event"] == "resume":
            resumed = True
        elif e["event"] == "start" and e.get("planned_steps"):
            if resumed and out:  # a resumed fit continues its own line
                resumed = False
                continue
            label = f"{name} (fit {len(out) + 1} of {of})" if of and of > 1 else name
            out.append((label, int(e["planned_steps"]), []))
            name, of = "training", None  # the next fit names itself, or is the training
        elif e["event"] == "step" and out:
            out[-1][2].append(e)
    return out


@st.fragment(run_every=1.0)
def watch(run_dir: Path) -> None:
    status = runs.status(run_dir)
    events = runs.read_events(run_dir)
    done_fits = [f for f in fits(events) if f[2]]
    name, plan, steps = done_fits[-1] if done_fits else ("training", None, [])
    st.markdown(f"**Run** `{run_dir.name}`: **{OUTCOMES.get(status, status)}**")
    live = status in ("running", "queued")
    if live:
        st.info(phase_text(events), icon=":material/pending:")
    if steps and plan:
        last = steps[-1]
        text = f"{name}: step {last['step']}/{plan} · loss {last['loss']:.3f}"
        if live:
            eta = training_eta(events, _max_minutes(run_dir))
            text += f" · {last['tokens_per_second']:,.0f} tokens/s"
            text += f" · training ETA {eta:,.0f} s" if eta is not None else ""
        st.progress(min(1.0, last["step"] / plan), text=text)
        curves = {n: s for n, _, s in done_fits}
        st.plotly_chart(figures.loss_curve(curves), key=f"loss_{sum(map(len, curves.values()))}")
    if live:
        if st.button("Cancel run", key="cancel_run"):
            runs.cancel(run_dir)
            st.rerun(scope="app")
    elif status == "done" and not st.session_state.get(f"shown_{run_dir.name}"):
        # once: rerun the whole page so the results draw outside this fragment
        st.session_state[f"shown_{run_dir.name}"] = True
        st.rerun(scope="app")
    elif status == "cancelled":
        st.info("This run was cancelled; nothing it measured is used.", icon=":material/block:")
    elif status in ("failed", "resumable"):
        err = next((e.get("message") for e in reversed(events) if e["event"] == "error"), None)
        st.error(f"{OUTCOMES[status]}: {err or 'see the run log below'}")


def _max_minutes(run_dir: Path) -> float | None:
    from trainers.config import load_config

    try:
        return load_config(run_dir).train.max_minutes
    except InputError:
        return None


def show_results(run_dir: Path) -> None:
    st.session_state[f"shown_{run_dir.name}"] = True  # a finished run needs no rerun
    try:
        m = read_metrics(run_dir)
    except InputError as e:
        st.error(str(e))
        return
    meas, h = m.measurement, m.quality
    if meas.rag and meas.rag.answers:  # over documents: every system's F1, closed-book too
        scores = {system_name(k): a.f1 for k, a in meas.rag.answers.items()}
    else:
        scores = {f"{label(k)} (baseline)": v for k, v in meas.baselines.items()}
        scores[f"{method_label(meas.method)} (this run)"] = h
    st.plotly_chart(figures.quality_bars(scores), key=f"quality_bars_{run_dir.name}")
    if m.stopped_early:
        st.warning(
            f"Training stopped by its {m.training.stopped_by} limit after "
            f"{m.training.steps} of {m.training.planned_steps} steps: this quality is a "
            "lower bound, not what the method reaches."
        )
    c1, c2, c3 = st.columns(3)
    # against zero-shot; a classifier, which cannot answer zero-shot, against its best baseline
    closed = meas.rag.answers.get("closed_book") if meas.rag else None
    ref, ref_q = (
        ("zero-shot", meas.baseline)
        if meas.baseline
        else ("closed-book", closed.f1)
        if closed is not None and meas.method != "lora"
        else max(
            ((label(k), q) for k, q in meas.baselines.items() if q != h),
            key=lambda x: x[1].value,
            default=("nothing", None),
        )
    )
    # a difference of two shares is in points; its arrow and colour say better or worse
    gain = (h.value - ref_q.value) * 100 if ref_q else 0.0
    delta = f"{gain:+.1f} points vs {ref.lower()}" if ref_q else None
    # no arrow for no change: an arrow says better or worse
    c1.metric(
        f"holdout {h.metric}",
        f"{h.value:.1%}",
        delta,
        delta_arrow=_arrow(gain),
        delta_color="normal" if _arrow(gain) == "auto" else "off",
    )
    if meas.tokens_per_second:  # methods that do not train have no training speed
        c2.metric(
            "training tokens/s",
            f"{meas.tokens_per_second:,.0f}",
            help="measured; the preflight estimate is shown above the launch button",
        )
    if m.forgetting:
        f = m.forgetting
        moved = (f.probe_after - f.probe_before) * 100  # points; a fall is forgetting
        c3.metric(
            "forgetting check",
            label(f.pattern),
            f"{moved:+.1f} points on the general probe "
            f"({f.probe_before:.0%} to {f.probe_after:.0%})",
            delta_arrow=_arrow(moved),
            delta_color="normal" if _arrow(moved) == "auto" else "off",
            help="the same general questions asked before and after training: a fall means "
            "the model forgot some of what it knew",
        )
    if meas.hardware:  # every figure names the machine it was measured on
        trained = f"; {m.training.path()}" if m.training else ""
        st.caption(f"Measured on {meas.hardware.text()}{trained}.")
    show_classifier(meas)
    show_endpoint(meas)
    show_documents(m, run_dir.name)
    show_distillation(m, run_dir.name)
    show_extraction(m, run_dir.name)
    if m.learning_curve:
        show_curve(m.learning_curve)
    use_button(run_dir.name)
    samples = pd.DataFrame([x.model_dump() for x in m.samples])
    samples = samples[[c for c in samples.columns if samples[c].map(bool).any()]]  # no blank column
    st.dataframe(samples, hide_index=True, key=f"samples_{run_dir.name}")


def _arrow(points: float) -> str:
    """An arrow only for a change a reader can see at one decimal."""
    return "auto" if abs(points) >= 0.05 else "off"


def show_classifier(meas) -> None:
    """Label-constrained decoding, CPU serving speed and the escalation threshold."""
    c1, c2, c3 = st.columns(3)
    if meas.constrained:
        c1.metric(
            "label-constrained accuracy",
            f"{meas.constrained.value:.1%}",
            f"{meas.invalid_label_share:.1%} of free answers were no label",
            delta_color="off",
            delta_arrow="off",
        )
    if meas.serving:
        s = meas.serving
        c2.metric(
            "CPU serving",
            f"{s.requests_per_second:,.0f} requests/s",
            f"p95 {s.latency_p95_ms:.1f} ms at batch 1",
            delta_color="off",
            delta_arrow="off",
            help=f"{s.threads} CPU threads; a batch of {s.batch_size} answered in "
            f"{s.batch_latency_p50_ms:.0f} ms (p95 {s.batch_latency_p95_ms:.0f} ms)",
        )
    if meas.abstention:
        a = meas.abstention
        caught = (
            f"; {a.out_of_scope_caught:.0%} of {a.out_of_scope_rows} out-of-scope rows caught"
            if a.out_of_scope_caught is not None
            else ""
        )
        c3.metric(
            "escalated to the capable model",
            f"{a.escalated_share:.1%}",
            f"{a.answered.value:.1%} right on the rest",
            delta_color="off",
            delta_arrow="off",
            help=f"confidence below {a.threshold:.2f}, picked on the training split for "
            f"{a.target_accuracy:.0%} accuracy{caught}",
        )


def show_endpoint(meas) -> None:
    """What the capable model behind an endpoint cost and how fast it answered."""
    e = meas.endpoint
    if e is None:
        return
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "cost per request",
        f"${e.usd_per_request:.5f}",
        f"${e.usd_per_correct:.5f} per correct answer" if e.usd_per_correct else None,
        delta_color="off",
        delta_arrow="off",
        help=f"{e.input_tokens_per_request:,.0f} input and {e.output_tokens_per_request:,.0f} "
        f"output tokens per request ({'from the usage' if e.tokens_counted else 'estimated'})"
        + (
            f"; the instruction alone is {e.instruction_tokens:,} tokens of every request, "
            "the part a fine-tuned model no longer needs"
            if e.instruction_tokens is not None
            else ""
        ),
    )
    c2.metric(
        "latency p50",
        f"{e.latency_ms_p50:,.0f} ms",
        f"p95 {e.latency_ms_p95:,.0f} ms",
        delta_color="off",
        delta_arrow="off",
    )
    c3.metric(
        "requests",
        f"{e.requests:,}",
        f"{e.errors} failed, {e.cached} from the cache",
        delta_color="off",
        delta_arrow="off",
        help=f"{e.model}; this run paid ${e.usd_spent:.4f}",
    )


def use_button(run_id: str) -> None:
    """Add a finished run's measurements to the advice and costs of this session."""
    used = st.session_state.setdefault("use_runs", [])
    if run_id in used:
        st.caption("The Decide, Costs and Export pages use this run's measurements.")
    elif st.button("Use this run's measurements in the advice and costs", key=f"use_{run_id}"):
        used.append(run_id)
        st.success("Added: the Decide, Costs and Export pages now use this run.")


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
