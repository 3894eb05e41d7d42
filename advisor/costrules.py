"""Cost sentences of the one comparison rule: every strategy is compared with the
recommended one, and the recommendation with the cheapest strategy that meets every need.

Money is rounded for a reader ($12,600, not $12,575.31); the exact figures are in the
cost report. Pure functions of a CostReport; no rules here.
"""

from __future__ import annotations

from core.labels import money, unit_price, volume
from core.scenario import NO_MODEL, Scenario
from core.vocab import STRATEGY_LABELS
from costmodels.amortize import CostReport

SOURCE = "adapt cost model: total cost of ownership over the horizon"


def reference_sentence(report: CostReport, pick: str, reference: str, runner_up: str | None):
    """The pick's cost against the cheapest strategy that meets the needs (its reference)."""
    h, cost = report.horizon_months, report.cost(pick).tco_usd
    if pick == reference:
        text = f"It is the cheapest option that meets your needs: {money(cost)} over {h} months"
        if runner_up is None:
            return text + "."
        other = report.cost(runner_up).tco_usd
        text += f", against {money(other)} for {STRATEGY_LABELS[runner_up]}"
        even = report.break_even_volume(pick, runner_up)
        if even:
            text += f" (the two cost the same at about {volume(even)} requests a month)"
        return text + "."
    extra = cost - report.cost(reference).tco_usd
    return (
        f"It costs {money(extra)} more over {h} months ({money(cost)}) than "
        f"{STRATEGY_LABELS[reference]} ({money(report.cost(reference).tco_usd)}), the cheapest "
        "option that meets your needs."
    )


def comparison_text(report: CostReport, strategy: str, pick: str) -> str:
    """One strategy's total against the recommended one's."""
    h = report.horizon_months
    mine, theirs = report.cost(strategy).tco_usd, report.cost(pick).tco_usd
    if strategy == pick:
        return f"{money(mine)} over {h} months."
    diff = mine - theirs
    word = "more" if diff >= 0 else "less"
    return f"{money(mine)} over {h} months, {money(abs(diff))} {word} than the recommended option."


def model_sentence(report: CostReport, s: Scenario) -> str:
    """Which model prompting is priced as, and what one request costs with it."""
    per = unit_price(report.cost("prompt").per_request_usd)
    if s.capable_model == NO_MODEL:
        who = f"{report.capable_model} (you call no model yet; the common choice)"
    elif report.capable_model != s.capable_model:
        who = f"{report.capable_model}, the model your prompt pilot asked"
    else:
        who = f"{report.capable_model}, the model you call today"
    text = f"Prompting is priced as {who}: {per} a request."
    if report.teacher_model != report.capable_model:
        text += f" The distillation teacher is {report.teacher_model}."
    return text


def path_sentence(report: CostReport, strategy: str) -> str:
    """Why a strategy is priced through another path (a vendor path that closes), or ''."""
    return report.cost(strategy).path_note or ""
