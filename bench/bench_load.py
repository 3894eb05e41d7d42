"""Benchmark: the app under load (issue 7). Median server time per Costs-page rerun with
1 session and with N simultaneous browser sessions (Chromium via Playwright on
loopback, each changing the volume 5 times with about 4 s of think time between changes).

    .venv/bin/python bench/bench_load.py [--sessions 10]
"""

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.load import measure  # noqa: E402
from tests.e2e.serve import streamlit_server  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--think", type=float, default=4.0, help="seconds between changes")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="load-"))
    log = tmp / "timing.tsv"
    env = {"ADAPT_RUNS": str(tmp / "runs"), "ADAPT_TIMING_LOG": str(log)}
    with streamlit_server(env, log=tmp / "server.log") as url:
        one = measure(url, log, 1, args.changes, args.think)
        many = measure(url, log, args.sessions, args.changes, args.think)
    for r in (one, many):
        print(
            f"{r['sessions']:>3} session(s): {r['reruns']} Costs reruns, median "
            f"{r['median_ms']:.0f} ms (CPU {r['median_cpu_ms']:.0f} ms of the session's thread), "
            f"p90 {r['p90_ms']:.0f} ms, {r['errors']} errors"
        )
    ratio = many["median_ms"] / one["median_ms"]
    cpu = many["median_cpu_ms"] / one["median_cpu_ms"]
    print(f"median wall ratio {ratio:.2f}x (target <= 2x): {'PASS' if ratio <= 2 else 'FAIL'}")
    print(f"median CPU-time ratio {cpu:.2f}x (the server's own work per rerun)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
