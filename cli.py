"""`adapt`: the command line. `main(argv) -> int` is testable in-process.

Exit codes: 0 success, 1 a run failed, 2 bad arguments or bad input (one-line message).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from advisor.scenario import InputError

Handler = Callable[[argparse.Namespace], int]


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_recommend(args: argparse.Namespace) -> int:
    from advisor import load_scenario, recommend

    rec = recommend(load_scenario(args.file))
    if args.json:
        _print_json(rec.model_dump(mode="json"))
        return 0
    print(rec.summary)
    print()
    print(f"{'#':>2}  {'strategy':<24} {'verdict':<12} {'score':>6}  main reason")
    for i, r in enumerate(rec.ranking, 1):
        main = max(r.reasons, key=lambda x: abs(x.effect) + 100 * x.veto, default=None)
        why = ("(vetoed) " if main and main.veto else "") + (
            main.text if main else "(no rule fired for it)"
        )
        print(f"{i:>2}  {r.strategy:<24} {r.verdict:<12} {r.score:>6.1f}  {why[:90]}")
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


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(
        prog="adapt", description="Decide how to specialise a language model, cost it, pilot it."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Handler] = {}

    p = sub.add_parser("recommend", help="rank prompting, RAG, fine-tuning and distillation")
    p.add_argument("file", help="scenario file (YAML or JSON)")
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    handlers["recommend"] = cmd_recommend
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed its usage message
        return int(e.code or 0)
    try:
        return handlers[args.command](args)
    except InputError as e:
        print(f"adapt {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
