"""Runs: the history from the run index; compare two or more runs side by side."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from app_pages import figures
from trainers import runs

st.title("Runs")
rows = runs.index_list()
if not rows:
    st.info("No pilot runs yet: launch one from the Pilot page or with `adapt pilot`.")
    st.stop()


def _row(r: dict) -> dict:
    m = r["metrics"] or {}
    h = m.get("holdout") or {}
    return {
        "run": r["run_id"],
        "method": r["method"],
        "model": r["model"],
        "status": r["status"],
        "started": dt.datetime.fromtimestamp(r["created"]).strftime("%Y-%m-%d %H:%M"),
        "metric": h.get("metric"),
        "holdout": h.get("value"),
        "ci low": h.get("ci_low"),
        "ci high": h.get("ci_high"),
        "zero-shot": (m.get("baseline") or {}).get("value"),
        "train tokens/s": m.get("tokens_per_second"),
        "wall s": m.get("wall_seconds"),
        "peak MiB": m.get("peak_memory_mib"),
        "forgetting": (m.get("forgetting") or {}).get("pattern"),
        "preflight wall err %": _err(m, "wall_seconds"),
        "preflight peak err %": _err(m, "peak_memory_mib"),
    }


def _err(m: dict, key: str) -> float | None:
    """Preflight prediction error against the measurement, in percent."""
    return ((m.get("fidelity") or {}).get(key) or {}).get("error_pct")


table = pd.DataFrame([_row(r) for r in rows])
st.dataframe(table, hide_index=True, width="stretch", key="runs_table")
done = [r for r in rows if r["status"] == "done" and r["metrics"]]
picked = st.multiselect(
    "compare runs",
    [r["run_id"] for r in done],
    default=[r["run_id"] for r in done[:2]],
    key="compare",
)
if len(picked) >= 2:
    chosen = [r for r in done if r["run_id"] in picked]
    st.plotly_chart(
        figures.quality_bars(
            {f"{r['method']} {r['run_id'][-6:]}": r["metrics"]["holdout"] for r in chosen}
        ),
        key="compare_chart",
    )
    st.dataframe(
        table[table["run"].isin(picked)].set_index("run").T, width="stretch", key="compare_table"
    )

curves = [r for r in done if r["metrics"].get("learning_curve")]
if curves:
    st.subheader("How much data is enough")
    ref = st.selectbox("learning curve of run", [r["run_id"] for r in curves], key="curve_run")
    curve = next(r for r in curves if r["run_id"] == ref)["metrics"]["learning_curve"]
    st.plotly_chart(figures.learning_curve(curve), key="runs_learning_curve")
    needed = curve.get("examples_needed")
    st.metric(
        "examples needed for the bar", f"{needed:,}" if needed is not None else "not reachable"
    )
    st.caption(curve["summary"])
