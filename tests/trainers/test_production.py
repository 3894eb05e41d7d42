"""`adapt plan` (issue 28): the written TRL + accelerate job really trains, in two CPU
processes over gloo, and carries the pilot's hyperparameters."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cli import main
from tests.trainers.conftest import DEMO_CSV


def _plan(tmp_path, tiny_model, *extra) -> Path:
    out = tmp_path / "job"
    args = ["plan", "--model", str(tiny_model), "--out", str(out), *extra]
    assert main(args) == 0
    return out


@pytest.mark.slow
def test_the_written_job_trains_in_two_cpu_processes(tiny_model, tmp_path, capsys):
    pytest.importorskip("trl", reason="TRL is not installed: the launch files are for its SFT")
    out = _plan(
        tmp_path,
        tiny_model,
        "--data",
        str(DEMO_CSV),
        "--method",
        "full",
        "--gpus",
        "2",
        "--lr",
        "0.01",
    )
    assert "H100: 2 GPUs, FSDP full shard" in capsys.readouterr().out
    accel = yaml.safe_load((out / "accelerate.yaml").read_text())
    assert accel["distributed_type"] == "FSDP" and accel["fsdp_config"]["fsdp_version"] == 2
    assert accel["num_processes"] == 2
    rows = (out / "data" / "train.jsonl").read_text().splitlines()
    assert json.loads(rows[0])["completion"][0]["role"] == "assistant"
    # smoke_test.sh: the same files in two CPU processes over gloo, 3 steps
    bin_dir = Path(sys.executable).parent
    env = os.environ | {"PATH": f"{bin_dir}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    # its own session: on a timeout the whole group goes, not only bash (a rank left
    # behind would hold the rendezvous port for every later run)
    with subprocess.Popen(
        ["bash", str(out / "smoke_test.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert "MULTI_CPU over 2 process(es)" in stdout + stderr
    state = json.loads((out / "smoke_output" / "checkpoint-3" / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert (out / "smoke_output" / "model.safetensors").exists()
    assert (out / "smoke_output" / "checkpoint-3" / "model.safetensors").exists()


def test_a_pilot_runs_hyperparameters_go_into_the_job(tiny_model, tmp_path, runs_dir, capsys):
    run = tmp_path / "pilot"
    assert (
        main(
            [
                "pilot",
                "--method",
                "lora",
                "--data",
                str(DEMO_CSV),
                "--model",
                str(tiny_model),
                "--lr",
                "0.003",
                "--epochs",
                "2",
                "--lora-rank",
                "4",
                "--no-probe",
                "--prepare",
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    capsys.readouterr()
    out = _plan(tmp_path, tiny_model, "--run", str(run))  # rank 4: the run's
    sft = yaml.safe_load((out / "sft.yaml").read_text())
    assert sft["learning_rate"] == 0.003 and sft["num_train_epochs"] == 2.0
    assert sft["use_peft"] and sft["lora_r"] == 4 and sft["max_length"] == 256
    plan = json.loads((out / "plan.json").read_text())["plan"]
    assert plan["gpus"] == 1 and plan["method"] == "lora"
    assert yaml.safe_load((out / "accelerate.yaml").read_text())["distributed_type"] == "NO"
    # the same split the pilot would freeze: 80% of the demo rows for training
    n_rows = len((out / "data" / "train.jsonl").read_text().splitlines())
    n_hold = len((out / "data" / "eval.jsonl").read_text().splitlines())
    assert n_rows > 3 * n_hold > 0


def test_bad_plans_are_one_line_and_exit_2(tiny_model, tmp_path, capsys):
    base = ["plan", "--model", str(tiny_model), "--data", str(DEMO_CSV)]
    cases = [
        (
            ["--method", "qlora", "--sharding", "full_shard", "--out", str(tmp_path / "a")],
            "QLoRA cannot be sharded",
        ),
        (["--gpu", "X100", "--out", str(tmp_path / "b")], "unknown GPU 'X100'"),
        (["--out", str(tmp_path)], "not empty"),
    ]
    (tmp_path / "keep.txt").write_text("mine")
    for extra, words in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert (
        main(
            [
                "plan",
                "--model",
                "org/unknown-model",
                "--data",
                str(DEMO_CSV),
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 2
    )
    assert "--model-config" in capsys.readouterr().err


@pytest.mark.slow
def test_fsdp2_full_shard_on_two_cpu_ranks_holds_what_the_plan_divides(tiny_model, tmp_path):
    """The plan divides parameters, gradients and optimizer states by the rank count;
    torch's own FSDP2, run here over gloo, holds exactly that share on each rank."""
    out = tmp_path / "held.json"
    worker = Path(__file__).parent / "fsdp_worker.py"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29531",
        str(worker),
        str(tiny_model),
        str(out),
    ]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads(Path(f"{out}.{r}").read_text()) for r in (0, 1)]
    total = ranks[0]["total_params"]
    assert sum(r["params"] for r in ranks) == total  # every parameter lives on one rank
    for r in ranks:
        assert abs(r["params"] - total / 2) <= 0.01 * total  # half each, as the plan says
        assert r["adam_states"] == 2 * r["params"]  # Adam's two moments, sharded alike
        assert r["losses"][-1] < r["losses"][0]


def test_a_run_that_trains_on_passages_is_refused(tmp_path, capsys):
    from trainers.config import PilotConfig, save_config

    examples = DEMO_CSV.parent.parent
    save_config(
        PilotConfig(
            method="fine_tune_rag",
            data=str(examples / "data" / "policy_questions.jsonl"),
            docs=str(examples / "docs" / "larkspur"),
        ),
        tmp_path,
    )
    argv = ["plan", "--run", str(tmp_path), "--model", "Llama-3.1-8B", "--out"]
    assert main([*argv, str(tmp_path / "job")]) == 2
    err = capsys.readouterr().err
    assert "trains on its passages" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "job").exists()
