"""adapt: the Streamlit front end. Thin: page config and navigation only."""

import streamlit as st

st.set_page_config(page_title="adapt: prompt, RAG, fine-tune or distill?", layout="wide")

pages = [
    st.Page("app_pages/decide.py", title="Decide", icon=":material/alt_route:", default=True),
]
st.navigation(pages).run()
