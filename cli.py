"""`adapt`: the command line. `main(argv) -> int` is testable in-process.

Exit codes: 0 success, 1 a run failed, 2 bad arguments or bad input (one-line message).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from core.scenario import InputError

Handler = Callable[[argparse.Namespace], int]


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _run_dirs(refs: str | None) -> list[Path]:
    """Finished runs named by --runs (ids, id prefixes or directories)."""
    from trainers.runs import find_run

    return [find_run(r.strip()) for r in (refs or "").split(",") if r.strip()]


def _scenario_and_costs(args: argparse.Namespace):
    """The scenario, its cost report (calibrated by --runs) and the catalog."""
    from advisor import load_scenario
    from costmodels import estimate, load_assumptions, load_catalog
    from costmodels.calibrate import calibrate

    scenario = load_scenario(args.file)
    catalog = load_catalog(prices=args.prices) if args.prices else load_catalog()
    from core.measurement import load_measurement

    args.run_dirs = _run_dirs(args.runs)
    args.measurements = [load_measurement(d) for d in args.run_dirs]
    cal = calibrate(scenario, load_assumptions(args.file), args.measurements, catalog)
    args.calibration = cal.notes if args.measurements else ()
    if args.command != "recommend":  # recommend quotes them in its answer
        for note in args.calibration:
            print(f"calibration: {note}", file=sys.stderr)
    report = estimate(scenario, cal.assumptions, catalog)
    return scenario, report, catalog


def _estimator(report, catalog):
    """Re-estimates a changed scenario with the same assumptions and prices (what-ifs)."""
    from costmodels import estimate

    return lambda s: estimate(s, report.assumptions, catalog)


def cmd_recommend(args: argparse.Namespace) -> int:
    from advisor import recommend
    from advisor.costrules import money

    scenario, report, catalog = _scenario_and_costs(args)
    rec = recommend(
        scenario, report, measurements=args.measurements, estimator=_estimator(report, catalog)
    )
    if args.json:
        _print_json(rec.model_dump(mode="json") | {"calibration": list(args.calibration)})
        return 0
    print(rec.summary)
    print()
    print(f"{'#':>2}  {'strategy':<24} {'verdict':<12} {'total cost':>11}  main reason")
    for i, r in enumerate(rec.ranking, 1):
        # the first reason is the unmet need or veto when there is one, else the cost
        main = next((x for x in r.reasons if x.veto), None) or max(
            (x for x in r.reasons if x.kind != "cost"), key=lambda x: x.effect, default=None
        )
        why = ("(ruled out) " if main and main.veto else "") + (
            main.text if main else "(no rule fired for it)"
        )
        cost = money(r.tco_usd) if r.tco_usd is not None else "-"
        verdict = r.verdict.replace("_", " ")
        print(f"{i:>2}  {r.strategy:<24} {verdict:<12} {cost:>11}  {why[:90]}")
    measured = [r.text for r in rec.fired if r.kind == "measured"]
    if args.calibration or measured:
        print("\nWhat your pilots measured, and what it changed in the costs:")
        for note in (*measured, *args.calibration):
            print(f"  - {note}")
    if rec.caveats:
        print("\nCaveats:")
        for c in rec.caveats:
            print(f"  - {c.text} [{c.source}]")
    if rec.would_change:
        print("\nWhat would change the decision:")
        for line in rec.would_change:
            print(f"  - {line}")
    print(f"\nNext pilot: {rec.next_pilot.command}  ({rec.next_pilot.why})")
    return 0


def _usd(x) -> str:
    return f"${float(x):,.2f}"


def cmd_estimate(args: argparse.Namespace) -> int:
    from advisor import recommend
    from costmodels import simulate

    scenario, report, catalog = _scenario_and_costs(args)
    rec = recommend(
        scenario, report, measurements=args.measurements, estimator=_estimator(report, catalog)
    )
    among = rec.candidates
    unc = (
        simulate(
            scenario, report.assumptions, catalog, draws=args.draws, seed=args.seed, among=among
        )
        if args.draws
        else None
    )
    if args.json:
        out = report.model_dump(mode="json", exclude={"monthly"})
        out["uncertainty"] = unc.model_dump(mode="json") if unc else None
        _print_json(out)
        return 0
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(
        f"{scenario.name}: {scenario.requests_per_month:,} requests/month, "
        f"{report.horizon_months}-month horizon\n\n{rec.summary}\n"
    )
    print(f"Prompting is priced as {report.capable_model}; month 1 starts on {report.starts_on}.")
    h = report.horizon_months
    print(
        f"{'strategy':<24} {'one-time':>14} {f'running {h} mo':>14} {'retrains':>12} "
        f"{'total':>14} {'month 1':>12} {'pays back':>10}"
    )
    for c in report.strategies:
        be = (
            "-"
            if c.baseline is None
            else ("never" if c.break_even_month is None else f"{c.break_even_month:.1f} mo")
        )
        print(
            f"{c.strategy:<24} {_usd(c.one_time_usd):>14} {_usd(c.running_usd):>14} "
            f"{_usd(c.retrains_usd):>12} {_usd(c.tco_usd):>14} {_usd(c.monthly_usd):>12} {be:>10}"
        )
    for c in report.strategies:
        if c.path_note:
            print(f"  {c.strategy}: {c.path_note}")
    print(
        "(total = one-time + running + retrains, to the cent; month 1: the running cost of "
        "the first month)"
    )
    if report.training_plans:
        print("\nTraining on rented GPUs (the fewest that hold each run):")
        for t in report.training_plans:
            p = t.plan
            print(
                f"  {t.role}, {t.params_billions:g}B {p.method}: {p.headline()}; "
                f"{p.wall_hours:,.2f} h wall, {p.gpu_hours:,.2f} GPU-hours, {_usd(p.usd)} a run"
            )
    print("\nCheapest by monthly volume:")
    for r in report.cheapest:
        hi = f"{r.to_requests_per_month:,.0f}" if r.to_requests_per_month else "and up"
        print(f"  {r.from_requests_per_month:>14,.0f} .. {hi:<14} {r.strategy}")
    if unc:
        print(
            f"\nMonte Carlo ({unc.draws:,} draws): P10 / P50 / P90 of TCO, P(cheapest among "
            "the strategies that meet the needs)"
        )
        for d in unc.distributions:
            print(
                f"  {d.strategy:<24} {_usd(d.p10_tco_usd):>14} {_usd(d.p50_tco_usd):>14} "
                f"{_usd(d.p90_tco_usd):>14} {d.probability_cheapest:>6.1%}"
            )
        top = ", ".join(f"{b.input} (swing {_usd(b.swing_usd)})" for b in unc.tornado[:3])
        print(f"Inputs that move {unc.cheapest} vs {unc.alternative} most: {top}")
    print("\nSources:")
    for src in report.price_sources:
        print(f"  - {src}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from advisor import recommend
    from costmodels.export import export

    folder = Path(args.out).expanduser().resolve().parent
    if not folder.is_dir():
        raise InputError(f"--out: the folder {folder} does not exist; create it or pick another")
    scenario, report, catalog = _scenario_and_costs(args)
    rec = recommend(
        scenario, report, measurements=args.measurements, estimator=_estimator(report, catalog)
    )
    if args.format == "html":
        from costmodels import simulate
        from reports.html import build_report
        from trainers.metrics import read_metrics

        among = rec.candidates
        text = build_report(  # the pilots named by --runs, and no others
            scenario,
            rec,
            report,
            simulate(scenario, report.assumptions, catalog, draws=2000, among=among),
            [read_metrics(d) for d in args.run_dirs],
            catalog=catalog,
        )
        path = Path(args.out)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    else:
        path = export(report, args.format, args.out, summary=rec.summary)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(
        prog="adapt", description="Decide how to specialise a language model, cost it, pilot it."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Handler] = {}

    def scenario_cmd(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("file", help="scenario file (YAML or JSON), optional `costs:` section")
        p.add_argument("--prices", help="a newer LiteLLM cost-map JSON file to price with")
        p.add_argument(
            "--runs",
            help="finished pilot runs (ids or directories, comma-separated) whose "
            "measurements recalibrate the costs and the advice",
        )
        handlers[name] = handler
        return p

    p = scenario_cmd("recommend", cmd_recommend, "rank prompting, RAG, fine-tuning, distillation")
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    p = scenario_cmd("estimate", cmd_estimate, "cost every strategy over the horizon")
    p.add_argument("--json", action="store_true", help="print the cost report as JSON")
    p.add_argument("--draws", type=int, default=10_000, help="Monte Carlo draws (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p = scenario_cmd("export", cmd_export, "write the cost report as CSV, JSON or XLSX")
    p.add_argument("--format", choices=["csv", "json", "xlsx", "html"], required=True)
    p.add_argument("--out", required=True, help="output file")

    import cli_plan

    cli_plan.add_parsers(sub, handlers)

    from trainers.cli_pilot import add_parsers

    add_parsers(sub, handlers)
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed its usage message
        return int(e.code or 0)
    try:
        code = handlers[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except InputError as e:
        print(f"adapt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `adapt ... | head` stopped reading: not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
