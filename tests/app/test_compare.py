"""Issue 14: methods and baselines on one holdout, with intervals and McNemar's test, in
the library, on the Runs page and in the HTML report."""

import pytest
from streamlit.testing.v1 import AppTest

from core.measurement import Measurement, QualityMeasure
from reports.compare import comparison_rows, holdout_comparison
from tests.conftest import ROOT
from trainers import runs
from trainers.metrics import PilotMetrics

N = 100
NEIGHBOUR = "1" * 80 + "0" * 20  # 80%
CLASSIFIER = "1" * 92 + "0" * 8  # 92%: right on 12 rows the neighbour missed
LORA = "0" * 5 + "1" * 76 + "0" * 19  # 76%


def _q(hits: str) -> QualityMeasure:
    v = hits.count("1") / len(hits)
    return QualityMeasure(metric="accuracy", value=v, ci_low=v - 0.08, ci_high=v + 0.06, n=N)


def _pilot(run_id: str, method: str, correct: dict[str, str], fingerprint="f00d") -> PilotMetrics:
    m = Measurement(
        run_id=run_id,
        method=method,
        model="m",
        model_params=1,
        device="cpu",
        train_examples=400,
        holdout_examples=N,
        train_tokens=1,
        tokens_per_second=1,
        generation_tokens_per_second=0,
        peak_memory_mib=1,
        wall_seconds=1,
        quality=_q(correct[method]),
        baselines={k: _q(v) for k, v in correct.items() if k != method},
    )
    return PilotMetrics(
        run_dir=run_id, measurement=m, holdout_fingerprint=fingerprint, correct=correct
    )


PILOTS = [
    _pilot(
        "clf-run", "classifier", {"classifier": CLASSIFIER, "nearest_neighbour_label": NEIGHBOUR}
    ),
    _pilot(
        "lora-run",
        "lora",
        {"lora": LORA, "lora_constrained": NEIGHBOUR, "nearest_neighbour_label": NEIGHBOUR},
    ),
    _pilot("other", "classifier", {"classifier": CLASSIFIER, "linear_probe": LORA}, "beef"),
]


def test_one_table_per_holdout_best_first_with_the_paired_test():
    tables = holdout_comparison(PILOTS)
    assert len(tables) == 2
    same = next(t for t in tables if t[0].run_id == "clf-run")
    names = [(r.name, r.run_id) for r in same]
    assert names[0] == ("classifier", "clf-run") and same[0].vs_best is None
    # the neighbour's label was scored by both runs on this holdout: shown once
    assert [n for n, _ in names].count("nearest_neighbour_label") == 1
    assert {n for n, _ in names} == {
        "classifier",
        "nearest_neighbour_label",
        "lora",
        "lora_constrained",
    }
    neighbour = next(r for r in same if r.name == "nearest_neighbour_label")
    assert (neighbour.vs_best.only_a, neighbour.vs_best.only_b) == (12, 0)
    assert neighbour.vs_best.p_value == pytest.approx(2 * 0.5**12)
    assert (
        neighbour.accuracy.value == 0.8
        and neighbour.accuracy.ci_low < 0.8 < neighbour.accuracy.ci_high
    )
    rows = comparison_rows(same)
    assert rows[0]["Against the best"] == "the best on this holdout"
    assert any(r["Method or baseline"] == "LoRA, label-constrained" for r in rows)
    row = next(r for r in rows if r["Method or baseline"] == "Nearest example's label")
    assert row["Against the best"] == "worse than the best" and row["McNemar p"] == "0.00049"
    assert (row["Rows only the best got right"], row["Rows only this got right"]) == ("12", "0")


def test_runs_without_per_row_records_are_left_out():
    old = PILOTS[0].model_copy(update={"correct": {}, "holdout_fingerprint": ""})
    assert holdout_comparison([old]) == []


@pytest.fixture
def two_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    ids = []
    for p in PILOTS[:2]:
        run_dir = runs.new_run_dir(p.measurement.method)
        (run_dir / "config.yaml").write_text(f"method: {p.measurement.method}\n")
        m = p.model_copy(
            update={
                "run_dir": str(run_dir),
                "measurement": p.measurement.model_copy(update={"run_id": run_dir.name}),
            }
        )
        record = m.model_dump(mode="json")
        runs.write_json_atomic(run_dir / "metrics.json", record)
        runs.index_upsert(
            run_dir, method=p.measurement.method, model="m", status_="done", metrics=record
        )
        ids.append(run_dir.name)
    return ids


def test_the_runs_page_and_the_report_show_the_one_holdout_table(two_runs, tmp_path, capsys):
    from cli import main

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/runs.py").run()
    at.multiselect(key="compare").set_value(two_runs).run()
    assert not at.exception
    assert any("Methods and baselines on one holdout" in s.value for s in at.subheader)
    table = next(d.value for d in at.table if d.value.index.name == "Method or baseline")
    assert list(table.index)[0] == "Encoder classifier"
    assert "0.00049" in list(table["McNemar p"])
    out = tmp_path / "r.html"
    example = ROOT / "examples" / "support_intents_routing.yaml"
    argv = ["export", str(example), "--format", "html", "--runs", ",".join(two_runs)]
    assert main([*argv, "--out", str(out)]) == 0
    page = out.read_text()
    assert f"On one holdout of {N} rows" in page and "McNemar p" in page


def test_a_finished_classifier_run_shows_serving_and_escalation(tmp_path, monkeypatch):
    from core.measurement import Abstention, ServingSpeed

    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    run_dir = runs.new_run_dir("classifier")
    (run_dir / "config.yaml").write_text("method: classifier\n")
    p = PILOTS[0]
    meas = p.measurement.model_copy(
        update={
            "run_id": run_dir.name,
            "serving": ServingSpeed(
                requests_per_second=183.0,
                latency_p50_ms=8.9,
                latency_p95_ms=11.3,
                batch_latency_p50_ms=161.0,
                batch_latency_p95_ms=409.0,
                batch_size=32,
                threads=2,
            ),
            "abstention": Abstention(
                threshold=0.404,
                target_accuracy=0.9,
                answered=_q("1" * 89 + "0" * 11),
                escalated_share=0.25,
                out_of_scope_rows=38,
                out_of_scope_caught=0.763,
            ),
        }
    )
    record = p.model_copy(update={"run_dir": str(run_dir), "measurement": meas}).model_dump(
        mode="json"
    )
    runs.write_json_atomic(run_dir / "metrics.json", record)
    runs.emit(run_dir, "done", wall_seconds=54)
    runs.index_upsert(run_dir, method="classifier", model="m", status_="done", metrics=record)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    assert not at.exception
    shown = {m.label: m for m in at.metric}
    assert shown["CPU serving"].value == "183 requests/s"
    assert shown["escalated to the capable model"].value == "25.0%"
    assert "vs nearest example's label" in shown["holdout accuracy"].delta  # not zero-shot
