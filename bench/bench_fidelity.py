"""Benchmark: how well the preflight predicts a pilot (issue 6, target: wall time and peak
memory within 25%).

For lora and qlora on the default model at three training-set sizes of BANKING77
(../shared/data/banking77: 2, 4 and 8 rows per intent = 154, 308, 616 rows; 64 holdout
rows from test.csv), runs `adapt pilot` as a user would: the preflight probe predicts,
then the pilot measures; prints predicted, measured and the error of each.

    .venv/bin/python bench/bench_fidelity.py [--sizes 2,4,8] [--methods lora,qlora]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pilot_banking77 import SHARED, adapt_json, cpu_line, make_data  # noqa: E402

TARGET_PCT = 25.0


def pilot(method: str, train: Path, hold: Path, epochs: float) -> dict:
    argv = ["pilot", "--method", method, "--data", str(train), "--holdout-data", str(hold)]
    return adapt_json(argv + ["--epochs", str(epochs), "--json"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--methods", default="lora,qlora")
    ap.add_argument("--sizes", default="2,4,8", help="training rows per intent")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--out", help="write all results as JSON here")
    args = ap.parse_args()
    rows = []
    for per_class in (int(x) for x in args.sizes.split(",")):
        tmp = Path(tempfile.mkdtemp(prefix="fidelity-"))
        train, hold = make_data(Path(args.data), tmp, per_class=per_class, holdout=64)
        for method in args.methods.split(","):
            out = pilot(method, train, hold, args.epochs)
            f = out["fidelity"]
            rows.append({"method": method, "examples": per_class * 77, **f})
            print(
                f"{method} {per_class * 77} rows: wall {f['wall_seconds']['predicted']:.0f}"
                f" vs {f['wall_seconds']['measured']:.0f}s, peak "
                f"{f['peak_memory_mib']['predicted']:.0f} vs "
                f"{f['peak_memory_mib']['measured']:.0f} MiB",
                flush=True,
            )
    print("\n" + cpu_line())
    print(
        "| method | train rows | wall s predicted | measured | error | peak MiB predicted "
        "| measured | error | tokens/s predicted | measured | error |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for r in rows:
        w, p, t = r["wall_seconds"], r["peak_memory_mib"], r["tokens_per_second"]
        worst = max(worst, abs(w["error_pct"]), abs(p["error_pct"]))
        print(
            f"| {r['method']} | {r['examples']} | {w['predicted']:.0f} | {w['measured']:.0f} | "
            f"{w['error_pct']:+.1f}% | {p['predicted']:,.0f} | {p['measured']:,.0f} | "
            f"{p['error_pct']:+.1f}% | {t['predicted']:.0f} | {t['measured']:.0f} | "
            f"{t['error_pct']:+.1f}% |"
        )
    verdict = "PASS" if worst <= TARGET_PCT else "FAIL"
    print(f"\nworst wall/peak error {worst:.1f}% (target <= {TARGET_PCT:.0f}%): {verdict}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
