"""Evaluation as deployed: real generation with greedy decoding through the same chat
template for every method, never teacher-forced argmax.

Classification: exact match with a 95% Wilson interval. Generation: chrF (and token F1).
Distillation: agreement with the teacher. Forgetting: a small general-instruction probe
set written for this project, scored before and after training.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

import torch

from core.measurement import (  # noqa: F401 (re-exported)
    Z95,
    QualityMeasure,
    mcnemar,
    mean_score,
    wilson,
)
from core.text import chrf
from trainers.data import Message
from trainers.eval.fields import parse, score_outputs
from trainers.metrics import Forgetting


def normalize_label(text: str) -> str:
    """First line, lower case, without quotes or a trailing full stop, with underscores
    and hyphens read as spaces ("Refund request" matches refund_request)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = first.strip().strip("'\"`").rstrip(".").strip().lower()
    return " ".join(re.sub(r"[_\-]", " ", first).split())


def accuracy(preds: Sequence[str], golds: Sequence[str]) -> QualityMeasure:
    k = sum(normalize_label(p) == normalize_label(g) for p, g in zip(preds, golds, strict=True))
    lo, hi = wilson(k, len(golds))
    return QualityMeasure(
        metric="accuracy", value=k / max(1, len(golds)), ci_low=lo, ci_high=hi, n=len(golds)
    )


def token_f1(pred: str, ref: str) -> float:
    p, r = Counter(pred.lower().split()), Counter(ref.lower().split())
    overlap = sum((p & r).values())
    if not overlap:
        return 0.0
    prec, rec = overlap / sum(p.values()), overlap / sum(r.values())
    return 2 * prec * rec / (prec + rec)


def hits(preds: list[str], gold: list[str]) -> str:
    """'1'/'0' per row: the record a paired test reads."""
    return "".join(
        "1" if normalize_label(p) == normalize_label(g) else "0"
        for p, g in zip(preds, gold, strict=True)
    )


def score(task: Literal["classify", "generate", "extract"], preds, golds) -> QualityMeasure:
    if task == "classify":
        return accuracy(preds, golds)
    if task == "extract":  # field F1 over (field, value) pairs; the gold answers are JSON
        return score_outputs(preds, [parse(g) or {} for g in golds], {}).scores.f1
    return mean_score([chrf(p, g) for p, g in zip(preds, golds, strict=True)], "chrf")


@torch.no_grad()
def generate(
    model,
    tok,
    prompts: Sequence[Sequence[Message]],
    *,
    max_new_tokens: int = 32,
    batch_size: int = 16,
    device: str = "cpu",
    bf16: bool = False,
    progress: Callable[[int, int], None] | None = None,
    constraint: Callable[[int], object] | None = None,
) -> list[str]:
    """Greedy decoding, batched with left padding (so every row's last token is real).
    progress(rows done, rows) is called after every batch. constraint(rows): a logits
    processor for a batch of that many rows (trainers/eval/schema_decode.py)."""
    texts = [
        tok.apply_chat_template(
            [m.model_dump() for m in p], tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    side, tok.padding_side = tok.padding_side, "left"
    out: list[str] = [""] * len(texts)
    # Measured on CPU: when the output projection's weight does not require grad (a frozen
    # or merged model), the prefill's logits for the last position go through a batched
    # matmul that copies the 49k x 576 weight once per row (+1.3 GB at batch 32, 2x slower).
    # With the flag set, torch folds the batch into one matmul. Under no_grad it builds no
    # graph, so nothing else changes; the flag is restored afterwards.
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    flip = weight is not None and weight.is_floating_point() and not weight.requires_grad
    if flip:
        weight.requires_grad_(True)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths together
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tok(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                gen = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                    logits_processor=[constraint(len(idx))] if constraint else None,
                )  # (B, T + new)
            new = gen[:, enc["input_ids"].shape[1] :]
            for i, row in zip(idx, new, strict=True):
                out[i] = tok.decode(row, skip_special_tokens=True).strip()
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
    finally:
        tok.padding_side = side
        if flip:
            weight.requires_grad_(False)
    return out


def generate_for(ctx, model, prompts, phase: str, constraint=None) -> tuple[list[str], float]:
    """A pilot's answers to the prompts as the run generates them (its budget, batch,
    device, bf16), with "row n/N" progress events under `phase`; and the seconds taken."""
    t0 = time.perf_counter()
    answers = generate(
        model,
        ctx.tok,
        prompts,
        max_new_tokens=ctx.budget,
        batch_size=ctx.cfg.eval_batch_size,
        device=ctx.device,
        bf16=ctx.bf16,
        progress=lambda done, total: ctx.emit("eval", phase=phase, rows=done, of=total),
        constraint=constraint,
    )
    return answers, time.perf_counter() - t0


def tokens_per_second(tok, answers: list[str], seconds: float) -> float:
    """Decoding speed: the answers' tokens (plus end-of-turn each) over the seconds."""
    n = sum(len(tok(a, add_special_tokens=False)["input_ids"]) + 1 for a in answers)
    return n / max(seconds, 1e-9)


# A small general-instruction probe set written for this project: facts and skills a chat
# model knows before any fine-tuning. Each answer counts when it contains the keyword.
PROBES: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "paris"),
    ("What is 2 + 3? Answer with the number.", "5"),
    ("Which planet is known as the Red Planet?", "mars"),
    ("What colour is the sky on a clear day?", "blue"),
    ("Translate 'thank you' into French.", "merci"),
    ("How many days are there in a week?", "7"),
    ("What is the opposite of 'hot'?", "cold"),
    ("What gas do plants take in from the air?", "carbon"),
    ("Name the largest ocean on Earth.", "pacific"),
    ("What is the freezing point of water in Celsius?", "0"),
    ("Who wrote 'Romeo and Juliet'?", "shakespeare"),
    ("What is 10 times 10?", "100"),
    ("What language is mainly spoken in Spain?", "spanish"),
    ("How many legs does a spider have?", "8"),
    ("What is the capital of Japan?", "tokyo"),
    ("What do bees make?", "honey"),
)


def probe(model, tok, device: str = "cpu", bf16: bool = False) -> QualityMeasure:
    prompts = [(Message(role="user", content=q),) for q, _ in PROBES]
    answers = generate(model, tok, prompts, max_new_tokens=24, device=device, bf16=bf16)
    k = sum(key in a.lower() for a, (_, key) in zip(answers, PROBES, strict=True))
    lo, hi = wilson(k, len(PROBES))
    return QualityMeasure(
        metric="probe_accuracy", value=k / len(PROBES), ci_low=lo, ci_high=hi, n=len(PROBES)
    )


def forgetting_pattern(
    probe_before: QualityMeasure,
    probe_after: QualityMeasure,
    baseline: QualityMeasure,
    tuned: QualityMeasure,
    first_loss: float,
    last_loss: float,
) -> Forgetting:
    """Name what happened. Degradation: the general probe fell beyond its noise. Overfitting:
    training loss fell but the holdout did not move. Improvement: the holdout rose beyond
    the baseline's interval. Otherwise no change."""
    probe_drop = probe_before.value - probe_after.value
    if probe_drop > max(0.15, (probe_before.ci_high - probe_before.ci_low) / 2):
        pattern = "degradation"
    elif tuned.ci_low > baseline.value and tuned.value > baseline.ci_high:
        pattern = "improvement"
    elif (
        last_loss < 0.7 * first_loss
        and abs(tuned.value - baseline.value) <= (baseline.ci_high - baseline.ci_low) / 2
    ):
        pattern = "overfitting"
    else:
        pattern = "no_change"
    return Forgetting(
        pattern=pattern, probe_before=probe_before.value, probe_after=probe_after.value
    )
