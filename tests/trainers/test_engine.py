"""Issue 12: one vocabulary every layer accepts, one config that re-runs a pilot, the one
launch path (secrets in the child's environment only), and the bugs on the seams."""

import json
import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cli import main
from core.labels import method_label
from core.measurement import Measurement, QualityMeasure
from core.scenario import Scenario
from core.vocab import DOCUMENT_METHODS, METHOD_NAMES, METHODS, PILOTS
from tests.conftest import EXAMPLES, ROOT
from tests.trainers.conftest import DEMO_CHAT, DEMO_CSV
from trainers import runs
from trainers.data import Example, Message


def _q(v: float) -> QualityMeasure:
    return QualityMeasure(metric="accuracy", value=v, ci_low=v - 0.05, ci_high=v + 0.05, n=300)


def _measurement(method: str, run_id: str = "r1") -> Measurement:
    trains = METHODS[method].trains
    return Measurement(
        run_id=run_id,
        method=method,
        model="smollm2-135m-instruct",
        model_params=134_515_008,
        device="cpu",
        device_name="CPU (2 cores)",
        train_examples=200,
        holdout_examples=300,
        train_tokens=10_000 if trains else 0,
        tokens_per_second=300.0 if trains else 0.0,
        generation_tokens_per_second=40.0,
        peak_memory_mib=2000,
        wall_seconds=100,
        quality=_q(0.5),
        baselines={"few_shot": _q(0.3)},
        stopped_by="done" if trains else None,
    )


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_every_layer_accepts_every_method(method, runs_dir):
    """The CLI, the recipe, the preflight, the calibration and the advisor."""
    from advisor import recommend
    from advisor.measured import measurement_rules
    from cli import build_parser
    from costmodels import estimate
    from costmodels.assumptions import CostAssumptions
    from costmodels.calibrate import calibrate
    from costmodels.prices import load_catalog
    from trainers.cli_pilot import build_config
    from trainers.preflight import estimate_pilot
    from trainers.recipes import recipe_for

    parser, _ = build_parser()
    data = ["--data", str(DEMO_CSV)]
    if method in DOCUMENT_METHODS:  # questions over the demo documents
        docs = DEMO_CSV.parent.parent / "docs" / "larkspur"
        data = ["--data", str(DEMO_CSV.parent / "policy_questions.jsonl"), "--docs", str(docs)]
    if METHODS[method].teacher_endpoint:  # distillation names its teacher
        data += ["--teacher", "a-finished-run"]
    args = parser.parse_args(["pilot", "--method", method, *data])
    cfg = build_config(args)
    assert cfg.method == method
    recipe = recipe_for(method)
    assert all(callable(getattr(recipe, step)) for step in ("load", "fit", "save"))
    pre = estimate_pilot(cfg, probe=False)
    assert pre.peak_memory_mib > 0 and (pre.train_tokens > 0) == METHODS[method].trains
    s = Scenario()
    cal = calibrate(s, CostAssumptions(), [_measurement(method)], load_catalog())
    assert cal.notes and cal.measurements == ("r1",)
    rec = recommend(s, estimate(s), measurements=[_measurement(method)])
    assert rec.recommended
    rules = measurement_rules(s, [_measurement(method)])
    assert any(r.id == f"measured_{method}" for r in rules) == METHODS[method].trains


def test_the_app_method_picker_offers_every_method(runs_dir):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    assert not at.exception
    assert tuple(at.selectbox(key="method").options) == tuple(method_label(m) for m in METHOD_NAMES)


def test_every_next_pilot_is_a_method():
    assert set(m for m, _ in PILOTS.values()) <= set(METHOD_NAMES)


def test_few_shot_fills_up_to_k_for_labelled_and_unlabelled_data():
    from trainers.eval.baselines import FEW_SHOT_K, few_shot_examples

    def ex(i: int, label: str | None) -> Example:
        msgs = (Message(role="user", content=f"text {i}"),)
        return Example(messages=msgs, target=label or f"summary {i}", label=label, line=i + 1)

    two_labels = [ex(i, "yes" if i % 2 else "no") for i in range(20)]
    shots = few_shot_examples(two_labels, FEW_SHOT_K, seed=0)
    assert len(shots) == FEW_SHOT_K == 5 and {s.label for s in shots} == {"yes", "no"}
    assert len({s.line for s in shots}) == 5  # five different examples
    unlabelled = [ex(i, None) for i in range(20)]
    assert len(few_shot_examples(unlabelled, FEW_SHOT_K, seed=0)) == 5
    assert len(few_shot_examples(unlabelled[:3], FEW_SHOT_K, seed=0)) == 3


def test_preflight_estimates_the_lora_the_trainer_builds(tmp_path, runs_dir):
    """All seven linear layers, and the trainer's sequence cap (long examples are cut)."""
    from costmodels.compute import LINEAR_TARGETS, estimate_memory, shape_from_config
    from trainers.config import PilotConfig, TrainSettings
    from trainers.preflight import estimate_pilot
    from trainers.preflight.estimate import DEFAULT_SHAPE, PROCESS_BASELINE_MIB

    data = tmp_path / "long.csv"
    rows = [f'"{("word " * 900).strip()} {i}",label_{i % 3}' for i in range(40)]
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    cfg = PilotConfig(
        method="lora", data=str(data), train=TrainSettings(batch_size=4, max_seq_len=256)
    )
    pre = estimate_pilot(cfg, probe=False)
    est = estimate_memory(
        shape_from_config(DEFAULT_SHAPE),
        "lora",
        batch=4,
        seq_len=256,
        lora_rank=16,
        lora_targets=LINEAR_TARGETS,
    )
    expected = PROCESS_BASELINE_MIB + (est.total_gib - est.overhead_gib) * 1024
    assert pre.peak_memory_mib == pytest.approx(expected, abs=1.0)


def test_distill_logit_stops_by_time_and_uses_the_trainers_learning_rate(tiny_model, runs_dir):
    from trainers.config import PilotConfig, TrainConfig, TrainSettings, save_config
    from trainers.pilot import run_pilot

    run_dir = runs.new_run_dir("distill_logit")
    cfg = PilotConfig(
        method="distill_logit",
        data=str(DEMO_CSV),
        model=str(tiny_model),
        holdout_max=8,
        baselines=(),
        train=TrainSettings(
            epochs=50, batch_size=4, max_minutes=0.02, save_every_steps=2, warmup_ratio=0
        ),
    )
    save_config(cfg, run_dir)
    m = run_pilot(run_dir)
    assert m.training.stopped_by == "minutes" and m.measurement.stopped_by == "minutes"
    assert m.training.steps < m.training.planned_steps
    lrs = [e["lr"] for e in runs.read_events(run_dir) if e["event"] == "step"]
    assert max(lrs) == pytest.approx(TrainConfig(method="full").lr, rel=0.01)  # 5e-5, not 1e-4
    assert (run_dir / "ckpt" / "state.json").exists()  # the shared loop's checkpoints


def test_config_file_reruns_a_pilot_on_the_same_holdout(tiny_model, runs_dir, capsys):
    argv = ["pilot", "--method", "lora", "--data", str(DEMO_CSV), "--model", str(tiny_model)]
    argv += ["--foreground", "--no-probe"]
    assert main([*argv, "--max-steps", "4", "--holdout-max", "24", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    old = Path(first["run_dir"])
    new = runs_dir / "rerun"
    rerun = ["pilot", "--config", str(old / "config.yaml"), "--run-dir", str(new)]
    assert main([*rerun, "--foreground", "--no-probe", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (new / "holdout.json").read_text() == (old / "holdout.json").read_text()
    assert (new / "config.yaml").read_text() == (old / "config.yaml").read_text()
    a, b = first["measurement"]["quality"], second["measurement"]["quality"]
    assert a["n"] == b["n"] == 24 and abs(a["value"] - b["value"]) <= 2 / 24
    assert first["training"]["steps"] == second["training"]["steps"] == 4
    # a flag laid over the file changes only that field
    assert main([*rerun[:3], "--run-dir", str(runs_dir / "r3"), "--lr", "0.01", "--prepare"]) == 0
    capsys.readouterr()
    from trainers.config import load_config

    cfg = load_config(runs_dir / "r3")
    assert cfg.train.learning_rate == 0.01 and cfg.train.max_steps == 4


def test_a_broken_config_file_is_named_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "config.yaml"
    bad.write_text(f"method: lora\ndata: {DEMO_CSV}\ntrain: {{epochs: -1}}\n")
    assert main(["pilot", "--config", str(bad), "--preflight", "--no-probe"]) == 2
    assert "epochs" in capsys.readouterr().err
    missing = tmp_path / "nope.yaml"
    assert main(["pilot", "--config", str(missing), "--preflight", "--no-probe"]) == 2
    assert "nope.yaml: cannot read the config" in capsys.readouterr().err


def test_configs_written_before_nesting_still_load(tmp_path):
    from trainers.config import load_config

    (tmp_path / "config.yaml").write_text(
        f"method: lora\ndata: {DEMO_CSV}\nmax_steps: 7\nbatch_size: 8\nquality_bar: 0.9\n"
    )
    cfg = load_config(tmp_path)
    assert cfg.train.max_steps == 7 and cfg.train.batch_size == 8
    assert cfg.quality_bar_pct == pytest.approx(90)
    (tmp_path / "config.yaml").write_text("method: lora\nmax_steps: [\n")
    with pytest.raises(Exception, match="config.yaml: not YAML"):
        load_config(tmp_path)


@pytest.mark.slow
def test_app_launched_endpoint_distillation_gets_its_key_and_writes_it_nowhere(
    tiny_model, runs_dir, loopback_teacher
):
    url, seen_keys = loopback_teacher
    key = "sk-app-" + os.urandom(8).hex()
    assert key not in os.environ.values()  # only the typed key can reach the run
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    at.selectbox(key="method").set_value("distill_seq").run()
    at.text_input(key="model").set_value(str(tiny_model)).run()
    at.text_input(key="max_steps").set_value("2").run()
    at.text_input(key="holdout_max").set_value("8").run()
    at.text_input(key="teacher_url").set_value(url)
    at.text_input(key="teacher_model").set_value("t")
    at.text_input(key="api_key").set_value(key).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="launch").click().run()
    assert not at.exception
    (row,) = runs.index_list()
    run_dir = Path(row["run_dir"])
    deadline = time.time() + 300
    while runs.status(run_dir) in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    log = (run_dir / "log.txt").read_text()
    assert runs.status(run_dir) == "done", log[-2000:]
    assert seen_keys and all(k == f"Bearer {key}" for k in seen_keys)
    files = [p for p in runs_dir.rglob("*") if p.is_file()]
    assert len(files) > 8 and [p for p in files if key.encode() in p.read_bytes()] == []


def _finished(run_id: str, value: float) -> Path:
    """A finished run as the pilot leaves it (metrics.json and the index)."""
    from trainers.metrics import PilotMetrics

    run_dir = runs.runs_root() / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(f"method: lora\ndata: {DEMO_CHAT}\n")
    m = PilotMetrics(run_dir=str(run_dir), measurement=_measurement("lora", run_id))
    m = m.model_copy(
        update={"measurement": m.measurement.model_copy(update={"quality": _q(value)})}
    )
    record = m.model_dump(mode="json")
    runs.write_json_atomic(run_dir / "metrics.json", record)
    runs.index_upsert(run_dir, method="lora", model="m", status_="done", metrics=record)
    return run_dir


def test_html_export_holds_only_the_runs_named(runs_dir, tmp_path, capsys):
    _finished("run-named-aaa", 0.61)
    _finished("run-other-bbb", 0.42)
    out = tmp_path / "r.html"
    scen = str(EXAMPLES / "support_intents_routing.yaml")
    argv = ["export", scen, "--format", "html", "--runs", "run-named-aaa", "--out", str(out)]
    assert main(argv) == 0
    text = out.read_text()
    assert "run-named-aaa" in text and "run-other-bbb" not in text


def test_html_report_curves_use_the_prices_given(runs_dir, tmp_path, monkeypatch, capsys):
    from costmodels.amortize import per_request_curves
    from costmodels.assumptions import load_assumptions
    from costmodels.prices import SNAPSHOT, load_catalog
    from reports import figures

    snapshot = json.loads(Path(SNAPSHOT).read_text())
    for entry in snapshot.values():  # every API model ten times dearer
        for k in ("input_cost_per_token", "output_cost_per_token"):
            if isinstance(entry, dict) and isinstance(entry.get(k), int | float):
                entry[k] *= 10
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(snapshot))
    seen = {}
    draw = figures.cost_per_request

    def spy(curves, report, volume):
        seen["curves"] = curves
        return draw(curves, report, volume)

    monkeypatch.setattr(figures, "cost_per_request", spy)
    scen = EXAMPLES / "prototype_prompt.yaml"
    argv = ["export", str(scen), "--format", "html", "--prices", str(prices)]
    assert main([*argv, "--out", str(tmp_path / "r.html")]) == 0
    from advisor import load_scenario

    s = load_scenario(scen)
    dear = per_request_curves(s, load_assumptions(scen), load_catalog(prices=prices))
    cheap = per_request_curves(s, load_assumptions(scen))
    got = seen["curves"]["prompt"][1]
    assert list(got) == pytest.approx(list(dear["prompt"][1]))
    assert list(got) != pytest.approx(list(cheap["prompt"][1]))
