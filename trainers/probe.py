"""The preflight probe: a few seconds of the real pilot, in a fresh process, so that its
peak memory is the pilot's own (ru_maxrss counts a process's whole life).

It loads the model as the pilot will, times one batch of each kind of generation the
pilot will run (zero-shot, few-shot, retrieval, the tuned model's short answers, the
forgetting probe), then trains on the longest batch first (an out-of-memory shows up
here, in seconds) and times a few ordinary batches. `trainers.preflight` scales these
to the whole run. Run as `python -m trainers.probe CONFIG.yaml`; prints one JSON line.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from trainers.device import is_out_of_memory, peak_memory_mib
from trainers.evaluate import generate, probe
from trainers.loop import length_grouped_batches, to_device, train_step
from trainers.probing import ProbeResult
from trainers.sft import encode

TIMED_STEPS = 3
QLORA_TIMING_ROWS = 2  # rows a step when QLoRA is timed on a CPU


def say(what: str) -> None:
    """A progress line for whoever waits (the app's probe panel reads stderr)."""
    print(f"probe: {what}", file=sys.stderr, flush=True)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _generation(ctx, model) -> dict:
    from trainers import baselines

    cfg, tok, train_ds, hold, budget = ctx.cfg, ctx.tok, ctx.train_ds, ctx.hold, ctx.budget
    device, bf16 = ctx.device, ctx.bf16
    rng = random.Random(cfg.seed)
    batch = rng.sample(list(hold.examples), min(cfg.eval_batch_size, len(hold.examples)))
    kw = dict(device=device, bf16=bf16, batch_size=cfg.eval_batch_size)
    say(f"timing generation: a batch of {len(batch)} holdout rows")
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


def _qlora_on_cpu(ctx, recipe) -> tuple[dict, object]:
    """bitsandbytes' 4-bit CPU kernels are fast only with AVX-512 (measured: 7 tokens/s on
    an AVX2-only EPYC against 208 for LoRA). So LoRA is timed in full on the same data
    (its longest batch bounds QLoRA's memory too), then QLoRA on QLORA_TIMING_ROWS rows a
    step, so a slow CPU answers in seconds rather than the minutes a full batch takes."""
    from trainers.recipe import load_frozen_base

    lora, _ = _training(ctx, None, load_frozen_base(ctx), adapter="lora")
    say(f"LoRA: {lora['train_tokens_per_second']:,.0f} tokens/s; now QLoRA")
    qlora, model = _training(ctx, recipe, recipe.load(ctx), rows=QLORA_TIMING_ROWS)
    qlora["lora_tokens_per_second"] = lora["train_tokens_per_second"]
    qlora |= {k: lora[k] for k in ("train_tokens_per_epoch", "steps_per_epoch")}
    return qlora, model


def _training(ctx, recipe, model, adapter=None, rows=None) -> tuple[dict, object]:
    """Longest batch first (memory), then TIMED_STEPS ordinary batches (speed), through
    the training loop's own step on the model the recipe trains. rows: batches of that
    many rows instead of the configured batch size."""
    from trainers.sft import AnswerLoss, prepare_model, training_attention

    cfg = ctx.cfg
    tcfg = cfg.train_config(adapter)
    if rows:
        tcfg = tcfg.model_copy(update={"batch_size": rows})
    model = prepare_model(model, tcfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=tcfg.lr)
    encoded = [encode(ctx.tok, ex, tcfg.max_seq_len) for ex in ctx.train_ds.examples]
    lengths = [len(ids) for ids, _ in encoded]
    order = length_grouped_batches(lengths, tcfg.batch_size, tcfg.seed, longest_first=True)
    model.train()
    loss_fn = AnswerLoss(model)
    timed_tokens, timed_s = 0, 0.0
    with training_attention(model, ctx.device, tcfg.batch_size, max(lengths)):
        for k, idx in enumerate(order[: 1 + TIMED_STEPS]):
            say(f"training step {k + 1} of {min(len(order), 1 + TIMED_STEPS)}")
            batch = to_device([encoded[i] for i in idx], ctx.tok.pad_token_id, ctx.device)
            t0 = time.perf_counter()
            train_step(loss_fn, batch, opt, None, params, ctx.device, ctx.bf16)
            if k > 0 or len(order) == 1:  # the first step also pays one-time warm-up costs
                timed_tokens += int(batch["attention_mask"].sum())
                timed_s += time.perf_counter() - t0
    return {
        "train_tokens_per_second": timed_tokens / max(timed_s, 1e-9),
        "train_tokens_per_epoch": sum(lengths),
        "steps_per_epoch": len(order),
        "longest_batch_tokens": max(lengths) * tcfg.batch_size,
    }, model


def run_probe(cfg) -> ProbeResult:
    from core.vocab import METHODS
    from trainers.config import make_splits
    from trainers.pilot import context
    from trainers.recipe import recipe_for

    t0 = time.perf_counter()
    say("loading the data and the model")
    with tempfile.TemporaryDirectory() as tmp:  # the splits, frozen somewhere disposable
        ctx = context(cfg, Path(tmp))
    recipe = recipe_for(cfg.method)
    model = recipe.load(ctx)
    uncapped = make_splits(cfg.model_copy(update={"holdout_max": 10**9}))[1]
    out = {
        "device": ctx.device,
        "load_s": time.perf_counter() - t0,
        "holdout": len(ctx.hold.examples),
        "holdout_available": len(uncapped.examples),
    }
    out |= _generation(ctx, model)
    if METHODS[cfg.method].trains:
        say("timing the forgetting probe and the tuned model's answers")
        out["forgetting_probe_s"] = _timed(lambda: probe(model, ctx.tok, ctx.device, ctx.bf16))
        # a tuned model answers in about the training answers' length, then stops
        answer = sorted(len(ctx.tok(e.target)["input_ids"]) for e in ctx.train_ds.examples)
        short = min(ctx.budget, answer[len(answer) // 2] + 1)
        batch = list(ctx.hold.examples)[: cfg.eval_batch_size]

        def tuned(m) -> float:
            return _timed(
                lambda: generate(
                    m,
                    ctx.tok,
                    [e.messages for e in batch],
                    max_new_tokens=short,
                    device=ctx.device,
                    bf16=ctx.bf16,
                    batch_size=cfg.eval_batch_size,
                )
            )

        # lora/full evaluate merged weights at the base model's speed; qlora evaluates
        # through its unmerged adapters, so time it after they are attached
        if cfg.method != "qlora":
            out["tuned_batch_s"] = tuned(model)
        if cfg.method == "qlora" and ctx.device == "cpu":
            train_out, model = _qlora_on_cpu(ctx, recipe)
        else:
            train_out, model = _training(ctx, recipe, model)
        out |= train_out
        if cfg.method == "qlora":
            model.eval()
            out["tuned_batch_s"] = tuned(model)
    out["peak_memory_mib"] = peak_memory_mib(ctx.device)
    out["probe_s"] = time.perf_counter() - t0
    return ProbeResult(**out)


def main(argv: list[str] | None = None) -> int:
    from trainers.config import PilotConfig

    argv = sys.argv[1:] if argv is None else argv
    import yaml

    cfg = PilotConfig.model_validate(yaml.safe_load(Path(argv[0]).read_text()))
    try:
        print(run_probe(cfg).model_dump_json())
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        print(ProbeResult(ok=False, error="out of memory").model_dump_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
