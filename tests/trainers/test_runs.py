"""Runs as detached processes: a pilot end to end on a tiny model (kill -9 and resume
are in test_kill.py), cancel, the index; the prompt, generation and local-teacher
distillation pilots (in the foreground: they test the method, not the launch); and
data-parallel training under torchrun (gloo, 2 CPU processes)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import main
from tests.conftest import ROOT
from tests.trainers.conftest import DEMO_CHAT, DEMO_CSV
from trainers import runs


def _wait_for(pred, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _pilot(tiny_model, *extra):
    """The preflight's probe is tested in test_preflight.py and test_pilot_default_model.py;
    here it would only add a subprocess to each run."""
    return ["pilot", "--data", str(DEMO_CSV), "--model", str(tiny_model), "--no-probe", *extra]


def test_pilot_json_contract_on_tiny_model(tiny_model, runs_dir, capsys):
    assert main([*_pilot(tiny_model), "--method", "lora", "--max-steps", "5", "--json"]) == 0
    from trainers.metrics import PilotMetrics

    out = json.loads(capsys.readouterr().out)
    m = PilotMetrics.model_validate(out)  # the --json answer is the typed record
    assert m.measurement.method == "lora" and m.training.steps == 5
    assert m.training.stopped_by == "steps" and m.measurement.stopped_by == "steps"
    assert m.quality.n == len(
        json.loads((Path(m.run_dir) / "holdout.json").read_text())["examples"]
    )
    assert m.forgetting is not None and m.measurement.baseline is not None
    run = Path(out["run_dir"])
    for name in ("config.yaml", "holdout.json", "events.jsonl", "metrics.json", "log.txt"):
        assert (run / name).exists(), name
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    kinds = [e["event"] for e in runs.read_events(run)]
    assert kinds[0] == "start" and kinds[-1] == "done" and "step" in kinds and "eval" in kinds
    # the frozen holdout never overlaps the training split
    hold = json.loads((run / "holdout.json").read_text())["examples"]
    train = json.loads((run / "train.json").read_text())["examples"]
    assert not {e["line"] for e in hold} & {e["line"] for e in train}
    rows = runs.index_list()
    assert rows[0]["run_id"] == run.name and rows[0]["status"] == "done"
    assert main(["runs", "list"]) == 0 and run.name in capsys.readouterr().out
    assert main(["runs", "show", run.name[:20], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "done"


def test_prompt_and_generation_pilots(tiny_model, runs_dir, capsys):
    assert main([*_pilot(tiny_model), "--method", "prompt", "--foreground", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"zero_shot", "few_shot"} <= set(out["measurement"]["baselines"])
    args = [
        "pilot",
        "--foreground",
        "--data",
        str(DEMO_CHAT),
        "--model",
        str(tiny_model),
        "--method",
        "lora",
        "--max-steps",
        "3",
        "--no-probe",
        "--json",
    ]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["measurement"]["quality"]["metric"] == "chrf"


def test_distill_seq_with_a_local_teacher(tiny_model, runs_dir, capsys):
    """A local teacher's answers become the student's training targets (the default
    model's distill_seq test uses an endpoint teacher)."""
    argv = [*_pilot(tiny_model), "--method", "distill_seq", "--teacher", str(tiny_model)]
    argv[2] = str(DEMO_CHAT)  # a generation task: the teacher's text passes the filter
    assert main([*argv, "--foreground", "--max-steps", "3", "--holdout-max", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "done" and out["agreement"]["n"] == 16
    train = json.loads((Path(out["run_dir"]) / "train.json").read_text())["examples"]
    assert out["teacher"]["kept"] > 0
    assert out["teacher"]["kept"] + sum(out["teacher"]["dropped"].values()) == len(train)


def test_cancel_leaves_no_process_behind(tiny_model, runs_dir, capsys):
    assert (
        main(
            [
                *_pilot(tiny_model),
                "--method",
                "lora",
                "--max-steps",
                "100000",
                "--batch-size",
                "2",
                "--detach",
            ]
        )
        == 0
    )
    run = Path(capsys.readouterr().out.split()[1])
    assert _wait_for(lambda: any(e["event"] == "step" for e in runs.read_events(run)))
    pid = int((run / "pid").read_text())
    assert main(["runs", "cancel", run.name]) == 0
    assert not runs._group_alive(pid)
    assert runs.status(run) == "cancelled"
    assert runs.index_list()[0]["status"] == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_two_launches_never_share_a_directory(runs_dir):
    dirs = {runs.new_run_dir("lora") for _ in range(20)}
    assert len(dirs) == 20


def test_data_parallel_under_torchrun(tiny_model, tmp_path):
    """The same trainer under torchrun --nproc_per_node=2 on the gloo backend."""
    out = tmp_path / "ddp.json"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29517",
        str(ROOT / "tests" / "trainers" / "ddp_worker.py"),
        str(tiny_model),
        str(DEMO_CSV),
        str(out),
    ]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["world_size"] == 2 and result["steps"] == 6
    assert result["weights_equal_across_ranks"]


def test_foreground_excludes_detach_and_prepare(tiny_model, runs_dir, capsys):
    for flag in ("--detach", "--prepare"):
        assert main([*_pilot(tiny_model, "--method", "lora"), "--foreground", flag]) == 2
        assert "--foreground runs the pilot here" in capsys.readouterr().err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())  # nothing started


def test_a_child_skips_bitsandbytes_unless_its_run_may_load_4_bit(monkeypatch, tmp_path):
    """A pilot's or probe's own process marks bitsandbytes absent for a run that loads no
    4-bit model (its import costs every pilot's start about 3 s); qlora, a folder saved
    quantized, and a model it cannot read (a hub id, a run's name) leave it."""
    from trainers.models import skip_bitsandbytes

    plain, quantized = tmp_path / "plain", tmp_path / "quantized"
    for folder, config in ((plain, {}), (quantized, {"quant_method": "bitsandbytes"})):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"quantization_config": config}))
    cases = [
        ("lora", [None, None], True),
        ("full", [str(plain), str(plain)], True),
        ("classifier", ["all-MiniLM-L6-v2", None], True),
        ("qlora", [None, None], False),
        ("lora", [str(quantized), None], False),
        ("distill_seq", [None, str(quantized)], False),
        ("lora", ["HuggingFaceTB/SmolLM2-360M-Instruct", None], False),
    ]
    for method, models, blocked in cases:
        monkeypatch.delitem(sys.modules, "bitsandbytes", raising=False)
        skip_bitsandbytes(method, models)
        skipped = "bitsandbytes" in sys.modules and sys.modules["bitsandbytes"] is None
        assert skipped == blocked, (method, models)


def _read_while_written(tmp_path, write) -> list[bool]:
    import threading

    stop = threading.Event()
    write(tmp_path, os.getpid())  # there from the start, as launch() leaves it

    def writer():
        while not stop.is_set():
            write(tmp_path, os.getpid())

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        return [runs.alive(tmp_path) for _ in range(5000)]
    finally:
        stop.set()
        thread.join()


def test_the_pid_file_is_never_read_half_written(tmp_path):
    """The launcher and the run itself both write the pid file. Written in place, a
    reader could find it empty and call the live run ended: a resume forked from the warm
    zygote, which starts at once, was reported "resumable" while it ran."""
    assert all(_read_while_written(tmp_path, runs.write_pid))
