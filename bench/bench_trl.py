"""Benchmark: the pilot trainer against TRL's SFTTrainer (issue 6).

Same model (the default SmolLM2-135M-Instruct), same data (BANKING77 from
../shared/data/banking77: 10 rows per intent, 770 rows; 300 holdout rows from test.csv),
same LoRA (r=16, alpha 32, all linear layers, no dropout), same optimiser settings
(AdamW, lr 1e-3, 5% warmup then linear decay, batch 16, grad-norm clip 1.0) and the same
number of steps. TRL gets its fair CPU settings: bf16 autocast, loss on the completion
only, batches grouped by length. Both tuned models are scored the same way: merged
adapters, greedy generation through the same chat template, exact match with a 95%
Wilson interval.

Training tokens/s counts the non-padding tokens of the examples trained on, divided by
the training loop's own wall time (TRL: train_runtime; ours: the loop's timer). The third
row is the plain fp32 loop (bench_pilot_banking77.plain_fp32_tokens_per_second: random
batches, full-vocabulary logits, no autocast, 12 timed steps): its throughput only.

Targets (issue 17): the pilot >= 2x the plain loop and >= TRL where bf16 autocast is fast
(AVX-512 BF16 or AMX), >= 1.5x and >= TRL on an AVX2-only CPU. To measure the AVX2 kind on
an AVX-512 machine, cap the kernels PyTorch (and bitsandbytes, which asks it) dispatch to;
the hardware line then says so:

    .venv/bin/python bench/bench_trl.py [--steps 98] [--holdout 300]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        .venv/bin/python bench/bench_trl.py
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

from bench_pilot_banking77 import (  # noqa: E402
    SHARED,
    adapt_json,
    make_data,
    plain_fp32_tokens_per_second,
)


def ours(train: Path, hold: Path, steps: int) -> dict:
    argv = ["pilot", "--method", "lora", "--data", str(train), "--holdout-data", str(hold)]
    argv += ["--max-steps", str(steps), "--baselines", "", "--no-probe", "--json"]
    argv += ["--lr", "1e-3", "--batch-size", "16", "--lora-rank", "16"]
    out = adapt_json(argv)
    return {
        "tokens_per_second": out["measurement"]["tokens_per_second"],
        "train_seconds": out["training"]["seconds"],
        "accuracy": out["measurement"]["quality"],
    }


def trl_run(train: Path, hold: Path, steps: int) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from costmodels.compute import LINEAR_TARGETS as ALL_LINEAR
    from trainers.context import answer_budget
    from trainers.data import load_dataset
    from trainers.eval.scoring import generate, score
    from trainers.hardware import cpu_supports_bf16
    from trainers.models import convert_default_model, load_causal_lm, load_tokenizer

    where = convert_default_model()
    tok = load_tokenizer(where)
    train_ds, hold_ds = load_dataset(train), load_dataset(hold)
    rows = [
        {
            "prompt": [m.model_dump() for m in e.messages],
            "completion": [{"role": "assistant", "content": e.target}],
        }
        for e in train_ds.examples
    ]
    model = load_causal_lm(where)  # fp32 master weights; bf16 autocast as TRL does it
    args = SFTConfig(
        output_dir=tempfile.mkdtemp(prefix="trl-"),
        max_steps=steps,
        per_device_train_batch_size=16,
        learning_rate=1e-3,
        lr_scheduler_type="linear",
        warmup_steps=0.05,  # a float below 1 is a ratio of the total steps
        train_sampling_strategy="group_by_length",  # TRL's own answer to padding waste
        weight_decay=0.0,
        max_grad_norm=1.0,
        bf16=cpu_supports_bf16(),
        use_cpu=True,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        max_length=256,
        seed=0,
        dataloader_num_workers=0,
    )
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules=list(ALL_LINEAR),
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        peft_config=lora,
    )
    seen = trainer.train_dataset
    per_example = sum(len(x) for x in seen["input_ids"]) / len(seen)
    t0 = time.perf_counter()
    result = trainer.train()
    wall = time.perf_counter() - t0
    runtime = result.metrics["train_runtime"]
    tokens = per_example * steps * 16  # mean non-padding tokens x examples trained on
    tuned = trainer.model.merge_and_unload().eval()
    bf16 = cpu_supports_bf16()
    preds = generate(
        tuned,
        tok,
        [e.messages for e in hold_ds.examples],
        max_new_tokens=answer_budget(tok, train_ds),  # as the pilot does
        batch_size=32,
        bf16=bf16,
    )
    torch.set_grad_enabled(True)
    return {
        "tokens_per_second": tokens / runtime,
        "train_seconds": runtime,
        "wall_seconds": wall,
        "accuracy": score("classify", preds, [e.target for e in hold_ds.examples]).model_dump(),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--steps", type=int, default=98, help="98 = 2 epochs of 770 rows")
    ap.add_argument("--holdout", type=int, default=300)
    args = ap.parse_args()
    from trainers.hardware import describe, detect

    print(describe(), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="trl-bench-"))
    train, hold = make_data(Path(args.data), tmp, per_class=10, holdout=args.holdout)
    results = {"adapt pilot": ours(train, hold, args.steps)}
    print("adapt pilot:", json.dumps(results["adapt pilot"]), flush=True)
    results["TRL SFTTrainer"] = trl_run(train, hold, args.steps)
    print("TRL SFTTrainer:", json.dumps(results["TRL SFTTrainer"]), flush=True)
    plain = plain_fp32_tokens_per_second(train)
    print(f"plain fp32 loop: {plain:.1f} tokens/s", flush=True)
    print(f"\n{args.steps} steps, batch 16, LoRA r=16 all linear, lr 1e-3, {args.holdout} holdout")
    print("| trainer | train tokens/s | train s | holdout accuracy [95% CI] |")
    print("|---|---|---|---|")
    for name, r in results.items():
        a = r["accuracy"]
        print(
            f"| {name} | {r['tokens_per_second']:.0f} | {r['train_seconds']:.0f} | "
            f"{a['value']:.1%} [{a['ci_low']:.1%}, {a['ci_high']:.1%}] |"
        )
    print(f"| plain fp32 loop | {plain:.0f} | - | - |")
    a, b = results["adapt pilot"], results["TRL SFTTrainer"]
    speed = a["tokens_per_second"] / b["tokens_per_second"]
    over_plain = a["tokens_per_second"] / plain
    bf16 = detect().bf16_autocast_fast()
    need = 2.0 if bf16 else 1.5
    kind = "bf16 autocast fast here" if bf16 else "no fast bf16 here (AVX2 kind)"
    print(
        f"\n{detect().text()}: {kind}\n"
        f"adapt/TRL speed {speed:.2f}x (target >= 1x): {'PASS' if speed >= 1 else 'FAIL'}; "
        f"accuracy {a['accuracy']['value']:.1%} vs {b['accuracy']['value']:.1%}\n"
        f"adapt/plain fp32 loop {over_plain:.2f}x (target >= {need:.1f}x): "
        f"{'PASS' if over_plain >= need else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
