"""Tables for readers: the ranking and the cost table with human labels and money
formatted, shared by the app's pages and the HTML report. No streamlit here."""

from __future__ import annotations

import pandas as pd

from advisor.recommend import Recommendation
from core.labels import label, money, unit_price
from core.vocab import STRATEGY_LABELS
from costmodels.amortize import CostReport


def ranking_table(rec: Recommendation) -> pd.DataFrame:
    """One row per strategy in the advice's order: verdict, total cost, reasons (an unmet
    need or a veto first)."""
    return pd.DataFrame(
        [
            {
                "Strategy": r.label,
                "Verdict": label(r.verdict),
                "Total cost": money(r.tco_usd) if r.tco_usd is not None else "",
                "Reasons": " ".join(("Ruled out: " if x.veto else "") + x.text for x in r.reasons),
            }
            for r in rec.ranking
        ]
    )


def cost_table(report: CostReport) -> pd.DataFrame:
    h = report.horizon_months
    return pd.DataFrame(
        [
            {
                "Strategy": STRATEGY_LABELS[c.strategy],
                "One-time": money(c.one_time_usd),
                "Monthly": money(c.monthly_usd),
                "Per request": unit_price(c.per_request_usd),
                f"Total over {h} months": money(c.tco_usd),
                "Pays back against": "" if c.baseline is None else label(c.baseline),
                "Pays back in": _payback(c.break_even_month, c.baseline),
            }
            for c in report.strategies
        ]
    )


def _payback(month: float | None, baseline: str | None) -> str:
    if baseline is None:
        return ""
    return "never" if month is None else f"month {month:.1f}"
