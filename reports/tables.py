"""Tables for readers: the ranking and the cost table with human labels and money
formatted, shared by the app's pages and the HTML report. No streamlit here."""

from __future__ import annotations

import pandas as pd

from advisor.recommend import Recommendation
from core.labels import label, money, unit_price
from core.vocab import ADAPTED, STRATEGY_LABELS
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


def cost_table(report: CostReport, pick: str | None = None) -> pd.DataFrame:
    """Each strategy's costs, one-time + running + retrains = the total to the cent (the
    running costs include growth; month 1 is the first month's running cost); with the
    recommended strategy, each one's total against it (the one comparison the advice
    makes, not a per-strategy baseline)."""
    h = report.horizon_months
    rows = []
    for c in report.strategies:
        row = {
            "Strategy": STRATEGY_LABELS[c.strategy],
            "One-time": money(c.one_time_usd),
            f"Running, {h} months": money(c.running_usd),
            "Retrains": money(c.retrains_usd),
            f"Total, {h} months": money(c.tco_usd),
            "Month 1 running": money(c.monthly_usd),
            "Per request": unit_price(c.per_request_usd),
        }
        if pick is not None:
            diff = float(c.tco_usd - report.cost(pick).tco_usd)
            row["vs the recommended"] = (
                "recommended" if c.strategy == pick else ("+" if diff >= 0 else "") + money(diff)
            )
        rows.append(row)
    return pd.DataFrame(rows)


def rules_for(rec: Recommendation) -> tuple[list, list]:
    """The fired rules that speak for the pick (they favour it, or they are caveats and
    measurements), then the rest: a reader is not told "distill" when prompting is picked."""
    pick = next(r for r in rec.ranking if r.strategy == rec.recommended)
    touches = {x.rule_id for x in pick.reasons}
    # rules that move some strategy's score or rule one out; the rest are plain caveats
    moves_scores = {x.rule_id for r in rec.ranking for x in r.reasons if x.effect or x.veto}

    def speaks_for_pick(r) -> bool:
        if r.kind == "measured" or r.rule_id in touches:
            return True  # a measurement, or a rule that moved the pick's own score
        # a caveat without effects concerns training: shown when the pick trains
        return r.kind == "caveat" and r.rule_id not in moves_scores and rec.recommended in ADAPTED

    mine = [r for r in rec.fired if speaks_for_pick(r)]
    return mine, [r for r in rec.fired if r not in mine]


METHOD_WORDS = {"full": "full fine-tuning", "lora": "LoRA", "qlora": "QLoRA"}


def plan_rows(report: CostReport) -> list[dict]:
    """The self-hosted training runs the costs price, each on the fewest GPUs that hold it."""
    return [
        {
            "Model trained": t.role.capitalize(),
            "Size": f"{t.params_billions:g}B, {METHOD_WORDS[t.plan.method]}",
            "Plan": t.plan.headline(),
            "Wall hours": f"{t.plan.wall_hours:,.2f} ({t.plan.wall_hours_low:,.2f}-"
            f"{t.plan.wall_hours_high:,.2f})",
            "GPU-hours": f"{t.plan.gpu_hours:,.2f}",
            "Per training run": money(t.plan.usd),
            "Strategies": ", ".join(STRATEGY_LABELS[k] for k in t.strategies),
        }
        for t in report.training_plans
    ]


def plan_headline(report: CostReport, pick: str) -> str | None:
    """One sentence on the training run of the pick, when it is trained on rented GPUs."""
    t = next((t for t in report.training_plans if pick in t.strategies), None)
    if t is None:
        return None
    p = t.plan
    return (
        f"Training {t.role} ({t.params_billions:g}B, {METHOD_WORDS[p.method]}, "
        f"{t.examples:,} examples) on {p.headline()}: {p.wall_hours:,.1f} hours "
        f"({p.wall_hours_low:,.1f}-{p.wall_hours_high:,.1f}), {p.gpu_hours:,.1f} GPU-hours, "
        f"{money(p.usd)} a run (scaling efficiency {p.scaling_efficiency:.2f}; memory plan "
        f"for {t.shape})."
    )
