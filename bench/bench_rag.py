"""Benchmark: retrieval and answers over documents, on SQuAD 2.0 (a dev subset).

Data: ../shared/data/squad2_dev_subset (CC BY-SA 4.0): 95 paragraphs as the documents and
875 questions (a third unanswerable), 300 held out with seed 0, the rest for training.
Prints, on this machine's CPU:
  1. the index: build seconds (encoder loading apart) and documents per second;
  2. retrieval on the answerable holdout questions, BM25 only, dense only and fused:
     hit@1, hit@5, MRR@10 against the gold paragraph;
  3. one fine_tune_rag pilot with the default model, which scores closed-book, rag and
     fine_tune_rag on the same holdout: F1 with 95% intervals, paired F1 differences,
     and the abstention figures.

Targets (issue 16), on a 2-core CPU: fused hit@5 >= 95% and at least either retriever's;
index build under 30 s; rag F1 above closed-book with a paired interval excluding zero.

    .venv/bin/python bench/bench_rag.py [--max-steps 40] [--skip-pilot] [--data DIR]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_classify import cpu  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "squad2_dev_subset"
HOLDOUT = 300


def config(data: Path, method: str, steps: int):
    from trainers.config import PilotConfig, TrainSettings

    return PilotConfig(
        method=method,
        data=str(data / "questions.jsonl"),
        docs=str(data / "paragraphs.jsonl"),
        holdout_fraction=HOLDOUT / 875,
        holdout_max=HOLDOUT,
        train=TrainSettings(max_steps=steps, batch_size=8),
    )


def retrieval_table(cfg, work: Path) -> None:
    from rag.qa import retrieval_scores
    from trainers.passages import MRR_DEPTH, open_index, question
    from trainers.splits import freeze_splits

    _, hold = freeze_splits(cfg, work)
    t0 = time.perf_counter()
    index, about, skipped = open_index(cfg, work)
    print(
        f"index: {about['documents']} documents, {about['chunks']} passages, built in "
        f"{about['build_seconds']:.1f} s (encoder loading {about['encoder_load_seconds']:.1f} s; "
        f"{about['documents_per_second']:.0f} documents/s after it); skipped {len(skipped)}"
    )
    rows = [e for e in hold.examples if e.answerable]
    print(f"\nretrieval on {len(rows)} answerable holdout questions")
    print(f"{'retriever':<10} {'hit@1':>7} {'hit@5':>7} {'MRR@10':>7} {'ms/query':>9}")
    for mode in ("bm25", "dense", "fused"):
        t0 = time.perf_counter()
        ranked = index.search([question(e) for e in rows], MRR_DEPTH, mode)
        ms = (time.perf_counter() - t0) / len(rows) * 1000
        docs = [[index.chunks[j].doc_id for j in r] for r in ranked]
        texts = ["\n".join(index.chunks[j].text for j in r[: cfg.top_k]) for r in ranked]
        s = retrieval_scores(
            mode, docs, [e.source_id for e in rows], texts, [e.answers for e in rows]
        )
        print(f"{mode:<10} {s.hit_at_1:>7.1%} {s.hit_at_5:>7.1%} {s.mrr_at_10:>7.3f} {ms:>9.1f}")


def pilot_table(cfg, work: Path) -> None:
    from trainers.config import save_config
    from trainers.pilot import run_pilot

    run_dir = work / "fine_tune_rag"
    run_dir.mkdir()
    save_config(cfg, run_dir)
    t0 = time.perf_counter()
    m = run_pilot(run_dir)
    wall = time.perf_counter() - t0
    rag, res = m.measurement.rag, m.training
    print(
        f"\nanswers ({m.measurement.model}, top {cfg.top_k} passages, "
        f"{rag.context_tokens_per_request:.0f} context tokens a request; fine_tune_rag: "
        f"{res.steps} steps of {cfg.train.batch_size}, {res.tokens_per_second:.0f} tokens/s; "
        f"pilot wall {wall:.0f} s)"
    )
    print(
        f"{'system':<14} {'F1 [95%]':>24} {'EM':>6} {'chrF':>6} "
        f"{'abstain|unans':>14} {'abstain|ans':>12}"
    )
    for name, a in rag.answers.items():
        un, an = a.abstained_when_unanswerable, a.abstained_when_answerable
        print(
            f"{name:<14} {a.f1.value:>7.1%} [{a.f1.ci_low:.1%}, {a.f1.ci_high:.1%}]"
            f"{a.exact_match.value:>8.1%} {a.chrf.value:>6.1%} "
            f"{un.value if un else 0:>14.1%} {an.value if an else 0:>12.1%}"
        )
    print(
        f"(F1, EM and chrF on {rag.answers['rag'].f1.n} answerable questions; abstention: "
        "said 'not in the documents')"
    )
    for k, d in rag.f1_gain.items():
        print(f"paired F1 {k}: {d.text()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--skip-pilot", action="store_true")
    args = ap.parse_args(argv)
    if not (args.data / "questions.jsonl").exists():
        raise SystemExit(f"no benchmark data at {args.data}")
    print(f"Hardware: {cpu()}")
    cfg = config(args.data, "fine_tune_rag", args.max_steps)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "index-run"
        work.mkdir()
        retrieval_table(cfg, work)
        if not args.skip_pilot:
            pilot_table(cfg, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
