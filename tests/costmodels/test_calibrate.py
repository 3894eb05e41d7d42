"""Calibration: measured throughput and quality replace the assumptions they measure."""

import pytest

from advisor import load_scenario
from core.measurement import Measurement, QualityMeasure
from costmodels import CostAssumptions, estimate, load_catalog
from costmodels.calibrate import calibrate, matching_gpu
from costmodels.compute import training_flops
from tests.conftest import EXAMPLES

SCENARIO = EXAMPLES / "support_intents_routing.yaml"


def m(device_name, tps=3000.0, gen=900.0, acc=(0.8, 0.75, 0.85), method="lora"):
    return Measurement(
        run_id="r1",
        method=method,
        model="m",
        model_params=1_500_000_000,
        device="cuda:0" if "NVIDIA" in device_name else "cpu",
        device_name=device_name,
        train_examples=200,
        holdout_examples=300,
        train_tokens=10_000,
        tokens_per_second=tps,
        generation_tokens_per_second=gen,
        peak_memory_mib=1000,
        wall_seconds=60,
        quality=QualityMeasure(
            metric="accuracy", value=acc[0], ci_low=acc[1], ci_high=acc[2], n=300
        ),
    )


def test_gpu_name_matching():
    cat = load_catalog()
    assert matching_gpu("NVIDIA H100 80GB HBM3", cat) == "H100"
    assert matching_gpu("Intel(R) Xeon(R) Platinum (2 cores)", cat) is None


def test_measured_mfu_on_the_costed_gpu_replaces_the_assumption():
    cat, s = load_catalog(), load_scenario(SCENARIO)
    a = CostAssumptions(gpu="H100", student_params_billions=1.5)
    cal = calibrate(s, a, [m("NVIDIA H100 80GB HBM3")], cat)
    want = training_flops(1_500_000_000, 3000.0, "lora") / (cat.gpu("H100").peak_bf16_tflops * 1e12)
    assert cal.assumptions.training_mfu.mode == pytest.approx(want)
    # same model size as the student: serving throughput is the measured one
    assert cal.assumptions.serving_tokens_per_second.mode == pytest.approx(900.0)
    assert any("MFU" in n for n in cal.notes)
    # and the report changes with it
    before, after = estimate(s, a, cat), estimate(s, cal.assumptions, cat)
    assert before.cost("fine_tune").tco_usd != after.cost("fine_tune").tco_usd


def test_a_cpu_measurement_extrapolates_but_keeps_the_gpu_assumption():
    cat, s = load_catalog(), load_scenario(SCENARIO)
    a = CostAssumptions()
    cal = calibrate(s, a, [m("Some CPU (2 cores)", tps=300.0)], cat)
    assert cal.assumptions.training_mfu == a.training_mfu
    assert cal.assumptions.serving_tokens_per_second == a.serving_tokens_per_second
    note = next(n for n in cal.notes if n.startswith("Training"))
    tokens = s.examples_total * 65 * a.training_epochs
    assert f"{tokens / 300 / 3600:,.1f} hours" in note


def test_student_accuracy_sets_the_cascade_escalation_rate():
    cal = calibrate(
        load_scenario(SCENARIO),
        CostAssumptions(),
        [m("cpu", acc=(0.8, 0.75, 0.85))],
        load_catalog(),
    )
    r = cal.assumptions.escalation_rate
    assert (r.low, r.mode, r.high) == pytest.approx((0.15, 0.2, 0.25))


def test_no_measurements_keep_the_assumptions():
    a = CostAssumptions()
    cal = calibrate(load_scenario(SCENARIO), a, [], load_catalog())
    assert cal.assumptions == a and cal.notes
