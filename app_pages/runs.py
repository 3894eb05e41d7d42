"""Runs: the history from the run index; compare two or more runs side by side."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.distill_view import show_distillation
from app_pages.extract_view import show_extraction
from app_pages.run_view import OUTCOMES, use_button
from core.labels import STOPPED_WORDS, method_label
from core.vocab import METHODS
from reports import figures
from reports.compare import comparison_rows, holdout_comparison
from trainers import runs
from trainers.metrics import PilotMetrics, from_index

st.title("Runs")
rows = runs.index_list()
if not rows:
    st.info("No pilot runs yet: launch one from the Pilot page or with `adapt pilot`.")
    st.stop()


def _pct(x: float | None) -> str:
    return "" if x is None or x != x else f"{x:.1%}"


def _whole(x: float | None) -> str:
    return "" if x is None or x != x else f"{x:,.0f}"


def _off(x: float | None) -> str:
    return "" if x is None or x != x else f"{x:+.1f}%"


def _row(r: dict) -> dict:
    """One run as a reader reads it: every figure formatted for its kind (percentages to
    one decimal, counts whole), blank where a run has no such figure."""
    m = from_index(r)
    q = m.quality if m else None
    meas = m.measurement if m else None
    return {
        "run": r["run_id"],
        "method": method_label(r["method"]) if r["method"] in METHODS else r["method"],
        "model": Path(r["model"]).name if "/" in str(r["model"]) else r["model"],
        "status": OUTCOMES.get(r["status"], r["status"]),
        "started": dt.datetime.fromtimestamp(r["created"]).strftime("%Y-%m-%d %H:%M"),
        "metric": q.metric if q else "",
        "holdout": _pct(q.value if q else None),
        "95% interval": f"{_pct(q.ci_low)} to {_pct(q.ci_high)}" if q else "",
        "zero-shot": _pct(meas.baseline.value if meas and meas.baseline else None),
        "training ended": STOPPED_WORDS.get(m.training.stopped_by, m.training.stopped_by)
        if m and m.training
        else "",
        "train tokens/s": _whole(
            meas.tokens_per_second if meas and meas.tokens_per_second else None
        ),
        "wall time (s)": _whole(meas.wall_seconds if meas else None),
        "peak memory (MiB)": _whole(meas.peak_memory_mib if meas else None),
        "forgetting": m.forgetting.pattern if m and m.forgetting else "",
        "preflight time off by": _off(_err(m, "wall_seconds")),
        "preflight memory off by": _off(_err(m, "peak_memory_mib")),
    }


OVERVIEW = ["run", "method", "model", "status", "started", "holdout", "95% interval"]


def _err(m: PilotMetrics | None, key: str) -> float | None:
    """Preflight prediction error against the measurement, in percent."""
    predicted = getattr(m.fidelity, key) if m and m.fidelity else None
    return predicted.error_pct if predicted else None


table = pd.DataFrame([_row(r) for r in rows])
# the history fits the page; every figure of a run is in the side-by-side table below
st.dataframe(table[OVERVIEW], hide_index=True, width="stretch", key="runs_table")
done = {r["run_id"]: m for r in rows if (m := from_index(r)) is not None}
if done:
    chosen = st.selectbox(
        "finished run",
        list(done),
        key="runs_use_pick",
        help="its measured quality and speed can replace the assumptions",
    )
    use_button(chosen)
picked = st.multiselect("compare runs", list(done), default=list(done)[:2], key="compare")
if len(picked) >= 2:
    st.plotly_chart(
        figures.quality_bars(
            {
                f"{method_label(done[r].measurement.method)} {r[-6:]}": done[r].quality
                for r in picked
            }
        ),
        key="compare_chart",
    )
    side = table[table["run"].isin(picked)].set_index("run").T  # one column per run
    st.table(side)  # static: wraps to the page

for same in holdout_comparison([done[r] for r in picked]):
    st.subheader("Methods and baselines on one holdout")
    st.caption(
        f"{same[0].accuracy.n} holdout rows scored by every entry below; McNemar's exact "
        "test on the rows where two entries disagree says whether they really differ."
    )
    st.table(pd.DataFrame(comparison_rows(same)).set_index("Method or baseline"))

curves = {r: m.learning_curve for r, m in done.items() if m.learning_curve}
if curves:
    st.subheader("How much data is enough")
    ref = st.selectbox("learning curve of run", list(curves), key="curve_run")
    curve = curves[ref]
    st.plotly_chart(figures.learning_curve(curve), key="runs_learning_curve")
    needed = curve.examples_needed
    st.metric(
        "examples needed for the bar", f"{needed:,}" if needed is not None else "not reachable"
    )
    st.caption(curve.summary)

distilled = {r: m for r, m in done.items() if m.measurement.distill}
if distilled:
    ref = st.selectbox("distillation run", list(distilled), key="distill_run")
    show_distillation(distilled[ref], f"runs_{ref}")

extracted = {r: m for r, m in done.items() if m.measurement.extract}
if extracted:
    ref = st.selectbox("extraction run", list(extracted), key="extract_run")
    show_extraction(extracted[ref], f"runs_{ref}")
