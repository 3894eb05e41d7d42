"""The preflight probe as a background job: start it, read its progress, wait for its
answer (a ProbeResult), and remember how long it took so the next one is announced
truthfully. The probe itself is trainers/preflight/probe.py, run in its own process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from trainers import runs, warm


class ProbeResult(BaseModel):
    """What the probe measured, in seconds and tokens/s; the preflight scales it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ok: bool = True
    error: str | None = None
    device: str | None = None
    load_s: float = 0.0
    holdout: int = 0
    zero_shot_batch_s: float = 0.0
    few_shot_batch_s: float = 0.0
    retriever_s: float = 0.0
    retrieval_batch_s: float = 0.0
    forgetting_probe_s: float = 0.0
    tuned_batch_s: float = 0.0
    train_tokens_per_second: float | None = None
    """None: the method trains nothing."""
    lora_tokens_per_second: float | None = None
    """QLoRA on a CPU: LoRA's rate on the same batches, so the preflight can compare."""
    train_tokens_per_epoch: int = 0
    steps_per_epoch: int = 0
    longest_batch_tokens: int = 0
    train_rows: int = 0
    teacher_s_per_row: float = 0.0
    """Distillation: seconds the teacher took per input it answered, outside the steps."""
    peak_memory_mib: float | None = None
    probe_s: float = 0.0
    """The probe's own clock, from after the imports to its answer."""
    holdout_available: int = 0
    """Holdout rows before the holdout_max cap, so a new cap rescales without a new probe."""
    startup_s: float = 0.0
    """Python's start and the imports, measured by the caller around the process."""
    wall_s: float = 0.0
    """The whole probe process, as the user waited for it."""


SCALE_ONLY = ("holdout_max", "curve")  # the probe's timings scale to any value of these
SCALE_ONLY_TRAIN = ("max_minutes", "max_steps", "epochs", "save_every_steps")


def probe_key(cfg) -> str:
    """What a probe measured depends on this; the time cap, the holdout size, the steps and
    the learning curve only scale its timings, so changing them keeps the probe."""
    data = cfg.model_dump(mode="json")
    for name in SCALE_ONLY:
        data.pop(name, None)
    for name in SCALE_ONLY_TRAIN:
        data["train"].pop(name, None)
    return json.dumps(data, sort_keys=True)


class ProbeJob:
    """A probe running in its own process (its peak memory is then the pilot's own), in
    the background: `progress()` says where it is, `result()` waits for its answer. A host
    that enabled trainers.warm forks it from the warm zygote (the imports already made);
    otherwise, or for a run that may load a 4-bit model, a fresh interpreter."""

    def __init__(self, cfg, announced_s: float):
        import subprocess
        import sys
        import tempfile
        import time

        import yaml

        self.key, self.announced_s, self.started = probe_key(cfg), announced_s, time.time()
        self.dir = Path(tempfile.mkdtemp(prefix="adapt-probe-"))
        (self.dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        # both files exist from the start: progress() and result() read them at any time
        with open(self.dir / "out.txt", "wb") as out, open(self.dir / "err.txt", "wb") as err:
            self.proc, self.pid = None, warm.fork_probe(self.dir, dict(os.environ))
            if self.pid is not None:
                return
            # the child keeps its own copies of the two files; ours close at once
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "trainers.preflight.probe", str(self.dir / "config.yaml")],
                stdout=out,
                stderr=err,
                cwd=Path(__file__).resolve().parent.parent,
            )
        self.pid = self.proc.pid

    def elapsed_s(self) -> float:
        import time

        return time.time() - self.started

    def done(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is not None
        # a forked probe is the zygote's child, reaped by the kernel: gone once it ended
        return (self.dir / "status.txt").exists() or not runs.pid_alive(self.pid)

    def returncode(self) -> int | None:
        """Its exit code once done; None for a forked one a signal killed."""
        if self.proc is not None:
            return self.proc.returncode
        try:
            return int((self.dir / "status.txt").read_text())
        except (OSError, ValueError):
            return None

    def progress(self) -> str:
        """The probe's last progress line ("training step 2 of 4")."""
        lines = (self.dir / "err.txt").read_text(errors="replace").splitlines()
        said = [x.removeprefix("probe: ") for x in lines if x.startswith("probe: ")]
        return said[-1] if said else "starting Python and loading the libraries"

    def cancel(self) -> None:
        if self.done():
            return
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self._wait(10.0)

    def _wait(self, timeout_s: float) -> bool:
        import time

        deadline = time.time() + timeout_s
        while not self.done():
            if time.time() > deadline:
                return False
            time.sleep(0.05)
        return True

    def result(self, timeout_s: float = 900) -> ProbeResult:
        if not self._wait(timeout_s):
            self.cancel()
            return ProbeResult(ok=False, error=f"the probe took longer than {timeout_s:.0f} s")
        code, wall = self.returncode(), self.elapsed_s()
        out = (self.dir / "out.txt").read_text(errors="replace")
        err = (self.dir / "err.txt").read_text(errors="replace")
        if code in (-9, 137):  # the kernel's out-of-memory killer
            return ProbeResult(ok=False, error="out of memory (the probe was killed)")
        if code is None:
            return ProbeResult(ok=False, error="the probe was killed before it answered")
        lines = [x for x in out.splitlines() if x.startswith("{")]
        if code != 0 or not lines:
            tail = (err.strip().splitlines() or ["no output"])[-1]
            return ProbeResult(ok=False, error=f"the probe failed: {tail[:300]}")
        r = ProbeResult.model_validate_json(lines[-1])
        # Python's start and the imports happen before the probe's own clock starts
        return r.model_copy(update={"startup_s": max(0.0, wall - r.probe_s), "wall_s": wall})


def run_probe(cfg, timeout_s: float = 900) -> ProbeResult:
    """Run trainers.preflight.probe in a fresh process and wait for its answer."""
    return ProbeJob(cfg, 0.0).result(timeout_s)


def _probe_log() -> Path:
    return runs.runs_root() / "probe_seconds.json"


def last_probe_s(method: str, model: str, device: str) -> float | None:
    try:
        return float(json.loads(_probe_log().read_text())[f"{method}|{model}|{device}"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember_probe(cfg, r: ProbeResult) -> None:
    """Keep how long this probe took, to announce the next one truthfully."""
    if not (r.ok and r.wall_s and r.device):
        return
    try:
        log = json.loads(_probe_log().read_text())
    except (OSError, ValueError):
        log = {}
    log[f"{cfg.method}|{cfg.model}|{r.device}"] = round(r.wall_s, 1)
    with contextlib.suppress(OSError):
        runs.write_json_atomic(_probe_log(), log)
