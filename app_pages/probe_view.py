"""The preflight on the Pilot page: the estimator's at once, the probe's once a probe of
this configuration has run. The probe runs in the background (trainers.preflight.job.ProbeJob)
and a polling fragment shows where it is against the time it announced; a probe is kept
when only the time cap, the holdout size, the steps or the learning curve change."""

from __future__ import annotations

import os

import streamlit as st

from trainers import runs
from trainers.config import PilotConfig
from trainers.preflight import Preflight, can_probe, estimate_pilot
from trainers.preflight.job import ProbeJob, probe_key, remember_probe


def preflight(cfg: PilotConfig) -> Preflight:
    key = probe_key(cfg)
    finished = st.session_state.get("probe_result")
    if finished and finished[0] == key:
        return estimate_pilot(cfg, probed=finished[1])  # rescaled to today's settings
    pre = estimate_pilot(cfg)
    job: ProbeJob | None = st.session_state.get("probe_job")
    if job is not None and job.key != key:  # the configuration changed under it
        job.cancel()
        st.session_state.pop("probe_job")
        job = None
    if job is not None:
        _watch(cfg)
    elif can_probe(cfg) and st.button(
        f"Probe first (a few real steps, about {pre.probe_seconds:,.0f} s)", key="probe_btn"
    ):
        st.session_state["probe_job"] = ProbeJob(cfg, pre.probe_seconds)
        st.rerun()
    return pre


def busy_cpu() -> str | None:
    """A sentence when other work keeps the CPU busy (load above its cores), else None."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return None
    if load <= cores + 0.5:
        return None
    others = sum(1 for r in runs.index_list() if r["status"] in ("running", "queued"))
    who = f" ({others} pilot run(s) in progress)" if others else ""
    return f"The CPU is busy: load {load:.1f} on {cores} cores{who}; the probe waits for it."


@st.fragment(run_every=1.0)
def _watch(cfg: PilotConfig) -> None:
    job: ProbeJob | None = st.session_state.get("probe_job")
    if job is None:
        return
    if job.done():
        result = job.result()
        remember_probe(cfg, result)  # the next probe is announced from this one
        st.session_state["probe_result"] = (job.key, result)
        st.session_state.pop("probe_job")
        st.rerun(scope="app")
    elapsed, announced = job.elapsed_s(), max(job.announced_s, 1.0)
    st.progress(
        min(0.99, elapsed / announced),
        text=f"Probing: {job.progress()} ({elapsed:,.0f} s of about {announced:,.0f} s)",
    )
    if busy := busy_cpu():
        st.caption(f"{busy} The probe shares it, so it takes longer than announced.")
    if st.button("Cancel the probe", key="probe_cancel"):
        job.cancel()
        st.session_state.pop("probe_job")
        st.rerun(scope="app")
