"""A finished extraction pilot on the Runs and Pilot pages: every method on the holdout
with its parse and schema-valid rates, field F1 and exact match, F1 per field, the paired
tests and the worst rows, expected against predicted."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from reports import extract_tables
from trainers.metrics import PilotMetrics


def show_extraction(m: PilotMetrics, key: str) -> None:
    e = m.measurement.extract
    if e is None:
        return
    st.subheader("Extraction: fields, format and validity")
    st.caption(extract_tables.headline(e))
    st.table(_indexed(extract_tables.method_rows(e)))
    if rows := extract_tables.paired_rows(e):
        st.table(_indexed(rows))
    with st.expander("F1 per field"):
        st.table(_indexed(extract_tables.field_rows(e)))
    if rows := extract_tables.worst_rows(e):
        with st.expander("The worst rows, expected against predicted"):
            st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"worst_{key}")


def _indexed(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    return df.set_index(df.columns[0])
