"""What would change the decision: the usual what-ifs, each decided again in full."""

from __future__ import annotations

from collections.abc import Callable

from advisor.decision import decide
from advisor.rules import STRATEGY_LABELS, Rule
from core.scenario import Scenario
from costmodels.amortize import CostReport


# (description, change) pairs tried to find what would flip the decision.
def _counterfactuals(s: Scenario) -> list[tuple[str, dict]]:
    n, v = s.examples_total, s.requests_per_month
    out = [
        (
            f"the volume were {v * 10:,} requests a month instead of {v:,}",
            {"requests_per_month": v * 10},
        ),
        (
            f"the volume were {v // 10:,} requests a month instead of {v:,}",
            {"requests_per_month": v // 10},
        ),
    ]
    if n < 1000:
        out.append(
            (
                f"you had 1,000 labelled examples instead of {n:,}",
                {"labelled_examples_available": 1000, "labelled_examples_obtainable": 0},
            )
        )
    else:
        out.append(
            (
                f"you had 20 labelled examples instead of {n:,}",
                {"labelled_examples_available": 20, "labelled_examples_obtainable": 0},
            )
        )
    days = 30.0 if s.facts_change_interval_days > 90 else 3650.0
    out.append((f"the facts changed every {days:g} days", {"facts_change_interval_days": days}))
    out.append(
        (
            f"a frontier model {'did not give' if s.frontier_outputs_good else 'gave'} "
            "good outputs",
            {"frontier_outputs_good": not s.frontier_outputs_good},
        )
    )
    other = "evolving" if s.task_definition == "stable" else "stable"
    out.append((f"the task were {other}", {"task_definition": other}))
    out.append(
        (
            f"strict output format were {'not ' if s.strict_output_format else ''}required",
            {"strict_output_format": not s.strict_output_format},
        )
    )
    if "missing_knowledge" not in s.gaps:
        out.append(("knowledge were missing too", {"gaps": (*s.gaps, "missing_knowledge")}))
    return out


def what_would_change(
    scenario: Scenario,
    current: str,
    extra: tuple[Rule, ...] = (),
    estimator: Callable[[Scenario], CostReport] | None = None,
) -> tuple[str, ...]:
    """The usual what-ifs that flip the pick; with an estimator, costs are re-estimated
    for each changed scenario, so the flip is the whole decision's, not the table's."""
    changes = []
    for text, patch in _counterfactuals(scenario):
        changed = scenario.model_copy(update=patch)
        d = decide(changed, estimator(changed) if estimator else None, extra, ())[0]
        if d.pick != current:
            short = "" if d.pick in d.feasible else " (though no strategy would meet every need)"
            changes.append(f"If {text}, the pick would be {STRATEGY_LABELS[d.pick]}{short}.")
    return tuple(changes)
