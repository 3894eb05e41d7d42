"""Pilots on CUDA (marker gpu: .ci/run leaves them out; a machine with a GPU runs them with
`pytest -m gpu`): a bf16 LoRA pilot and a QLoRA pilot on the default model."""

import json

import pytest

from cli import main
from tests.trainers.conftest import DEMO_CSV

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


def _pilot(capsys, method: str) -> dict:
    argv = ["pilot", "--method", method, "--data", str(DEMO_CSV), "--device", "cuda:0"]
    argv += ["--max-steps", "20", "--holdout-max", "32", "--no-probe", "--json"]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_bf16_lora_pilot_on_cuda(runs_dir, capsys):
    import torch

    out = _pilot(capsys, "lora")
    m, t = out["measurement"], out["training"]
    assert m["device"] == "cuda:0" and torch.cuda.get_device_name(0) in m["device_name"]
    assert t["bf16"] is torch.cuda.is_bf16_supported() and t["steps"] == 20
    assert t["last_loss"] < t["first_loss"]  # it learns
    assert m["quality"]["value"] > m["baseline"]["value"]


def test_qlora_pilot_on_cuda(runs_dir, capsys):
    out = _pilot(capsys, "qlora")
    t = out["training"]
    assert out["measurement"]["device"] == "cuda:0" and t["steps"] == 20
    assert t["last_loss"] < t["first_loss"]


def test_a_tiny_lora_pilot_on_cuda_names_the_gpu_it_ran_on(tiny_model, runs_dir, capsys):
    """Runs where the default model's package is missing too: a tiny random model."""
    import torch

    argv = ["pilot", "--method", "lora", "--data", str(DEMO_CSV), "--model", str(tiny_model)]
    argv += ["--device", "cuda:0", "--max-steps", "4", "--holdout-max", "16", "--no-probe"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    hw = out["measurement"]["hardware"]
    major, minor = torch.cuda.get_device_capability(0)
    assert hw["gpu_name"] == torch.cuda.get_device_name(0)
    assert hw["gpu_compute_capability"] == f"{major}.{minor}"
    assert hw["gpu_bf16"] is torch.cuda.is_bf16_supported()
    assert out["training"]["bf16"] is torch.cuda.is_bf16_supported()
    assert out["measurement"]["device"] == "cuda:0" and out["training"]["steps"] == 4


def test_the_written_job_trains_with_fsdp_on_the_gpus(tiny_model, tmp_path, capsys):
    """`adapt plan`'s FSDP2 files as written, on every GPU the machine has (issue 28)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import torch

    pytest.importorskip("trl", reason="TRL is not installed: the launch files are for its SFT")
    out = tmp_path / "job"
    argv = ["plan", "--model", str(tiny_model), "--data", str(DEMO_CSV), "--method", "full"]
    assert main([*argv, "--gpus", "2", "--lr", "0.01", "--out", str(out)]) == 0
    n = torch.cuda.device_count()
    bin_dir = Path(sys.executable).parent
    cmd = [
        str(bin_dir / "accelerate"),
        "launch",
        "--config_file",
        "accelerate.yaml",
        "--num_processes",
        str(n),
        "train.py",
        "--config",
        "sft.yaml",
        "--max_steps",
        "3",
    ]
    env = os.environ | {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"FSDP over {n} process(es)" in proc.stdout + proc.stderr
    state = json.loads((out / "output" / "checkpoint-3" / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert losses[-1] < losses[0]
