"""Benchmark: the endpoint pilot's own cost per request against a bare client loop.

Starts `transformers serve` on loopback with the converted default model, then sends the
same 32 short chat requests (max 4 new tokens) at concurrency 1, 4 and 8: once through
the pilot's path (trainers.endpoint.ask_all: cache lookup and write, spend accounting,
usage and latency bookkeeping) with a fresh cache, and once as a bare loop of the same
`openai` client calls on a thread pool. Prints requests/s for both and the pilot's
overhead per request in ms. Each figure is the median of --repeats runs, alternating
which path goes first, since one run at concurrency 8 moves by several percent.

Targets (issue 15): overhead under 5 ms a request; at concurrency 8 the pilot within 10%
of the bare loop.

    .venv/bin/python bench/bench_endpoint.py [--requests 32] [--repeats 3]
"""

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_TOKENS = 4


def start_server() -> tuple[subprocess.Popen, str, str]:
    from trainers.models import convert_default_model

    folder = str(convert_default_model())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen(
        [str(exe), "serve", folder, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        try:
            urllib.request.urlopen(url + "/models", timeout=1)  # noqa: S310 (loopback)
            return proc, url, folder
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("transformers serve did not start in 120 s")


def bare(url: str, model: str, prompts, concurrency: int) -> float:
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="none", max_retries=4, timeout=60)

    def one(messages):
        client.chat.completions.create(
            model=model,
            messages=[m.model_dump() for m in messages],
            temperature=0,
            max_tokens=MAX_TOKENS,
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, prompts))
    return time.perf_counter() - t0


def pilot(url: str, model: str, prompts, concurrency: int, work: Path) -> tuple[float, float]:
    """(wall seconds, the pilot's own ms per request: wall minus the time spent inside
    the client's calls, at concurrency 1 where the two add up)."""
    from trainers.endpoint import EndpointSpec, ResponseCache, ask_all

    spec = EndpointSpec(url=url, model=model, concurrency=concurrency)
    cache = ResponseCache(work / f"cache-{concurrency}-{time.time_ns()}.sqlite")
    t0 = time.perf_counter()
    replies = ask_all(spec, prompts, max_tokens=MAX_TOKENS, cache=cache)
    wall = time.perf_counter() - t0
    assert not any(r.error for r in replies), [r.error for r in replies if r.error]
    inside = sum(r.latency_ms for r in replies) / 1000
    return wall, (wall - inside) / len(prompts) * 1000


def main(argv=None) -> int:
    from trainers.data import Message

    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from trainers.hardware import describe

    print(describe(), flush=True)
    prompts = [
        (Message(role="user", content=f"Name the colour number {i}. One word."),)
        for i in range(args.requests)
    ]
    proc, url, model = start_server()
    try:
        bare(url, model, prompts[:4], 1)  # warm-up: the server's first requests are slow
        print(f"{'concurrency':>11} {'bare req/s':>11} {'pilot req/s':>12} {'pilot/bare':>10}")
        n, own = len(prompts), None
        with tempfile.TemporaryDirectory() as tmp:
            for c in (1, 4, 8):
                bs, ps, pers = [], [], []
                for r in range(args.repeats):  # alternate which goes first: the server drifts
                    first_bare = r % 2 == 0
                    if first_bare:
                        bs.append(bare(url, model, prompts, c))
                    p, per = pilot(url, model, prompts, c, Path(tmp))
                    ps.append(p)
                    pers.append(per)
                    if not first_bare:
                        bs.append(bare(url, model, prompts, c))
                b, p = statistics.median(bs), statistics.median(ps)
                own = statistics.median(pers) if c == 1 else own
                print(f"{c:>11} {n / b:>11.2f} {n / p:>12.2f} {b / p:>10.1%}")
        print(f"medians of {args.repeats} runs each, alternating which path went first")
        print(f"pilot overhead at concurrency 1: {own:.2f} ms a request (outside the client call)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
