"""Issue 15: an endpoint pilot's measured tokens per request replace the scenario's in the
prompt and RAG strategies, and `adapt recommend --runs` quotes its quality and price."""

import pytest

from cli import main
from core.measurement import EndpointStats, Measurement, QualityMeasure
from core.scenario import Scenario
from costmodels.assumptions import CostAssumptions
from costmodels.calibrate import calibrate
from costmodels.prices import load_catalog
from costmodels.strategies import api_call_usd, strategy_components

Q = QualityMeasure(metric="accuracy", value=0.83, ci_low=0.78, ci_high=0.87, n=300)


def endpoint_run(method="prompt", model="gpt-4o-mini", inp=900.0, out=4.0) -> Measurement:
    cat = load_catalog()
    per_request = api_call_usd(cat.model(model), inp, out)
    return Measurement(
        run_id="ep1",
        method=method,
        model=model,
        model_params=0,
        device="endpoint",
        train_examples=256,
        holdout_examples=300,
        train_tokens=0,
        tokens_per_second=0,
        generation_tokens_per_second=0,
        peak_memory_mib=0,
        wall_seconds=60,
        quality=Q,
        endpoint=EndpointStats(
            model=model,
            requests=300,
            errors=0,
            input_tokens_per_request=inp,
            output_tokens_per_request=out,
            latency_ms_p50=400,
            latency_ms_p95=900,
            usd_per_request=per_request,
            usd_per_correct=per_request / 0.83,
            instruction_tokens=610,
        ),
    )


S = Scenario(task_kind="classify", label_classes=77, requests_per_month=1_000_000)


def test_measured_tokens_replace_the_assumed_ones():
    cat = load_catalog()
    prior = CostAssumptions()
    cal = calibrate(S.model_copy(update={"capable_model": "gpt-4o"}), prior, [endpoint_run()], cat)
    a = cal.assumptions
    assert (a.prompt_input_tokens_per_request, a.prompt_output_tokens_per_request) == (900, 4)
    assert a.measured_prompt_model == "gpt-4o-mini"  # the model the pilot asked
    assert "the instruction alone is 610 tokens" in " ".join(cal.notes)
    comps = strategy_components(S, a, cat)
    assert comps["prompt"].api_per_request == pytest.approx(
        api_call_usd(cat.model("gpt-4o-mini"), 900, 4)
    )
    assumed = strategy_components(S, prior, cat)  # S calls gpt-4o-mini today
    scenario_tokens = S.instruction_tokens_per_request + S.input_tokens_per_request
    assert assumed["prompt"].api_per_request == pytest.approx(
        api_call_usd(cat.model("gpt-4o-mini"), scenario_tokens, S.output_tokens_per_request)
    )
    # a retrieval run prices RAG, not prompting
    rag = calibrate(S, prior, [endpoint_run("retrieval", inp=1500)], cat).assumptions
    assert rag.rag_input_tokens_per_request == 1500 and rag.prompt_input_tokens_per_request is None


def test_recommend_quotes_the_measured_quality_and_price(tmp_path, capsys):
    from trainers.metrics import PilotMetrics

    run = tmp_path / "ep1"
    run.mkdir()
    m = endpoint_run()
    (run / "metrics.json").write_text(
        PilotMetrics(run_dir=str(run), measurement=m).model_dump_json()
    )
    (run / "config.yaml").write_text("method: prompt\ndata: d.csv\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: intents\ntask_kind: classify\nlabel_classes: 77\n")
    assert main(["recommend", str(scenario), "--runs", str(run)]) == 0
    out = capsys.readouterr().out
    assert "asked gpt-4o-mini: accuracy 83.0% [78.0%, 87.0%]" in out
    assert f"${m.endpoint.usd_per_request:.5f} a request" in out and "900 input" in out


def test_the_capable_model_measured_below_the_bar_rules_prompting_out():
    from advisor import recommend
    from costmodels import estimate

    s = S.model_copy(update={"quality_bar_pct": 95.0})  # 83% [78%, 87%] is below it
    rec = recommend(s, estimate(s), measurements=[endpoint_run()])
    prompt = next(r for r in rec.ranking if r.strategy == "prompt")
    assert prompt.verdict == "not_advised"
    assert any("gpt-4o-mini" in x.text and "below the 95% bar" in x.text for x in prompt.reasons)
    s = S.model_copy(update={"quality_bar_pct": 70.0})  # now the whole interval is above
    rec = recommend(s, estimate(s), measurements=[endpoint_run()])
    prompt = next(r for r in rec.ranking if r.strategy == "prompt")
    assert prompt.verdict != "not_advised"
    assert any("it meets the bar" in f.text for f in rec.fired if "gpt-4o-mini" in f.text)
