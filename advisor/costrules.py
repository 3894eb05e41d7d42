"""Rules made from a cost report: adaptation is an investment that must pass break-even.

Where prompting (or retrieval) already meets the quality bar, an adapted strategy that
does not pay back within the horizon is ruled out, and one that does gets a nudge; the
reasons quote the numbers. Where the frontier model is not good enough, or a vendor API
is ruled out, cost cannot overrule quality: the numbers are quoted for information.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from advisor.rules import ADAPTED, STRATEGY_LABELS, Rule
from core.scenario import Scenario

if TYPE_CHECKING:  # costmodels imports advisor; keep the import one-way at run time
    from costmodels.amortize import CostReport

SOURCE = "adapt cost model: total cost of ownership over the horizon, with break-even month"
PAYBACK_BONUS = 1.0


def _money(x) -> str:
    return f"${float(x):,.0f}"


def cost_rules(scenario: Scenario, report: CostReport) -> tuple[Rule, ...]:
    binding = scenario.frontier_outputs_good and scenario.deployment in (
        "vendor_api",
        "own_cloud_gpu",
    )
    v, h = f"{scenario.requests_per_month:,}", report.horizon_months
    rules = []
    for c in report.strategies:
        if c.strategy not in ADAPTED or c.baseline is None:
            continue
        label, base = STRATEGY_LABELS[c.strategy], report.cost(c.baseline)
        saving = base.tco_usd - c.tco_usd
        if c.break_even_month is not None:
            text = (
                f"{label} pays back in {c.break_even_month:.1f} months at {v} requests/month "
                f"(saves {_money(saving)} over {h} months against {c.baseline})."
            )
            effects, vetoes = {c.strategy: PAYBACK_BONUS if binding else 0.0}, frozenset()
        else:
            text = (
                f"{label} does not pay back within {h} months at {v} requests/month: "
                f"{_money(c.tco_usd)} against {_money(base.tco_usd)} for {c.baseline}."
            )
            if not binding:
                text += " It would be chosen for quality or deployment, not cost."
            effects, vetoes = {}, frozenset({c.strategy} if binding else ())
        rules.append(
            Rule(
                id=f"cost_{c.strategy}",
                kind="cost",
                situation=f"Break-even of {c.strategy} against {c.baseline}",
                rationale=text,
                source=SOURCE,
                when=lambda s: True,
                effects=effects,
                vetoes=vetoes,
            )
        )
    return tuple(rules)
