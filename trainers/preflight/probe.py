"""The preflight probe: a few seconds of the real pilot, in a fresh process, so that its
peak memory is the pilot's own (ru_maxrss counts a process's whole life).

It builds the context the run's flow builds, loads the model through the method's own
recipe, times one batch of each kind of generation the flow will run (zero-shot,
few-shot, retrieval; closed-book and with passages over documents; the tuned model's
short answers, the forgetting probe), then calls the recipe's own `fit` for a few steps on
the longest rows first (an out-of-memory shows up here, in seconds), teacher included,
on the very training set the run builds (with its passages for a method that trains on
them). `trainers.preflight.predict` scales these to the whole run. Run as
`python -m trainers.preflight.probe CONFIG.yaml`; prints one JSON line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sys
import tempfile
import time
from pathlib import Path

from core.vocab import METHODS, flow_of
from trainers.config import PilotConfig
from trainers.context import PilotContext, build_context
from trainers.eval import baselines
from trainers.eval.scoring import generate, probe
from trainers.flows.generative import wanted_baselines
from trainers.hardware import is_out_of_memory, peak_memory_mib
from trainers.loop import length_grouped_batches
from trainers.models import skip_bitsandbytes
from trainers.passages import asked_with_passages, open_index, training_set
from trainers.preflight.job import ProbeResult
from trainers.recipes import recipe_for
from trainers.runs import read_events
from trainers.sft import encode
from trainers.splits import make_splits

TIMED_STEPS = 3
QLORA_TIMING_ROWS = 2  # rows a step when QLoRA is timed on a CPU


def say(what: str) -> None:
    """A progress line for whoever waits (the app's probe panel reads stderr)."""
    print(f"probe: {what}", file=sys.stderr, flush=True)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _generation(ctx: PilotContext, model, batch, index) -> dict:
    """One batch of each kind of generation the flow runs on the frozen model."""
    cfg, tok, budget = ctx.cfg, ctx.tok, ctx.budget
    kw = dict(device=ctx.device, bf16=ctx.bf16, batch_size=cfg.eval_batch_size)

    def timed(prompts) -> float:
        return _timed(lambda: generate(model, tok, prompts, max_new_tokens=budget, **kw))

    say(f"timing generation: a batch of {len(batch)} holdout rows")
    out = {"zero_shot_batch_s": timed([e.messages for e in batch])}
    if flow_of(cfg.method, ctx.hold.format) == "documents":  # closed-book, then with passages
        if index is not None:
            t0 = time.perf_counter()
            asked = asked_with_passages(index, batch, cfg.top_k)
            out["retriever_s"] = time.perf_counter() - t0
            out["retrieval_batch_s"] = timed([e.messages for e in asked])
        return out
    wanted = wanted_baselines(cfg)
    if "prompt" in wanted:
        shots = baselines.few_shot_examples(ctx.train_ds.examples, baselines.FEW_SHOT_K, cfg.seed)
        out["few_shot_batch_s"] = timed([baselines.with_shots(e, shots) for e in batch])
    if "retrieval" in wanted:
        t0 = time.perf_counter()
        r = baselines.retrieve_shots(ctx.train_ds.examples, batch, classify=False)
        out["retriever_s"] = time.perf_counter() - t0
        out["retrieval_batch_s"] = timed(r.prompts)
    return out


def _fit_briefly(ctx: PilotContext, recipe, model, data, rows: int | None = None) -> dict:
    """The recipe's own fit for 1 + TIMED_STEPS steps on the rows of the longest batches
    (the first step, which also pays one-time warm-up costs, is not timed). What fit spends
    outside its steps (a teacher answering the inputs) is timed per input row. rows:
    batches of that many rows instead of the configured batch size."""
    batch = rows or ctx.cfg.train.batch_size
    tcfg = ctx.cfg.train_config()
    encoded = [encode(ctx.tok, ex, tcfg.max_seq_len) for ex in data.examples]
    lengths = [len(ids) for ids, _ in encoded]
    order = length_grouped_batches(lengths, batch, tcfg.seed, longest_first=True)
    picked = [i for idx in order[: 1 + TIMED_STEPS] for i in idx]
    subset = data.model_copy(update={"examples": tuple(data.examples[i] for i in picked)})
    short = ctx.with_training(
        max_steps=min(len(order), 1 + TIMED_STEPS), batch_size=batch, log_every_steps=1
    )
    say(f"training {short.cfg.train.max_steps} steps through the {ctx.cfg.method} recipe")
    t0 = time.perf_counter()
    fitted = recipe.fit(short, model, subset, None)
    wall = time.perf_counter() - t0
    steps = [e for e in read_events(ctx.run_dir) if e["event"] == "step"][
        -short.cfg.train.max_steps :
    ]
    first, last = steps[0], steps[-1]
    timed = (last["tokens"] - first["tokens"], last["time"] - first["time"])
    if len(steps) == 1:  # one batch only: its own time
        timed = (first["tokens"], fitted.result.seconds)
    outside = max(0.0, wall - fitted.result.seconds)
    inputs = len(subset.examples) + (len(ctx.hold.examples) if fitted.teacher else 0)
    return {
        "model": fitted.model,
        "train_tokens_per_second": timed[0] / max(timed[1], 1e-9),
        "train_tokens_per_epoch": sum(lengths),
        "steps_per_epoch": len(order),
        "longest_batch_tokens": max(lengths) * batch,
        "teacher_s_per_row": outside / inputs if fitted.teacher else 0.0,
    }


def _training(ctx: PilotContext, recipe, model, data) -> dict:
    """Training as the run trains. QLoRA on a CPU: bitsandbytes' 4-bit CPU kernels are
    fast only with AVX-512 (measured: 7 tokens/s on an AVX2-only EPYC against 208 for
    LoRA), so LoRA is timed on full batches of the same data (its longest batch bounds
    QLoRA's memory too), then QLoRA on QLORA_TIMING_ROWS rows a step, so a slow CPU
    answers in seconds rather than the minutes a full batch takes."""
    if not (METHODS[ctx.cfg.method].compute == "qlora" and ctx.device == "cpu"):
        return _fit_briefly(ctx, recipe, model, data)
    lora = recipe_for("lora")
    timed = _fit_briefly(ctx, lora, lora.load(ctx), data)
    say(f"LoRA: {timed['train_tokens_per_second']:,.0f} tokens/s; now QLoRA")
    qlora = _fit_briefly(ctx, recipe, model, data, rows=QLORA_TIMING_ROWS)
    kept = ("train_tokens_per_epoch", "steps_per_epoch", "longest_batch_tokens")
    return (
        qlora
        | {k: timed[k] for k in kept}
        | {"lora_tokens_per_second": timed["train_tokens_per_second"]}
    )


def _tuned_batch_s(ctx: PilotContext, model, batch) -> float:
    """A tuned model answers in about the training answers' length, then stops."""
    answer = sorted(len(ctx.tok(e.target)["input_ids"]) for e in ctx.train_ds.examples)
    short = min(ctx.budget, answer[len(answer) // 2] + 1)
    return _timed(
        lambda: generate(
            model,
            ctx.tok,
            [e.messages for e in batch],
            max_new_tokens=short,
            device=ctx.device,
            bf16=ctx.bf16,
            batch_size=ctx.cfg.eval_batch_size,
        )
    )


def _probe_in(cfg, run_dir: Path) -> ProbeResult:
    t0 = time.perf_counter()
    say("loading the data and the model")
    ctx = build_context(cfg, run_dir, METHODS[cfg.method].flow)  # the splits, loaded once
    rng, holdout = random.Random(cfg.seed), len(ctx.hold.examples)
    batch = rng.sample(list(ctx.hold.examples), min(cfg.eval_batch_size, holdout))
    ctx = dataclasses.replace(ctx, hold=ctx.hold.model_copy(update={"examples": tuple(batch)}))
    index = open_index(cfg, run_dir)[0] if cfg.docs else None
    recipe = recipe_for(cfg.method)
    model = recipe.load(ctx)
    uncapped = make_splits(cfg.model_copy(update={"holdout_max": 10**9}))[1]
    out = {"device": ctx.device, "load_s": time.perf_counter() - t0, "holdout": holdout}
    out["train_rows"] = len(ctx.train_ds.examples)
    out |= {"holdout_available": len(uncapped.examples)} | _generation(ctx, model, batch, index)
    if METHODS[cfg.method].trains:
        say("timing the forgetting probe and the tuned model's answers")
        out["forgetting_probe_s"] = _timed(lambda: probe(model, ctx.tok, ctx.device, ctx.bf16))
        # lora/full evaluate merged weights at the base model's speed; qlora evaluates
        # through its unmerged adapters, so it is timed after they are attached
        four_bit = METHODS[cfg.method].compute == "qlora"
        if not four_bit:
            out["tuned_batch_s"] = _tuned_batch_s(ctx, model, batch)
        train_ctx, data = ctx, ctx.train_ds
        if ctx.hold.format == "qa" and flow_of(cfg.method, "qa") == "documents":
            train_ctx, data = training_set(ctx, index)  # what the documents flow trains on
        trained = _training(train_ctx, recipe, model, data)
        model = trained.pop("model")
        out |= trained
        if four_bit:
            model.eval()
            out["tuned_batch_s"] = _tuned_batch_s(ctx, model, batch)
    out["peak_memory_mib"] = peak_memory_mib(ctx.device)
    out["probe_s"] = time.perf_counter() - t0
    return ProbeResult(**out)


def run_probe(cfg) -> ProbeResult:
    with tempfile.TemporaryDirectory() as tmp:  # the splits and events, somewhere disposable
        return _probe_in(cfg, Path(tmp))


def _read(config_path: str) -> PilotConfig:
    import yaml

    return PilotConfig.model_validate(yaml.safe_load(Path(config_path).read_text()))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = _read(argv[0])
    try:
        print(run_probe(cfg).model_dump_json())
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        print(ProbeResult(ok=False, error="out of memory").model_dump_json())
    return 0


if __name__ == "__main__":
    with contextlib.suppress(Exception):  # main reports a config it cannot read
        cfg = _read(sys.argv[1])
        skip_bitsandbytes(cfg.method, [cfg.model, cfg.teacher])
    raise SystemExit(main())
