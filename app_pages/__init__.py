"""Streamlit page modules (the only place that imports streamlit, with streamlit_app.py)."""
