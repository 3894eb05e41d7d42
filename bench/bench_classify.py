"""Benchmark: classification pilots on BANKING77 on this machine's CPU.

Data: ../shared/data/banking77 (CC BY 4.0): 10 training rows per intent (770 rows), 300
holdout rows sampled with seed 0 from test.csv (bench_pilot_banking77.make_data). Runs, on
that one holdout: the nearest-neighbour label and the linear probe (frozen
all-MiniLM-L6-v2), the `classifier` pilot, and the `lora` pilot scored by free generation
and by label-constrained decoding. Prints accuracy with 95% intervals, training and total
seconds, and McNemar's exact p-value of the best method against the nearest-neighbour
label. Then abstention: 10 intents (seed 0) left out of training, so their holdout rows
are out-of-scope; the threshold is picked on the training split.

Targets (issue 14), on a 2-core CPU with no AVX-512 needed: classifier >= 85% with
training plus evaluation <= 5 minutes (aim: >= 88% in 2 minutes); linear probe <= 60 s.

    .venv/bin/python bench/bench_classify.py [--skip-lora] [--data DIR]
"""

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pilot_banking77 import SHARED, make_data  # noqa: E402

OUT_OF_SCOPE_INTENTS = 10


def cpu() -> str:
    """The machine, as every run's metrics name it (trainers/hardware.py)."""
    from trainers.hardware import detect

    return detect().text()


def pilot(method: str, train_csv: Path, hold: Path, work: Path, **extra):
    from trainers.config import PilotConfig, save_config
    from trainers.pilot import run_pilot

    cfg = PilotConfig(
        method=method, data=str(train_csv), holdout_data=str(hold), holdout_max=300, **extra
    )
    run_dir = work / f"{method}-{len(list(work.iterdir()))}"
    run_dir.mkdir()
    save_config(cfg, run_dir)
    t0 = time.perf_counter()
    m = run_pilot(run_dir)
    return m, time.perf_counter() - t0


def without_intents(train: Path, k: int, out: Path) -> tuple[Path, set[str]]:
    rows = list(csv.reader(train.open(encoding="utf-8")))[1:]
    intents = sorted({r[1] for r in rows})
    gone = set(random.Random(0).sample(intents, k))
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(r for r in rows if r[1] not in gone)
    return out, gone


def line(name, q, train_s, total_s) -> str:
    t = f"{train_s:7.1f}" if train_s is not None else "      -"
    return f"{name:<34} {q.value:6.1%}  [{q.ci_low:5.1%}, {q.ci_high:5.1%}]  {t}  {total_s:7.1f}"


def main(argv=None) -> int:
    from core.measurement import mcnemar

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--skip-lora", action="store_true")
    args = ap.parse_args(argv)
    print(f"Hardware: {cpu()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("ADAPT_RUNS", str(work / "runs"))
        train, hold = make_data(Path(args.data), work)
        clf, clf_wall = pilot("classifier", train, hold, work, abstain=False)
        ph = clf.phase_seconds
        rows = [("nearest-neighbour label (MiniLM)", "nearest_neighbour_label", None, None)]
        rows.append(("linear probe (frozen MiniLM)", "linear_probe", None, ph["baselines"]))
        rows.append(("classifier", "classifier", ph["train"], ph["train"] + ph["eval"]))
        correct = dict(clf.correct)
        quality = {"classifier": clf.quality} | dict(clf.measurement.baselines)
        if not args.skip_lora:
            lora, _ = pilot("lora", train, hold, work, baselines=())
            assert lora.holdout_fingerprint == clf.holdout_fingerprint, "not the same holdout"
            lp = lora.phase_seconds
            total = lp["train"] + lp["eval"]
            rows.append(("lora, free generation", "lora", lp["train"], total))
            rows.append(("lora, label-constrained", "lora_constrained", lp["train"], total))
            correct |= {k: lora.correct[k] for k in ("lora", "lora_constrained")}
            quality |= {"lora": lora.quality, "lora_constrained": lora.measurement.constrained}
            share = lora.measurement.invalid_label_share
            print(f"lora free generation: {share:.1%} of answers were no valid label")
        print(
            f"\n{'method':<34} {'accuracy':>6}  {'95% interval':<16} {'train s':>7}  {'total s':>7}"
        )
        for name, key, train_s, total_s in rows:
            print(line(name, quality[key], train_s, total_s if total_s is not None else 0.0))
        print("(nearest-neighbour and probe times: embedding both splits + fitting, together)")
        s = clf.measurement.serving
        print(
            f"classifier pilot wall {clf_wall:.0f} s; serving {s.requests_per_second:,.0f} req/s "
            f"(batch {s.batch_size}, {s.threads} threads), p50 {s.latency_p50_ms:.1f} ms, "
            f"p95 {s.latency_p95_ms:.1f} ms at batch 1; p50 {s.batch_latency_p50_ms:.0f} ms, "
            f"p95 {s.batch_latency_p95_ms:.0f} ms a batch"
        )
        best = max(
            (k for k in quality if k != "nearest_neighbour_label"), key=lambda k: quality[k].value
        )
        t = mcnemar(correct[best], correct["nearest_neighbour_label"])
        print(
            f"McNemar {best} vs nearest-neighbour label: {t.only_a} rows only {best} got right, "
            f"{t.only_b} only the neighbour; p = {t.p_value:.2g}"
        )
        abstention(work, train, hold)
    return 0


def abstention(work: Path, train: Path, hold: Path) -> None:
    """10 intents never trained on: their holdout rows must be escalated."""
    part, gone = without_intents(train, OUT_OF_SCOPE_INTENTS, work / "train_in_scope.csv")
    m, wall = pilot("classifier", part, hold, work)
    a = m.measurement.abstention
    print(
        f"\nAbstention ({OUT_OF_SCOPE_INTENTS} intents held out of training: "
        f"{', '.join(sorted(gone)[:3])}, ...; {a.out_of_scope_rows} out-of-scope holdout rows)"
    )
    print(
        f"threshold {a.threshold:.3f} picked on the training split for {a.target_accuracy:.0%} "
        f"answered accuracy; holdout: answered {1 - a.escalated_share:.1%}, accuracy on the "
        f"answered {a.answered.text()}, escalated {a.escalated_share:.1%}, out-of-scope "
        f"caught {a.out_of_scope_caught:.1%}; accuracy answering all {m.quality.text()}; "
        f"pilot wall {wall:.0f} s (threshold folds {m.phase_seconds.get('threshold', 0):.0f} s)"
    )
    print("answered share -> accuracy: " + ", ".join(f"{s:.0%} {acc:.1%}" for s, acc in a.curve))


if __name__ == "__main__":
    raise SystemExit(main())
