"""Issue 26: a distillation run's measured teacher-labelled inputs and tokens per call
replace the cost model's assumed ones, and the note prices the calls they imply."""

from decimal import Decimal

import pytest

from advisor import load_scenario
from core.distill import DistillStats, StudentAtSize
from core.measurement import Measurement, QualityMeasure
from costmodels import estimate
from costmodels.assumptions import CostAssumptions
from costmodels.calibrate import calibrate
from costmodels.prices import load_catalog
from costmodels.strategies import api_call_usd
from tests.conftest import EXAMPLES


def _q(v: float, metric: str = "agreement") -> QualityMeasure:
    return QualityMeasure(metric=metric, value=v, ci_low=v - 0.03, ci_high=v + 0.03, n=300)


def _run(needed: int | None, tokens: float | None) -> Measurement:
    sizes = tuple(
        StudentAtSize(inputs=n, agreement=_q(v), accuracy=_q(v - 0.02, "accuracy"))
        for n, v in ((695, 0.84), (1390, 0.9), (2779, 0.96))
    )
    d = DistillStats(
        teacher="gpt-4o" if tokens else "run-1",
        teacher_kind="endpoint" if tokens else "classifier_run",
        gold_holdout=True,
        teacher_accuracy=_q(0.95, "accuracy"),
        inputs_labelled=2779,
        kept=2779,
        curve_student="fine-tuned on soft targets",
        sizes=sizes,
        student="fine-tuned on soft targets",
        agreement_bar=0.95,
        inputs_needed=needed,
        curve_top=0.97,
        teacher_input_tokens_per_request=tokens,
        teacher_output_tokens_per_request=4.0 if tokens else None,
        teacher_usd_per_request=0.004 if tokens else None,
    )
    return Measurement(
        run_id="distill-1", method="distill_classifier", model="all-minilm-l6-v2",
        model_params=22_000_000, device="cpu", train_examples=2779, holdout_examples=300,
        train_tokens=100_000, tokens_per_second=800.0, generation_tokens_per_second=0.0,
        peak_memory_mib=2000, wall_seconds=545, quality=_q(0.937, "accuracy"), distill=d,
    )  # fmt: skip


def test_measured_inputs_and_tokens_price_the_teacher_once():
    s = load_scenario(EXAMPLES / "ticket_triage_distill.yaml")
    cat = load_catalog()
    a = CostAssumptions()
    cal = calibrate(s, a, [_run(6050, 1410.0)], cat)
    b = cal.assumptions
    assert b.distill_examples == 6050 and a.distill_examples == 5000
    assert (b.teacher_input_tokens_per_request, b.teacher_output_tokens_per_request) == (1410, 4)
    (note,) = [n for n in cal.notes if n.startswith("Distillation:")]
    per_call = api_call_usd(cat.model("gpt-4o"), 1410.0, 4.0, batch=True)
    assert f"labels 6,050 inputs for ${6050 * per_call:,.2f} once" in note
    assert "agreed with its teacher 84.0% at 695, 90.0% at 1,390, 96.0% at 2,779" in note
    assert "measured" in note and "the teacher was right 95.0%" in note
    # the cost report's one-time teacher part is that sum, to the cent
    teacher = estimate(s, b, cat).cost("distill").one_time_breakdown_usd["teacher"]
    assert teacher == Decimal(f"{6050 * per_call:.2f}")


def test_an_unreachable_bar_keeps_the_assumed_count_and_says_so():
    s = load_scenario(EXAMPLES / "ticket_triage_distill.yaml")
    cal = calibrate(s, CostAssumptions(), [_run(None, None)], load_catalog())
    assert cal.assumptions.distill_examples == 5000
    (note,) = [n for n in cal.notes if n.startswith("Distillation:")]
    assert "95% agreement is not reachable with this student" in note
    assert "the scenario's" in note and "was a classifier run, not gpt-4o" in note


@pytest.mark.parametrize("needed", [1, 6050])
def test_the_advice_quotes_the_student_and_the_inputs_needed(needed):
    from advisor.measured import measurement_rules

    s = load_scenario(EXAMPLES / "ticket_triage_distill.yaml")
    (rule,) = [
        r for r in measurement_rules(s, [_run(needed, 1410.0)]) if r.id.endswith("classifier")
    ]
    assert f"about {needed:,} teacher-labelled inputs reach 95% agreement" in rule.rationale
    assert "scored on gold labels, the teacher 95.0%" in rule.rationale
