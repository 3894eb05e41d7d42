"""Table-driven tests: the decision table's rows, the combinations, and variations."""

import pytest

from advisor import Scenario, load_scenario, recommend
from advisor.recommend import pick
from tests.conftest import EXAMPLES

EXAMPLE_PICKS = {
    "support_tone_finetune.yaml": "fine_tune",
    "product_faq_rag.yaml": "rag",
    "ticket_triage_distill.yaml": "distill",
    "prototype_prompt.yaml": "prompt",
    "invoice_json_constrained.yaml": "fine_tune_constrained",
    "policy_assistant_distill_rag.yaml": "distill_rag",
    "legal_drafting_ft_rag.yaml": "fine_tune_rag",
    "field_manual_edge.yaml": "fine_tune_then_distill",
    "chat_cascade.yaml": "cascade",
    "support_intents_routing.yaml": "fine_tune",
    "contract_review_7b_full.yaml": "fine_tune",
}


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == set(EXAMPLE_PICKS)


@pytest.mark.parametrize(("name", "expected"), sorted(EXAMPLE_PICKS.items()))
def test_example_picks_the_tables_tool(name, expected):
    rec = recommend(load_scenario(EXAMPLES / name))
    assert rec.recommended == expected
    assert rec.ranking[0].verdict == "recommended"
    assert rec.ranking[0].strategy == expected
    assert len(rec.ranking) == 9


def _base(**kw) -> Scenario:
    """A neutral, stable, mid-volume scenario; tests override what they probe."""
    fields = dict(
        task_kind="summarize_generate",
        gaps=("behaviour_format_style",),
        task_definition="stable",
        labelled_examples_available=500,
        requests_per_month=100_000,
        horizon_months=12,
        deployment="own_cloud_gpu",
    )
    return Scenario(**(fields | kw))


VARIATIONS = [
    # (description, overrides, expected pick)
    ("behaviour with examples", {}, "fine_tune"),
    (
        "behaviour, examples only obtainable",
        {"labelled_examples_available": 0, "labelled_examples_obtainable": 400},
        "fine_tune",
    ),
    ("behaviour but evolving task", {"task_definition": "evolving"}, "prompt"),
    ("behaviour but one-off", {"task_definition": "one_off"}, "prompt"),
    (
        "behaviour but low volume",
        {"requests_per_month": 3000, "frontier_outputs_good": True},
        "prompt",
    ),
    (
        "behaviour, low volume, but a capable model falls short",
        {"requests_per_month": 3000},
        "fine_tune",
    ),
    (
        "behaviour but 2-month horizon",
        {"horizon_months": 2, "frontier_outputs_good": True},
        "prompt",
    ),
    ("behaviour but 5 examples", {"labelled_examples_available": 5}, "prompt"),
    (
        "classification, 8 per class",
        {"task_kind": "classify", "label_classes": 50, "labelled_examples_available": 400},
        "prompt",
    ),
    (
        "classification, 20 per class",
        {"task_kind": "classify", "label_classes": 20, "labelled_examples_available": 400},
        "fine_tune",
    ),
    (
        "daily-changing facts",
        {"gaps": ("missing_knowledge",), "facts_change_interval_days": 1},
        "rag",
    ),
    ("static missing knowledge", {"gaps": ("missing_knowledge",)}, "rag"),
    ("strict format", {"strict_output_format": True}, "fine_tune_constrained"),
    (
        "strict JSON extraction on vendor API",
        {"strict_output_format": True, "task_kind": "extract", "deployment": "vendor_api"},
        "fine_tune_constrained",
    ),
    (
        "frontier good, cost gap",
        {"gaps": ("cost_latency_at_volume",), "frontier_outputs_good": True},
        "distill",
    ),
    (
        "frontier good, high volume, behaviour",
        {"frontier_outputs_good": True, "requests_per_month": 1_000_000},
        "distill",
    ),
    (
        "frontier good, high bar, vendor",
        {
            "gaps": ("cost_latency_at_volume",),
            "frontier_outputs_good": True,
            "quality_bar_pct": 98,
            "deployment": "vendor_api",
        },
        "cascade",
    ),
    (
        "frontier good, high bar, on-prem: no cascade",
        {
            "gaps": ("cost_latency_at_volume",),
            "frontier_outputs_good": True,
            "quality_bar_pct": 98,
            "deployment": "on_prem_private",
        },
        "distill",
    ),
    (
        "distill with changing facts",
        {
            "gaps": ("cost_latency_at_volume", "missing_knowledge"),
            "frontier_outputs_good": True,
            "facts_change_interval_days": 10,
        },
        "distill_rag",
    ),
    (
        "behaviour + knowledge",
        {"gaps": ("behaviour_format_style", "missing_knowledge")},
        "fine_tune_rag",
    ),
    ("edge device, expertise", {"deployment": "edge_offline"}, "fine_tune_then_distill"),
    (
        "edge device, frontier good",
        {
            "deployment": "edge_offline",
            "frontier_outputs_good": True,
            "gaps": ("cost_latency_at_volume",),
        },
        "distill",
    ),
    (
        "distilled base model, frontier good: re-distill from the teacher",
        {"base_model_is_distilled": True, "frontier_outputs_good": True},
        "distill",
    ),
    (
        "distilled base model: fine-tune a capable teacher, then re-distill",
        {"base_model_is_distilled": True},
        "fine_tune_then_distill",
    ),
    (
        "tiny total volume",
        {"requests_per_month": 12_000, "horizon_months": 4, "frontier_outputs_good": True},
        "prompt",
    ),
]


@pytest.mark.parametrize(
    ("desc", "overrides", "expected"), VARIATIONS, ids=[v[0] for v in VARIATIONS]
)
def test_variations(desc, overrides, expected):
    assert pick(_base(**overrides)) == expected


def test_at_least_twenty_table_driven_scenarios():
    assert len(VARIATIONS) + len(EXAMPLE_PICKS) >= 20


def test_recommendation_is_deterministic_and_complete():
    s = load_scenario(EXAMPLES / "ticket_triage_distill.yaml")
    a, b = recommend(s), recommend(s)
    assert a == b
    assert {r.strategy for r in a.ranking} == {
        "prompt",
        "rag",
        "fine_tune",
        "fine_tune_constrained",
        "fine_tune_rag",
        "distill",
        "distill_rag",
        "fine_tune_then_distill",
        "cascade",
    }
    assert a.summary.startswith("Recommended: Distill")
    # a routing task's student is an encoder classifier taught from unlabelled inputs
    assert a.next_pilot.method == "distill_classifier"
    assert "--inputs" in a.next_pilot.command and "--teacher-model gpt-4o" in a.next_pilot.command
    assert all(r.source for r in a.fired)
    scores = [r.score for r in a.ranking]
    assert scores[0] == max(scores)


def test_would_change_names_a_real_flip():
    s = load_scenario(EXAMPLES / "support_tone_finetune.yaml")
    rec = recommend(s)
    assert any("evolving" in line and "Prompt a capable model" in line for line in rec.would_change)
    # each claimed flip really flips
    flipped = pick(s.model_copy(update={"task_definition": "evolving"}))
    assert flipped == "prompt"
