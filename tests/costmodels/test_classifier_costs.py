"""Issue 14: a classifier pilot's measured CPU serving speed and escalation share replace
the cost model's decoder-on-GPU serving and its assumed escalation rate, and `adapt
recommend --runs` quotes both."""

import json

import pytest

from cli import main
from core.measurement import Abstention, Measurement, QualityMeasure, ServingSpeed
from core.scenario import Scenario
from costmodels import estimate
from costmodels.assumptions import CostAssumptions, nominal
from costmodels.calibrate import calibrate
from costmodels.prices import load_catalog
from costmodels.strategies import strategy_components


def _q(v: float, n: int = 300) -> QualityMeasure:
    return QualityMeasure(metric="accuracy", value=v, ci_low=v - 0.04, ci_high=v + 0.03, n=n)


def classifier_run(escalated: float = 0.2, rps: float = 800.0) -> Measurement:
    return Measurement(
        run_id="clf1",
        method="classifier",
        model="all-minilm-l6-v2",
        model_params=22_713_216,
        device="cpu",
        device_name="AMD EPYC (2 cores)",
        train_examples=770,
        holdout_examples=300,
        train_tokens=40_000,
        tokens_per_second=1300.0,
        generation_tokens_per_second=0.0,
        peak_memory_mib=1500,
        wall_seconds=120,
        quality=_q(0.88),
        baselines={"nearest_neighbour_label": _q(0.82), "linear_probe": _q(0.86)},
        train_steps=147,
        planned_steps=147,
        stopped_by="done",
        serving=ServingSpeed(
            requests_per_second=rps,
            latency_p50_ms=8.0,
            latency_p95_ms=11.0,
            batch_latency_p50_ms=40.0,
            batch_latency_p95_ms=45.0,
            batch_size=32,
            threads=2,
        ),
        abstention=Abstention(
            threshold=0.41,
            target_accuracy=0.95,
            answered=_q(0.95, n=round(300 * (1 - escalated))),
            escalated_share=escalated,
        ),
    )


SELF_HOSTED = Scenario(
    task_kind="classify", deployment="own_cloud_gpu", requests_per_month=2_000_000
)


def test_a_classifier_run_prices_the_student_on_cpu_cores_and_sizes_the_cascade():
    cat, prior = load_catalog(), CostAssumptions()
    cal = calibrate(SELF_HOSTED, prior, [classifier_run(0.2, 800.0)], cat)
    a = cal.assumptions
    assert nominal(a.classifier_requests_per_second_per_core) == pytest.approx(400.0)
    assert nominal(a.escalation_rate) == pytest.approx(0.2)
    before = strategy_components(SELF_HOSTED, prior, cat)
    after = strategy_components(SELF_HOSTED, a, cat)
    for s in ("fine_tune", "fine_tune_constrained", "distill", "cascade"):
        # CPU cores at $0.045 an hour instead of a GPU floor of a whole H100
        assert after[s].gpu_floor_monthly == pytest.approx(2 * 0.045 * 730)
        assert after[s].gpu_floor_monthly < before[s].gpu_floor_monthly / 10
        per_request = 0.045 / 3600 / 400 / nominal(a.gpu_utilization)
        assert after[s].gpu_per_request == pytest.approx(per_request)
    # retrieval still feeds a decoder: a classifier cannot read context
    assert after["fine_tune_rag"].gpu_floor_monthly == before["fine_tune_rag"].gpu_floor_monthly
    # the cascade escalates the measured 20%, not the assumed 15%, to the frontier model
    frontier = before["prompt"].api_per_request
    extra = after["cascade"].api_per_request - before["cascade"].api_per_request
    assert extra == pytest.approx((0.2 - nominal(prior.escalation_rate)) * frontier)
    fine_tune = estimate(SELF_HOSTED, a, cat).cost("fine_tune")
    assert fine_tune.tco_usd < estimate(SELF_HOSTED, prior, cat).cost("fine_tune").tco_usd


def test_faster_measured_serving_costs_less_and_a_generation_task_keeps_its_decoder():
    cat = load_catalog()
    slow = calibrate(SELF_HOSTED, CostAssumptions(), [classifier_run(rps=100.0)], cat)
    fast = calibrate(SELF_HOSTED, CostAssumptions(), [classifier_run(rps=4000.0)], cat)
    a, b = (strategy_components(SELF_HOSTED, c.assumptions, cat) for c in (slow, fast))
    assert b["fine_tune"].gpu_per_request < a["fine_tune"].gpu_per_request
    summarize = SELF_HOSTED.model_copy(update={"task_kind": "summarize"})
    cal = calibrate(summarize, CostAssumptions(), [classifier_run()], cat)
    plain = strategy_components(summarize, CostAssumptions(), cat)
    assert strategy_components(summarize, cal.assumptions, cat)["fine_tune"] == plain["fine_tune"]
    assert any("which a classifier cannot do" in n for n in cal.notes)


def test_recommend_with_the_run_quotes_serving_and_escalation(tmp_path, capsys):
    from trainers.metrics import PilotMetrics

    run = tmp_path / "clf1"
    run.mkdir()
    metrics = PilotMetrics(run_dir=str(run), measurement=classifier_run(0.2, 800.0))
    (run / "metrics.json").write_text(metrics.model_dump_json())
    (run / "config.yaml").write_text("method: classifier\ndata: d.csv\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: intents\ntask_kind: classify\ndeployment: own_cloud_gpu\n"
        "requests_per_month: 2000000\nlabel_classes: 12\n"
    )
    assert main(["recommend", str(scenario), "--runs", str(run)]) == 0
    out = capsys.readouterr().out
    assert "800 requests/s with 2 CPU threads" in out and "400 per core" in out
    assert "escalates 20.0%" in out and "below confidence 0.41" in out
    assert main(["recommend", str(scenario), "--runs", str(run), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert any("CPU cores" in n for n in answer["calibration"])
