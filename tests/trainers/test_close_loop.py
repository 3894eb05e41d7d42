"""Closing the loop: a finished pilot's Measurement changes the advice and the costs; a
learning-curve pilot says how many examples would reach the bar."""

import json
from pathlib import Path

import pytest

from advisor.rules import FINE_TUNE_FAMILY
from cli import main
from tests.conftest import EXAMPLES
from tests.trainers.conftest import DEMO_CSV

ROUTING = EXAMPLES / "support_intents_routing.yaml"  # prior: fine-tune, bar 90%


def _pilot(capsys, tiny_model, *extra) -> dict:
    argv = [
        "pilot",
        "--foreground",
        "--data",
        str(DEMO_CSV),
        "--model",
        str(tiny_model),
        "--json",
        *extra,
    ]
    argv.append("--no-probe")  # the probe's own tests are in test_preflight.py
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_a_pilot_that_misses_the_bar_changes_the_recommendation(tiny_model, runs_dir, capsys):
    assert main(["recommend", str(ROUTING), "--json"]) == 0
    prior = json.loads(capsys.readouterr().out)
    assert prior["recommended"] == "fine_tune"
    out = _pilot(
        capsys, tiny_model, "--method", "lora", "--max-steps", "4", "--baselines", "retrieval"
    )
    q = out["measurement"]["quality"]
    assert q["ci_high"] < 0.9  # a random tiny model cannot route support messages
    run = Path(out["run_dir"]).name
    assert main(["recommend", str(ROUTING), "--runs", run, "--json"]) == 0
    captured = capsys.readouterr()
    rec = json.loads(captured.out)
    assert rec["recommended"] not in FINE_TUNE_FAMILY
    quoted = f"{q['value']:.1%} [{q['ci_low']:.1%}, {q['ci_high']:.1%}] (n={q['n']})"
    assert quoted in rec["overturned"] and "quality bar of 90%" in rec["overturned"]
    assert rec["summary"].startswith("Recommended:") and quoted in rec["summary"]
    # the costs were recalibrated from the same run, and the answer says how
    assert any(run in note for note in rec["calibration"])


@pytest.mark.slow
def test_learning_curve_pilot(tiny_model, runs_dir, capsys):
    out = _pilot(
        capsys,
        tiny_model,
        "--method",
        "lora",
        "--epochs",
        "1",
        "--curve",
        "0.25,0.5",
        "--quality-bar",
        "90",
    )
    curve = out["learning_curve"]
    sizes = [p["examples"] for p in curve["points"]]
    assert (
        len(sizes) == 3
        and sizes == sorted(sizes)
        and sizes[-1] == out["measurement"]["train_examples"]
    )
    assert curve["points"][-1]["quality"] == out["measurement"]["quality"]
    assert curve["bar"] == 0.9 and curve["summary"]
    assert out["measurement"]["examples_needed"] == curve["examples_needed"]
    assert (Path(out["run_dir"]) / "curve.json").exists()


def test_curve_needs_a_training_method(tiny_model, runs_dir, capsys):
    code = main(
        [
            "pilot",
            "--foreground",
            "--data",
            str(DEMO_CSV),
            "--method",
            "prompt",
            "--curve",
            "0.5",
            "--json",
        ]
    )
    assert code == 2 and "learning curve needs method" in capsys.readouterr().err
