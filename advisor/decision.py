"""The one comparison rule as a pure function: `decide(scenario, costs, rules, measured)`
returns the pick, the order and why, for `recommend` and for the what-ifs.

A strategy that leaves a need unmet (advisor/needs.py) or that a rule vetoes is out. With
a cost report the cheapest of the rest is picked, unless a fired rule that names its
reason (Rule.overrides) favours a dearer one; without one, the decision table's points
decide. With nothing left, the strategy with the fewest unmet needs, then the best fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from advisor.needs import Unmet, unmet_needs
from advisor.rules import RULES, STRATEGIES, Rule
from core.scenario import Scenario
from costmodels.amortize import CostReport

# Prior scores: with no evidence at all, prompting a capable model is the right start.
PRIOR: dict[str, float] = {"prompt": 1.0, "rag": 0.5}
VIABLE_WITHIN = 4.0  # a strategy within this many points of the winner is still viable


def _score(
    scenario: Scenario, extra: tuple[Rule, ...], costed: bool
) -> tuple[dict, dict, list[Rule]]:
    """Rule points, rule vetoes and fired rules. Returns (scores, vetoed, fired)."""
    scores = {s: PRIOR.get(s, 0.0) for s in STRATEGIES}
    vetoed: dict[str, Rule] = {}
    # with a cost report the cost model answers the volume question, not the crude floor
    rules = [r for r in RULES if not (r.id == "below_break_even" and costed)]
    fired = [r for r in (*rules, *extra) if r.when(scenario)]
    for rule in fired:
        for strategy, delta in rule.effects.items():
            scores[strategy] += delta
        for strategy in rule.vetoes:
            vetoed.setdefault(strategy, rule)
    return scores, vetoed, fired


class Decision(BaseModel):
    """The one comparison rule applied: the pick, the order, and why."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    pick: str
    order: tuple[str, ...]
    feasible: tuple[str, ...]
    scores: dict[str, float]
    unmet: dict[str, tuple[Unmet, ...]]
    """Each strategy's unmet needs (empty: it meets them all)."""
    reference: str | None
    """The cheapest strategy that meets every need (with a cost report)."""
    override: tuple[str, str] | None = None
    """(rule id, reason) when a named rule picked a dearer strategy than the reference."""


def decide(
    s: Scenario, costs: CostReport | None, extra: tuple[Rule, ...], measured: Sequence
) -> tuple[Decision, list[Rule]]:
    """The pick, the order and why, and the rules that fired (see the module's docstring)."""
    scores, vetoed, fired = _score(s, extra, costs is not None)
    unmet = unmet_needs(s, measured)
    fit = sorted(STRATEGIES, key=lambda k: (-scores[k], STRATEGIES.index(k)))
    feasible = [k for k in fit if not unmet[k] and k not in vetoed]
    tco = (lambda k: costs.cost(k).tco_usd) if costs else None
    # with no strategy meeting every need: the one with the fewest unmet, then the best fit
    shortfall = lambda k: len(unmet[k]) + (k in vetoed)  # noqa: E731
    reference, override, pick = None, None, (feasible or sorted(fit, key=shortfall))[0]
    if costs and feasible:
        reference = min(feasible, key=lambda k: (tco(k), STRATEGIES.index(k)))
        pick, found = reference, _override(fired, feasible, reference)
        if found:
            pick, override = found[0], found[1:]
    key = tco if costs else (lambda k: -scores[k])
    rest = sorted((k for k in STRATEGIES if k != pick), key=lambda k: (k not in feasible, key(k)))
    decision = Decision(
        pick=pick,
        order=(pick, *rest),
        feasible=tuple(feasible),
        scores=scores,
        unmet=unmet,
        reference=reference,
        override=override,
    )
    return decision, fired


def _override(fired: list[Rule], feasible: list[str], cheapest: str) -> tuple[str, str, str] | None:
    """(strategy, rule id, reason): a fired rule that may override the cheapest strategy
    (format guarantees, quality at a high bar, expertise on a device) picks the strategy
    it favours most among those that meet every need, when it favours it over the cheapest."""
    for r in fired:
        if cheapest not in r.overrides:
            continue
        favourite = max(feasible, key=lambda k: r.effects.get(k, 0))
        if r.effects.get(favourite, 0) > r.effects.get(cheapest, 0):
            return favourite, r.id, r.override_reason
    return None


def pick(scenario: Scenario, extra: tuple[Rule, ...] = (), costs: CostReport | None = None) -> str:
    """The winning strategy id only (cheap; used for counterfactuals and tests)."""
    return decide(scenario, costs, extra, ())[0].pick
