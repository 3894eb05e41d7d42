"""Benchmark: which training path is fastest on this CPU (issue 17).

One LoRA step of the pilot (SmolLM2-135M-Instruct, r=16 on all linear layers, batch 16 of
BANKING77 rows from ../shared/data/banking77, length-grouped as the pilot batches them,
loss on the answer tokens only) timed four ways: fp32 or bf16 autocast, eager or SDPA
attention. The pilot's choice on this machine is marked; it should be the fastest row.
Run it twice to compare CPU kinds on one machine:

    .venv/bin/python bench/bench_step.py [--steps 8]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        .venv/bin/python bench/bench_step.py
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pilot_banking77 import SHARED, make_data  # noqa: E402


def batches(tok, train_csv: Path, n: int) -> list[dict]:
    """The first n batches of the pilot's own epoch-0 order (the longest batch first)."""
    from trainers.data import load_dataset
    from trainers.loop import collate, length_grouped_batches
    from trainers.sft import encode

    enc = [encode(tok, e, 256) for e in load_dataset(train_csv).examples]
    order = length_grouped_batches([len(x) for x, _ in enc], 16, 0, longest_first=True)
    return [collate([enc[i] for i in idx], tok.pad_token_id) for idx in order[: n + 2]]


def time_path(model, data: list[dict], bf16: bool, attention: str) -> float:
    """Training tokens/s over the batches after two warm-up steps."""
    import torch

    from trainers.loop import train_step
    from trainers.sft import AnswerLoss

    model.get_base_model().set_attn_implementation(attention)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)  # small: the weights barely move between paths
    loss = AnswerLoss(model)
    tokens, t0 = 0, 0.0
    for i, batch in enumerate(data):
        if i == 2:
            tokens, t0 = 0, time.perf_counter()
        train_step(loss, batch, opt, None, params, "cpu", bf16)
        tokens += int(batch["attention_mask"].sum())
    return tokens / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--steps", type=int, default=8, help="timed steps per path")
    args = ap.parse_args()
    from trainers.config import TrainConfig
    from trainers.hardware import cpu_supports_bf16, describe
    from trainers.models import convert_default_model, load_causal_lm, load_tokenizer
    from trainers.sft import EAGER_MAX_SCORES_MIB, eager_is_faster, prepare_model

    print(describe(), flush=True)
    train_csv, _ = make_data(Path(args.data), Path(tempfile.mkdtemp(prefix="step-")))
    where = convert_default_model()
    tok = load_tokenizer(where)
    model = prepare_model(load_causal_lm(where), TrainConfig(method="lora", lora_rank=16))
    model.train()
    data = batches(tok, train_csv, args.steps)
    # the pilot's choice: the scores here are far under EAGER_MAX_SCORES_MIB
    chosen = (cpu_supports_bf16(), "eager" if eager_is_faster("cpu") else "sdpa")
    rows = []
    for bf16 in (False, True):
        # emulated bf16 (no native bf16 instructions) runs at a few tokens/s: one step
        part = data if not bf16 or chosen[0] else data[:3]
        for attention in ("eager", "sdpa"):
            rows.append((bf16, attention, time_path(model, part, bf16, attention)))
            print(f"  {'bf16' if bf16 else 'fp32'} {attention}: {rows[-1][2]:.0f}", flush=True)
    best = max(rows, key=lambda r: r[2])
    print(f"\n{args.steps} steps of batch 16 after 2 warm-ups; eager while scores <= ", end="")
    print(f"{EAGER_MAX_SCORES_MIB} MiB")
    print("| precision | attention | train tokens/s | pilot's choice here |")
    print("|---|---|---|---|")
    for bf16, attention, tps in rows:
        mark = "yes" if (bf16, attention) == chosen else ""
        print(f"| {'bf16 autocast' if bf16 else 'fp32'} | {attention} | {tps:.0f} | {mark} |")
    pick = next(r for r in rows if (r[0], r[1]) == chosen)
    print(
        f"\nthe pilot's path: {pick[2]:.0f} tokens/s, {pick[2] / best[2]:.0%} of the fastest "
        f"({'bf16 autocast' if best[0] else 'fp32'}, {best[1]})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
