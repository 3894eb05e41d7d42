"""How many pilots run at once on this machine: the rest wait in a queue, first come
first served, decided in one IMMEDIATE transaction of the run index."""

from __future__ import annotations

import os
import time
from pathlib import Path

from trainers import runs


def max_runs() -> int:
    """Pilots allowed to run at once (ADAPT_MAX_RUNS, default 1: a pilot uses every core
    of a small machine); extra launches wait in a queue, first come first served."""
    try:
        return max(1, int(os.environ.get("ADAPT_MAX_RUNS", "1")))
    except ValueError:
        return 1


def acquire_slot(run_dir: Path, poll_seconds: float = 0.5) -> None:
    """Block until this run may start. The decision is one IMMEDIATE transaction, so two
    processes deciding at once cannot both take the last slot; runs whose process died
    hold no slot; a run queued earlier goes first."""
    run_dir = Path(run_dir).resolve()
    me, announced = run_dir.name, False
    while True:
        conn = runs.index_db(run_dir.parent)
        conn.isolation_level = None  # explicit transactions below
        try:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(
                "SELECT run_id, run_dir, status, created FROM runs "
                "WHERE status IN ('running', 'queued')"
            ).fetchall()
            mine = conn.execute("SELECT created FROM runs WHERE run_id = ?", (me,)).fetchone()
            created = mine[0] if mine else time.time()
            live = [r for r in rows if r[0] != me and runs.alive(Path(r[1]))]
            running = [r for r in live if r[2] == "running"]
            earlier = [r for r in live if r[2] == "queued" and r[3] < created]
            go = len(running) < max_runs() and not earlier
            conn.execute(
                "UPDATE runs SET status = ?, updated = ? WHERE run_id = ?",
                ("running" if go else "queued", time.time(), me),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        if go:
            return
        if not announced:
            runs.emit(run_dir, "queued", ahead=len(running) + len(earlier), limit=max_runs())
            announced = True
        time.sleep(poll_seconds)
