"""Issue 27: the next pilot for extraction, a tagger's CPU serving pricing the extraction
student, and the measured invalid-output rate of free generation in the costs."""

import pytest

from advisor import recommend
from advisor.measured import measurement_rules
from core.extract import ExtractScores, ExtractStats
from core.measurement import Measurement, QualityMeasure, ServingSpeed
from core.scenario import load_scenario
from costmodels import estimate
from costmodels.assumptions import CostAssumptions, Range
from costmodels.calibrate import calibrate
from costmodels.prices import load_catalog
from costmodels.strategies import strategy_components
from tests.conftest import EXAMPLES

INVOICES = EXAMPLES / "invoice_json_constrained.yaml"


def _q(v: float, metric: str = "field F1", n: int = 300) -> QualityMeasure:
    return QualityMeasure(
        metric=metric, value=v, ci_low=max(0, v - 0.05), ci_high=min(1, v + 0.04), n=n
    )


def _scores(f1: float, valid: float) -> ExtractScores:
    return ExtractScores(
        parsed=_q(max(valid, 0.9), "parse rate"),
        valid=_q(valid, "schema-valid rate"),
        precision=f1,
        recall=f1,
        f1=_q(f1),
        exact=_q(f1 - 0.05, "exact match"),
    )


def _run(method: str, methods: dict, result: str, serving=None, invalid=None) -> Measurement:
    return Measurement(
        run_id=f"{method}1",
        method=method,
        model="m",
        model_params=22_000_000,
        device="cpu",
        device_name="AMD EPYC (2 cores)",
        train_examples=2000,
        holdout_examples=300,
        train_tokens=100_000,
        tokens_per_second=2000.0,
        generation_tokens_per_second=0.0,
        peak_memory_mib=1500,
        wall_seconds=200,
        quality=methods[result].f1,
        train_steps=504,
        planned_steps=504,
        stopped_by="done",
        serving=serving,
        invalid_label_share=invalid,
        extract=ExtractStats(
            schema_source="schema.json", fields=55, methods=methods, result=result
        ),
    )


def tagger_run() -> Measurement:
    speed = ServingSpeed(
        requests_per_second=400.0,
        latency_p50_ms=20.0,
        latency_p95_ms=40.0,
        batch_latency_p50_ms=70.0,
        batch_latency_p95_ms=90.0,
        batch_size=32,
        threads=2,
    )
    methods = {"tagger": _scores(0.755, 1.0), "gazetteer": _scores(0.6, 1.0)}
    return _run("tagger", methods, "tagger", serving=speed)


def lora_run(valid: float = 0.7) -> Measurement:
    methods = {"lora": _scores(0.7, valid), "lora + schema": _scores(0.72, 1.0)}
    return _run("lora", methods, "lora", invalid=1 - valid)


def test_extraction_names_the_tagger_or_the_constrained_lora():
    s = load_scenario(INVOICES)
    rec = recommend(s, estimate(s))
    assert rec.recommended == "fine_tune_constrained"
    assert rec.next_pilot.method == "tagger"
    assert "--schema YOUR_SCHEMA.json" in rec.next_pilot.command
    rewritten = s.model_copy(update={"fields_in_text": False})
    rec = recommend(rewritten, estimate(rewritten))
    assert (
        rec.next_pilot.method == "lora" and "constrained to your JSON Schema" in rec.next_pilot.why
    )


def test_a_tagger_prices_the_extraction_student_on_cpu_cores_and_is_quoted():
    s, cat = load_scenario(INVOICES), load_catalog()
    a = calibrate(s, CostAssumptions(), [tagger_run()], cat).assumptions
    assert a.classifier_requests_per_second_per_core.mode == pytest.approx(200.0)
    c = strategy_components(s, a, cat)["fine_tune_constrained"]
    core_s = a.cpu_core_usd_per_hour / 3600
    assert float(c.gpu_per_request) == pytest.approx(core_s / 200.0 / 0.5)  # utilization 0.5
    (rule,) = [r for r in measurement_rules(s, [tagger_run()]) if r.id == "measured_tagger"]
    text = rule.rationale
    assert "75.5%" in text and "schema-valid 100.0%" in text
    assert "serves 400 requests/s on 2 CPU threads" in text and "per million requests" in text


def test_the_measured_invalid_share_is_paid_by_free_decoding_only():
    s, cat = load_scenario(INVOICES), load_catalog()
    cal = calibrate(s, CostAssumptions(), [lora_run(0.7)], cat)
    share = cal.assumptions.invalid_output_share
    assert isinstance(share, Range) and share.mode == pytest.approx(0.3)
    assert any("did not parse or broke the schema" in n for n in cal.notes)
    before = strategy_components(s, CostAssumptions(), cat)
    after = strategy_components(s, cal.assumptions, cat)
    prompt_req = float(before["prompt"].api_per_request)
    extra = float(after["fine_tune"].api_per_request) - float(before["fine_tune"].api_per_request)
    assert extra == pytest.approx(0.3 * prompt_req, rel=1e-6)  # one more capable-model call each
    held = "fine_tune_constrained"
    assert float(after[held].api_per_request) == float(before[held].api_per_request)
    priced = estimate(s, cal.assumptions).cost("fine_tune").per_request_usd
    assert priced > estimate(s).cost("fine_tune").per_request_usd
