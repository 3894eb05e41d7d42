"""What the app, the CLI and exports draw: plotly figure builders and the one-file HTML
report. No streamlit here."""
