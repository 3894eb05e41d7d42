"""A finished distillation pilot on the Runs and Pilot pages: the teacher and its filter,
the student at each size of the teacher-labelled set with intervals, the agreement curve
and the inputs the bar needs, and paired tests on the one holdout."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from reports import distill_tables, figures
from trainers.metrics import PilotMetrics


def show_distillation(m: PilotMetrics, key: str) -> None:
    d = m.measurement.distill
    if d is None:
        return
    st.subheader("Distillation: the teacher and its student")
    if not d.gold_holdout:
        st.info(
            "No labelled holdout: the teacher labelled a share of your inputs, so these "
            "figures measure agreement with the teacher only, not correctness.",
            icon=":material/info:",
        )
    st.table(_indexed([distill_tables.teacher_row(d)]))
    st.table(_indexed(distill_tables.student_rows(d)))
    curve = distill_tables.agreement_curve(d)
    fig = figures.learning_curve(
        curve,
        title="How many teacher labels are enough",
        unit="teacher-labelled inputs",
        origin="0 = chance",
    )
    st.plotly_chart(fig, key=f"agreement_curve_{key}")
    needed = d.inputs_needed
    st.metric(
        f"teacher-labelled inputs for {d.agreement_bar:.0%} agreement",
        f"{needed:,}" if needed is not None else "not reachable",
        help="from a saturating curve fitted to the agreement measured at each size",
    )
    st.caption(distill_tables.headline(d))
    if rows := distill_tables.paired_rows(m):
        st.table(_indexed(rows))


def _indexed(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    return df.set_index(df.columns[0])
