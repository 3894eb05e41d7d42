"""Killed runs (issue 7): kill -9 at random points of model conversion, training,
checkpoint writing and evaluation. A killed run is never "done"; resume continues from
the last complete checkpoint; nothing half-written is ever read as complete. Each test
prints its kill points and their outcomes (pytest -s shows them)."""

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import main
from tests.conftest import ROOT
from tests.trainers.conftest import DEMO_CSV
from trainers import runs

pytestmark = pytest.mark.slow
RNG = random.Random(7)  # kill points are random, and the same on every run


def _wait(pred, timeout=180.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def _kill_group(run_dir: Path) -> None:
    pid = int((run_dir / "pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    _wait(lambda: runs.status(run_dir) not in ("running", "queued"), 30)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _launch(tiny_model, capsys, steps: int) -> Path:
    argv = ["pilot", "--method", "lora", "--data", str(DEMO_CSV), "--model", str(tiny_model)]
    argv += ["--max-steps", str(steps), "--save-every", "5", "--no-probe", "--detach", "--json"]
    assert main(argv) == 0
    return Path(json.loads(capsys.readouterr().out)["run_dir"])


def _last_checkpoint(run_dir: Path) -> int:
    """The step of the last complete checkpoint (also one killed between its renames)."""
    for name in ("ckpt", "ckpt.old"):
        state = run_dir / name / "state.json"
        if state.exists():
            return json.loads(state.read_text())["step"]
    return 0


def _reached(run_dir: Path, where: str, at: int | None):
    """True once the process running now (after the run's last start or resume) reached
    the kill point: events of an earlier, killed process do not count."""

    def pred() -> bool:
        events = runs.read_events(run_dir)
        starts = [i for i, e in enumerate(events) if e["event"] in ("start", "resume_requested")]
        began = starts[-1] if starts else 0
        for e in events[began:]:
            if where == "training" and e.get("step", 0) >= at:
                return True
            if where == "evaluation" and e.get("phase") == "tuned":
                return True
        return False

    return pred


def test_kill_during_training_and_evaluation_then_resume(tiny_model, runs_dir, capsys):
    """One run killed again and again: at four random training steps, each time after it
    was resumed, then during evaluation; the last resume finishes it. Every kill leaves it
    resumable (never done), and every resume starts from the last complete checkpoint."""
    steps, outcomes, expected = 40, [], []
    points = [("training", s) for s in sorted(RNG.sample(range(2, steps), 4))]
    points.append(("evaluation", None))
    run_dir = _launch(tiny_model, capsys, steps)
    for where, at in points:
        assert _wait(_reached(run_dir, where, at)), (where, at)
        _kill_group(run_dir)
        after_kill = runs.status(run_dir)
        assert after_kill in ("resumable", "failed"), after_kill
        assert not (run_dir / "metrics.json").exists()
        ckpt = _last_checkpoint(run_dir)
        expected += [ckpt] if ckpt else []
        detach = [] if where == "evaluation" else ["--detach"]  # the last resume finishes
        assert main(["pilot", "--resume", run_dir.name, "--json", *detach]) == 0
        printed = capsys.readouterr().out
        outcomes.append(f"{where} at step {at or steps}: {after_kill}, resumed from {ckpt}")
    out = json.loads(printed)  # the last resume's answer
    assert out["status"] == "done" and out["training"]["steps"] == steps
    resumed = [e["step"] for e in runs.read_events(run_dir) if e["event"] == "resume"]
    assert resumed == expected  # each resume started from the last complete checkpoint
    print("\nkill points:", *outcomes, sep="\n  ")


# A zygote: one interpreter imports torch and the code under test once, then forks a
# child per kill trial (the test kills the child, the zygote reaps it and reports how it
# ended). A fresh interpreter per trial spent 3-13 s importing: the trials cost half a
# minute a test, and the conversion's kill "while reading" (0.5-3 s after the start)
# landed in transformers' imports, before any of the GGUF was read.
ZYGOTE = """
import os, sys
{prelude}
for line in sys.stdin:
    arg = line.strip()
    pid = os.fork()
    if pid == 0:  # the child: the work, until it is killed or ends
        os.dup2(2, 1)  # its prints must not reach the zygote's answers
        code = 0
        try:
            work(arg)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)  # the child's wait status, once it ends
"""


@contextlib.contextmanager
def _zygote(prelude: str, env: dict | None = None):
    """Yields start(arg) -> child pid, and ended() -> the child's wait status."""
    code = ZYGOTE.format(prelude=prelude)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, text=True, start_new_session=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip

    def start(arg: str) -> int:
        proc.stdin.write(arg + "\n")
        proc.stdin.flush()
        return int(proc.stdout.readline())

    try:
        yield start, lambda: int(proc.stdout.readline())
    finally:  # the zygote ends at the end of its input; a failed test leaves none behind
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# The zygote imports what the first save imports (the optimizer loads torch._dynamo) and
# runs no tensor op: a child forked from a process with a started OpenMP pool hangs.
WRITER = """
import safetensors.torch, torch, torch._dynamo
from pathlib import Path
from trainers.loop import save_checkpoint

def work(where):
    model = torch.nn.Linear(256, 256)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    step = 0
    while True:
        step += 1
        with torch.no_grad():
            model.weight.fill_(step)  # the weights say which step they belong to
        save_checkpoint(Path(where), model, opt, sched, {"step": step})
"""


def test_kill_while_writing_checkpoints_never_leaves_a_half_one(tmp_path):
    """A writer saves checkpoints in a loop; kill -9 at random moments; every time, the
    checkpoint that loads is complete and consistent (its weights match its step)."""
    import torch

    from trainers.loop import load_checkpoint

    outcomes = []
    with _zygote(WRITER) as (start, ended):
        for trial in range(6):
            ckpt = tmp_path / f"t{trial}" / "ckpt"
            ckpt.parent.mkdir()
            pid = start(str(ckpt))
            _wait(lambda c=ckpt: (c / "state.json").exists() or (c.parent / "ckpt.old").exists())
            time.sleep(RNG.uniform(0.0, 0.5))
            os.kill(pid, signal.SIGKILL)
            assert os.WTERMSIG(ended()) == signal.SIGKILL  # killed mid-loop, not ended
            model = torch.nn.Linear(256, 256)
            opt = torch.optim.AdamW(model.parameters())
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
            state = load_checkpoint(ckpt, model, opt, sched)
            assert state is not None
            assert float(model.weight[0, 0].detach()) == state["step"]
            outcomes.append(state["step"])
    print(f"\ncheckpoint writer killed 6 times; loaded complete checkpoints at steps {outcomes}")


CONVERT = """
import gguf, transformers.modeling_gguf_pytorch_utils, transformers.models.llama.modeling_llama
from transformers import AutoModelForCausalLM, AutoTokenizer
from trainers.models import convert_default_model

def work(_):
    convert_default_model()
"""


def test_kill_during_model_conversion(tmp_path):
    """Killed while converting the default model: no half-written model is ever used;
    the next conversion completes and loads."""
    env = {**os.environ, "ADAPT_CACHE": str(tmp_path)}
    out = tmp_path / "models" / "SmolLM2-135M-Instruct"
    outcomes = []
    with _zygote(CONVERT, env) as (start, ended):
        # once at a random moment while it reads the GGUF, once just after it began writing
        for phase in ("reading", "writing"):
            pid = start("")
            if phase == "reading":
                time.sleep(RNG.uniform(0.5, 3))
            else:
                assert _wait(lambda: any(out.parent.glob(f"{out.name}.tmp-*/*")), 120)
                time.sleep(RNG.uniform(0, 0.3))
            os.kill(pid, signal.SIGKILL)
            status = ended()
            complete = (out / "model.safetensors").exists()
            if out.exists():  # renamed in one step: if it is there, it is whole
                assert complete and (out / "config.json").exists()
            assert os.WIFSIGNALED(status) or complete  # killed, or it had already finished
            outcomes.append(f"killed while {phase}: {'finished first' if complete else 'no model'}")
        start("")
        assert os.WIFEXITED(status := ended()) and os.WEXITSTATUS(status) == 0
    assert (out / "model.safetensors").exists()
    from trainers.models import load_causal_lm

    assert load_causal_lm(out).config.num_hidden_layers == 30
    print("\nconversion kill points:", *outcomes, sep="\n  ")
