"""Benchmark: pilots on BANKING77 with the default model on this machine.

Data: ../shared/data/banking77 (CC BY 4.0): 10 training rows per intent (770 rows) and a
holdout of 300 rows sampled with seed 0 from test.csv. Methods: prompt, retrieval, lora,
qlora. Also measures, in the same script, a plain fp32 LoRA loop (full logits, random
batches, no autocast) for the throughput comparison.

Targets (issue 4): lora >= 75% holdout accuracy with training + evaluation under 8 minutes;
lora training throughput >= 2x the plain fp32 loop.

    .venv/bin/python bench/bench_pilot_banking77.py [--methods lora] [--epochs 5]
"""

import argparse
import contextlib
import csv
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "banking77"


def make_data(src: Path, out: Path, per_class: int = 10, holdout: int = 300) -> tuple[Path, Path]:
    """train.csv: per_class rows of each of the 77 intents; holdout.csv: rows of test.csv
    sampled with seed 0. Both as text,label CSV, the format users bring."""
    rows = list(csv.DictReader(io.StringIO((src / "train.csv").read_text(encoding="utf-8"))))
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["category"], []).append(r)
    rng = random.Random(0)
    train = [r for k in sorted(by) for r in rng.sample(by[k], per_class)]
    test = list(csv.DictReader(io.StringIO((src / "test.csv").read_text(encoding="utf-8"))))
    hold = random.Random(0).sample(test, holdout)
    paths = []
    for name, data in (("train.csv", train), ("holdout.csv", hold)):
        p = out / name
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((r["text"], r["category"]) for r in data)
        paths.append(p)
    return paths[0], paths[1]


def plain_fp32_tokens_per_second(train_csv: Path, steps: int = 12) -> float:
    """The reference loop: fp32, LoRA r=16 on all linear layers, batch 16, random batches
    padded to their longest row, full-vocabulary logits, no autocast."""
    import torch

    from trainers.config import TrainConfig
    from trainers.data import load_dataset
    from trainers.loop import collate
    from trainers.models import convert_default_model, load_causal_lm, load_tokenizer
    from trainers.sft import encode, prepare_model

    where = convert_default_model()
    tok, model = load_tokenizer(where), load_causal_lm(where)
    model = prepare_model(model, TrainConfig(method="lora"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    enc = [encode(tok, e, 256) for e in load_dataset(train_csv).examples]
    random.Random(0).shuffle(enc)
    model.train()
    tokens, t0 = 0, None
    for i in range(steps + 2):
        if i == 2:  # two warm-up steps
            tokens, t0 = 0, time.perf_counter()
        batch = collate(enc[i * 16 : (i + 1) * 16], tok.pad_token_id)
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        tokens += int(batch["attention_mask"].sum())
    return tokens / (time.perf_counter() - t0)


def run_method(method: str, train_csv: Path, hold_csv: Path, args) -> dict:

    cmd = [
        "pilot",
        "--method",
        method,
        "--data",
        str(train_csv),
        "--holdout-data",
        str(hold_csv),
        "--json",
        "--epochs",
        str(args.epochs),
        "--lr",
        str(args.qlora_lr if method == "qlora" else args.lr),
    ]
    if method in ("lora", "qlora"):  # their baselines are the prompt and retrieval rows
        cmd += ["--baselines", ""]
    if method == "qlora" and args.qlora_minutes:
        cmd += ["--max-minutes", str(args.qlora_minutes)]
    return adapt_json(cmd)


def adapt_json(argv: list[str]) -> dict:
    """Run `adapt ...  --json` in-process; its one JSON object, or exit with it on failure."""
    from cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    out = json.loads(buf.getvalue())
    if code != 0:
        raise SystemExit(f"adapt {' '.join(argv[:3])} failed: {out}")
    return out


def view(r: dict) -> dict:
    """The numbers the table shows, from a pilot's metrics record (or an older flat one)."""
    if "holdout" in r:  # written before metrics.json became one typed record
        return r
    m = r["measurement"]
    return {
        "holdout": m["quality"],
        "baseline": m["baseline"],
        "baselines": m["baselines"],
        "tokens_per_second": m["tokens_per_second"],
        "wall_seconds": m["wall_seconds"],
        "peak_memory_mib": m["peak_memory_mib"],
        "phase_seconds": r.get("phase_seconds", {}),
    }


def cpu_line() -> str:
    """The CPU model and the flags that decide its fast paths (every figure names it)."""
    from trainers.hardware import describe

    return describe()


def print_table(plain: float, results: dict) -> None:
    results = {m: view(r) for m, r in results.items()}
    print(cpu_line())
    print(
        "\n| method | holdout accuracy [95% CI] | zero-shot | train s | eval s | "
        "train+eval s | wall s | train tokens/s | peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for m, r in results.items():
        h, ph = r["holdout"], r.get("phase_seconds", {})
        ev = ph.get("eval", 0) or ph.get("baselines", 0)  # prompt, retrieval: baselines only
        te = ph.get("train", 0) + ev
        tps = f"{r['tokens_per_second']:.0f}" if r["tokens_per_second"] else "-"
        print(
            f"| {m} | {h['value']:.1%} [{h['ci_low']:.1%}, {h['ci_high']:.1%}] | "
            f"{r['baseline']['value']:.1%} | {ph.get('train', 0):.0f} | {ev:.0f} "
            f"| {te:.0f} | {r['wall_seconds']:.0f} | {tps} | {r['peak_memory_mib']:.0f} |"
        )
        extra = {k: f"{v['value']:.1%}" for k, v in r["baselines"].items()}
        print(f"|   baselines of that run: {extra} |")
    if "lora" in results:
        r = results["lora"]
        te = r["phase_seconds"]["train"] + r["phase_seconds"]["eval"]
        speedup = r["tokens_per_second"] / plain
        print(
            f"\nlora: accuracy {r['holdout']['value']:.1%} (target >= 75%): "
            f"{'PASS' if r['holdout']['value'] >= 0.75 else 'FAIL'}; train+eval {te:.0f}s "
            f"(target < 480s): {'PASS' if te < 480 else 'FAIL'}; throughput "
            f"{r['tokens_per_second']:.0f} vs plain {plain:.0f} tokens/s = {speedup:.2f}x "
            f"(target >= 2x): {'PASS' if speedup >= 2 else 'FAIL'}"
        )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--methods", default="prompt,retrieval,lora,qlora")
    ap.add_argument(
        "--epochs",
        type=float,
        default=5.0,
        help="5 fits the 8-minute budget since training uses eager attention on CPU",
    )
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--qlora-minutes", type=float, default=8.0)
    ap.add_argument(
        "--qlora-lr",
        type=float,
        default=5e-4,
        help="QLoRA's learning rate (1e-3 made its loss wander on the 4-bit base)",
    )
    ap.add_argument("--out", help="write all results as JSON here")
    ap.add_argument("--table-from", help="print the table of an earlier --out file and stop")
    args = ap.parse_args()
    if args.table_from:
        try:
            saved = json.loads(Path(args.table_from).read_text(encoding="utf-8"))
            plain, results = saved["plain_fp32_tokens_per_second"], saved["results"]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
            print(f"--table-from {args.table_from}: not a file this script wrote ({e})")
            return 2
        print_table(plain, results)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="banking77-"))
    train_csv, hold_csv = make_data(Path(args.data), tmp)
    plain = plain_fp32_tokens_per_second(train_csv)
    print(f"plain fp32 LoRA loop: {plain:.1f} tokens/s (12 steps, batch 16)", flush=True)
    results = {}
    for m in [x for x in args.methods.split(",") if x]:
        results[m] = run_method(m, train_csv, hold_csv, args)
        print(f"{m}: done in {view(results[m])['wall_seconds']:.0f}s", flush=True)
    print_table(plain, results)
    if args.out:
        Path(args.out).write_text(
            json.dumps({"plain_fp32_tokens_per_second": plain, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
