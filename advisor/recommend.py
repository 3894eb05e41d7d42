"""`recommend(scenario, costs) -> Recommendation`: pure, deterministic, fast.

The one comparison rule. A strategy that leaves one of the scenario's needs unmet
(advisor/needs.py) or that a rule vetoes is not advised. Among the rest, with a cost
report, the cheapest over the horizon is recommended, unless a rule that names its
reason (format guarantees, quality at a high bar, expertise on a device) favours a dearer
one; every strategy is then compared with the pick, and the pick with the cheapest one
that meets the needs. Without a cost report the decision table's points decide (each
strategy starts from a small prior, every rule that fires adds its effects; ties go to
the simpler strategy, the order of STRATEGIES).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from advisor.costrules import SOURCE as COST_SOURCE
from advisor.costrules import comparison_text, model_sentence, path_sentence, reference_sentence
from advisor.decision import VIABLE_WITHIN, Decision, decide, pick  # noqa: F401 (pick: re-exported)
from advisor.measured import measurement_rules
from advisor.needs import Unmet
from advisor.rules import STRATEGIES, STRATEGY_LABELS, Rule
from advisor.whatif import what_would_change
from core.labels import money
from core.measurement import Measurement
from core.scenario import NO_MODEL, Scenario
from core.vocab import METHODS, pilot_for
from costmodels.amortize import CostReport, estimate

Verdict = Literal["recommended", "viable", "not_advised"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reason(_Frozen):
    rule_id: str
    kind: Literal["table", "combination", "caveat", "cost", "measured", "need"]
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
    """Points from the decision table's rules (how well the strategy fits the situation);
    the order is by needs met, then cost where a cost report is given."""
    tco_usd: float | None = None
    """Total cost over the horizon, when a cost report was given."""
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
    reference: str | None = None
    """The cheapest strategy that meets every need (with a cost report)."""
    override_reason: str | None = None
    """Why a dearer strategy than the reference was picked ("format guarantees")."""

    @property
    def candidates(self) -> tuple[str, ...]:
        """The strategies that meet every need (the Monte Carlo counts P(cheapest) among
        them)."""
        return tuple(r.strategy for r in self.ranking if r.verdict != "not_advised")


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


def _need_reason(u: Unmet) -> Reason:
    return Reason(
        rule_id=f"need_{u.need}",
        kind="need",
        situation=f"A {u.kind} need it cannot meet",
        text=u.text,
        source="adapt needs: the scenario's answers and complete pilot measurements",
        veto=True,
    )


def _verdict(k: str, d: Decision, costs: CostReport | None) -> Verdict:
    if k == d.pick:
        return "recommended"
    if k not in d.feasible:
        return "not_advised"
    if costs is not None:
        return "viable"  # meets every need; the cost reason says by how much it costs more
    top = d.scores[d.feasible[0]]
    return "viable" if 0 < d.scores[k] >= top - VIABLE_WITHIN else "not_advised"


def _ranked(k: str, d: Decision, fired: list[Rule], costs) -> RankedStrategy:
    """One row of the ranking: unmet needs and vetoes first, then cost, then the rules."""
    reasons = [_need_reason(u) for u in d.unmet[k]]
    reasons += [_reason(r, veto=True) for r in fired if k in r.vetoes]
    if costs is not None:
        text = f"{comparison_text(costs, k, d.pick)} {path_sentence(costs, k)}".strip()
        reasons.append(
            Reason(
                rule_id=f"cost_{k}",
                kind="cost",
                situation="Total cost over the horizon",
                text=text,
                source=COST_SOURCE,
            )
        )
    reasons += [_reason(r, r.effects[k]) for r in fired if k in r.effects and r.effects[k]]
    return RankedStrategy(
        strategy=k,
        label=STRATEGY_LABELS[k],
        verdict=_verdict(k, d, costs),
        score=round(d.scores[k], 3),
        tco_usd=float(costs.cost(k).tco_usd) if costs else None,
        reasons=tuple(reasons),
    )


def _why(d: Decision, fired: list[Rule], costs) -> str:
    """The summary's reasons: needs, the best-fitting rule, the cost comparison."""
    if d.pick not in d.feasible:
        needs = " ".join(u.text for u in d.unmet[d.pick])
        return f"No strategy meets every need; this one fits best, but: {needs}"
    best = max(
        (r for r in fired if r.effects.get(d.pick, 0) > 0),
        key=lambda r: r.effects[d.pick],
        default=None,
    )
    if costs is None:
        return best.rationale if best else "nothing argues for a bigger investment yet."
    runner_up = next((k for k in d.order[1:] if k in d.feasible), None)
    text = reference_sentence(costs, d.pick, d.reference, runner_up)
    if d.override:
        rule = next(r for r in fired if r.id == d.override[0])
        text = f"Chosen for {d.override[1]}, over cost: {rule.rationale} {text}"
    elif best is not None and best.kind != "measured":
        text = f"{text} {best.rationale}"
    if note := path_sentence(costs, d.pick):
        text += f" {note}"
    cheapest = min(STRATEGIES, key=lambda k: costs.cost(k).tco_usd)
    if cheapest not in d.feasible:  # quality or deployment overrides cost: say so
        why_not = d.unmet[cheapest][0].text if d.unmet[cheapest] else "a rule rules it out."
        text += (
            f" {STRATEGY_LABELS[cheapest]} would cost less "
            f"({money(costs.cost(cheapest).tco_usd)}), but it is ruled out. {why_not}"
        )
    return text


def pilot_command(method: str, scenario: Scenario) -> str:
    """The next pilot as a command line the team fills in: distillation teaches from their
    unlabelled inputs, with the model they call today as the teacher."""
    spec = METHODS[method]
    if spec.unlabelled_inputs:
        teacher = scenario.capable_model if scenario.capable_model != NO_MODEL else "MODEL"
        return (
            f"adapt pilot --method {method} --inputs YOUR_INPUTS.csv --holdout-data "
            f"YOUR_LABELLED.csv --teacher-url YOUR_ENDPOINT --teacher-model {teacher}"
        )
    docs = " --docs YOUR_DOCUMENTS/" if spec.documents else ""
    data = "YOUR_QUESTIONS.jsonl" if spec.documents else "YOUR_DATA.csv"
    if scenario.task_kind == "extract" and not spec.documents:  # text and fields, a schema
        data = "YOUR_FIELDS.jsonl --schema YOUR_SCHEMA.json"
    return f"adapt pilot --method {method} --data {data}{docs}"


def recommend(
    scenario: Scenario,
    costs: CostReport | None = None,
    extra_rules: tuple[Rule, ...] = (),
    measurements: Sequence[Measurement] = (),
    estimator: Callable[[Scenario], CostReport] | None = None,
) -> Recommendation:
    """Rank every strategy for this scenario, with the reasons. Strategies that leave a need
    unmet are not advised; with a cost report, the cheapest strategy that meets every need
    is recommended unless a named rule overrides cost, and every strategy is compared with
    the recommended one. Complete pilot measurements decide needs and add reasons; the
    summary says when they overturned the prior pick. `estimator` re-estimates costs for
    the what-ifs (default: the report's assumptions with the default prices)."""
    if costs is not None and estimator is None:
        estimator = lambda s: estimate(s, costs.assumptions)  # noqa: E731
    measured = measurement_rules(scenario, list(measurements))
    prior = decide(scenario, costs, extra_rules, ())[0].pick
    rules = (*extra_rules, *measured)
    d, fired = decide(scenario, costs, rules, measurements)
    ranking = [_ranked(k, d, fired, costs) for k in d.order]
    winner = ranking[0]
    because, overturned = _why(d, fired, costs), None
    if winner.strategy != prior:
        evidence = " ".join(r.rationale for r in measured)
        overturned = f"The pilots overturned the prior pick, {STRATEGY_LABELS[prior]}: {evidence}"
        because = f"{overturned} {because}"
    method, why = pilot_for(winner.strategy, scenario.task_kind, scenario.fields_in_text)
    if costs is not None:
        because = f"{because} {model_sentence(costs, scenario)}"
    return Recommendation(
        recommended=winner.strategy,
        summary=f"Recommended: {winner.label}. {because}",
        ranking=tuple(ranking),
        fired=tuple(_reason(r) for r in fired),
        caveats=tuple(_reason(r) for r in fired if r.kind == "caveat"),
        would_change=what_would_change(scenario, winner.strategy, rules, estimator),
        next_pilot=PilotSuggestion(
            method=method,
            why=why,
            command=pilot_command(method, scenario),
        ),
        overturned=overturned,
        reference=d.reference,
        override_reason=d.override[1] if d.override else None,
    )
