"""Benchmark: the app under load (issue 7). Median server time per Costs-page rerun with
1 session and with N simultaneous sessions on loopback (after one warm-up visit), each
changing the volume 10 times with about 4 s of think time between changes. The default
driver speaks Streamlit's websocket protocol from this script; --driver browser runs one
headless Chromium page per session instead (on a 2-core machine the renderers then
compete with the server).

    .venv/bin/python bench/bench_load.py [--sessions 10] [--driver protocol|browser]
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
    ap.add_argument("--changes", type=int, default=10)
    ap.add_argument("--think", type=float, default=4.0, help="seconds between changes")
    ap.add_argument("--driver", choices=("protocol", "browser"), default="protocol")
    args = ap.parse_args()
    from trainers.hardware import describe

    print(describe(), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="load-"))
    log = tmp / "timing.tsv"
    env = {"ADAPT_RUNS": str(tmp / "runs"), "ADAPT_TIMING_LOG": str(log)}
    with streamlit_server(env, log=tmp / "server.log") as url:
        measure(url, log, 1, 2, 1.0, args.driver)  # warm-up (imports, caches), not counted
        one = measure(url, log, 1, args.changes, args.think, args.driver)
        many = measure(url, log, args.sessions, args.changes, args.think, args.driver)
    for r in (one, many):
        print(
            f"{r['sessions']:>3} session(s), {r['driver']} driver: {r['reruns']} Costs reruns, "
            f"median {r['median_ms']:.0f} ms "
            f"(CPU {r['median_cpu_ms']:.0f} ms of the session's thread), "
            f"p90 {r['p90_ms']:.0f} ms, {r['errors']} errors"
        )
    ratio = many["median_ms"] / one["median_ms"]
    cpu = many["median_cpu_ms"] / one["median_cpu_ms"]
    print(f"median wall ratio {ratio:.2f}x (target <= 2x): {'PASS' if ratio <= 2 else 'FAIL'}")
    print(f"median CPU-time ratio {cpu:.2f}x (the server's own work per rerun)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
