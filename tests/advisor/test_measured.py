"""Measured quality against the bar outranks the prior, and the reasons quote the numbers."""

import pytest

from advisor import load_scenario, recommend
from advisor.measured import measurement_rules
from advisor.rules import FINE_TUNE_FAMILY
from core.measurement import Measurement, QualityMeasure
from tests.conftest import EXAMPLES

ROUTING = EXAMPLES / "support_intents_routing.yaml"  # prior: fine-tune, bar 90%


def q(value, lo, hi, n=300):
    return QualityMeasure(metric="accuracy", value=value, ci_low=lo, ci_high=hi, n=n)


def measurement(method="lora", quality=None, **baselines):
    return Measurement(
        run_id=f"run-{method}",
        method=method,
        model="smollm2-135m-instruct",
        model_params=134_515_008,
        device="cpu",
        train_examples=256,
        holdout_examples=300,
        train_tokens=40_000,
        tokens_per_second=300.0 if method not in ("prompt", "retrieval") else 0.0,
        generation_tokens_per_second=50.0,
        peak_memory_mib=2000,
        wall_seconds=100,
        quality=quality or q(0.62, 0.57, 0.67),
        baselines=baselines,
    )


def test_lora_below_the_bar_overturns_fine_tune_with_numbers_quoted():
    s = load_scenario(ROUTING)
    assert recommend(s).recommended == "fine_tune"
    m = measurement(nearest_neighbour_label=q(0.81, 0.76, 0.85))
    rec = recommend(s, measurements=[m])
    assert rec.recommended == "rag"  # retrieval measured better than the tuned model
    assert rec.overturned and "62.0% [57.0%, 67.0%]" in rec.overturned
    assert "quality bar of 90%" in rec.overturned and "81.0%" in rec.summary
    for r in rec.ranking:
        if r.strategy in FINE_TUNE_FAMILY:
            assert r.verdict == "not_advised" and any(x.veto for x in r.reasons)


def test_lora_meeting_the_bar_strengthens_fine_tune():
    s = load_scenario(ROUTING)
    rec = recommend(s, measurements=[measurement(quality=q(0.95, 0.92, 0.97))])
    assert rec.recommended == "fine_tune" and rec.overturned is None
    top = rec.ranking[0]
    assert any(r.kind == "measured" and r.effect > 0 for r in top.reasons)


def test_interval_straddling_the_bar_is_information_only():
    (rule,) = measurement_rules(load_scenario(ROUTING), [measurement(quality=q(0.9, 0.85, 0.94))])
    assert not rule.vetoes and not rule.effects and "straddles" in rule.rationale


def test_best_run_of_a_method_counts():
    s = load_scenario(ROUTING)
    runs = [measurement(quality=q(0.5, 0.45, 0.55)), measurement(quality=q(0.95, 0.92, 0.97))]
    (rule,) = measurement_rules(s, runs)
    assert rule.effects and "95.0%" in rule.rationale


@pytest.mark.parametrize(("lo", "bonus"), [(0.91, True), (0.5, False)])
def test_retrieval_baseline_meeting_the_bar_counts_for_rag(lo, bonus):
    s = load_scenario(ROUTING)
    m = measurement("retrieval", quality=q(0.93, lo, 0.97), retrieval_few_shot=q(0.93, lo, 0.97))
    (rule,) = measurement_rules(s, [m])
    assert bool(rule.effects.get("rag")) is bonus and "93.0%" in rule.rationale


def test_no_measurements_change_nothing():
    s = load_scenario(ROUTING)
    assert recommend(s, measurements=[]) == recommend(s)


def test_a_pilot_cut_short_does_not_overturn_and_says_why():
    """Issue 13: stopped by its time limit after 4 of 60 steps, far below the bar."""
    s = load_scenario(ROUTING)
    prior = recommend(s).recommended
    short = measurement(quality=q(0.2, 0.15, 0.26)).model_copy(
        update={"train_steps": 4, "planned_steps": 60, "stopped_by": "minutes"}
    )
    rec = recommend(s, measurements=[short])
    assert rec.recommended == prior and rec.overturned is None
    (rule,) = [r for r in rec.fired if r.rule_id == "measured_lora"]
    assert "not complete evidence" in rule.text and "time limit after 4 of 60" in rule.text
    measured_vetoes = [
        x for r in rec.ranking for x in r.reasons if x.veto and "measured" in x.rule_id
    ]
    assert not measured_vetoes
    # the same numbers from a pilot that ran its whole plan do rule fine-tuning out
    full = short.model_copy(update={"train_steps": 60, "stopped_by": "done"})
    assert recommend(s, measurements=[full]).recommended != "fine_tune"


def test_a_tiny_holdout_is_quoted_not_acted_on():
    s = load_scenario(ROUTING)
    small = measurement(quality=q(0.2, 0.05, 0.5, n=8)).model_copy(update={"holdout_examples": 8})
    (rule,) = measurement_rules(s, [small])
    assert not rule.vetoes and "8 holdout rows" in rule.rationale


def test_a_linear_probe_meeting_the_bar_speaks_for_fine_tuning():
    """Issue 14, item 2: the probe is a small classifier; meeting the bar answers the
    fine-tune's quality and data needs, and the reason quotes it."""
    from advisor.needs import unmet_needs

    s = load_scenario(ROUTING).model_copy(update={"labelled_examples_available": 40})
    assert unmet_needs(s)["fine_tune"]  # 40 examples for 8 labels: too few to fine-tune
    m = measurement("retrieval", quality=q(0.9, 0.85, 0.94), linear_probe=q(0.95, 0.92, 0.97))
    assert not unmet_needs(s, [m])["fine_tune"]
    (rule,) = [r for r in measurement_rules(s, [m]) if r.id == "measured_linear_probe"]
    assert "linear probe" in rule.rationale and "a small classifier is enough" in rule.rationale
    assert rule.effects == {"fine_tune": 3.0}
