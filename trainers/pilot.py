"""A pilot run, top to bottom: data -> frozen holdout -> baseline -> train -> evaluate ->
forgetting probe -> Measurement. Run as `python -m trainers.pilot RUN_DIR [--resume]`
(that is what `adapt pilot` launches, detached) or in-process via `run_pilot`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
import time
import traceback
from pathlib import Path

import torch

from advisor.scenario import InputError
from trainers import runs
from trainers.config import (
    FULL_MAX_PARAMS,
    TRAINING,
    PilotConfig,
    freeze_splits,
    load_config,
    pick_device,
)
from trainers.data import Dataset, split
from trainers.evaluate import Score, generate, probe, score
from trainers.metrics import Outcome, metrics_record
from trainers.models import load_causal_lm, load_tokenizer, resolve_model
from trainers.sft import is_out_of_memory, use_bf16


def answer_budget(tok, ds: Dataset) -> int:
    """New tokens to generate: the longest training answer, plus a little room."""
    longest = max(len(tok(e.target, add_special_tokens=False)["input_ids"]) for e in ds.examples)
    return min(512, longest + 4)


def evaluate_holdout(
    model, tok, task, hold: Dataset, budget: int, device: str, bf16: bool, batch: int
) -> tuple[Score, list[str], float]:
    """Score by greedy generation; also the measured decoding tokens/s."""
    t0 = time.perf_counter()
    preds = generate(
        model,
        tok,
        [e.messages for e in hold.examples],
        max_new_tokens=budget,
        batch_size=batch,
        device=device,
        bf16=bf16,
    )
    seconds = time.perf_counter() - t0
    new_tokens = sum(len(tok(p, add_special_tokens=False)["input_ids"]) + 1 for p in preds)
    return (
        score(task, preds, [e.target for e in hold.examples]),
        preds,
        new_tokens / max(seconds, 1e-9),
    )


def failure_message(e: BaseException, run_dir: Path) -> str:
    """One line that says what went wrong and what to do about it."""
    if is_out_of_memory(e):
        return "out of memory: try a smaller --batch-size, method=qlora, or shorter examples"
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"disk full while writing the run ({e.strerror}): free space under "
            f"{run_dir.parent} and continue with `adapt pilot --resume {run_dir.name}`"
        )
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def run_pilot(run_dir: Path, resume: bool = False) -> dict:
    """Run (or resume) the pilot in run_dir; returns metrics.json's content."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    if runs.is_main_process():
        (run_dir / "pid").write_text(str(os.getpid()))
        runs.index_upsert(run_dir, method=cfg.method, model=cfg.model)
        runs.acquire_slot(run_dir)  # waits (status "queued") while the machine is full
    t0 = time.perf_counter()
    runs.emit(run_dir, "start", method=cfg.method, model=cfg.model, resume=resume)
    try:
        metrics = _run(cfg, run_dir, t0)
    except Exception as e:  # recorded as a failed run with a clear message, then re-raised
        msg = failure_message(e, run_dir)
        with contextlib.suppress(OSError, sqlite3.Error):  # a full disk may refuse even this
            runs.emit(run_dir, "error", message=msg)
            runs.index_upsert(run_dir, status_="failed")
        raise
    runs.write_json_atomic(run_dir / "metrics.json", metrics)
    runs.emit(run_dir, "done", wall_seconds=metrics["wall_seconds"])
    runs.index_upsert(run_dir, status_="done", metrics=metrics)
    return metrics


def needs_fresh_4bit(method: str, device: str) -> bool:
    """bitsandbytes repacks 4-bit weights for fast CPU inference on the first generate;
    training through the repacked weights gets wrong gradients (measured on BANKING77:
    loss stuck near 5.8 over 20 steps instead of falling to 1.4). So a QLoRA pilot on CPU
    trains a freshly quantized copy, not the one its baselines were scored with."""
    return method == "qlora" and device == "cpu"


def _load_model(cfg: PilotConfig, where, device: str, bf16: bool):
    # A frozen base needs no fp32 master copy: keep it in bf16 when autocast would cast it
    # to bf16 anyway (saves the cast every step: 414 vs 360 tokens/s measured on CPU).
    frozen_bf16 = bf16 and cfg.method in ("prompt", "retrieval", "lora", "distill_seq")
    return load_causal_lm(
        where,
        quantize_4bit=cfg.method == "qlora",
        device=device,
        dtype=torch.bfloat16 if frozen_bf16 else torch.float32,
        trust_remote_code=cfg.trust_remote_code,
    )


def _curve(cfg, where, tok, train_ds, hold, run_dir, device, budget, ev) -> dict:
    """Train from a fresh base at each fraction of the data; score each on the holdout.
    Points already measured (curve.json) are kept when a run resumes."""
    from trainers.curve import CurvePoint
    from trainers.distill import train_for_method

    done_path = run_dir / "curve.json"
    done = runs.read_json(done_path) or {"points": []}
    for f in sorted(cfg.curve):
        subset, _ = split(train_ds, 1 - f, cfg.seed)
        n = len(subset.examples)
        if any(p["examples"] == n for p in done["points"]):
            continue
        runs.emit(run_dir, "curve", fraction=f, examples=n, status="training")
        sub_cfg = cfg.model_copy(
            update={
                "max_steps": max(1, round(cfg.max_steps * f)) if cfg.max_steps else None,
                "max_minutes": cfg.max_minutes * f if cfg.max_minutes else None,
            }
        )
        model = _load_model(cfg, where, device, use_bf16(cfg.train_config(), device))
        model, _, _ = train_for_method(
            sub_cfg, model, tok, subset, hold, run_dir, device, budget, ckpt_name=f"ckpt-{n}"
        )
        if hasattr(model, "merge_adapter") and cfg.method != "qlora":
            model.merge_adapter()
        q = ev(model)[0]
        done["points"].append(CurvePoint(examples=n, quality=q).model_dump())
        runs.write_json_atomic(done_path, done)
        runs.emit(run_dir, "curve", fraction=f, examples=n, value=q.value)
        del model
    return done


def _fit_curve(cfg, curve: dict, train_ds, tuned, base_score) -> dict:
    from trainers.curve import CurvePoint, learning_curve

    points = [CurvePoint.model_validate(p) for p in curve["points"]]
    points.append(CurvePoint(examples=len(train_ds.examples), quality=tuned))
    return learning_curve(points, base_score.value, cfg.quality_bar).model_dump()


def _run(cfg: PilotConfig, run_dir: Path, t0: float) -> dict:
    from trainers import baselines, distill

    device = pick_device(cfg.device)
    train_ds, hold = freeze_splits(cfg, run_dir)
    runs.emit(
        run_dir,
        "data",
        train=len(train_ds.examples),
        holdout=len(hold.examples),
        task=train_ds.task,
    )
    runs.emit(run_dir, "model", status="loading")
    where = resolve_model(cfg.model)
    tok = load_tokenizer(where, cfg.trust_remote_code)
    tcfg = cfg.train_config()
    bf16 = use_bf16(tcfg, device)
    # A frozen base needs no fp32 master copy: keep it in bf16 when autocast would cast it
    # to bf16 anyway (saves the cast every step: 414 vs 360 tokens/s measured on CPU).
    model = _load_model(cfg, where, device, bf16)
    params = sum(p.numel() for p in model.parameters())
    if cfg.method == "full" and params > FULL_MAX_PARAMS:
        raise InputError(
            f"full fine-tuning of {params / 1e9:.1f}B parameters will not fit a "
            "pilot; use method=lora or qlora"
        )
    budget = answer_budget(tok, train_ds)
    task = train_ds.task

    def ev(m):
        return evaluate_holdout(
            m,
            tok,
            task,
            hold,
            budget,
            device,
            bf16,  # noqa: E731
            cfg.eval_batch_size,
        )

    results: dict = {"baselines": {}, "phase_seconds": {}}
    phases = results["phase_seconds"]
    tick = time.perf_counter()

    def lap(name: str) -> None:  # wall seconds of each phase, for fidelity and benchmarks
        nonlocal tick
        now = time.perf_counter()
        phases[name] = round(phases.get(name, 0.0) + now - tick, 2)
        tick = now

    lap("load")
    runs.emit(run_dir, "eval", phase="baseline")
    base_score, base_preds, gen_tps = ev(model)
    results["baselines"]["zero_shot"] = base_score.model_dump()
    kw = dict(device=device, bf16=bf16, max_new_tokens=budget, batch_size=cfg.eval_batch_size)
    if "prompt" in cfg.baselines or cfg.method == "prompt":
        few = baselines.prompt_baseline(
            model, tok, task, train_ds.examples, hold.examples, seed=cfg.seed, zero_shot=False, **kw
        )["few_shot"]
        results["baselines"]["few_shot"] = few[0].model_dump()
    if "retrieval" in cfg.baselines or cfg.method == "retrieval":
        for name, (s, _) in baselines.retrieval_baseline(
            model, tok, task, train_ds.examples, hold.examples, **kw
        ).items():
            results["baselines"][name] = s.model_dump()
    lap("baselines")
    train_res, probe_before, probe_after, tuned, preds = None, None, None, base_score, base_preds
    if cfg.method in TRAINING:
        probe_before = probe(model, tok, device, bf16)
        lap("probe")
        curve = _curve(cfg, where, tok, train_ds, hold, run_dir, device, budget, ev)
        lap("curve")
        if needs_fresh_4bit(cfg.method, device):
            del model
            model = _load_model(cfg, where, device, bf16)
        model, train_res, extra = distill.train_for_method(
            cfg, model, tok, train_ds, hold, run_dir, device, budget
        )
        results.update(extra)
        lap("train")
        runs.emit(run_dir, "eval", phase="tuned")
        # Score as deployed: adapters merged into the weights (W = W0 + BA), so decoding
        # runs at the base model's speed (measured 2x faster than through the adapters).
        merged = hasattr(model, "merge_adapter") and cfg.method != "qlora"
        if merged:
            model.merge_adapter()
        tuned, preds, gen_tps = ev(model)
        lap("eval")
        if cfg.curve:
            results["learning_curve"] = _fit_curve(cfg, curve, train_ds, tuned, base_score)
        probe_after = probe(model, tok, device, bf16)
        lap("probe")
        if merged:
            model.unmerge_adapter()
        _agreement(results, preds, gen_tps, ev, task)
        if runs.is_main_process():
            distill.save_outputs(cfg, model, tok, run_dir)
    elif cfg.method in ("prompt", "retrieval"):
        best = "few_shot" if cfg.method == "prompt" else "retrieval_few_shot"
        tuned = Score(**results["baselines"][best])
    return metrics_record(
        cfg,
        run_dir,
        Outcome(
            device=device,
            params=params,
            train_ds=train_ds,
            hold=hold,
            baseline=base_score,
            tuned=tuned,
            preds=preds,
            train_res=train_res,
            probe_before=probe_before,
            probe_after=probe_after,
            gen_tps=gen_tps,
            wall=time.perf_counter() - t0,
            results=results,
        ),
    )


def _agreement(results: dict, preds, gen_tps, ev, task) -> None:
    """Distillation: how often the student says what the teacher says on the holdout, and
    (logit distillation) the student's decoding speed against the teacher's."""
    teacher = results.pop("_teacher", None)
    teacher_preds = results.pop("teacher_predictions", None)
    if teacher is not None:
        _, teacher_preds, teacher_tps = ev(teacher)
        results["student"]["generation_tokens_per_second"] = round(gen_tps, 1)
        results["student"]["teacher_generation_tokens_per_second"] = round(teacher_tps, 1)
    if teacher_preds is not None:
        results["agreement"] = score(task, preds, teacher_preds).model_dump()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    run_dir = Path(argv[0])
    try:
        run_pilot(run_dir, resume="--resume" in argv)
    except Exception:
        traceback.print_exc()  # into log.txt; the event log already holds the message
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
