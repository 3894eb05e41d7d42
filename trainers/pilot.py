"""A pilot run, top to bottom: data -> frozen holdout -> baselines -> the method's recipe
(load, fit, save) -> evaluate -> forgetting probe -> metrics.json. Run as
`python -m trainers.pilot RUN_DIR [--resume]` (what `adapt pilot` launches, detached; or
under torchrun / accelerate launch) or in-process via `run_pilot`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import os
import sqlite3
import sys
import time
import traceback
from pathlib import Path

from core.measurement import Measurement, QualityMeasure
from core.scenario import InputError
from core.vocab import BASELINE_METHODS, METHODS
from trainers import runs
from trainers.config import FULL_MAX_PARAMS, PilotConfig, freeze_splits, load_config, pick_device
from trainers.constrained import score_labels
from trainers.data import Dataset, fingerprint, split
from trainers.device import is_out_of_memory, peak_memory_mib, use_bf16
from trainers.evaluate import forgetting_pattern, generate, hits, probe, score
from trainers.metrics import PilotMetrics, Sample, device_name, run_fidelity
from trainers.recipe import Fitted, PilotContext, baseline_quality, recipe_for


def answer_budget(tok, ds: Dataset) -> int:
    """New tokens to generate: the longest training answer, plus a little room."""
    longest = max(len(tok(e.target, add_special_tokens=False)["input_ids"]) for e in ds.examples)
    return min(512, longest + 4)


def count_params(model) -> int:
    """Parameters of the model as trained, 4-bit weights counted by their true shape
    (bitsandbytes packs two 4-bit values into each stored byte)."""
    total = 0
    for p in model.parameters():
        state = getattr(p, "quant_state", None)
        total += math.prod(state.shape) if state is not None else p.numel()
    return total


def evaluate_holdout(
    ctx: PilotContext, model, phase: str = "holdout"
) -> tuple[QualityMeasure, list[str], float]:
    """Score by greedy generation through the chat template; also decoding tokens/s.
    Emits `eval` events with the rows done, so the app can show "row n/N"."""
    tok, hold = ctx.tok, ctx.hold
    t0 = time.perf_counter()
    preds = generate(
        model,
        tok,
        [e.messages for e in hold.examples],
        max_new_tokens=ctx.budget,
        batch_size=ctx.cfg.eval_batch_size,
        device=ctx.device,
        bf16=ctx.bf16,
        progress=lambda done, total: ctx.emit("eval", phase=phase, rows=done, of=total),
    )
    seconds = time.perf_counter() - t0
    new_tokens = sum(len(tok(p, add_special_tokens=False)["input_ids"]) + 1 for p in preds)
    quality = score(hold.task, preds, [e.target for e in hold.examples])
    return quality, preds, new_tokens / max(seconds, 1e-9)


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


def run_pilot(run_dir: Path, resume: bool = False) -> PilotMetrics:
    """Run (or resume) the pilot in run_dir; returns what metrics.json holds."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    if runs.is_main_process():
        (run_dir / "pid").write_text(str(os.getpid()))
        runs.index_upsert(run_dir, method=cfg.method, model=cfg.model)
        runs.acquire_slot(run_dir)  # waits (status "queued") while the machine is full
    t0 = time.perf_counter()
    runs.emit(run_dir, "start", method=cfg.method, model=cfg.model, resume=resume)
    try:
        metrics = _with_hardware(_run(cfg, run_dir, t0))
    except Exception as e:  # recorded as a failed run with a clear message, then re-raised
        msg = failure_message(e, run_dir)
        with contextlib.suppress(OSError, sqlite3.Error):  # a full disk may refuse even this
            runs.emit(run_dir, "error", message=msg)
            runs.index_upsert(run_dir, status_="failed")
        raise
    record = metrics.model_dump(mode="json")
    runs.write_json_atomic(run_dir / "metrics.json", record)
    runs.emit(run_dir, "done", wall_seconds=round(metrics.measurement.wall_seconds, 2))
    runs.index_upsert(run_dir, status_="done", metrics=record)
    return metrics


def _with_hardware(m: PilotMetrics) -> PilotMetrics:
    """Every run's measurement names the CPU (and GPU) it was measured on."""
    from trainers.hardware import detect

    return m.model_copy(
        update={"measurement": m.measurement.model_copy(update={"hardware": detect()})}
    )


def context(cfg: PilotConfig, run_dir: Path) -> PilotContext:
    """Device, frozen splits, tokenizer and answer budget: what every recipe reads."""
    from trainers.models import load_tokenizer, resolve_model

    device = pick_device(cfg.device)
    train_ds, hold = freeze_splits(cfg, run_dir)
    where = resolve_model(cfg.model)
    tok = load_tokenizer(where, cfg.trust_remote_code)
    return PilotContext(
        cfg=cfg,
        run_dir=run_dir,
        device=device,
        bf16=use_bf16(cfg.train_config(), device),
        where=where,
        tok=tok,
        train_ds=train_ds,
        hold=hold,
        budget=answer_budget(tok, train_ds),
    )


def score_baselines(
    ctx: PilotContext, model
) -> tuple[dict[str, QualityMeasure], dict[str, list[str]]]:
    """Few-shot and retrieval baselines of the frozen model, as the config asks: their
    scores and their answers."""
    from trainers import baselines

    cfg, out = ctx.cfg, {}
    wanted = set(cfg.baselines) | ({cfg.method} & set(BASELINE_METHODS))
    kw = dict(
        device=ctx.device, bf16=ctx.bf16, max_new_tokens=ctx.budget, batch_size=cfg.eval_batch_size
    )
    train, hold, task = ctx.train_ds.examples, ctx.hold.examples, ctx.hold.task
    if "prompt" in wanted:
        ctx.emit("eval", phase="few-shot baseline")
        res = baselines.prompt_baseline(
            model, ctx.tok, task, train, hold, seed=cfg.seed, zero_shot=False, **kw
        )
        out["few_shot"] = res["few_shot"]
    if "retrieval" in wanted:
        ctx.emit("eval", phase="retrieval baseline")
        out |= baselines.retrieval_baseline(model, ctx.tok, task, train, hold, **kw)
    return {k: q for k, (q, _) in out.items()}, {k: p for k, (_, p) in out.items()}


def _run(cfg: PilotConfig, run_dir: Path, t0: float) -> PilotMetrics:
    if METHODS[cfg.method].compute == "encoder":  # no generation: its own short pilot
        from trainers import classify_pilot

        return classify_pilot.run(cfg, run_dir, t0)
    from trainers import rag_pilot

    if rag_pilot.routes_here(cfg, freeze_splits(cfg, run_dir)[1]):  # questions, documents
        return rag_pilot.run(cfg, run_dir, t0)
    if cfg.endpoint_url:  # a capable model behind an endpoint: no local model at all
        from trainers import endpoint_pilot

        return endpoint_pilot.run(cfg, run_dir, t0)
    ctx = context(cfg, run_dir)
    recipe = recipe_for(cfg.method)
    runs.emit(
        run_dir,
        "data",
        train=len(ctx.train_ds.examples),
        holdout=len(ctx.hold.examples),
        task=ctx.hold.task,
    )
    phases: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:  # wall seconds of each phase, for fidelity and benchmarks
        nonlocal tick
        now = time.perf_counter()
        phases[name] = round(phases.get(name, 0.0) + now - tick, 2)
        tick = now

    runs.emit(run_dir, "model", status="loading")
    model = recipe.load(ctx)
    params = count_params(model)
    if cfg.method == "full" and params > FULL_MAX_PARAMS:
        raise InputError(
            f"full fine-tuning of {params / 1e9:.1f}B parameters will not fit a "
            "pilot; use method=lora or qlora"
        )
    lap("load")
    runs.emit(run_dir, "eval", phase="baseline")
    zero, preds, gen_tps = evaluate_holdout(ctx, model, "baseline")
    scored, answers = score_baselines(ctx, model)
    scored, answers = {"zero_shot": zero, **scored}, {"zero_shot": preds, **answers}
    lap("baselines")
    tuned, fitted, forgetting, curve = zero, Fitted(model=model), None, None
    constrained = None
    if not METHODS[cfg.method].trains:
        fitted = recipe.fit(ctx, model, ctx.train_ds, "ckpt")
        tuned = baseline_quality(fitted, scored)
    else:
        probe_before = probe(model, ctx.tok, ctx.device, ctx.bf16)
        lap("probe")
        points = _curve(ctx, recipe)
        lap("curve")
        fitted = recipe.fit(ctx, model, ctx.train_ds, "ckpt")
        del model
        lap("train")
        runs.emit(run_dir, "eval", phase="tuned")
        tuned, preds, gen_tps, probe_after, constrained = _evaluate_tuned(ctx, fitted.model)
        lap("eval")
        if cfg.curve:
            curve = _fit_curve(cfg, points, len(ctx.train_ds.examples), tuned, zero)
        res = fitted.result
        forgetting = forgetting_pattern(
            probe_before, probe_after, zero, tuned, res.first_loss, res.last_loss
        )
        if runs.is_main_process():
            recipe.save(ctx, fitted)
        lap("save")
    agreement, student = _agreement(ctx, fitted, preds, gen_tps)
    peak = peak_memory_mib(ctx.device)
    wall = time.perf_counter() - t0
    res = fitted.result
    measurement = Measurement(
        run_id=run_dir.name,
        method=cfg.method,
        model=cfg.model,
        model_params=params,
        device=ctx.device,
        device_name=device_name(ctx.device),
        train_examples=len(ctx.train_ds.examples),
        holdout_examples=len(ctx.hold.examples),
        train_tokens=res.tokens if res else 0,
        tokens_per_second=res.tokens_per_second if res else 0.0,
        generation_tokens_per_second=gen_tps,
        peak_memory_mib=peak,
        wall_seconds=wall,
        quality=tuned,
        baseline=zero,
        baselines=scored,
        forgetting_delta=(forgetting.probe_after - forgetting.probe_before if forgetting else None),
        examples_needed=curve.examples_needed if curve else None,
        train_steps=res.steps if res else 0,
        planned_steps=res.planned_steps if res else 0,
        stopped_by=res.stopped_by if res else None,
        constrained=constrained.quality if constrained else None,
        invalid_label_share=constrained.invalid_share if constrained else None,
    )
    gold = [e.target for e in ctx.hold.examples]
    if METHODS[cfg.method].trains:
        answers[cfg.method] = preds
    if constrained:
        answers[f"{cfg.method}_constrained"] = constrained.predictions
    return PilotMetrics(
        run_dir=str(run_dir),
        measurement=measurement,
        training=res,
        forgetting=forgetting,
        fidelity=run_fidelity(run_dir, wall, peak, measurement.tokens_per_second),
        learning_curve=curve,
        phase_seconds=phases,
        teacher=fitted.teacher,
        student=student,
        agreement=agreement,
        samples=tuple(
            Sample(input=e.messages[-1].content, gold=e.target, predicted=p)
            for e, p in list(zip(ctx.hold.examples, preds, strict=True))[:20]
        ),
        holdout_fingerprint=fingerprint(ctx.hold),
        correct={k: hits(p, gold) for k, p in answers.items()}
        if ctx.hold.task == "classify"
        else {},
    )


def _evaluate_tuned(ctx: PilotContext, model, with_probe: bool = True):
    """Score as deployed: adapters merged into the weights (W = W0 + BA), so decoding runs
    at the base model's speed (measured 2x faster than through the adapters); QLoRA
    scores through its adapters on the 4-bit base. Then, for the full run, the forgetting
    probe and (classification) label-constrained decoding."""
    merged = hasattr(model, "merge_adapter") and ctx.cfg.method != "qlora"
    if merged:
        model.merge_adapter()
    tuned, preds, gen_tps = evaluate_holdout(ctx, model, "tuned")
    probe_after, constrained = None, None
    if with_probe:
        probe_after = probe(model, ctx.tok, ctx.device, ctx.bf16)
        if ctx.hold.task == "classify":
            constrained = score_labels(ctx, model, preds)
    if merged:
        model.unmerge_adapter()  # saved as an adapter
    return tuned, preds, gen_tps, probe_after, constrained


def _agreement(ctx: PilotContext, fitted: Fitted, preds, gen_tps):
    """Distillation: how often the student says what the teacher says on the holdout, and
    (a local teacher) the student's decoding speed against the teacher's."""
    teacher_preds, student = fitted.teacher_predictions, fitted.student
    if fitted.teacher_model is not None:
        _, teacher_preds, teacher_tps = evaluate_holdout(ctx, fitted.teacher_model, "teacher")
        student = {
            **(student or {}),
            "generation_tokens_per_second": round(gen_tps, 1),
            "teacher_generation_tokens_per_second": round(teacher_tps, 1),
        }
    if teacher_preds is None:
        return None, student
    return score(ctx.hold.task, preds, teacher_preds), student


def _curve(ctx: PilotContext, recipe) -> list:
    """Train from a fresh base at each fraction of the data; score each on the holdout.
    Points already measured (curve.json) are kept when a run resumes."""
    from trainers.curve import CurvePoint

    cfg, run_dir = ctx.cfg, ctx.run_dir
    done_path = run_dir / "curve.json"
    done = runs.read_json(done_path) or {"points": []}
    for f in sorted(cfg.curve):
        subset, _ = split(ctx.train_ds, 1 - f, cfg.seed)
        n = len(subset.examples)
        if any(p["examples"] == n for p in done["points"]):
            continue
        runs.emit(run_dir, "curve", fraction=f, examples=n, status="training")
        t = cfg.train
        sub = cfg.model_copy(
            update={
                "train": t.model_copy(
                    update={
                        "max_steps": max(1, round(t.max_steps * f)) if t.max_steps else None,
                        "max_minutes": t.max_minutes * f if t.max_minutes else None,
                    }
                )
            }
        )
        sub_ctx = dataclasses.replace(ctx, cfg=sub)
        fitted = recipe.fit(sub_ctx, recipe.load(sub_ctx), subset, f"ckpt-{n}")
        q = _evaluate_tuned(sub_ctx, fitted.model, with_probe=False)[0]
        done["points"].append(CurvePoint(examples=n, quality=q).model_dump())
        runs.write_json_atomic(done_path, done)
        runs.emit(run_dir, "curve", fraction=f, examples=n, value=q.value)
        del fitted
    return done["points"]


def _fit_curve(cfg, points: list, n_train: int, tuned, base_score):
    from trainers.curve import CurvePoint, learning_curve

    measured = [CurvePoint.model_validate(p) for p in points]
    measured.append(CurvePoint(examples=n_train, quality=tuned))
    return learning_curve(measured, base_score.value, cfg.quality_bar)


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
