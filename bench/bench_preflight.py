"""Benchmark: the preflight's wall-time and peak-memory predictions for the whole pilot,
baselines and evaluation included, and the probe's announced duration (issues 6 and 13:
worst wall and peak error <= 25%; the probe within 1.5x of what it announces).

For lora and qlora (with the prompt and retrieval baselines) and retrieval, on BANKING77
(../shared/data/banking77) at two training sizes (2 and 8 rows per intent: 154 and 616
rows; 64 holdout rows from test.csv), as the app does it: announce the probe, run it in
the background, rescale it to the run, launch the pilot, and time the run from launch
to its end (start-up, loading, baselines, training, evaluation, saving).

    .venv/bin/python bench/bench_preflight.py [--sizes 2,8] [--methods lora,qlora,retrieval]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pilot_banking77 import SHARED, cpu_line, make_data  # noqa: E402

TARGET_PCT, PROBE_TARGET_RATIO = 25.0, 1.5


def _pct(predicted: float, measured: float) -> float:
    return 100 * (predicted - measured) / measured


def one(method: str, train: Path, hold: Path, epochs: float) -> dict:
    from trainers import runs
    from trainers.config import PilotConfig
    from trainers.launch import start_pilot
    from trainers.metrics import read_metrics
    from trainers.preflight import estimate_pilot, probe_seconds
    from trainers.preflight.job import ProbeJob, remember_probe

    baselines = ["prompt", "retrieval"] if method != "retrieval" else []
    cfg = PilotConfig.model_validate(
        {
            "method": method,
            "data": str(train),
            "holdout_data": str(hold),
            "baselines": baselines,
            "train": {"epochs": epochs},
        }
    )
    announced = probe_seconds(cfg)
    probe = ProbeJob(cfg, announced).result()
    if not probe.ok:
        raise SystemExit(f"{method}: {probe.error}")
    remember_probe(cfg, probe)
    pre = estimate_pilot(cfg, probed=probe)
    t0 = time.time()
    run_dir = start_pilot(cfg, preflight=pre).run_dir
    while runs.status(run_dir) in ("queued", "running"):
        time.sleep(0.5)
    wall = time.time() - t0
    if runs.status(run_dir) != "done":
        raise SystemExit(f"{method}: the pilot ended {runs.status(run_dir)}; see {run_dir}")
    m = read_metrics(run_dir)
    return {
        "method": method,
        "rows": len(train.read_text().splitlines()) - 1,
        "probe_announced_s": round(announced, 1),
        "probe_s": round(probe.wall_s, 1),
        "wall_predicted_s": pre.wall_seconds,
        "wall_measured_s": round(wall, 1),
        "peak_predicted_mib": pre.peak_memory_mib,
        "peak_measured_mib": round(m.measurement.peak_memory_mib, 1),
        "phases_predicted": pre.phases_seconds,
        "phases_measured": m.phase_seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--methods", default="lora,qlora,retrieval")
    ap.add_argument("--sizes", default="2,8", help="training rows per intent")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--out", help="write all results as JSON here")
    args = ap.parse_args()
    rows = []
    for per_class in (int(x) for x in args.sizes.split(",")):
        tmp = Path(tempfile.mkdtemp(prefix="preflight-"))
        train, hold = make_data(Path(args.data), tmp, per_class=per_class, holdout=64)
        for method in args.methods.split(","):
            r = one(method, train, hold, args.epochs)
            rows.append(r)
            print(json.dumps(r), flush=True)
    print("\n" + cpu_line())
    print(
        "| method | train rows | probe announced s | probe took s | ratio | wall predicted s "
        "| wall measured s | error | peak MiB predicted | measured | error |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    worst, worst_ratio = 0.0, 0.0
    for r in rows:
        err = _pct(r["wall_predicted_s"], r["wall_measured_s"])
        peak = _pct(r["peak_predicted_mib"], r["peak_measured_mib"])
        announced, took = r["probe_announced_s"], r["probe_s"]
        ratio = max(took, announced) / min(took, announced)
        worst, worst_ratio = max(worst, abs(err), abs(peak)), max(worst_ratio, ratio)
        print(
            f"| {r['method']} | {r['rows']} | {announced:.0f} | {took:.0f} | {ratio:.2f}x "
            f"| {r['wall_predicted_s']:.0f} | {r['wall_measured_s']:.0f} | {err:+.1f}% "
            f"| {r['peak_predicted_mib']:,.0f} | {r['peak_measured_mib']:,.0f} | {peak:+.1f}% |"
        )
    ok = worst <= TARGET_PCT and worst_ratio <= PROBE_TARGET_RATIO
    print(
        f"\nworst wall/peak error {worst:.1f}% (target <= {TARGET_PCT:.0f}%); worst probe "
        f"ratio {worst_ratio:.2f}x (target <= {PROBE_TARGET_RATIO}x): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
