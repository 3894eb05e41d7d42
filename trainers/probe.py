"""The preflight probe: a few seconds of the real pilot, in a fresh process, so that its
peak memory is the pilot's own (ru_maxrss counts a process's whole life).

It loads the model as the pilot will, times one batch of each kind of generation the
pilot will run (zero-shot, few-shot, retrieval, the tuned model's short answers, the
forgetting probe), then trains on the longest batch first (an out-of-memory shows up
here, in seconds) and times a few ordinary batches. `trainers.preflight` scales these
to the whole run. Run as `python -m trainers.probe CONFIG.yaml`; prints one JSON line.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import torch

from trainers.evaluate import generate, probe
from trainers.sft import (
    collate,
    encode,
    is_out_of_memory,
    length_grouped_batches,
    peak_memory_mib,
    use_bf16,
)

TIMED_STEPS = 3


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _generation(cfg, model, tok, train_ds, hold, budget, device, bf16) -> dict:
    from trainers import baselines

    rng = random.Random(cfg.seed)
    batch = rng.sample(list(hold.examples), min(cfg.eval_batch_size, len(hold.examples)))
    kw = dict(device=device, bf16=bf16, batch_size=cfg.eval_batch_size)
    out = {
        "zero_shot_batch_s": _timed(
            lambda: generate(model, tok, [e.messages for e in batch], max_new_tokens=budget, **kw)
        )
    }
    if "prompt" in cfg.baselines or cfg.method == "prompt":
        shots = baselines.few_shot_examples(train_ds.examples, baselines.FEW_SHOT_K, cfg.seed)
        prompts = [baselines.with_shots(e, shots) for e in batch]
        out["few_shot_batch_s"] = _timed(
            lambda: generate(model, tok, prompts, max_new_tokens=budget, **kw)
        )
    if "retrieval" in cfg.baselines or cfg.method == "retrieval":
        t0 = time.perf_counter()
        near = baselines.Retriever(train_ds.examples).nearest(batch, baselines.FEW_SHOT_K)
        out["retriever_s"] = time.perf_counter() - t0
        prompts = [baselines.with_shots(e, n[::-1]) for e, n in zip(batch, near, strict=True)]
        out["retrieval_batch_s"] = _timed(
            lambda: generate(model, tok, prompts, max_new_tokens=budget, **kw)
        )
    return out


def _training(cfg, model, tok, train_ds, device) -> tuple[dict, object]:
    """Longest batch first (memory), then TIMED_STEPS ordinary batches (speed)."""
    from trainers.sft import AnswerLoss, prepare_model, training_attention

    tcfg = cfg.train_config("full" if cfg.method == "distill_logit" else None)
    bf16 = use_bf16(tcfg, device)
    model = prepare_model(model, tcfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=tcfg.lr)
    loss_fn = AnswerLoss(model)
    encoded = [encode(tok, ex, tcfg.max_seq_len) for ex in train_ds.examples]
    lengths = [len(ids) for ids, _ in encoded]
    order = length_grouped_batches(lengths, tcfg.batch_size, tcfg.seed, longest_first=True)
    model.train()
    with training_attention(model, device, tcfg.batch_size, max(lengths)):
        timed_tokens, timed_s = _timed_steps(order, encoded, tok, loss_fn, opt, device, bf16)
    return {
        "train_tokens_per_second": timed_tokens / max(timed_s, 1e-9),
        "train_tokens_per_epoch": sum(lengths),
        "steps_per_epoch": len(order),
        "longest_batch_tokens": max(lengths) * tcfg.batch_size,
    }, model


def _timed_steps(order, encoded, tok, loss_fn, opt, device, bf16) -> tuple[int, float]:
    timed_tokens, timed_s = 0, 0.0
    for k, idx in enumerate(order[: 1 + TIMED_STEPS]):
        batch = {
            n: v.to(device) for n, v in collate([encoded[i] for i in idx], tok.pad_token_id).items()
        }
        t0 = time.perf_counter()
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(**batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if k > 0 or len(order) == 1:  # the first step also pays one-time warm-up costs
            timed_tokens += int(batch["attention_mask"].sum())
            timed_s += time.perf_counter() - t0
    return timed_tokens, timed_s


def run_probe(cfg) -> dict:
    from trainers.config import TRAINING, make_splits, pick_device
    from trainers.models import load_tokenizer, resolve_model
    from trainers.pilot import _load_model, answer_budget, needs_fresh_4bit

    t0 = time.perf_counter()
    device = pick_device(cfg.device)
    train_ds, hold = make_splits(cfg)
    where = resolve_model(cfg.model)
    tok = load_tokenizer(where, cfg.trust_remote_code)
    bf16 = use_bf16(cfg.train_config(), device)
    model = _load_model(cfg, where, device, bf16)
    out = {"device": device, "load_s": time.perf_counter() - t0, "holdout": len(hold.examples)}
    budget = answer_budget(tok, train_ds)
    out |= _generation(cfg, model, tok, train_ds, hold, budget, device, bf16)
    if cfg.method in TRAINING:
        out["forgetting_probe_s"] = _timed(lambda: probe(model, tok, device, bf16))
        # a tuned model answers in about the training answers' length, then stops
        answer = sorted(len(tok(e.target)["input_ids"]) for e in train_ds.examples)
        short = min(budget, answer[len(answer) // 2] + 1)
        batch = list(hold.examples)[: cfg.eval_batch_size]

        def tuned(m) -> float:
            return _timed(
                lambda: generate(
                    m,
                    tok,
                    [e.messages for e in batch],
                    max_new_tokens=short,
                    device=device,
                    bf16=bf16,
                    batch_size=cfg.eval_batch_size,
                )
            )

        # lora/full evaluate merged weights at the base model's speed; qlora evaluates
        # through its unmerged adapters, so time it after they are attached
        if cfg.method != "qlora":
            out["tuned_batch_s"] = tuned(model)
        if needs_fresh_4bit(cfg.method, device):  # as the pilot does, freeing the first copy
            del model
            model = _load_model(cfg, where, device, bf16)
        train_out, model = _training(cfg, model, tok, train_ds, device)
        out |= train_out
        if cfg.method == "qlora":
            model.eval()
            out["tuned_batch_s"] = tuned(model)
    out["peak_memory_mib"] = peak_memory_mib(device)
    out["probe_s"] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> int:
    from trainers.config import PilotConfig

    argv = sys.argv[1:] if argv is None else argv
    import yaml

    cfg = PilotConfig.model_validate(yaml.safe_load(Path(argv[0]).read_text()))
    try:
        print(json.dumps({"ok": True, **run_probe(cfg)}))
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        print(json.dumps({"ok": False, "error": "out of memory", "peak_memory_mib": None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
