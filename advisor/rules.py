"""The decision table, as data: every rule is a situation, what it does to each
strategy's score, a plain-language rationale and a source.

Scores are additive. A rule either nudges strategies (`effects`) or rules them out
(`vetoes`). Every predicate reads only the Scenario, so rules are easy to test one by
one. The thresholds are named constants below so that tests and docs can quote them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from core.scenario import CLASS_TASKS, Scenario
from core.vocab import (  # noqa: F401 (re-exported for the rules' readers)
    ADAPTED,
    FINE_TUNE_FAMILY,
    STRATEGIES,
    STRATEGY_LABELS,
    Strategy,
)

# Strategies that call a vendor's frontier model at serving time.
NEEDS_VENDOR_AT_SERVE: frozenset[str] = frozenset({"prompt", "rag", "cascade"})

FACTS_CHANGE_OFTEN_DAYS = 90  # facts that change within a quarter are "changing often"
LOW_VOLUME_REQUESTS_PER_MONTH = 10_000
HIGH_VOLUME_REQUESTS_PER_MONTH = 100_000
SHORT_HORIZON_MONTHS = 3
MIN_EXAMPLES = 10  # OpenAI: at least 10 examples
GOOD_EXAMPLES = 100  # OpenAI: clear gains at 50-100; Google: start at 100
MIN_EXAMPLES_PER_CLASS = 10
HIGH_QUALITY_BAR_PCT = 95.0
MIN_TOTAL_REQUESTS_OVER_HORIZON = 100_000  # crude payback floor when no cost model ran
OPENAI_FT_STOP = "2027-01-06"

SOURCE_TABLE = "adapt decision table, after OpenAI and Google fine-tuning guides"
SOURCE_OPENAI_FT = "OpenAI, Fine-tuning guide: at least 10 examples, clear gains at 50-100"
SOURCE_GOOGLE_FT = "Google Cloud, Vertex AI tuning: start with 100 or more examples"


@dataclass(frozen=True)
class Rule:
    id: str
    kind: Literal["table", "combination", "caveat", "cost", "measured"]
    situation: str
    rationale: str
    source: str
    when: Callable[[Scenario], bool]
    effects: dict[str, float] = field(default_factory=dict)
    vetoes: frozenset[str] = frozenset()
    overrides: frozenset[str] = frozenset()
    """Cheaper strategies this rule may override: when it favours a dearer strategy that
    meets every need over one of these, the dearer one is picked and the text says why."""
    override_reason: str = ""
    """The overriding reason in a few words ("format guarantees")."""


# ---- predicates over the scenario ------------------------------------------------


def facts_change_often(s: Scenario) -> bool:
    return s.facts_change_interval_days <= FACTS_CHANGE_OFTEN_DAYS


def too_few_examples(s: Scenario) -> bool:
    """Below what the vendors' guides call a useful training set."""
    n = s.examples_total
    if s.task_kind in CLASS_TASKS and s.label_classes >= 2:
        return n / s.label_classes < MIN_EXAMPLES_PER_CLASS or n < MIN_EXAMPLES
    return n < GOOD_EXAMPLES


def enough_examples(s: Scenario) -> bool:
    return not too_few_examples(s)


def stable(s: Scenario) -> bool:
    return s.task_definition == "stable"


def prompt_territory(s: Scenario) -> bool:
    return (
        s.task_definition != "stable"
        or s.requests_per_month < LOW_VOLUME_REQUESTS_PER_MONTH
        or s.horizon_months <= SHORT_HORIZON_MONTHS
    )


def needed_cheaper_at_volume(s: Scenario) -> bool:
    return s.frontier_outputs_good and (
        "cost_latency_at_volume" in s.gaps or s.requests_per_month >= HIGH_VOLUME_REQUESTS_PER_MONTH
    )


def self_hosted(s: Scenario) -> bool:
    return s.deployment in ("on_prem_private", "edge_offline")


# ---- the rules --------------------------------------------------------------------

TRAINING = ADAPTED  # every strategy that costs a training investment

RULES: tuple[Rule, ...] = (
    # The five rows of the decision table.
    Rule(
        id="demonstrable_behaviour",
        kind="table",
        situation="Behaviour is hard to specify but easy to demonstrate, stable task",
        rationale="Examples teach what instructions cannot: fine-tune.",
        source=SOURCE_TABLE,
        when=lambda s: "behaviour_format_style" in s.gaps and stable(s) and enough_examples(s),
        effects={
            "fine_tune": 4,
            "fine_tune_constrained": 2.5,
            "fine_tune_rag": 1.5,
            "fine_tune_then_distill": 1,
            "cascade": 0.5,
        },
    ),
    Rule(
        id="changing_facts",
        kind="table",
        situation="Knowledge is factual and changes often",
        rationale="Do not bake changing facts into weights: retrieve them (RAG).",
        source=SOURCE_TABLE,
        when=lambda s: "missing_knowledge" in s.gaps and facts_change_often(s),
        effects={
            "rag": 4,
            "distill_rag": 1.5,
            "fine_tune": -3,
            "fine_tune_constrained": -3,
            "distill": -2,
            "fine_tune_then_distill": -3,
        },
    ),
    Rule(
        id="distill_at_volume",
        kind="table",
        situation="A frontier model already gives good outputs and they are needed cheaper at "
        "volume",
        rationale="Transfer the behaviour to a cheap student: distill.",
        source=SOURCE_TABLE,
        when=needed_cheaper_at_volume,
        effects={"distill": 5, "distill_rag": 2, "cascade": 3, "fine_tune_then_distill": 1},
    ),
    Rule(
        id="prompt_first",
        kind="table",
        situation="Task is one-off, low-volume, or still being defined",
        rationale="Not worth the training investment yet: prompt a capable model.",
        source=SOURCE_TABLE,
        when=prompt_territory,
        effects={"prompt": 5, "rag": 1} | {k: -3 for k in TRAINING},
    ),
    Rule(
        id="format_guarantees",
        kind="table",
        situation="Format guarantees are needed",
        rationale="Bake in the format by fine-tuning, enforce it at decode with constrained "
        "decoding.",
        source=SOURCE_TABLE,
        when=lambda s: s.strict_output_format,
        effects={"fine_tune_constrained": 4, "fine_tune": 1},
        # a self-hosted model without constrained decoding guarantees no format; a vendor's
        # structured outputs do, so prompt and RAG are not overridden
        overrides=frozenset(
            {"fine_tune", "fine_tune_rag", "distill", "distill_rag", "fine_tune_then_distill"}
        ),
        override_reason="format guarantees",
    ),
    # Combinations.
    Rule(
        id="distill_then_retrieve",
        kind="combination",
        situation="A good frontier teacher, needed cheaper at volume, and facts that change",
        rationale="Distill the behaviour from the teacher, supply current facts by retrieval.",
        source="Combination: distillation for behaviour + RAG for freshness",
        when=lambda s: (
            needed_cheaper_at_volume(s) and ("missing_knowledge" in s.gaps or facts_change_often(s))
        ),
        effects={"distill_rag": 5},
    ),
    Rule(
        id="fine_tune_plus_rag",
        kind="combination",
        situation="Both behaviour and knowledge are missing, with enough examples",
        rationale="Fine-tune behaviour, retrieve facts: the gains of the two add up.",
        source="RAFT (Zhang et al. 2024); Ovadia et al. 2024, 'Fine-tuning or retrieval?'",
        when=lambda s: (
            {"behaviour_format_style", "missing_knowledge"} <= set(s.gaps)
            and enough_examples(s)
            and stable(s)
        ),
        effects={"fine_tune_rag": 6},
    ),
    Rule(
        id="fine_tune_then_distill_edge",
        kind="combination",
        situation="Domain expertise is needed on an edge, mobile or offline device",
        rationale="Fine-tune a capable model for domain expertise first, then distill it into a "
        "small model that fits the device.",
        source="Combination: fine-tune teacher, then distill (e.g. DistilBERT, MiniLM recipes)",
        when=lambda s: (
            s.deployment == "edge_offline"
            and not s.frontier_outputs_good
            and enough_examples(s)
            and stable(s)
        ),
        effects={"fine_tune_then_distill": 5},
        overrides=frozenset({"fine_tune", "fine_tune_constrained", "fine_tune_rag"}),
        override_reason="domain expertise on the device",
    ),
    Rule(
        id="cascade_hard_tail",
        kind="combination",
        situation="High quality bar at volume, frontier model good, vendor reachable",
        rationale="Serve most requests with a small model and escalate the hard tail to the "
        "frontier model (a cascade): frontier quality at near-student cost.",
        source="FrugalGPT (Chen et al. 2023)",
        when=lambda s: (
            needed_cheaper_at_volume(s)
            and s.quality_bar_pct >= HIGH_QUALITY_BAR_PCT
            and not self_hosted(s)
        ),
        effects={"cascade": 6},
        overrides=ADAPTED - {"cascade"},
        override_reason="quality at a high bar",
    ),
    # Caveats.
    Rule(
        id="knowledge_not_in_weights",
        kind="caveat",
        situation="Knowledge is missing",
        rationale="Fine-tuning teaches behaviour, not facts: fine-tune behaviour, retrieve facts.",
        source="Ovadia et al. 2024, 'Fine-tuning or retrieval? Comparing knowledge injection "
        "in LLMs'",
        when=lambda s: "missing_knowledge" in s.gaps,
        effects={"rag": 1.5, "fine_tune": -1.5, "fine_tune_constrained": -1.5},
    ),
    Rule(
        id="too_few_examples",
        kind="caveat",
        situation=f"Fewer than {GOOD_EXAMPLES} examples ({MIN_EXAMPLES_PER_CLASS} per class for "
        "classification)",
        rationale="Too few examples means overfitting: collect more before fine-tuning "
        f"(at least {MIN_EXAMPLES}, gains at 50-100; per class for classification).",
        source=f"{SOURCE_OPENAI_FT}; {SOURCE_GOOGLE_FT}",
        when=too_few_examples,
        effects={k: -4 for k in FINE_TUNE_FAMILY},
    ),
    Rule(
        id="almost_no_examples",
        kind="caveat",
        situation=f"Fewer than {MIN_EXAMPLES} examples",
        rationale=f"Below the minimum of {MIN_EXAMPLES} examples a fine-tune cannot be trained "
        "or evaluated.",
        source=SOURCE_OPENAI_FT,
        when=lambda s: s.examples_total < MIN_EXAMPLES,
        vetoes=FINE_TUNE_FAMILY,
    ),
    Rule(
        id="distilled_base",
        kind="caveat",
        situation="The base model is itself a distilled model",
        rationale="Fine-tuning an already distilled model tends to give no change, overfitting, or "
        "degradation: design its surroundings (prompt, RAG, tools, pipelines) or re-distill "
        "from the teacher.",
        source="Practitioner reports on fine-tuning distilled checkpoints; adapt issue 2",
        when=lambda s: s.base_model_is_distilled,
        effects={
            "fine_tune": -3,
            "fine_tune_constrained": -3,
            "fine_tune_rag": -2,
            "fine_tune_then_distill": -2,
            "rag": 1,
            "prompt": 0.5,
            "distill": 1,
        },
    ),
    Rule(
        id="lora_forgetting",
        kind="caveat",
        situation="A fine-tune is on the table",
        rationale="LoRA/QLoRA is fine-tuning too: it trains a small add-on to the model's "
        "weights that can be swapped or merged, but it still shifts behaviour and can make "
        "the model forget what it did well; measure forgetting.",
        source="Hu et al. 2021 (LoRA); Biderman et al. 2024, 'LoRA learns less and forgets less'",
        when=lambda s: enough_examples(s) and stable(s),
    ),
    Rule(
        id="self_hosted_required",
        kind="caveat",
        situation="Private data on-premises, or an edge / offline device",
        rationale="Privacy, offline or edge needs a self-hosted small model: a vendor API at "
        "serving time is not an option.",
        source="Deployment constraint",
        when=self_hosted,
        effects={"fine_tune": 1, "distill": 1, "fine_tune_then_distill": 1, "prompt": -2},
        vetoes=frozenset({"cascade"}),
    ),
    Rule(
        id="vendor_platform_risk",
        kind="caveat",
        situation="Fine-tuning through a vendor's API",
        rationale="Vendor fine-tuning carries platform risk: a vendor can stop taking new "
        f"jobs (OpenAI's self-serve fine-tuning takes none after {OPENAI_FT_STOP}). The cost "
        "model prices every training after a path's end date through an open path instead, "
        "and says so; keep your data ready for open-weight models.",
        source="OpenAI platform announcement (deprecation of self-serve fine-tuning jobs); "
        "end dates in the price catalog",
        when=lambda s: s.deployment == "vendor_api",
        effects={k: -0.5 for k in FINE_TUNE_FAMILY},
    ),
    Rule(
        id="below_break_even",
        kind="caveat",
        situation=f"Fewer than {MIN_TOTAL_REQUESTS_OVER_HORIZON:,} requests over the horizon",
        rationale="Adaptation is an investment that must pass its break-even volume; at this "
        "volume "
        "the one-time cost is unlikely to pay back.",
        source="adapt cost model (break-even of one-time cost against per-request savings)",
        when=lambda s: s.requests_per_month * s.horizon_months < MIN_TOTAL_REQUESTS_OVER_HORIZON,
        effects={k: -4 for k in TRAINING},
    ),
)

RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
