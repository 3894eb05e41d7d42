"""Benchmark: field extraction pilots on SLURP on this machine's CPU.

Data: ../shared/data/slurp_extract (CC BY 4.0): the first 500 and all 2,000 rows of
train.jsonl; 300 holdout rows sampled with seed 0 from test.jsonl (the pilot's own
holdout cap); its schema.json (55 slot types). Runs, on that one holdout: the gazetteer
of training values and the `tagger` pilot (all-MiniLM-L6-v2), and the `lora` pilot on
SmolLM2-135M-Instruct with its baselines, the model prompted few-shot, each decoded free
and constrained to the schema (llguidance). Prints parse rate, schema-valid rate, slot
micro-F1 and exact match with 95% intervals, training and total seconds, the paired tests
of the tagger against the others, and the constrained/free time ratio; its last line is one
JSON object of each method's slot F1, exact match and schema-valid rate (fractions).

Targets (issue 27), on the 2-core CPU: tagger slot F1 >= 74% at 2,000 rows with training
plus evaluation <= 5 minutes; schema-constrained outputs 100% schema-valid; constrained
decoding at most 1.5x the free generation time.

    .venv/bin/python bench/bench_extract.py [--sizes 500,2000] [--lora-sizes 500]
        [--lora-max-minutes 12] [--skip-lora]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "slurp_extract"


def cpu() -> str:
    from trainers.hardware import detect

    return detect().text()


def pilot(method: str, train_file: Path, work: Path, **extra):
    from trainers.config import PilotConfig, save_config
    from trainers.pilot import run_pilot

    cfg = PilotConfig(
        method=method,
        data=str(train_file),
        holdout_data=str(SHARED / "test.jsonl"),
        holdout_max=300,
        output_schema=str(SHARED / "schema.json"),
        **extra,
    )
    run_dir = work / f"{method}-{len(list(work.iterdir()))}"
    run_dir.mkdir()
    save_config(cfg, run_dir)
    t0 = time.perf_counter()
    m = run_pilot(run_dir)
    return m, time.perf_counter() - t0


def first_rows(n: int, work: Path) -> Path:
    out = work / f"train-{n}.jsonl"
    rows = (SHARED / "train.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def pct(q) -> str:
    return f"{q.value:6.1%} [{q.ci_low:5.1%}, {q.ci_high:5.1%}]"


def table(rows: list[tuple[str, object, float | None, float]]) -> None:
    print(
        f"{'method':<30} {'parse rate':>22} {'schema-valid':>22} {'slot F1':>22} "
        f"{'exact match':>22} {'train s':>8} {'total s':>8}"
    )
    for name, s, train_s, total_s in rows:
        t = f"{train_s:8.1f}" if train_s is not None else "       -"
        print(
            f"{name:<30} {pct(s.parsed):>22} {pct(s.valid):>22} {pct(s.f1):>22} "
            f"{pct(s.exact):>22} {t} {total_s:8.1f}"
        )


def run_size(n: int, work: Path, lora: bool, max_minutes: float) -> tuple[list, dict]:
    from core.measurement import mcnemar

    train = first_rows(n, work)
    rows, last = [], {}
    m, wall = pilot("tagger", train, work)
    e, phases = m.measurement.extract, m.phase_seconds
    train_eval = phases.get("train", 0) + phases.get("eval", 0)
    rows.append((f"gazetteer ({n})", e.methods["gazetteer"], None, phases.get("baselines", 0)))
    rows.append((f"tagger ({n})", e.methods["tagger"], phases.get("train", 0), wall))
    print(
        f"tagger at {n} rows: training {phases.get('train', 0):.0f} s + evaluation "
        f"{phases.get('eval', 0):.0f} s = {train_eval:.0f} s (target at 2,000: <= 300 s); "
        f"values out of its reach (not spans of their text): {e.out_of_reach:.1%}; serving "
        f"{m.measurement.serving.requests_per_second:.0f} requests/s batched"
    )
    for p in e.paired:
        print(
            f"  tagger - {p.b}: F1 {p.f1_delta:+.1%} [{p.ci_low:+.1%}, {p.ci_high:+.1%}] "
            f"p={p.p_value:.3f}; exact match McNemar p={p.exact_p_value:.3g}"
        )
    last |= {f"gazetteer_{n}": e.methods["gazetteer"], f"tagger_{n}": e.methods["tagger"]}
    if lora:
        g, wall = pilot("lora", train, work, train={"max_minutes": max_minutes})
        ge, gp = g.measurement.extract, g.phase_seconds
        for name in ("few_shot", "few_shot + schema", "lora", "lora + schema"):
            train_s = gp.get("train") if name.startswith("lora") else None
            rows.append((f"{name} ({n})", ge.methods[name], train_s, wall))
            last[f"{name.replace(' + schema', '_constrained')}_{n}"] = ge.methods[name]
        stopped = g.measurement.stopped_by
        print(
            f"lora at {n} rows: {g.measurement.train_steps} of {g.measurement.planned_steps} "
            f"steps (stopped by {stopped}); constrained/free decoding time "
            f"{ge.constrained_time_ratio:.2f}x (target <= 1.5x) with {ge.constrained_library}"
        )
        for p in ge.paired:
            print(f"  lora - {p.b}: F1 {p.f1_delta:+.1%} p={p.p_value:.3f}")
        for name in ("lora", "lora + schema"):  # one holdout: paired
            t = mcnemar(m.correct["tagger"], g.correct[name])
            print(f"  tagger vs {name} on exact match: McNemar p={t.p_value:.3g}")
    return rows, last


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="500,2000")
    ap.add_argument("--lora-sizes", default="500,2000")
    ap.add_argument("--lora-max-minutes", type=float, default=12.0)
    ap.add_argument("--skip-lora", action="store_true")
    args = ap.parse_args(argv)
    if not (SHARED / "train.jsonl").exists():
        print(f"bench_extract: no data at {SHARED}", file=sys.stderr)
        return 2
    print(f"Hardware: {cpu()}")
    t0, rows, last = time.perf_counter(), [], {}
    lora_sizes = {int(x) for x in args.lora_sizes.split(",") if x}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            got, seen = run_size(
                n, Path(tmp), not args.skip_lora and n in lora_sizes, args.lora_max_minutes
            )
            rows += got
            last |= seen
    table(rows)
    print(f"total {time.perf_counter() - t0:.0f} s")
    summary = {
        k: {"slot_f1": s.f1.value, "exact_match": s.exact.value, "schema_valid": s.valid.value}
        for k, s in last.items()
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
