"""adapt: the Streamlit front end. Thin: page config and navigation only."""

import os
import time

import streamlit as st

from app_pages.state import persist, restore

t0, cpu0 = time.perf_counter(), time.thread_time()

st.set_page_config(page_title="adapt: prompt, RAG, fine-tune or distill?", layout="wide")

pages = [
    st.Page("app_pages/decide.py", title="Decide", icon=":material/alt_route:", default=True),
    st.Page("app_pages/costs.py", title="Costs", icon=":material/payments:"),
    st.Page("app_pages/pilot.py", title="Pilot", icon=":material/model_training:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
]
page = st.navigation(pages)
restore()  # a reload starts from the saved scenario, assumptions and chosen runs
page.run()
persist()
if log := os.environ.get("ADAPT_TIMING_LOG"):  # server time per rerun, for bench_load.py
    with open(log, "a", encoding="utf-8") as f:
        wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0  # this session's thread
        f.write(f"{page.url_path or 'decide'}\t{wall * 1000:.1f}\t{cpu * 1000:.1f}\n")
