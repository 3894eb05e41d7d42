"""`recommend(scenario) -> Recommendation`: pure, deterministic, fast.

Each strategy starts from a small prior (simplest first), every rule that fires adds
its effects, vetoes rule strategies out, and the ranking is by score with ties going
to the simpler strategy (the order of STRATEGIES).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from advisor.costrules import cost_rules
from advisor.measured import measurement_rules
from advisor.rules import RULES, STRATEGIES, STRATEGY_LABELS, Rule
from core.measurement import Measurement
from core.scenario import Scenario
from core.vocab import PILOTS

if TYPE_CHECKING:
    from costmodels.amortize import CostReport

Verdict = Literal["recommended", "viable", "not_advised"]

# Prior scores: with no evidence at all, prompting a capable model is the right start.
PRIOR: dict[str, float] = {"prompt": 1.0, "rag": 0.5}
VIABLE_WITHIN = 4.0  # a strategy within this many points of the winner is still viable


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reason(_Frozen):
    rule_id: str
    kind: Literal["table", "combination", "caveat", "cost", "measured"]
    situation: str
    text: str
    source: str
    effect: float = 0.0
    """Points this rule added to (or took from) the strategy it is listed under."""
    veto: bool = False


class RankedStrategy(_Frozen):
    strategy: str
    label: str
    verdict: Verdict
    score: float
    reasons: tuple[Reason, ...]


class PilotSuggestion(_Frozen):
    method: str
    why: str
    command: str


class Recommendation(_Frozen):
    recommended: str
    summary: str
    ranking: tuple[RankedStrategy, ...]
    fired: tuple[Reason, ...]
    caveats: tuple[Reason, ...]
    would_change: tuple[str, ...]
    next_pilot: PilotSuggestion
    overturned: str | None = None
    """Set when pilot measurements changed the pick: what the prior said and why not."""


def _reason(rule: Rule, effect: float = 0.0, veto: bool = False) -> Reason:
    return Reason(
        rule_id=rule.id,
        kind=rule.kind,
        situation=rule.situation,
        text=rule.rationale,
        source=rule.source,
        effect=effect,
        veto=veto,
    )


def _score(
    scenario: Scenario, extra: tuple[Rule, ...] = ()
) -> tuple[list[str], dict, dict, list[Rule]]:
    """Scores, vetoes and fired rules. Returns (order, scores, vetoed, fired)."""
    scores = {s: PRIOR.get(s, 0.0) for s in STRATEGIES}
    vetoed: dict[str, Rule] = {}
    # with a cost report (extra cost rules), the crude volume floor gives way to real numbers
    has_costs = any(r.kind == "cost" for r in extra)
    rules = [r for r in RULES if not (has_costs and r.id == "below_break_even")]
    fired = [r for r in (*rules, *extra) if r.when(scenario)]
    for rule in fired:
        for strategy, delta in rule.effects.items():
            scores[strategy] += delta
        for strategy in rule.vetoes:
            vetoed.setdefault(strategy, rule)
    order = sorted(STRATEGIES, key=lambda s: (s in vetoed, -scores[s], STRATEGIES.index(s)))
    return order, scores, vetoed, fired


def pick(scenario: Scenario, extra: tuple[Rule, ...] = ()) -> str:
    """The winning strategy id only (cheap; used for counterfactuals and tests)."""
    return _score(scenario, extra)[0][0]


def _verdict(strategy: str, rank: int, scores: dict, vetoed: dict, top: float) -> Verdict:
    if rank == 0:
        return "recommended"
    if strategy in vetoed or scores[strategy] <= 0 or scores[strategy] < top - VIABLE_WITHIN:
        return "not_advised"
    return "viable"


# (description, change) pairs tried to find what would flip the decision.
def _counterfactuals(s: Scenario) -> list[tuple[str, dict]]:
    n, v = s.examples_total, s.requests_per_month
    out = [
        (f"requests_per_month were {v * 10:,} instead of {v:,}", {"requests_per_month": v * 10}),
        (f"requests_per_month were {v // 10:,} instead of {v:,}", {"requests_per_month": v // 10}),
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
    scenario: Scenario, current: str, extra: tuple[Rule, ...] = ()
) -> tuple[str, ...]:
    changes = []
    for text, patch in _counterfactuals(scenario):
        alt = pick(scenario.model_copy(update=patch), extra)
        if alt != current:
            changes.append(f"If {text}, the pick would be {STRATEGY_LABELS[alt]} ({alt}).")
    return tuple(changes)


def recommend(
    scenario: Scenario,
    costs: CostReport | None = None,
    extra_rules: tuple[Rule, ...] = (),
    measurements: Sequence[Measurement] = (),
) -> Recommendation:
    """Rank every strategy for this scenario, with the reasons that fired. With a cost
    report, adaptation must pass break-even and the reasons quote the numbers. With pilot
    measurements, measured quality against the bar outranks the prior, and the summary
    says when a pilot overturned it."""
    if costs is not None:
        extra_rules = (*extra_rules, *cost_rules(scenario, costs))
    prior = pick(scenario, extra_rules)
    measured = measurement_rules(scenario, list(measurements))
    extra_rules = (*extra_rules, *measured)
    order, scores, vetoed, fired = _score(scenario, extra_rules)
    top = scores[order[0]]
    ranking = []
    for rank, strategy in enumerate(order):
        reasons = [
            _reason(r, r.effects.get(strategy, 0.0), strategy in r.vetoes)
            for r in fired
            if strategy in r.effects or strategy in r.vetoes
        ]
        ranking.append(
            RankedStrategy(
                strategy=strategy,
                label=STRATEGY_LABELS[strategy],
                score=round(scores[strategy], 3),
                verdict=_verdict(strategy, rank, scores, vetoed, top),
                reasons=tuple(reasons),
            )
        )
    winner = ranking[0]
    best = max(winner.reasons, key=lambda r: r.effect, default=None)
    because = (
        best.text if best and best.effect > 0 else "nothing argues for a bigger investment yet."
    )
    money = next((r.text for r in winner.reasons if r.kind == "cost"), None)
    because = f"{because} {money}" if money else because
    overturned = None
    if winner.strategy != prior:
        evidence = " ".join(r.rationale for r in measured)
        overturned = f"The pilots overturned the prior pick, {STRATEGY_LABELS[prior]}: {evidence}"
        because = (
            overturned if best is None or best.kind == "measured" else f"{overturned} {because}"
        )
    method, why = PILOTS[winner.strategy]
    return Recommendation(
        recommended=winner.strategy,
        summary=f"Recommended: {winner.label}. {because}",
        ranking=tuple(ranking),
        fired=tuple(_reason(r) for r in fired),
        caveats=tuple(_reason(r) for r in fired if r.kind in ("caveat", "cost")),
        would_change=what_would_change(scenario, winner.strategy, extra_rules),
        next_pilot=PilotSuggestion(
            method=method,
            why=why,
            command=f"adapt pilot --method {method} --data YOUR_DATA.jsonl",
        ),
        overturned=overturned,
    )
