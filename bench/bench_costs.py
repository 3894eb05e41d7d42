"""Benchmark: one scenario, every strategy, a 36-month horizon, 10,000 Monte Carlo draws.

Times the whole evaluation (deterministic report + Monte Carlo + tornado) and prints the
median and spread of repeated runs. Target (issue 3): median <= 50 ms on the 2-core box.

    .venv/bin/python bench/bench_costs.py [--runs 30]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor import load_scenario  # noqa: E402
from costmodels import estimate, load_catalog, simulate  # noqa: E402

TARGET_MS = 50.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--draws", type=int, default=10_000)
    args = ap.parse_args()
    from trainers.hardware import describe

    print(describe(), flush=True)
    root = Path(__file__).resolve().parent.parent
    s = load_scenario(root / "examples" / "ticket_triage_distill.yaml")
    s = s.model_copy(update={"horizon_months": 36})
    cat = load_catalog()
    estimate(s, catalog=cat), simulate(s, catalog=cat, draws=args.draws)  # warm-up
    times = []
    for i in range(args.runs):
        t0 = time.perf_counter()
        report = estimate(s, catalog=cat)
        unc = simulate(s, report.assumptions, cat, draws=args.draws, seed=i)
        times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    q = statistics.quantiles(times, n=10)
    print(
        f"scenario: {s.name}; strategies: {len(report.strategies)}; horizon: 36 months; "
        f"draws: {unc.draws:,}; runs: {args.runs}"
    )
    print(
        f"median {med:.1f} ms   p10 {q[0]:.1f} ms   p90 {q[-1]:.1f} ms   "
        f"min {min(times):.1f} ms   target <= {TARGET_MS:.0f} ms: "
        f"{'PASS' if med <= TARGET_MS else 'FAIL'}"
    )
    return 0 if med <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
