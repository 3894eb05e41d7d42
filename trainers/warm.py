"""A warm launcher for the hosts that start many pilots: the app's server and a test
worker. A fresh interpreter pays about 10 s of imports before a pilot does anything
(torch, transformers, peft, trainers; measured on a 2 GHz Xeon); here one process, the
zygote, pays them once and forks a pilot per request, which then starts at once.

`adapt pilot --detach` keeps starting a fresh interpreter (runs.launch): a one-shot CLI
would pay the imports either way. Rules the zygote keeps:
- It imports, but runs no tensor op: a fork after torch's OpenMP pool has started hangs.
- It serves only runs that load no 4-bit model (models.bitsandbytes_unused): it imported
  peft with bitsandbytes marked absent, and peft remembers what it saw at import. The
  others start fresh.
- A pilot gets the caller's environment as it is at the launch, sent over the pipe and
  never written anywhere (an API key typed into the app). Variables a library reads at
  import (OMP_*, HF_*, ATEN_CPU_CAPABILITY, HOME, ...) must be the zygote's own, so a
  change to any variable but ADAPT_* (read when used), PYTEST_* and the secrets starts a
  new zygote.
- Each pilot calls setsid, as a fresh one started in a new session does: `runs.cancel`
  kills its process group. The zygote ignores SIGCHLD, so the kernel reaps its pilots.
- It exits when its caller closes the pipe (the caller ended); its pilots keep running.
The zygote itself is trainers/zygote.py (`python -m trainers.zygote`); callers use
`enable()`, `fork_pilot()` and `fork_probe()` (the preflight probe: the same imports)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path

from trainers.config import load_config
from trainers.models import bitsandbytes_unused

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0  # the zygote's imports, on a busy 2-core machine
CALL_TIME_PREFIXES = ("ADAPT_", "PYTEST_")

_lock = threading.Lock()
_state: dict = {"enabled": False, "zygote": None}


def enable(start_now: bool = True) -> None:
    """Start pilots of this process by fork from a warm zygote (Linux only). `start_now`
    begins its imports in the background, so the first launch finds it ready."""
    if sys.platform != "linux":
        return
    _state["enabled"] = True
    if start_now:
        with _lock:
            _zygote_for(dict(os.environ), ())


def disable() -> None:
    with _lock:
        _state["enabled"] = False
        _close(_state["zygote"])
        _state["zygote"] = None


def fork_pilot(run_dir: Path, argv: list[str], env: dict[str, str], secret_names) -> int | None:
    """The pid of the pilot forked for `argv` (trainers.pilot's), its output appended to
    run_dir/log.txt; None when this run must start fresh (not enabled, a run that may load
    a 4-bit model, or no zygote answered)."""
    log = str(Path(run_dir) / "log.txt")
    request = {"entry": "trainers.pilot", "argv": argv, "stdout": log, "stderr": log}
    return _fork(Path(run_dir), request, env, tuple(secret_names))


def fork_probe(job_dir: Path, env: dict[str, str]) -> int | None:
    """The pid of trainers.preflight.probe forked for job_dir/config.yaml: its answer in
    out.txt, its progress in err.txt, its exit code in status.txt once it ended (no such
    file after it ended: a signal killed it). None: start it fresh, as for fork_pilot."""
    d = Path(job_dir)
    request = {
        "entry": "trainers.preflight.probe",
        "argv": [str(d / "config.yaml")],
        "stdout": str(d / "out.txt"),
        "stderr": str(d / "err.txt"),
        "status": str(d / "status.txt"),
    }
    return _fork(d, request, env, ())


def _fork(config_dir: Path, request: dict, env: dict[str, str], secret_names) -> int | None:
    if not _state["enabled"] or not _warm_eligible(config_dir):
        return None
    with _lock:
        zygote = _zygote_for(env, secret_names)
        pid = zygote.fork({**request, "env": env})
        zygote.forked += pid is not None
        if pid is None:  # it died or hung: the next launch builds a new one
            _close(zygote)
            _state["zygote"] = None
        return pid


def _warm_eligible(config_dir: Path) -> bool:
    try:
        cfg = load_config(config_dir)
    except Exception:  # the fresh child reports a config it cannot read, in its log
        return False
    return bitsandbytes_unused(cfg.method, [cfg.model, cfg.teacher])


def _import_key(env: dict[str, str], secret_names: tuple[str, ...]) -> tuple:
    return tuple(
        sorted(
            (k, v)
            for k, v in env.items()
            if k not in secret_names and not k.startswith(CALL_TIME_PREFIXES)
        )
    )


class _Zygote:
    def __init__(self, env: dict[str, str], key: tuple):
        self.key, self.forked = key, 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trainers.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
            start_new_session=True,  # the app's Ctrl-C is not its signal
        )

    def fork(self, request: dict) -> int | None:
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return None
        line = b""
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], START_TIMEOUT_S)
            chunk = os.read(fd, 64) if ready else b""
            if not chunk:
                return None
            line += chunk
        return int(line) if line.strip().isdigit() else None


def _zygote_for(env: dict[str, str], secret_names: tuple[str, ...]) -> _Zygote:
    key = _import_key(env, secret_names)
    zygote = _state.get("zygote")
    if zygote is None or zygote.key != key or zygote.proc.poll() is not None:
        _close(zygote)
        clean = {k: v for k, v in env.items() if k not in secret_names}
        zygote = _state["zygote"] = _Zygote(clean, key)
    return zygote


def _close(zygote: _Zygote | None) -> None:
    """End a zygote no longer wanted (no fork is in flight: callers hold the lock). Its
    pilots live in their own sessions and keep running."""
    if zygote is not None:
        with contextlib.suppress(OSError):
            zygote.proc.stdin.close()
        zygote.proc.terminate()  # it may still be importing: no reason to finish
        with contextlib.suppress(subprocess.TimeoutExpired):
            zygote.proc.wait(timeout=5)
