"""The classifier flow, top to bottom: the nearest-neighbour label and the linear probe on
frozen embeddings -> fine-tune the encoder classifier -> score the holdout by argmax ->
pick the escalation threshold on the training split's two folds -> time CPU serving ->
save. No generation anywhere: a classifier's answer is its label.
"""

from __future__ import annotations

import shutil

import numpy as np

from trainers import runs
from trainers.classifier import predict_proba, serving_speed
from trainers.context import Outcome, PilotContext, load_model
from trainers.eval.abstain import abstention, pick_threshold, two_folds
from trainers.eval.baselines import query_text, retrieve_shots
from trainers.eval.scoring import accuracy, hits
from trainers.metrics import Sample
from trainers.recipe import Recipe
from trainers.recipes import recipe_for


def _folds_confidence(ctx: PilotContext, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold (confidence, correct) on the training split: each half scored by a
    classifier trained on the other half with the same settings."""
    examples = ctx.train_ds.examples
    fold = two_folds([e.target for e in examples], ctx.cfg.seed)
    conf, right = np.zeros(len(examples)), np.zeros(len(examples), dtype=bool)
    for k in (0, 1):
        fit_on = [e for e, f in zip(examples, fold, strict=True) if f != k]
        rows = np.nonzero(fold == k)[0]
        ctx.emit("eval", phase=f"threshold fold {k + 1} of 2")
        ctx.emit("fit", name=f"threshold fold {k + 1} of 2", index=k + 2, of=3)
        part = ctx.train_ds.model_copy(update={"examples": tuple(fit_on)})
        clf = recipe.fit(ctx, recipe.load(ctx), part, None).model
        probs = predict_proba(clf, ctx.tok, [query_text(examples[i]) for i in rows], ctx.device)
        conf[rows] = probs.max(1)
        right[rows] = [
            clf.labels[j] == examples[i].target for i, j in zip(rows, probs.argmax(1), strict=True)
        ]
    return conf, right


def run(ctx: PilotContext) -> Outcome:
    cfg, hold = ctx.cfg, ctx.hold.examples
    texts, gold = [query_text(e) for e in hold], [e.target for e in hold]
    recipe = recipe_for(cfg.method)
    encoder, params = load_model(ctx, recipe)
    ctx.emit("eval", phase="baselines")
    # the cheap classifiers the pilot must beat, on frozen all-MiniLM-L6-v2 embeddings
    cheap = retrieve_shots(
        ctx.train_ds.examples, hold, classify=True, device=ctx.device, seed=cfg.seed
    ).labels
    ctx.lap("baselines")
    # the run's progress names each fit: this one, then the two folds of the threshold
    ctx.emit("fit", name="the classifier", index=1, of=3 if cfg.abstain else 1)
    fitted = recipe.fit(ctx, encoder, ctx.train_ds, "ckpt")
    ctx.lap("train")
    ctx.emit("eval", phase="tuned")
    clf = fitted.model
    probs = predict_proba(clf, ctx.tok, texts, ctx.device, ctx.bf16)  # (Q, C)
    preds = [clf.labels[j] for j in probs.argmax(1)]
    ctx.lap("eval")
    abst = None
    if cfg.abstain:
        conf, right = _folds_confidence(ctx, recipe)
        threshold = pick_threshold(conf, right, cfg.answered_accuracy)
        seen = set(clf.labels)
        correct = np.array([c == "1" for c in hits(preds, gold)])
        unseen = [g not in seen for g in gold]
        abst = abstention(probs.max(1), correct, threshold, cfg.answered_accuracy, unseen)
        ctx.lap("threshold")
    ctx.emit("eval", phase="serving speed")
    speed = serving_speed(clf, ctx.tok, texts, ctx.device)
    ctx.lap("serving")
    if runs.is_main_process():
        recipe.save(ctx, fitted)
        shutil.rmtree(ctx.run_dir / "ckpt", ignore_errors=True)  # 12x the model, no use once saved
    ctx.lap("save")
    rows = list(zip(hold, preds, strict=True))[:20]
    return Outcome(
        quality=accuracy(preds, gold),
        baselines={k: accuracy(p, gold) for k, p in cheap.items()},
        model_params=params,
        training=fitted.result,
        serving=speed,
        abstention=abst,
        samples=tuple(Sample(input=query_text(e), gold=e.target, predicted=p) for e, p in rows),
        correct={cfg.method: hits(preds, gold)} | {k: hits(p, gold) for k, p in cheap.items()},
    )
