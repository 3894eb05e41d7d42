"""`adapt pilot` and `adapt runs`: launch, watch, resume, list, show, cancel."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from core.scenario import InputError
from trainers import runs
from trainers.cli_report import report

# Flag names kept from earlier versions, beside the names derived from the fields.
ALIASES = {
    "learning_rate": "--lr",
    "save_every_steps": "--save-every",
    "data": "--inputs",
    "output_schema": "--schema",
}
PERCENT = {"quality_bar_pct": "--quality-bar"}  # same unit (percent), shorter name
NOT_FLAGS = {"train"}


def _field_flags(p: argparse.ArgumentParser) -> None:
    """One flag per config field (PilotConfig and its training settings), typed from the
    annotation, with the field's docstring as help. Every flag defaults to None: only
    flags given on the command line override the config file."""
    from trainers.config import PilotConfig, TrainSettings, field_help

    group = p.add_argument_group("pilot settings (each is a field of config.yaml)")
    for model in (PilotConfig, TrainSettings):
        for name, info in model.model_fields.items():
            if name in NOT_FLAGS:
                continue
            names = [f"--{name.replace('_', '-')}"]
            names += [x for x in (ALIASES.get(name), PERCENT.get(name)) if x]
            kind, choices = _flag_type(info.annotation)
            kw = dict(dest=name, default=None, help=field_help(name).replace("%", "%%"))
            if kind is bool:
                group.add_argument(*names, action=argparse.BooleanOptionalAction, **kw)
            else:
                group.add_argument(*names, type=kind, choices=choices, **kw)


def _flag_type(annotation):
    """(argparse type, choices) for a field annotation; tuples are comma lists."""
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return str, list(args)
    if origin is tuple:
        inner = str if typing.get_origin(args[0]) is typing.Literal else args[0]

        def comma_list(text: str) -> tuple:
            return tuple(inner(x.strip()) for x in text.split(",") if x.strip())

        comma_list.__name__ = f"comma-separated {inner.__name__}"  # argparse's error names it
        return comma_list, None
    if args and annotation not in (bool, int, float, str):  # X | None
        return _flag_type(args[0])
    return annotation, None


def add_parsers(sub, handlers) -> None:
    p = sub.add_parser("pilot", help="train and evaluate on your own examples")
    p.add_argument(
        "--config",
        metavar="CONFIG_YAML",
        help="start from a config file (a run's config.yaml re-runs it); flags override it",
    )
    _field_flags(p)
    p.add_argument("--run-dir", help="directory for this run (default: a new one under ADAPT_RUNS)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a crashed or killed run")
    p.add_argument("--detach", action="store_true", help="start it and return at once")
    p.add_argument(
        "--foreground",
        action="store_true",
        help="run it in this process, not a detached one (for a scheduler that owns the "
        "process, such as SLURM, or a debugger); its output still goes to the run's log.txt",
    )
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


PATH_FIELDS = ("data", "holdout_data", "label_descriptions", "docs")


def build_config(args: argparse.Namespace):
    """The config file (if any) with the flags given on the command line laid over it.
    Data paths are made absolute: flags against the working directory, a config file's
    own against the file's folder."""
    from pydantic import ValidationError

    from core.scenario import describe_validation_error
    from trainers.config import PilotConfig, TrainSettings, read_config_file

    fields = dict(read_config_file(args.config)) if args.config else {}
    base = Path(args.config).parent if args.config else Path.cwd()
    for k in PATH_FIELDS:
        if fields.get(k):
            fields[k] = str((base / Path(fields[k]).expanduser()).resolve())
    train = dict(fields.pop("train", None) or {})
    for name in PilotConfig.model_fields:
        value = getattr(args, name, None)
        if value is not None and name not in NOT_FLAGS:
            fields[name] = value
            if name in PATH_FIELDS:
                fields[name] = str(Path(value).expanduser().resolve())
    train |= {
        n: getattr(args, n) for n in TrainSettings.model_fields if getattr(args, n) is not None
    }
    if not fields.get("method") or not fields.get("data"):
        raise InputError("pilot needs --method and --data (or --config FILE, or --resume RUN)")
    try:
        return PilotConfig(**fields, **({"train": train} if train else {}))
    except ValidationError as e:
        raise InputError(describe_validation_error(e, PilotConfig)) from None


def cmd_pilot(args: argparse.Namespace) -> int:
    from trainers.launch import start_pilot

    if args.foreground and (args.detach or args.prepare):
        raise InputError("--foreground runs the pilot here: it excludes --detach and --prepare")
    if args.resume:
        run_dir = runs.find_run(args.resume)
        if runs.status(run_dir) in ("done", "running"):
            raise InputError(f"run {run_dir.name} is {runs.status(run_dir)}; nothing to resume")
        runs.emit(run_dir, "resume_requested")
        runs.index_upsert(run_dir, status_="queued")  # no longer the failed attempt's
        if args.foreground:
            return run_here(run_dir, args.json, resume=True)
        runs.launch(run_dir, resume=True)
    else:
        cfg = build_config(args)
        if cfg.trust_remote_code:
            print("warning: --trust-remote-code runs code shipped with the model", file=sys.stderr)
        pre = preflight(cfg, args)
        if args.preflight:
            return 0
        source = Path(args.config).parent if args.config else None
        launched = start_pilot(
            cfg,
            run_dir=args.run_dir,
            preflight=pre,
            splits_from=source,
            prepare=args.prepare or args.foreground,
        )
        run_dir = launched.run_dir
        if args.foreground:
            return run_here(run_dir, args.json)
        if args.prepare:
            print(run_dir)
            return 0
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
    from trainers.launch import validate_inputs
    from trainers.preflight import can_probe, estimate_pilot, probe_seconds

    for warning in validate_inputs(cfg):  # bad rows are reported before any probe starts
        print(f"warning: {warning}", file=sys.stderr)
    if not args.no_probe and can_probe(cfg):
        about = probe_seconds(cfg)
        print(f"preflight: probing a few real steps (about {about:,.0f} s)...", file=sys.stderr)
    pre = estimate_pilot(cfg, probe=not args.no_probe)
    if args.preflight and args.json:
        print(json.dumps(pre.model_dump(), indent=2))
    elif args.preflight:
        print(pre.summary)
    else:
        print(pre.summary, file=sys.stderr)
    return pre


def run_here(run_dir: Path, as_json: bool, resume: bool = False) -> int:
    """The pilot in this process. Its output goes to the run's log.txt, as a detached
    run's does, so stdout holds the report alone (--json stays parseable); Ctrl-C
    cancels it."""
    from transformers.utils import logging as hf_logging

    from trainers.pilot import main as pilot_main

    hf_logging.get_logger()  # its handler bound to the real stderr, not to the log below
    try:
        with (
            open(run_dir / "log.txt", "a", encoding="utf-8") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            pilot_main([str(run_dir)] + (["--resume"] if resume else []))  # what a child runs
    except KeyboardInterrupt:
        runs.emit(run_dir, "cancelled")
        runs.index_upsert(run_dir, status_="cancelled")
        print(f"\ncancelled {run_dir}", file=sys.stderr)
        return 1
    return report(run_dir, as_json)


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


def cmd_runs(args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = runs.index_list()
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return 0
        for r in rows:
            h = ((r["metrics"] or {}).get("measurement") or {}).get("quality") or {}
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
