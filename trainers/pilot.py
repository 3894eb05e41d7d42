"""A pilot run, and the one router every launch goes through: the frozen splits -> the
flow that suits the method and the data (trainers/flows/) -> the one `finish` that makes
metrics.json (trainers/context.py). Run as `python -m trainers.pilot RUN_DIR [--resume]`
(what `adapt pilot` and the app's Launch start, detached, through trainers/launch.py; or
under torchrun / accelerate launch) or in-process via `run_pilot`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
import time
import traceback
from pathlib import Path

from core.vocab import Flow, flow_of
from trainers import runs, slots
from trainers.config import PilotConfig, load_config
from trainers.context import build_context, finish
from trainers.flows import classifier, distill, documents, endpoint, extract, generative
from trainers.hardware import is_out_of_memory, reset_peak_memory
from trainers.metrics import PilotMetrics
from trainers.models import skip_bitsandbytes
from trainers.splits import freeze_splits

# Each flow is a module with `run(ctx) -> Outcome`.
FLOWS = {
    "generative": generative,
    "classifier": classifier,
    "documents": documents,
    "distill": distill,
    "extract": extract,
}


def route(cfg: PilotConfig, data_format: str) -> tuple[Flow, object]:
    """The flow for this method on data of this format (core/vocab.py: flow_of decides);
    a generative method asked through an endpoint runs the endpoint flow (the documents
    flow asks the endpoint itself)."""
    flow = flow_of(cfg.method, data_format)
    if flow == "generative" and cfg.endpoint_url:
        return flow, endpoint
    return flow, FLOWS[flow]


def failure_message(e: BaseException, run_dir: Path) -> str:
    """One line that says what went wrong and what to do about it."""
    if is_out_of_memory(e):
        return "out of memory: try a smaller --batch-size, method=qlora, or shorter examples"
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"disk full while writing the run ({e.strerror}): free space under "
            f"{run_dir.parent} and continue with `adapt pilot --resume {run_dir.name}`"
        )
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _run(cfg: PilotConfig, run_dir: Path, t0: float) -> PilotMetrics:
    flow, module = route(cfg, freeze_splits(cfg, run_dir)[1].format)
    ctx = build_context(cfg, run_dir, flow, t0)
    return finish(ctx, module.run(ctx))


def run_pilot(run_dir: Path, resume: bool = False) -> PilotMetrics:
    """Run (or resume) the pilot in run_dir; returns what metrics.json holds."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    reset_peak_memory()  # the run's own peak, in whatever process it runs
    if runs.is_main_process():
        runs.write_pid(run_dir, os.getpid())
        runs.index_upsert(run_dir, method=cfg.method, model=cfg.model)
        slots.acquire_slot(run_dir)  # waits (status "queued") while the machine is full
    t0 = time.perf_counter()
    runs.emit(run_dir, "start", method=cfg.method, model=cfg.model, resume=resume)
    try:
        metrics = _run(cfg, run_dir, t0)
    except Exception as e:  # recorded as a failed run with a clear message, then re-raised
        msg = failure_message(e, run_dir)
        with contextlib.suppress(OSError, sqlite3.Error):  # a full disk may refuse even this
            runs.index_upsert(run_dir, status_="failed")  # the index first: a waiter
            runs.emit(run_dir, "error", message=msg)  # returns on this event
        raise
    record = metrics.model_dump(mode="json")
    runs.write_json_atomic(run_dir / "metrics.json", record)
    # The index before the event: `adapt pilot` returns on "done" and may read the index.
    runs.index_upsert(run_dir, status_="done", metrics=record)
    runs.emit(run_dir, "done", wall_seconds=round(metrics.measurement.wall_seconds, 2))
    return metrics


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    run_dir = Path(argv[0])
    try:
        run_pilot(run_dir, resume="--resume" in argv)
    except Exception:
        traceback.print_exc()  # into log.txt; the event log already holds the message
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(Exception):  # main reports a config it cannot read
        cfg = load_config(Path(sys.argv[1]))
        skip_bitsandbytes(cfg.method, [cfg.model, cfg.teacher])
    raise SystemExit(main())
