"""AppTest: a finished pilot's measurements, chosen in the sidebar, change the advice and
recalibrate the costs; a learning curve shows its chart and 'examples needed'."""

import pytest
from streamlit.testing.v1 import AppTest

from core.measurement import Measurement, QualityMeasure
from tests.conftest import ROOT
from trainers import runs
from trainers.eval.curve import CurvePoint, learning_curve


def q(v, lo, hi):
    return QualityMeasure(metric="accuracy", value=v, ci_low=lo, ci_high=hi, n=64)


def _measurement(run_id: str) -> Measurement:
    """A finished lora pilot's measurement: 50% on a 64-row holdout, 256 examples."""
    return Measurement(
        run_id=run_id,
        method="lora",
        model="smollm2-135m-instruct",
        model_params=134_515_008,
        device="cpu",
        device_name="CPU (2 cores)",
        train_examples=256,
        holdout_examples=64,
        train_tokens=30_000,
        tokens_per_second=300,
        generation_tokens_per_second=40,
        peak_memory_mib=2000,
        wall_seconds=120,
        quality=q(0.5, 0.38, 0.62),
        baselines={"nearest_neighbour_label": q(0.8, 0.69, 0.88)},
    )


@pytest.fixture
def finished_run(tmp_path, monkeypatch):
    """A run directory as a finished lora pilot leaves it (metrics.json and the index)."""
    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    run_dir = runs.new_run_dir("lora")
    (run_dir / "config.yaml").write_text("method: lora\n")
    curve = learning_curve(
        [
            CurvePoint(examples=n, quality=q(v, v - 0.1, v + 0.1))
            for n, v in ((64, 0.3), (128, 0.42), (256, 0.5))
        ],
        floor=0.0,
        bar=0.9,
    )
    m = _measurement(run_dir.name)
    metrics = {
        "status": "done",
        "run_dir": str(run_dir),
        "method": "lora",
        "model": m.model,
        "device": "cpu",
        "wall_seconds": 120,
        "tokens_per_second": 300,
        "peak_memory_mib": 2000,
        "holdout": m.quality.model_dump(),
        "baseline": q(0, 0, 0.06).model_dump(),
        "forgetting": None,
        "baselines": {"nearest_neighbour_label": q(0.8, 0.69, 0.88).model_dump()},
        "measurement": m.model_dump(),
        "learning_curve": curve.model_dump(),
    }
    runs.write_json_atomic(run_dir / "metrics.json", metrics)
    runs.index_upsert(run_dir, method="lora", model=m.model, status_="done", metrics=metrics)
    return run_dir


def test_chosen_measurements_overturn_the_prior_on_decide(finished_run):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.selectbox(key="example_choice").set_value("support_intents_routing").run()
    assert "Fine-tune" in at.success[0].value
    at.multiselect(key="use_runs_widget").set_value([finished_run.name]).run()
    assert not at.exception
    assert "overturned" in at.success[0].value and "50.0% [38.0%, 62.0%]" in at.success[0].value
    assert at.warning and "pilot measurement changed" in at.warning[0].value
    at.switch_page("app_pages/costs.py").run()
    assert not at.exception
    notes = " ".join(m.value for m in at.markdown)
    assert "escalates 50.0%" in notes  # the cascade now uses the measured student accuracy


def test_learning_curve_on_the_runs_page_and_in_the_report(finished_run):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception
    metric = next(m for m in at.metric if m.label == "examples needed for the bar")
    assert metric.value == "not reachable"  # levels off near 55%, bar 90%
    assert any(c.proto.spec for c in at.get("plotly_chart"))
    at.switch_page("app_pages/export.py").run()
    assert not at.exception


def test_html_report_has_the_learning_curve(finished_run):
    from advisor import load_scenario, recommend
    from costmodels import estimate
    from reports.html import build_report
    from tests.conftest import EXAMPLES

    s = load_scenario(EXAMPLES / "support_intents_routing.yaml")
    report = estimate(s)
    from trainers.metrics import from_index

    pilots = [from_index(r) for r in runs.index_list()]  # a metrics.json of the older layout
    assert all(pilots)
    text = build_report(s, recommend(s, report), report, None, pilots)
    assert "How much data is enough" in text and "not reachable with this model" in text
    assert text.count("plotly-graph-div") >= 3  # two cost charts and the learning curve


def test_a_run_cut_short_does_not_overturn_decide_and_the_page_says_why(tmp_path, monkeypatch):
    from trainers.metrics import PilotMetrics, TrainResult

    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    run_dir = runs.new_run_dir("lora")
    (run_dir / "config.yaml").write_text("method: lora\n")
    m = _measurement(run_dir.name).model_copy(
        update={
            "quality": q(0.2, 0.12, 0.31),
            "train_steps": 4,
            "planned_steps": 60,
            "stopped_by": "minutes",
        }
    )
    res = TrainResult(
        steps=4,
        planned_steps=60,
        tokens=3000,
        seconds=120,
        tokens_per_second=25,
        first_loss=3.0,
        last_loss=2.5,
        stopped_by="minutes",
        bf16=False,
    )
    record = PilotMetrics(run_dir=str(run_dir), measurement=m, training=res).model_dump(mode="json")
    runs.write_json_atomic(run_dir / "metrics.json", record)
    runs.index_upsert(run_dir, method="lora", model=m.model, status_="done", metrics=record)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.selectbox(key="example_choice").set_value("support_intents_routing").run()
    before = at.success[0].value
    at.multiselect(key="use_runs_widget").set_value([run_dir.name]).run()
    assert not at.exception and not at.warning
    assert at.success[0].value == before and "overturned" not in before
    page = " ".join(x.value for x in at.markdown)
    assert "not complete evidence" in page and "time limit after 4 of 60 planned steps" in page
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception
