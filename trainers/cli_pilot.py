"""`adapt pilot` and `adapt runs`: launch, watch, resume, list, show, cancel."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from advisor.scenario import InputError
from trainers import runs


def add_parsers(sub, handlers) -> None:
    p = sub.add_parser("pilot", help="train and evaluate on your own examples")
    p.add_argument(
        "--method",
        choices=["prompt", "retrieval", "lora", "qlora", "full", "distill_seq", "distill_logit"],
    )
    p.add_argument("--data", help="JSONL (chat, prompt/completion, alpaca), JSON or CSV")
    p.add_argument("--holdout-data", help="a separate holdout file (else split from --data)")
    p.add_argument("--model", default=None, help="hub id or local folder (default SmolLM2-135M)")
    p.add_argument("--teacher", help="teacher model, or a LoRA run's merged/ folder")
    p.add_argument("--teacher-url", help="OpenAI-compatible endpoint for the teacher")
    p.add_argument("--teacher-model", help="model name at the teacher endpoint")
    p.add_argument("--teacher-key-env", help="environment variable holding the endpoint key")
    p.add_argument("--teacher-filter-regex", help="teacher outputs must fully match this")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--epochs", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, dest="learning_rate")
    p.add_argument("--lora-rank", type=int)
    p.add_argument(
        "--save-every", type=int, dest="save_every_steps", help="checkpoint every N steps (25)"
    )
    p.add_argument("--holdout-max", type=int, help="evaluate at most this many holdout rows")
    p.add_argument("--baselines", help="comma list of prompt,retrieval (default: prompt)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--curve",
        help="learning curve: also train at these fractions of the data, e.g. 0.25,0.5",
    )
    p.add_argument(
        "--quality-bar", type=float, help="quality the task needs, in percent (for --curve)"
    )
    p.add_argument("--merge", action="store_true", help="also save a merged model")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run code shipped with the model (only for models you trust)",
    )
    p.add_argument("--run-dir", help="directory for this run (default: runs/<id>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a crashed or killed run")
    p.add_argument("--detach", action="store_true", help="start it and return at once")
    p.add_argument(
        "--prepare",
        action="store_true",
        help="write the run directory only (to start it under torchrun or "
        "accelerate launch: -m trainers.pilot RUN_DIR)",
    )
    p.add_argument(
        "--preflight",
        action="store_true",
        help="predict peak memory, wall time and cost (with a short probe), then stop",
    )
    p.add_argument(
        "--no-probe",
        action="store_true",
        help="preflight from the estimator alone (skip the few real steps of the probe)",
    )
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    handlers["pilot"] = cmd_pilot

    r = sub.add_parser("runs", help="list, show or cancel pilot runs")
    r.add_argument("action", choices=["list", "show", "cancel"])
    r.add_argument("run", nargs="?", help="run id (or prefix) or run directory")
    r.add_argument("--json", action="store_true")
    handlers["runs"] = cmd_runs


def build_config(args: argparse.Namespace):
    from pydantic import ValidationError

    from advisor.scenario import describe_validation_error
    from trainers.config import PilotConfig
    from trainers.data import load_dataset

    if not args.method or not args.data:
        raise InputError("pilot needs --method and --data (or --resume RUN_DIR)")
    load_dataset(args.data)  # every bad row, with its line number, before anything starts
    if args.model and Path(args.model).expanduser().exists():
        from trainers.models import resolve_model

        resolve_model(args.model)  # safetensors only, refused before any process starts
    if args.holdout_data:
        load_dataset(args.holdout_data)
    fields = {
        k: getattr(args, k)
        for k in (
            "method",
            "data",
            "holdout_data",
            "model",
            "teacher",
            "teacher_url",
            "teacher_model",
            "teacher_key_env",
            "teacher_filter_regex",
            "max_steps",
            "max_minutes",
            "epochs",
            "batch_size",
            "learning_rate",
            "lora_rank",
            "device",
            "merge",
            "trust_remote_code",
            "seed",
            "holdout_max",
            "save_every_steps",
        )
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    for k in ("data", "holdout_data"):
        if k in fields:
            fields[k] = str(Path(fields[k]).resolve())
    if args.curve:
        try:
            fields["curve"] = tuple(float(f) for f in args.curve.split(",") if f.strip())
        except ValueError:
            raise InputError(
                f"--curve: expected fractions like 0.25,0.5, got {args.curve!r}"
            ) from None
    if args.quality_bar is not None:
        fields["quality_bar"] = args.quality_bar / 100
    if args.baselines is not None:
        fields["baselines"] = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    try:
        return PilotConfig(**fields)
    except ValidationError as e:
        raise InputError(describe_validation_error(e, PilotConfig)) from None


def cmd_pilot(args: argparse.Namespace) -> int:
    from trainers.config import save_config

    if args.resume:
        run_dir = runs.find_run(args.resume)
        if runs.status(run_dir) in ("done", "running"):
            raise InputError(f"run {run_dir.name} is {runs.status(run_dir)}; nothing to resume")
        runs.emit(run_dir, "resume_requested")
        runs.launch(run_dir, resume=True)
    else:
        cfg = build_config(args)
        if cfg.trust_remote_code:
            print("warning: --trust-remote-code runs code shipped with the model", file=sys.stderr)
        pre = preflight(cfg, args)
        if args.preflight:
            return 0
        if not pre.fits:
            raise InputError(f"refused: {pre.advice}")
        run_dir = Path(args.run_dir) if args.run_dir else runs.new_run_dir(cfg.method)
        run_dir.mkdir(parents=True, exist_ok=True)
        if (run_dir / "config.yaml").exists():
            raise InputError(f"{run_dir} already holds a run; choose another --run-dir")
        save_config(cfg, run_dir)
        runs.write_json_atomic(run_dir / "preflight.json", pre.model_dump())
        runs.index_upsert(run_dir, method=cfg.method, model=cfg.model, status_="queued")
        if args.prepare:
            print(run_dir)
            return 0
        runs.launch(run_dir)
    if args.detach:
        print(
            json.dumps({"run_dir": str(run_dir), "status": "running"})
            if args.json
            else f"started {run_dir} (adapt runs show {run_dir.name})"
        )
        return 0
    return wait(run_dir, args.json)


def preflight(cfg, args: argparse.Namespace):
    """Shown before every pilot: on stderr, or as the JSON answer of --preflight --json."""
    from trainers.preflight import estimate_pilot

    if not args.no_probe:
        print("preflight: probing a few real steps...", file=sys.stderr)
    pre = estimate_pilot(cfg, probe=not args.no_probe)
    if args.preflight and args.json:
        print(json.dumps(pre.model_dump(), indent=2))
    elif args.preflight:
        print(pre.summary)
    else:
        print(pre.summary, file=sys.stderr)
    return pre


def wait(run_dir: Path, as_json: bool) -> int:
    """Follow the event log with a progress line until the run ends; Ctrl-C cancels it."""
    tty = sys.stderr.isatty()
    try:
        while runs.status(run_dir) in ("running", "queued"):
            steps = [e for e in runs.read_events(run_dir) if e["event"] in ("step", "start")]
            last = steps[-1] if steps else {}
            plan = next(
                (
                    e.get("planned_steps")
                    for e in reversed(steps)
                    if e["event"] == "start" and e.get("planned_steps")
                ),
                None,
            )
            if tty and last.get("event") == "step" and plan:
                done = int(30 * last["step"] / plan)
                sys.stderr.write(
                    f"\r[{'#' * done}{'.' * (30 - done)}] step {last['step']}/{plan}"
                    f" loss {last['loss']:.3f} {last['tokens_per_second']:.0f} tok/s"
                    f" ETA {last['eta_seconds']:.0f}s "
                )
                sys.stderr.flush()
            time.sleep(0.5)
    except KeyboardInterrupt:
        runs.cancel(run_dir)
        print(f"\ncancelled {run_dir}", file=sys.stderr)
        return 1
    if tty:
        sys.stderr.write("\n")
    return report(run_dir, as_json)


def report(run_dir: Path, as_json: bool) -> int:
    st = runs.status(run_dir)
    metrics_path = run_dir / "metrics.json"
    metrics = (
        json.loads(metrics_path.read_text()) if metrics_path.exists() and st == "done" else None
    )
    if metrics is None:
        err = next(
            (
                e.get("message")
                for e in reversed(runs.read_events(run_dir))
                if e["event"] == "error"
            ),
            None,
        )
        metrics = {"status": st, "run_dir": str(run_dir), "error": err}
    if as_json:
        print(json.dumps({k: v for k, v in metrics.items() if k != "samples"}, indent=2))
    elif st == "done":
        h, b = metrics["holdout"], metrics["baseline"]
        print(
            f"{metrics['method']} on {metrics['model']} ({metrics['device']}): "
            f"{h['metric']} {h['value']:.3f} [{h['ci_low']:.3f}, {h['ci_high']:.3f}] n={h['n']}"
            f" vs zero-shot {b['value']:.3f}; {metrics['wall_seconds']:.0f}s, "
            f"{metrics['tokens_per_second']:.0f} tok/s, peak {metrics['peak_memory_mib']:.0f}"
            f" MiB\nrun: {run_dir}"
        )
    else:
        print(f"run {run_dir.name} {st}: {metrics.get('error') or 'see log.txt'}", file=sys.stderr)
    return 0 if st == "done" else 1


def cmd_runs(args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = runs.index_list()
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return 0
        for r in rows:
            h = (r["metrics"] or {}).get("holdout") or {}
            q = f"{h.get('metric', '')} {h['value']:.3f}" if h else ""
            print(f"{r['run_id']:<40} {r['method'] or '':<14} {r['status']:<10} {q}")
        return 0
    if not args.run:
        raise InputError(f"runs {args.action} needs a run id")
    run_dir = runs.find_run(args.run)
    if args.action == "cancel":
        ok = runs.cancel(run_dir)
        print(f"{'cancelled' if ok else 'not running:'} {run_dir.name}")
        return 0
    return (
        report(run_dir, args.json)
        if runs.status(run_dir) in runs.FINAL
        else (print(json.dumps({"run_dir": str(run_dir), "status": runs.status(run_dir)})) or 0)
    )
