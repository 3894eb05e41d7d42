"""Export: the cost estimate as CSV, XLSX and JSON, and the one-file HTML report. The page
states what the files will hold (scenario, volume, pick) before any download."""

from __future__ import annotations

import re

import streamlit as st

from app_pages.state import (
    cached_calibration,
    cached_estimate,
    cached_recommendation,
    cached_simulation,
    current_assumptions,
    current_scenario,
    use_runs_widget,
)
from core.labels import label, money
from costmodels.export import to_csv, to_json, to_xlsx
from costmodels.prices import load_catalog
from reports.html import build_report
from reports.tables import cost_table
from trainers import runs
from trainers.metrics import from_index

st.title("Export")
scenario = current_scenario()
assumptions = current_assumptions()
s_json, a_json = scenario.model_dump_json(), assumptions.model_dump_json()
measured = use_runs_widget()
cal = cached_calibration(s_json, a_json, measured)
report = cached_estimate(s_json, cal.assumptions.model_dump_json())
rec = cached_recommendation(s_json, a_json, measured)
# the pilots chosen in the sidebar, as `adapt export --runs` names them
chosen = set(st.session_state.get("use_runs", []))
pilots = [m for r in runs.index_list() if r["run_id"] in chosen and (m := from_index(r))]

st.info(
    f"**These files will hold:** the scenario *{scenario.name}* at "
    f"**{scenario.requests_per_month:,} requests a month** over {scenario.horizon_months} "
    f"months; recommended: **{label(rec.recommended)}** "
    f"({money(report.cost(rec.recommended).tco_usd)} over {scenario.horizon_months} months); "
    f"prompting priced as **{report.capable_model}**"
    f"{'' if report.capable_model == scenario.capable_model else ' (the model your pilot asked)'}"
    f"; {len(pilots)} pilot run(s). Change them on the Decide and Costs pages.",
    icon=":material/description:",
)
slug = re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()).strip("-")[:40] or "adapt-estimate"
draws = int(st.session_state.get("draws", 5000))  # the Monte Carlo the Costs page drew
include = st.checkbox("Include pilot results", value=bool(pilots), key="include_pilots")
html_report = build_report(
    scenario,
    rec,
    report,
    cached_simulation(
        s_json,
        cal.assumptions.model_dump_json(),
        draws,
        rec.candidates,
    ),
    pilots if include else None,
    catalog=load_catalog(),
)
c1, c2, c3, c4 = st.columns(4)
c1.download_button("CSV", to_csv(report), f"{slug}.csv", "text/csv", key="dl_csv")
c2.download_button(
    "XLSX",
    to_xlsx(report, rec.summary),
    f"{slug}.xlsx",
    key="dl_xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
c3.download_button("JSON", to_json(report), f"{slug}.json", "application/json", key="dl_json")
c4.download_button("HTML report", html_report, f"{slug}.html", "text/html", key="dl_html")
st.subheader("The cost table in the files")
st.table(cost_table(report, rec.recommended).set_index("Strategy"))  # static: fits, wraps
