"""Label-constrained decoding for generative models on classification data: instead of
free generation, score every label as the answer (its tokens, then end-of-turn, exactly
as training wrote them) and answer with the most likely one.

Per holdout row the prompt runs once; its key/value cache is repeated for the L labels,
which are then scored together in one batch: cost is one prompt plus L short answers,
not L prompts. The label probabilities (softmax over the L sequence log-likelihoods) are
the model's confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.measurement import QualityMeasure
from trainers.data import Message
from trainers.evaluate import normalize_label, score


def label_token_ids(tok, labels: Sequence[str]) -> list[list[int]]:
    """Each label's answer tokens, ending the turn the way trainers.sft.encode does."""
    return [tok(lab + tok.eos_token, add_special_tokens=False)["input_ids"] for lab in labels]


@torch.no_grad()
def label_log_likelihoods(
    model,
    tok,
    prompts: Sequence[Sequence[Message]],
    labels: Sequence[str],
    *,
    device: str = "cpu",
    bf16: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(Q, L) log p(label | prompt), summed over the label's tokens."""
    answers = label_token_ids(tok, labels)
    width = max(len(a) for a in answers)
    L = len(answers)
    ans = torch.full((L, width), tok.pad_token_id, device=device)  # (L, W), right-padded
    keep = torch.zeros((L, width), device=device)  # 1 on real answer tokens
    for i, a in enumerate(answers):
        ans[i, : len(a)], keep[i, : len(a)] = torch.tensor(a), 1
    out = np.zeros((len(prompts), L))
    model.eval()
    for q, messages in enumerate(prompts):
        text = tok.apply_chat_template(
            [m.model_dump() for m in messages], tokenize=False, add_generation_prompt=True
        )
        ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
        P = ids.shape[1]
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            pre = model(input_ids=ids, use_cache=True)
            cache = pre.past_key_values
            cache.batch_repeat_interleave(L)  # (1, ...) -> (L, ...) per layer
            mask = torch.cat([torch.ones((L, P), device=device), keep], dim=1).long()
            post = model(input_ids=ans, attention_mask=mask, past_key_values=cache)
        # logits predicting answer token i: the prompt's last position for i = 0, else
        # the answer's position i - 1
        first = pre.logits[:, -1:].float().expand(L, 1, -1)  # (L, 1, V)
        logits = torch.cat([first, post.logits[:, :-1].float()], dim=1)  # (L, W, V)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ans.unsqueeze(-1)).squeeze(-1)
        out[q] = (logp * keep).sum(1).cpu().numpy()  # (L,)
        if progress and (q + 1) % 16 == 0:
            progress(q + 1, len(prompts))
    return out


def constrained_predictions(
    scores: np.ndarray, labels: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """(the most likely label per row, its probability among the labels)."""
    probs = np.exp(scores - scores.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return [labels[j] for j in scores.argmax(1)], probs.max(1)


@dataclass(frozen=True)
class Constrained:
    quality: QualityMeasure
    predictions: list[str]
    invalid_share: float
    """Share of the free-generation answers that were no valid label."""


def score_labels(ctx, model, free: list[str]) -> Constrained:
    """The most likely training label per holdout row (trainers/constrained.py)."""
    labels = sorted({e.target for e in ctx.train_ds.examples})
    hold = ctx.hold.examples
    ctx.emit("eval", phase="label-constrained")
    scores = label_log_likelihoods(
        model,
        ctx.tok,
        [e.messages for e in hold],
        labels,
        device=ctx.device,
        bf16=ctx.bf16,
        progress=lambda done, total: ctx.emit("eval", phase="constrained", rows=done, of=total),
    )
    preds, _ = constrained_predictions(scores, labels)
    valid = {normalize_label(x) for x in labels}
    invalid = sum(normalize_label(p) not in valid for p in free) / max(1, len(free))
    return Constrained(
        quality=score("classify", preds, [e.target for e in hold]),
        predictions=preds,
        invalid_share=invalid,
    )
