"""Preflight: a probe of a few real steps predicts memory, time and cost; a run predicted
not to fit is refused with advice; the run records predicted against measured."""

import json

import pytest

from cli import main
from tests.trainers.conftest import DEMO_CSV
from trainers import runs


def _argv(tiny_model, *extra):
    return [
        "pilot",
        "--method",
        "lora",
        "--data",
        str(DEMO_CSV),
        "--model",
        str(tiny_model),
        *extra,
    ]


def test_preflight_json_probes_and_starts_nothing(tiny_model, runs_dir, capsys):
    assert main(_argv(tiny_model, "--max-steps", "6", "--preflight", "--json")) == 0
    pre = json.loads(capsys.readouterr().out)
    assert pre["probed"] and pre["fits"] and pre["advice"] is None
    assert pre["peak_memory_mib"] > 100 and pre["wall_seconds"] > 0
    assert pre["tokens_per_second_source"] == "measured by the probe"
    assert set(pre["phases_seconds"]) >= {"load", "generation", "train"}
    assert runs.index_list() == []  # nothing was launched


def test_a_run_that_will_not_fit_is_refused_with_advice(tiny_model, runs_dir, capsys, monkeypatch):
    monkeypatch.setenv("ADAPT_MEMORY_LIMIT_MIB", "200")
    assert main(_argv(tiny_model, "--max-steps", "2", "--no-probe", "--json")) == 2
    err = capsys.readouterr().err
    assert "refused: will not fit: try" in err and "MiB free" in err
    assert runs.index_list() == []
    assert main(_argv(tiny_model, "--preflight", "--no-probe", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["fits"] is False


@pytest.mark.slow
def test_the_run_records_predicted_against_measured(tiny_model, runs_dir, capsys):
    assert main(_argv(tiny_model, "--max-steps", "6", "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    fid = out["fidelity"]
    assert fid["probed"] is True
    for key in ("wall_seconds", "peak_memory_mib", "tokens_per_second"):
        measured = out["measurement"][key]
        assert fid[key]["measured"] == pytest.approx(measured, rel=0.01, abs=0.1)
        assert fid[key]["predicted"] > 0 and "error_pct" in fid[key]
    (row,) = runs.index_list()
    assert row["metrics"]["fidelity"] == fid  # and in the run index
