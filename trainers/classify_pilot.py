"""The classifier pilot, top to bottom: frozen holdout -> the nearest-neighbour label and
the linear probe on frozen embeddings -> fine-tune the encoder classifier -> score the
holdout by argmax -> pick the escalation threshold on the training split's two folds ->
time CPU serving -> save. No generation anywhere: a classifier's answer is its label.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from core.measurement import Measurement, QualityMeasure
from core.scenario import InputError
from trainers import runs
from trainers.abstain import abstention, pick_threshold, two_folds
from trainers.baselines import Retriever, linear_probe, query_text
from trainers.config import PilotConfig, freeze_splits, pick_device
from trainers.data import fingerprint
from trainers.device import peak_memory_mib, use_bf16
from trainers.evaluate import accuracy, hits
from trainers.metrics import PilotMetrics, Sample, device_name, run_fidelity
from trainers.recipe import PilotContext, recipe_for


def context(cfg: PilotConfig, run_dir: Path) -> PilotContext:
    from trainers.classifier import load_encoder
    from trainers.models import resolve_model

    device = pick_device(cfg.device)
    train_ds, hold = freeze_splits(cfg, run_dir)
    if hold.task != "classify":
        raise InputError(
            f"{cfg.data}: the classifier method needs classification data (CSV text,label); "
            "for generation use method=lora"
        )
    where = resolve_model(cfg.model)
    return PilotContext(
        cfg=cfg,
        run_dir=run_dir,
        device=device,
        bf16=use_bf16(cfg.train_config("full"), device),
        where=where,
        tok=load_encoder(where, cfg.trust_remote_code)[0],
        train_ds=train_ds,
        hold=hold,
        budget=0,
    )


def _baselines(ctx: PilotContext) -> dict[str, tuple[QualityMeasure, list[str]]]:
    """The nearest training example's label and a logistic regression, both on frozen
    all-MiniLM-L6-v2 embeddings: the cheap classifiers the pilot must beat."""
    train, hold = ctx.train_ds.examples, ctx.hold.examples
    gold = [e.target for e in hold]
    retriever = Retriever(train, device=ctx.device)
    embedded = retriever.embed(hold)  # (Q, D)
    knn = [n[0].target for n in retriever.nearest(hold, 1, embedded)]
    probe = linear_probe(retriever.matrix, [e.target for e in train], embedded, ctx.cfg.seed)
    return {
        "nearest_neighbour_label": (accuracy(knn, gold), knn),
        "linear_probe": (accuracy(probe, gold), probe),
    }


def _folds_confidence(ctx: PilotContext, recipe) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold (confidence, correct) on the training split: each half scored by a
    classifier trained on the other half with the same settings."""
    from trainers.classifier import predict_proba

    examples = ctx.train_ds.examples
    fold = two_folds([e.target for e in examples], ctx.cfg.seed)
    conf, right = np.zeros(len(examples)), np.zeros(len(examples), dtype=bool)
    for k in (0, 1):
        fit_on = [e for e, f in zip(examples, fold, strict=True) if f != k]
        rows = np.nonzero(fold == k)[0]
        ctx.emit("eval", phase=f"threshold fold {k + 1} of 2")
        part = ctx.train_ds.model_copy(update={"examples": tuple(fit_on)})
        clf = recipe.fit(ctx, recipe.load(ctx), part, None).model
        probs = predict_proba(clf, ctx.tok, [query_text(examples[i]) for i in rows], ctx.device)
        conf[rows] = probs.max(1)
        right[rows] = [
            clf.labels[j] == examples[i].target for i, j in zip(rows, probs.argmax(1), strict=True)
        ]
    return conf, right


def run(cfg: PilotConfig, run_dir: Path, t0: float) -> PilotMetrics:
    from trainers.classifier import predict_proba, serving_speed

    ctx = context(cfg, run_dir)
    hold = ctx.hold.examples
    runs.emit(run_dir, "data", train=len(ctx.train_ds.examples), holdout=len(hold), task="classify")
    phases, tick = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        phases[name] = round(phases.get(name, 0.0) + now - tick, 2)
        tick = now

    recipe = recipe_for("classifier")
    runs.emit(run_dir, "model", status="loading")
    encoder = recipe.load(ctx)
    params = sum(p.numel() for p in encoder.parameters())
    lap("load")
    runs.emit(run_dir, "eval", phase="baselines")
    scored = _baselines(ctx)
    lap("baselines")
    fitted = recipe.fit(ctx, encoder, ctx.train_ds, "ckpt")
    lap("train")
    runs.emit(run_dir, "eval", phase="tuned")
    texts, gold = [query_text(e) for e in hold], [e.target for e in hold]
    clf = fitted.model
    probs = predict_proba(clf, ctx.tok, texts, ctx.device, ctx.bf16)  # (Q, C)
    preds = [clf.labels[j] for j in probs.argmax(1)]
    tuned = accuracy(preds, gold)
    lap("eval")
    abst = None
    if cfg.abstain:
        conf, right = _folds_confidence(ctx, recipe)
        threshold = pick_threshold(conf, right, cfg.answered_accuracy)
        seen = set(clf.labels)
        correct = np.array([c == "1" for c in hits(preds, gold)])
        abst = abstention(
            probs.max(1), correct, threshold, cfg.answered_accuracy, [g not in seen for g in gold]
        )
        lap("threshold")
    runs.emit(run_dir, "eval", phase="serving speed")
    speed = serving_speed(clf, ctx.tok, texts, ctx.device)
    lap("serving")
    if runs.is_main_process():
        recipe.save(ctx, fitted)
        shutil.rmtree(run_dir / "ckpt", ignore_errors=True)  # 12x the model, no use once saved
    lap("save")
    return _metrics(ctx, fitted, params, scored, tuned, preds, abst, speed, phases, t0)


def _metrics(ctx, fitted, params, scored, tuned, preds, abst, speed, phases, t0):
    cfg, run_dir, hold = ctx.cfg, ctx.run_dir, ctx.hold.examples
    gold = [e.target for e in hold]
    res, wall, peak = fitted.result, time.perf_counter() - t0, peak_memory_mib(ctx.device)
    measurement = Measurement(
        run_id=run_dir.name,
        method=cfg.method,
        model=cfg.model,
        model_params=params,
        device=ctx.device,
        device_name=device_name(ctx.device),
        train_examples=len(ctx.train_ds.examples),
        holdout_examples=len(hold),
        train_tokens=res.tokens,
        tokens_per_second=res.tokens_per_second,
        generation_tokens_per_second=0.0,
        peak_memory_mib=peak,
        wall_seconds=wall,
        quality=tuned,
        baselines={k: q for k, (q, _) in scored.items()},
        train_steps=res.steps,
        planned_steps=res.planned_steps,
        stopped_by=res.stopped_by,
        serving=speed,
        abstention=abst,
    )
    return PilotMetrics(
        run_dir=str(run_dir),
        measurement=measurement,
        training=res,
        fidelity=run_fidelity(run_dir, wall, peak, res.tokens_per_second),
        phase_seconds=phases,
        samples=tuple(
            Sample(input=query_text(e), gold=e.target, predicted=p)
            for e, p in list(zip(hold, preds, strict=True))[:20]
        ),
        holdout_fingerprint=fingerprint(ctx.hold),
        correct={cfg.method: hits(preds, gold)}
        | {k: hits(p, gold) for k, (_, p) in scored.items()},
    )
