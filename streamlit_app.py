"""adapt: the Streamlit front end. Thin: page config and navigation only."""

import streamlit as st

st.set_page_config(page_title="adapt: prompt, RAG, fine-tune or distill?", layout="wide")

pages = [
    st.Page("app_pages/decide.py", title="Decide", icon=":material/alt_route:", default=True),
    st.Page("app_pages/costs.py", title="Costs", icon=":material/payments:"),
    st.Page("app_pages/pilot.py", title="Pilot", icon=":material/model_training:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
]
st.navigation(pages).run()
