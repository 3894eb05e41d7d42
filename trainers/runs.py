"""Run directories, their event logs, and the run index.

Every run is a directory: config.yaml (resolved), holdout.json (frozen before training),
events.jsonl (append-only), metrics.json, adapter/ (PEFT safetensors), ckpt/, log.txt.
The index is SQLite (standard library) with one transaction per write. A pilot runs as a
detached subprocess in its own process group with its output in log.txt; cancel kills
the group.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from core.scenario import InputError
from trainers import warm
from trainers.hardware import process_peak_mib

FINAL = ("done", "failed", "cancelled")
RESTARTS = ("start", "resume_requested", "queued")  # events after which earlier errors are past


def is_main_process() -> bool:
    """Under torchrun or accelerate launch only rank 0 writes the run's files."""
    return os.environ.get("RANK", "0") == "0"


def runs_root() -> Path:
    """Where run directories and the run index live: ADAPT_RUNS, else one user-level
    folder ($XDG_DATA_HOME/adapt/runs, by default ~/.local/share/adapt/runs), so that
    `adapt runs list` finds the same runs from any working directory."""
    if os.environ.get("ADAPT_RUNS"):
        return Path(os.environ["ADAPT_RUNS"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "adapt" / "runs"


def new_run_dir(method: str, root: Path | None = None) -> Path:
    """A fresh directory; mkdir without exist_ok, so two launches never share one."""
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    while True:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = root / f"{stamp}-{method}-{secrets.token_hex(3)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def write_text_atomic(path: Path, text: str) -> None:
    """Replace the file whole, so a reader never finds it half-written. The temporary
    name is the writer's own: two processes may write one file (the pid file: the
    launcher and the run)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_json_atomic(path: Path, obj) -> None:
    if is_main_process():
        write_text_atomic(path, json.dumps(obj, indent=2, default=str))


def write_pid(run_dir: Path, pid: int) -> None:
    """Both the launcher and the run write it; status() reading it half-written would
    call a live run ended."""
    write_text_atomic(Path(run_dir) / "pid", str(pid))


def read_json(path: Path) -> dict | None:
    """A JSON file written by write_json_atomic, or None when absent (never half-read)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _rss_mib() -> int:
    """This process's resident memory now (Linux), so the event log shows each phase's."""
    try:
        return (
            int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
        )
    except (OSError, IndexError, ValueError):
        return 0


def _peak_mib() -> int:
    return int(process_peak_mib())


def emit(run_dir: Path, kind: str, **fields) -> None:
    """Append one event; a line is written whole (one write call, flushed)."""
    if not is_main_process():
        return
    memory = {"rss_mib": _rss_mib(), "peak_mib": _peak_mib()}  # which phase peaks, and when
    event = {"time": round(time.time(), 3), "event": kind, **memory, **fields}
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(event, default=str) + "\n")


def read_events(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "events.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill mid-write is skipped, never half-read
    return events


def pid_alive(pid: int) -> bool:
    """True while the process runs; a zombie (ended, not yet reaped) is not running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (finished, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def alive(run_dir: Path) -> bool:
    try:
        return pid_alive(int((Path(run_dir) / "pid").read_text()))
    except (OSError, ValueError):
        return False


def status(run_dir: Path) -> str:
    """done, failed, cancelled, running, queued, or resumable (died with a checkpoint)."""
    run_dir = Path(run_dir)
    kinds = [e["event"] for e in read_events(run_dir)]
    for k in reversed(kinds):  # the latest word counts: a resume after an error starts anew
        if k in FINAL:
            return k
        if k == "error":
            return "failed"
        if k in RESTARTS:
            break
    if alive(run_dir):  # running once it has started since it was last (re)queued
        last = {k: i for i, k in enumerate(kinds)}
        waiting = max(last.get("queued", -1), last.get("resume_requested", -1))
        return "running" if last.get("start", -1) > waiting else "queued"
    if not kinds:
        return "queued"
    return "resumable" if (run_dir / "ckpt" / "state.json").exists() else "failed"


# ---- the index ------------------------------------------------------------------------

SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, run_dir TEXT NOT NULL, method TEXT, model TEXT,
    status TEXT, created REAL, updated REAL, metrics TEXT)"""


def index_db(root: Path | None = None) -> sqlite3.Connection:
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(root / "index.sqlite", timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(SCHEMA)
    return conn


def index_upsert(
    run_dir: Path,
    *,
    method: str | None = None,
    model: str | None = None,
    status_: str | None = None,
    metrics: dict | None = None,
) -> None:
    run_dir = Path(run_dir).resolve()
    conn = index_db(run_dir.parent)
    try:
        with conn:  # one transaction
            now = time.time()
            conn.execute(
                "INSERT OR IGNORE INTO runs (run_id, run_dir, created, updated) "
                "VALUES (?, ?, ?, ?)",
                (run_dir.name, str(run_dir), now, now),
            )
            for col, val in (
                ("method", method),
                ("model", model),
                ("status", status_),
                ("metrics", json.dumps(metrics, default=str) if metrics else None),
            ):
                if val is not None:
                    conn.execute(
                        f"UPDATE runs SET {col} = ?, updated = ? WHERE run_id = ?",
                        (val, now, run_dir.name),
                    )
    finally:
        conn.close()


def index_list(root: Path | None = None) -> list[dict]:
    conn = index_db(root)
    try:
        rows = conn.execute(
            "SELECT run_id, run_dir, method, model, status, created, metrics "
            "FROM runs ORDER BY created DESC"
        ).fetchall()
    finally:
        conn.close()
    out = []
    for run_id, run_dir, method, model, st, created, metrics in rows:
        live = status(Path(run_dir)) if Path(run_dir).exists() else "missing"
        out.append(
            {
                "run_id": run_id,
                "run_dir": run_dir,
                "method": method,
                "model": model,
                "status": live if st not in FINAL else st,
                "created": created,
                "metrics": json.loads(metrics) if metrics else None,
            }
        )
    return out


def find_run(ref: str, root: Path | None = None, index_only: bool = False) -> Path:
    """A run by id, id prefix or (unless index_only: refs from a URL) directory."""
    path = Path(ref)
    if not index_only and (path / "config.yaml").exists():
        return path
    if not ref or not all(c.isalnum() or c in "-_" for c in ref):
        raise InputError(f"no run {ref!r}; run ids hold letters, digits, - and _ only")
    for row in index_list(root):
        if row["run_id"] == ref or row["run_id"].startswith(ref):
            return Path(row["run_dir"])
    raise InputError(f"no run {ref!r}; see `adapt runs list`")


# ---- processes --------------------------------------------------------------------------


def launch(run_dir: Path, resume: bool = False, extra_env: dict[str, str] | None = None) -> int:
    """Start the pilot detached, in its own process group; output goes to a file (never an
    undrained pipe), so it keeps going when the caller or browser leaves. A host that
    enabled trainers.warm forks it from a warm zygote; otherwise a fresh interpreter.
    extra_env (an API key typed into the app) reaches the child's environment only: it
    is never written to the run directory, the index or the log."""
    run_dir = Path(run_dir)
    argv = [str(run_dir)] + (["--resume"] if resume else [])
    env = {**os.environ, **(extra_env or {})}
    pid = warm.fork_pilot(run_dir, argv, env, secret_names=extra_env or {})
    if pid is None:
        log = open(run_dir / "log.txt", "ab")  # noqa: SIM115 (the child owns it)
        pid = subprocess.Popen(
            [sys.executable, "-m", "trainers.pilot", *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
        ).pid
        log.close()
    write_pid(run_dir, pid)
    return pid


def cancel(run_dir: Path, grace_seconds: float = 5.0) -> bool:
    """Kill the run's process group (TERM, then KILL after a grace period)."""
    run_dir = Path(run_dir)
    pid_file = run_dir / "pid"
    if not pid_file.exists() or status(run_dir) in FINAL:
        return False
    pid = int(pid_file.read_text())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + grace_seconds
        while time.time() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if not _group_alive(pid):
            break
    deadline = time.time() + grace_seconds
    while time.time() < deadline:  # reap our own child, so not even a zombie stays behind
        _reap(pid)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    emit(run_dir, "cancelled")
    index_upsert(run_dir, status_="cancelled")
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid_alive(pgid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
