"""Each caveat and combination rule fires in a scenario made for it, and not without it."""

import pytest

from advisor import RULES, Scenario, recommend
from advisor.rules import FINE_TUNE_FAMILY, RULES_BY_ID


def fired(s: Scenario) -> set[str]:
    return {r.rule_id for r in recommend(s).fired}


BASE = dict(
    gaps=("behaviour_format_style",),
    labelled_examples_available=500,
    requests_per_month=100_000,
    deployment="own_cloud_gpu",
)

# rule id -> (scenario that makes it fire, scenario that does not)
CASES = {
    "demonstrable_behaviour": ({}, {"gaps": ("missing_knowledge",)}),
    "changing_facts": (
        {"gaps": ("missing_knowledge",), "facts_change_interval_days": 7},
        {"gaps": ("missing_knowledge",), "facts_change_interval_days": 365},
    ),
    "distill_at_volume": (
        {"frontier_outputs_good": True, "requests_per_month": 500_000},
        {"frontier_outputs_good": False, "requests_per_month": 500_000},
    ),
    "prompt_first": ({"task_definition": "evolving"}, {}),
    "format_guarantees": ({"strict_output_format": True}, {}),
    "distill_then_retrieve": (
        {
            "frontier_outputs_good": True,
            "requests_per_month": 500_000,
            "facts_change_interval_days": 20,
        },
        {"frontier_outputs_good": True, "requests_per_month": 500_000},
    ),
    "fine_tune_plus_rag": ({"gaps": ("behaviour_format_style", "missing_knowledge")}, {}),
    "fine_tune_then_distill_edge": ({"deployment": "edge_offline"}, {}),
    "cascade_hard_tail": (
        {
            "frontier_outputs_good": True,
            "requests_per_month": 500_000,
            "quality_bar_pct": 99,
            "deployment": "vendor_api",
        },
        {
            "frontier_outputs_good": True,
            "requests_per_month": 500_000,
            "quality_bar_pct": 80,
            "deployment": "vendor_api",
        },
    ),
    "knowledge_not_in_weights": ({"gaps": ("missing_knowledge",)}, {}),
    "too_few_examples": ({"labelled_examples_available": 40}, {}),
    "almost_no_examples": ({"labelled_examples_available": 3}, {"labelled_examples_available": 40}),
    "distilled_base": ({"base_model_is_distilled": True}, {}),
    "lora_forgetting": ({}, {"labelled_examples_available": 3}),
    "self_hosted_required": ({"deployment": "on_prem_private"}, {}),
    "vendor_platform_risk": ({"deployment": "vendor_api"}, {}),
    "below_break_even": ({"requests_per_month": 1000, "horizon_months": 6}, {}),
}


def test_every_rule_has_a_case_a_rationale_and_a_source():
    assert set(CASES) == {r.id for r in RULES}
    for r in RULES:
        assert r.rationale and r.source and r.situation


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_only_in_its_situation(rule_id):
    on, off = CASES[rule_id]
    assert rule_id in fired(Scenario(**(BASE | on)))
    assert rule_id not in fired(Scenario(**(BASE | off)))


def test_too_few_examples_counts_per_class_for_classification():
    s = dict(BASE, task_kind="classify", label_classes=77)
    assert "too_few_examples" in fired(Scenario(**(s | {"labelled_examples_available": 700})))
    assert "too_few_examples" not in fired(Scenario(**(s | {"labelled_examples_available": 800})))


def test_almost_no_examples_vetoes_every_fine_tune():
    rec = recommend(Scenario(**(BASE | {"labelled_examples_available": 3})))
    verdicts = {r.strategy: r.verdict for r in rec.ranking}
    assert all(verdicts[s] == "not_advised" for s in FINE_TUNE_FAMILY)


def test_vendor_platform_risk_quotes_the_date():
    assert "2027-01-06" in RULES_BY_ID["vendor_platform_risk"].rationale


def test_lora_caveat_mentions_merge_and_forgetting():
    text = RULES_BY_ID["lora_forgetting"].rationale
    assert "swapped or merged" in text and "forget" in text


def test_self_hosting_rules_out_the_cascade():
    rec = recommend(Scenario(**(BASE | {"deployment": "edge_offline"})))
    cascade = next(r for r in rec.ranking if r.strategy == "cascade")
    assert cascade.verdict == "not_advised"
    assert any(x.veto for x in cascade.reasons)
