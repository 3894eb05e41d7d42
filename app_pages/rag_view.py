"""A finished pilot over documents on the Runs and Pilot pages: the index, retrieval,
every system's answers with intervals, paired F1 differences, and the worst answers beside
the passages they were given, so a reader sees whether retrieval or the model failed."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.measurement import MIN_HOLDOUT
from reports import rag_tables
from trainers.metrics import PilotMetrics


def show_documents(m: PilotMetrics, key: str) -> None:
    r = m.measurement.rag
    if r is None:
        return
    st.subheader("Answers over your documents")
    read = r.answers.get("rag") or next(iter(r.answers.values()), None)
    if read is not None and read.f1.n < MIN_HOLDOUT:
        st.warning(
            f"Only {read.f1.n} answerable questions were scored: the intervals are wide. "
            f"Give at least {MIN_HOLDOUT} (more questions, a larger holdout share, or a "
            "separate holdout file) before acting on these figures.",
            icon=":material/warning:",
        )
    if note := r.reader_limit():
        st.info(note, icon=":material/menu_book:")
    # static tables: they wrap to the page instead of scrolling sideways
    st.table(_indexed([rag_tables.index_row(r)]))
    row = rag_tables.retrieval_row(r)
    if row:
        st.table(_indexed([row]))
    st.table(_indexed(rag_tables.answer_rows(r)))
    if r.f1_gain:
        st.table(_indexed(rag_tables.gain_rows(r)))
    for s in r.skipped_files:
        st.warning(f"Not indexed: {s}", icon=":material/warning:")
    st.caption("Worst answers first, with the passages retrieval gave them")
    for s in m.samples[:5]:
        with st.expander(f"{s.input}  (gold: {s.gold}; answered: {s.predicted or '(nothing)'})"):
            for i, p in enumerate(s.passages, 1):
                st.markdown(f"**[{i}]** {p}")


def _indexed(rows: list[dict]) -> pd.DataFrame:
    """Rows as a table keyed by their first column (a static table shows its index)."""
    df = pd.DataFrame(rows)
    return df.set_index(df.columns[0])
