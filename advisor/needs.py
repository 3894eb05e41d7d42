"""What the scenario needs, as data, and which strategies cannot meet each need.

A need is a hard requirement read from the questionnaire (and from complete pilot
measurements): where the model may run, whether a capable model's outputs are good
enough, whether missing facts must be retrieved, whether the task is settled enough to
train for, whether there are examples enough to fine-tune. A strategy that leaves any
need unmet is not advised, whatever it costs; among those that meet every need, the
cheapest is recommended unless a named rule overrides cost (see `Rule.overrides`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from advisor.measured import evidence_gaps
from advisor.rules import NEEDS_VENDOR_AT_SERVE, self_hosted, too_few_examples
from core.measurement import Measurement
from core.scenario import Scenario
from core.vocab import (
    ADAPTED,
    BASELINE_FOR,
    ENDPOINT_MEASURES,
    FINE_TUNE_FAMILY,
    METHODS,
    STRATEGIES,
)

RETRIEVES: frozenset[str] = frozenset({"rag", "fine_tune_rag", "distill_rag"})
NEEDS_GOOD_TEACHER: frozenset[str] = frozenset({"distill", "distill_rag", "cascade"})
TUNES_A_DISTILLED_BASE: frozenset[str] = frozenset(
    {"fine_tune", "fine_tune_constrained", "fine_tune_rag"}
)
DEPLOYMENT_WORDS = {
    "on_prem_private": "on-premises for private data",
    "edge_offline": "on an edge or offline device",
}
NeedKind = Literal["deployment", "quality", "knowledge", "stability", "data"]


@dataclass(frozen=True)
class Need:
    id: str
    kind: NeedKind
    unmet_by: Callable[[Scenario], frozenset[str]]
    """The strategies that cannot meet this need in this scenario (empty: need absent)."""
    text: Callable[[Scenario], str]
    """Why, in a product manager's words."""


def _prompt_quality_unmet(s: Scenario) -> frozenset[str]:
    """A capable model prompted falls short (the PM's answer). Retrieval fixes the shortfall
    only when missing knowledge explains all of it."""
    if s.frontier_outputs_good:
        return frozenset()
    only_knowledge = set(s.gaps) <= {"missing_knowledge", "cost_latency_at_volume"} and (
        "missing_knowledge" in s.gaps
    )
    teacher = {"distill", "cascade"} | ({"prompt"} if only_knowledge else {"prompt", "rag"})
    if not only_knowledge:
        teacher |= {"distill_rag"}
    return frozenset(teacher)


NEEDS: tuple[Need, ...] = (
    Need(
        id="self_hosted",
        kind="deployment",
        unmet_by=lambda s: NEEDS_VENDOR_AT_SERVE if self_hosted(s) else frozenset(),
        text=lambda s: (
            f"Deployment: the model must run {DEPLOYMENT_WORDS.get(s.deployment, '')}, "
            "so a vendor's API cannot be called at serving time."
        ),
    ),
    Need(
        id="frontier_not_good",
        kind="quality",
        unmet_by=_prompt_quality_unmet,
        text=lambda s: (
            "Quality: a capable model, prompted well, does not give good enough "
            f"outputs today (your answer), so it cannot meet the {s.quality_bar_pct:g}% bar, nor "
            "teach a student to."
        ),
    ),
    Need(
        id="missing_knowledge",
        kind="knowledge",
        unmet_by=lambda s: (
            frozenset(STRATEGIES) - RETRIEVES if "missing_knowledge" in s.gaps else frozenset()
        ),
        text=lambda s: (
            "Knowledge: the facts the model lacks must be retrieved at request "
            "time; weights do not hold facts reliably (Ovadia et al. 2024)."
        ),
    ),
    Need(
        id="task_not_settled",
        kind="stability",
        unmet_by=lambda s: ADAPTED if s.task_definition != "stable" else frozenset(),
        text=lambda s: (
            f"Stability: the task is {s.task_definition.replace('_', '-')}, so a "
            "trained model would be rebuilt with every change of the task."
        ),
    ),
    Need(
        id="too_few_examples",
        kind="data",
        unmet_by=lambda s: FINE_TUNE_FAMILY if too_few_examples(s) else frozenset(),
        text=lambda s: (
            f"Data: {s.examples_total:,} labelled examples"
            + (f" for {s.label_classes} labels" if s.label_classes else "")
            + " are too few to fine-tune (at least 100, or 10 per label)."
        ),
    ),
    Need(
        id="distilled_base",
        kind="quality",
        unmet_by=lambda s: TUNES_A_DISTILLED_BASE if s.base_model_is_distilled else frozenset(),
        text=lambda s: (
            "Quality: fine-tuning an already distilled base model tends to degrade "
            "it; pick a non-distilled base or re-distill from the teacher."
        ),
    ),
)


@dataclass(frozen=True)
class Unmet:
    need: str
    kind: NeedKind
    text: str


def _measured(s: Scenario, measurements: Sequence[Measurement]) -> tuple[dict, set[str]]:
    """(strategy -> Unmet from a complete pilot below the bar, strategies a complete
    measurement showed meeting the bar)."""
    bar, below, met = s.quality_bar_pct / 100, {}, set()
    for m in measurements:
        if evidence_gaps(m):
            continue  # incomplete evidence never decides a need
        spec = METHODS[m.method]
        if m.endpoint is not None and m.method in ENDPOINT_MEASURES:
            strategy = ENDPOINT_MEASURES[m.method]
            if m.quality.ci_high < bar:
                why = (
                    f"Quality: the capable model ({m.endpoint.model}) asked by the "
                    f"{spec.label} pilot ({m.run_id}) reached {m.quality.text()}, below the "
                    f"{s.quality_bar_pct:g}% bar even at the top of its interval."
                )
                below.setdefault(strategy, Unmet("measured_below_bar", "quality", why))
            elif m.quality.ci_low >= bar:
                met.add(strategy)
        if spec.trains and m.quality.ci_high < bar:
            why = (
                f"Quality: the {spec.label} pilot ({m.run_id}) reached {m.quality.text()}, "
                f"below the {s.quality_bar_pct:g}% bar even at the top of its interval."
            )
            for strategy in spec.measures:
                below.setdefault(strategy, Unmet("measured_below_bar", "quality", why))
        elif spec.trains and m.quality.ci_low >= bar:
            met |= set(spec.measures)
        met |= {
            BASELINE_FOR[n] for n, q in m.baselines.items() if n in BASELINE_FOR and q.ci_low >= bar
        }
    return below, met


def unmet_needs(
    s: Scenario, measurements: Sequence[Measurement] = ()
) -> dict[str, tuple[Unmet, ...]]:
    """Every strategy's unmet needs (an empty tuple: it meets them all). A complete pilot
    that met the bar answers the quality and data needs for what it measured; one that
    fell below the bar adds an unmet quality need."""
    below, met = _measured(s, measurements)
    out: dict[str, list[Unmet]] = {k: [] for k in STRATEGIES}
    for need in NEEDS:
        for strategy in need.unmet_by(s):
            if strategy in met and need.kind in ("quality", "data"):
                continue
            out[strategy].append(Unmet(need.id, need.kind, need.text(s)))
    for strategy, unmet in below.items():
        out[strategy].append(unmet)
    return {k: tuple(v) for k, v in out.items()}
