"""Benchmark: distill_rag end to end on SQuAD 2.0 (a dev subset), on this machine's CPU.

Data: ../shared/data/squad2_dev_subset (CC BY-SA 4.0): the 95 paragraphs as documents and
a seeded sample of its questions (--questions, default 200; a third unanswerable), of which
--holdout are held out. The teacher is a local causal model (default: the converted
SmolLM2-135M-Instruct; a `fine_tune_rag` run's merged/ folder with --teacher): it answers
the training questions from the passages retrieved for them, a LoRA student learns its
answers (--max-steps), and the run scores closed-book, RAG with the small model, the
teacher and the student on one holdout. Prints F1 with 95% intervals and the paired F1
differences (student against RAG and against the teacher), the filter's counts and the
phases' seconds. The sizes are small so that it runs in minutes: it checks the pipeline
end to end, not how good a 135M teacher is.

    .venv/bin/python bench/bench_distill_rag.py [--teacher MODEL_OR_RUN] [--max-steps 10]
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_classify import cpu  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "squad2_dev_subset"


def _run(run_dir: Path, cfg):
    from trainers.config import save_config
    from trainers.pilot import run_pilot

    run_dir.mkdir()
    save_config(cfg, run_dir)
    t0 = time.perf_counter()
    return run_pilot(run_dir), time.perf_counter() - t0


def main(argv=None) -> int:
    from trainers.config import PilotConfig, TrainSettings
    from trainers.models import convert_default_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--teacher", help="a model folder or a fine_tune_rag run (merged/)")
    ap.add_argument(
        "--train-teacher",
        action="store_true",
        help="first train a fine_tune_rag teacher (merged) on the same split, --max-steps",
    )
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--holdout", type=int, default=60)
    ap.add_argument("--max-steps", type=int, default=10)
    args = ap.parse_args(argv)
    src = Path(args.data)
    print(f"Hardware: {cpu()}")
    lines = (src / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    picked = random.Random(0).sample(lines, args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        questions = work / "questions.jsonl"
        questions.write_text("\n".join(picked) + "\n", encoding="utf-8")
        common = dict(
            data=str(questions),
            docs=str(src / "paragraphs.jsonl"),
            holdout_fraction=args.holdout / args.questions,
            top_k=2,
            train=TrainSettings(max_steps=args.max_steps, batch_size=8),
        )
        teacher = args.teacher or str(convert_default_model())
        if args.train_teacher:  # the team's fine-tuned model teaches the student
            ft = PilotConfig(method="fine_tune_rag", merge=True, **common)
            t, ft_wall = _run(work / "teacher", ft)
            teacher = str(work / "teacher")
            print(f"fine_tune_rag teacher: F1 {t.quality.text()}, {ft_wall:.0f} s")
        cfg = PilotConfig(method="distill_rag", teacher=teacher, **common)
        m, wall = _run(work / "run", cfg)
    r = m.measurement.rag
    who = "the fine_tune_rag run" if args.train_teacher else Path(teacher).name
    print(f"teacher {who}: kept {m.teacher.kept}, dropped {m.teacher.dropped}")
    for name, a in r.answers.items():
        print(f"{name:<14} F1 {a.f1.text()}  exact match {a.exact_match.value:.1%}")
    for name, d in r.f1_gain.items():
        print(f"F1 {name:<28} {d.text()}")
    print(f"phases {m.phase_seconds}; {m.training.steps} training steps; wall {wall:.0f} s")
    gains = {k: round(v.value, 4) for k, v in r.f1_gain.items()}
    print(json.dumps({"f1": {k: round(a.f1.value, 4) for k, a in r.answers.items()}} | gains))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
