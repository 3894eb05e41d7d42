"""The warm launcher (trainers/warm.py): a pilot forked from the zygote measures what a
fresh interpreter's does, is cancelled with its process group, and runs under the
caller's environment; runs that may load a 4-bit model, and a changed import-time
variable, get a fresh start or a new zygote."""

import json
import os
import time
from pathlib import Path

import pytest

from cli import main
from tests.trainers.conftest import DEMO_CSV
from trainers import runs, warm


def _detached(tiny_model, capsys, *extra) -> Path:
    argv = ["pilot", "--method", "lora", "--data", str(DEMO_CSV), "--model", str(tiny_model)]
    assert main([*argv, "--no-probe", "--detach", "--json", *extra]) == 0
    return Path(json.loads(capsys.readouterr().out)["run_dir"])


def _finished(run_dir: Path) -> dict:
    deadline = time.time() + 300
    while runs.status(run_dir) in ("queued", "running") and time.time() < deadline:
        time.sleep(0.1)
    assert runs.status(run_dir) == "done", (run_dir / "log.txt").read_text()[-2000:]
    return json.loads((run_dir / "metrics.json").read_text())


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command's parentheses: state, ppid, pgid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _keys(record) -> object:
    """The shape of a record: its keys, all the way down."""
    if isinstance(record, dict):
        return {k: _keys(v) for k, v in record.items()}
    return type(record).__name__


@pytest.mark.slow
def test_a_forked_pilot_measures_what_a_fresh_one_does(tiny_model, runs_dir, capsys):
    warm.enable(start_now=False)
    before = warm._state["zygote"].forked if warm._state["zygote"] else 0
    forked = _finished(_detached(tiny_model, capsys, "--max-steps", "4"))
    zygote = warm._state["zygote"]
    assert zygote is not None and zygote.forked == before + 1
    warm._state["enabled"] = False  # the fresh start `adapt pilot` makes as a command
    try:
        fresh = _finished(_detached(tiny_model, capsys, "--max-steps", "4"))
    finally:
        warm._state["enabled"] = True
    assert zygote.forked == before + 1
    # Two fresh runs differ in the last digits of the loss (bf16 sums over 2 threads), so
    # the record is compared as two fresh ones would be: the same shape, split, data and
    # first loss (the same model and batches), the loss after training within 1%.
    assert _keys(forked) == _keys(fresh)
    assert forked["holdout_fingerprint"] == fresh["holdout_fingerprint"]
    for key in ("model_params", "train_examples", "holdout_examples", "train_tokens"):
        assert forked["measurement"][key] == fresh["measurement"][key], key
    for key in ("steps", "tokens", "first_loss", "threads", "bf16"):
        assert forked["training"][key] == fresh["training"][key], key
    assert forked["training"]["last_loss"] == pytest.approx(
        fresh["training"]["last_loss"], rel=0.01
    )
    # the libraries' pages count as in a fresh interpreter (trainers/zygote.py); what is
    # left is what the fresh one's own imports allocate on the way
    peaks = forked["measurement"]["peak_memory_mib"], fresh["measurement"]["peak_memory_mib"]
    print(f"peak MiB forked {peaks[0]:.0f}, fresh {peaks[1]:.0f}")
    assert peaks[0] == pytest.approx(peaks[1], rel=0.1)


@pytest.mark.slow
def test_a_forked_pilot_has_its_own_group_and_is_cancelled_with_it(tiny_model, runs_dir, capsys):
    warm.enable(start_now=False)
    run = _detached(tiny_model, capsys, "--max-steps", "100000", "--batch-size", "2")
    pid = int((run / "pid").read_text())
    zygote = warm._state["zygote"]
    _, ppid, pgid, sid = _stat(pid)[:4]
    assert int(ppid) == zygote.proc.pid and int(pgid) == pid and int(sid) == pid
    try:
        deadline = time.time() + 120
        while not any(e["event"] == "step" for e in runs.read_events(run)):
            assert time.time() < deadline and runs.status(run) in ("queued", "running")
            time.sleep(0.05)
        assert main(["runs", "cancel", run.name]) == 0
    finally:  # a failed assertion leaves no 100,000-step run behind
        runs.cancel(run)
    assert runs.status(run) == "cancelled" and not runs._group_alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert zygote.proc.poll() is None  # the zygote serves the next one


@pytest.mark.slow
def test_a_forked_probe_answers_what_a_fresh_one_does_and_is_cancelled(tiny_model):
    from trainers.config import PilotConfig
    from trainers.preflight.job import ProbeJob

    cfg = PilotConfig(method="lora", data=str(DEMO_CSV), model=str(tiny_model), device="cpu")
    warm.enable(start_now=False)
    job = ProbeJob(cfg, 0.0)
    zygote = warm._state["zygote"]
    assert job.proc is None and int(_stat(job.pid)[1]) == zygote.proc.pid
    forked = job.result(300)
    assert forked.ok, forked.error
    assert job.returncode() == 0
    deadline = time.time() + 30  # its status comes before the interpreter's shutdown
    while runs.pid_alive(job.pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not runs.pid_alive(job.pid)  # ended and reaped: no zombie is left
    warm._state["enabled"] = False
    try:
        fresh_job = ProbeJob(cfg, 0.0)
        fresh = fresh_job.result(300)
    finally:
        warm._state["enabled"] = True
    assert fresh_job.proc is not None and fresh.ok, fresh.error
    for key in ("holdout", "train_rows", "steps_per_epoch", "train_tokens_per_epoch"):
        assert getattr(forked, key) == getattr(fresh, key), key
    assert forked.longest_batch_tokens == fresh.longest_batch_tokens
    # the first fork may have waited for the zygote's own imports; the next one does not
    again = ProbeJob(cfg, 0.0).result(300)
    walls = forked.wall_s, again.wall_s, fresh.wall_s
    print("probe wall s: forked {:.1f} then {:.1f}, fresh {:.1f}".format(*walls))
    assert again.ok and again.wall_s < fresh.wall_s
    assert forked.peak_memory_mib == pytest.approx(fresh.peak_memory_mib, rel=0.1)

    slow = cfg.model_copy(update={"holdout_max": 100})
    job = ProbeJob(slow, 0.0)
    assert job.proc is None and runs.pid_alive(job.pid)
    job.cancel()
    assert job.done() and not runs.pid_alive(job.pid)
    assert job.result(5).error == "the probe was killed before it answered"


def test_only_runs_that_load_no_4_bit_model_are_forked(tiny_model, tmp_path):
    for method, eligible in (("lora", True), ("qlora", False)):
        run_dir = tmp_path / method
        run_dir.mkdir()
        (run_dir / "config.yaml").write_text(
            f"method: {method}\nmodel: {tiny_model}\ndata: {DEMO_CSV}\n"
        )
        assert warm._warm_eligible(run_dir) is eligible
    unread = tmp_path / "unread"
    unread.mkdir()
    (unread / "config.yaml").write_text("method: [\n")
    assert warm._warm_eligible(unread) is False  # the fresh child names the error in its log


def test_an_import_time_variable_starts_a_new_zygote_and_a_secret_does_not():
    env = {"PATH": "/usr/bin", "OMP_NUM_THREADS": "2", "ADAPT_RUNS": "/a", "KEY": "sk-1"}
    key = warm._import_key(env, ("KEY",))
    assert key == (("OMP_NUM_THREADS", "2"), ("PATH", "/usr/bin"))
    assert warm._import_key({**env, "ADAPT_RUNS": "/b", "KEY": "sk-2"}, ("KEY",)) == key
    assert warm._import_key({**env, "OMP_NUM_THREADS": "1"}, ("KEY",)) != key
    assert warm._import_key({**env, "HOME": "/h"}, ("KEY",)) != key
