"""The classifier flow, top to bottom: the nearest-neighbour label and the linear probe on
frozen embeddings -> fine-tune the encoder classifier -> score the holdout by argmax ->
pick the escalation threshold on the training split's two folds -> time CPU serving ->
save. No generation anywhere: a classifier's answer is its label.
"""

from __future__ import annotations

import shutil

import numpy as np

from core.measurement import Abstention
from trainers import runs
from trainers.classifier import predict_proba, serving_speed
from trainers.context import Outcome, PilotContext, load_model
from trainers.eval.abstain import abstention, pick_threshold, two_folds
from trainers.eval.baselines import query_text, retrieve_shots
from trainers.eval.scoring import accuracy, hits
from trainers.metrics import Sample
from trainers.recipe import Recipe
from trainers.recipes import recipe_for

THRESHOLD_MAX_ROWS = 2000  # the folds train on at most this many rows between them


def threshold_rows(examples, seed: int) -> list:
    """The rows the threshold's two folds train on: all of them up to THRESHOLD_MAX_ROWS,
    else a seeded sample of that many. Picking the threshold costs about one more training
    on these rows; on BANKING77's 10,003 rows it cost 334 s against 352 s for the
    classifier itself, so a large pilot would nearly double without the bound (a threshold
    picked on smaller folds is, if anything, cautious: less data, less confidence)."""
    if len(examples) <= THRESHOLD_MAX_ROWS:
        return list(examples)
    keep = sorted(np.random.default_rng(seed).choice(len(examples), THRESHOLD_MAX_ROWS, False))
    return [examples[i] for i in keep]


def fold_confidence(
    ctx: PilotContext, recipe: Recipe, examples, fits: tuple[int, int] = (2, 3)
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold (confidence, correct) on `examples`: each half scored by a classifier
    trained on the other half with the same settings. fits: (the first fold's number
    among the run's fits, how many fits the run makes), for its progress."""
    fold = two_folds([e.target for e in examples], ctx.cfg.seed)
    conf, right = np.zeros(len(examples)), np.zeros(len(examples), dtype=bool)
    for k in (0, 1):
        fit_on = [e for e, f in zip(examples, fold, strict=True) if f != k]
        rows = np.nonzero(fold == k)[0]
        ctx.emit("eval", phase=f"threshold fold {k + 1} of 2")
        ctx.emit("fit", name=f"threshold fold {k + 1} of 2", index=fits[0] + k, of=fits[1])
        part = ctx.train_ds.model_copy(update={"examples": tuple(fit_on)})
        clf = recipe.fit(ctx, recipe.load(ctx), part, None).model
        probs = predict_proba(clf, ctx.tok, [query_text(examples[i]) for i in rows], ctx.device)
        conf[rows] = probs.max(1)
        right[rows] = [
            clf.labels[j] == examples[i].target for i, j in zip(rows, probs.argmax(1), strict=True)
        ]
    return conf, right


def pick_escalation(ctx, recipe, examples, clf, probs, preds, reference, fits=(2, 3)) -> Abstention:
    """The threshold picked on the training rows' two folds, and what it does on the
    holdout (`reference`: the answer each holdout row should get)."""
    rows = threshold_rows(examples, ctx.cfg.seed)
    if len(rows) < len(examples):
        ctx.emit(
            "note",
            message=f"the escalation threshold is picked on {len(rows):,} of the "
            f"{len(examples):,} training rows (two folds), to bound its cost",
        )
    conf, right = fold_confidence(ctx, recipe, rows, fits)
    threshold = pick_threshold(conf, right, ctx.cfg.answered_accuracy)
    seen = set(clf.labels)
    correct = np.array([c == "1" for c in hits(preds, reference)])
    unseen = [g not in seen for g in reference]
    return abstention(probs.max(1), correct, threshold, ctx.cfg.answered_accuracy, unseen)


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
        abst = pick_escalation(ctx, recipe, ctx.train_ds.examples, clf, probs, preds, gold)
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
