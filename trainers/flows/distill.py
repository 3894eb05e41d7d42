"""Distillation into a classifier, top to bottom: the teacher labels the team's unlabelled
inputs (and the holdout, when it has no gold labels) -> the filter drops answers that name
no label, counted by reason -> the student, the encoder classifier of the classifier flow,
trains on the kept labels at a few sizes, each from a fresh start -> its agreement with
the teacher (and accuracy against gold) at each size -> the saturating curve, and the
teacher-labelled inputs the agreement bar needs -> the linear probe on the same labels,
and soft targets where the teacher gives probabilities -> threshold, serving speed, save.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass, replace

from core.distill import DistillStats, StudentAtSize
from core.measurement import QualityMeasure
from core.scenario import InputError
from trainers import runs
from trainers.classifier import predict_proba, serving_speed
from trainers.context import Outcome, PilotContext, load_model
from trainers.eval.baselines import query_text, retrieve_shots
from trainers.eval.curve import CurvePoint, learning_curve
from trainers.eval.scoring import accuracy, hits, normalize_label
from trainers.flows.classifier import pick_escalation
from trainers.metrics import Sample, TeacherStats
from trainers.recipes import recipe_for
from trainers.teacher import (
    Answers,
    Teacher,
    ask_teacher,
    label_set,
    match_label,
    quality_filter,
    resolve_teacher,
)

SIZES = (0.25, 0.5)  # shares of the kept teacher labels trained besides the whole set


def _teach(ctx: PilotContext, labels: tuple[str, ...], teacher) -> tuple[Answers, list[str]]:
    """The teacher's answers to the inputs and to the holdout (its answer there, or "" when
    it named no label: the reference the student's agreement is measured against)."""
    texts = [query_text(e) for e in ctx.train_ds.examples + ctx.hold.examples]
    ctx.emit("teacher", status="labelling", examples=len(texts), teacher=teacher.name)
    n = len(ctx.train_ds.examples)
    answers = ask_teacher(ctx, teacher, [texts[:n], texts[n:]], labels)
    known = {normalize_label(b): b for b in labels}
    ref = [match_label(t, known) or "" for t in answers.texts[len(ctx.train_ds.examples) :]]
    return answers, ref


def _kept(ctx: PilotContext, answers: Answers, labels) -> tuple[list, dict, list[int]]:
    inputs = ctx.train_ds.examples
    kept, dropped, index = quality_filter(
        inputs, answers.texts[: len(inputs)], labels=labels, regex=ctx.cfg.teacher_filter_regex
    )
    ctx.emit("teacher", status="filtered", kept=len(kept), dropped=dropped)
    if not kept:
        reasons = ", ".join(f"{k} {v:,}" for k, v in dropped.items() if v)
        raise InputError(
            f"the teacher answered no label for any of the {len(inputs):,} inputs ({reasons}; "
            f"it said {answers.texts[0].strip()[:60]!r}); check that it was trained or asked "
            "on these labels"
        )
    return kept, dropped, index


def _scores(preds, ref, gold) -> tuple[QualityMeasure, QualityMeasure | None]:
    """(agreement with the teacher on the rows it labelled, accuracy against gold)."""
    agreed = [(p, r) for p, r in zip(preds, ref, strict=True) if r]
    agreement = accuracy([p for p, _ in agreed], [r for _, r in agreed])
    agreement = agreement.model_copy(update={"metric": "agreement"})
    return agreement, accuracy(preds, gold) if gold else None


def _sizes(n: int, shares) -> list[int]:
    return sorted({max(1, round(n * f)) for f in shares} | {n})


@dataclass(frozen=True)
class Taught:
    """What the teacher gave the student: the kept inputs with its labels (seeded order,
    so every size is a prefix of the next), and the reference on the holdout."""

    teacher: Teacher
    labels: tuple[str, ...]
    answers: Answers
    kept: list
    index: list[int]
    """Row of each kept input among the inputs (for its probabilities)."""
    dropped: dict[str, int]
    ref: list[str]
    gold: list[str] | None


def _taught(ctx: PilotContext) -> Taught:
    cfg = ctx.cfg
    teacher = resolve_teacher(cfg)
    gold_holdout = ctx.hold.task == "classify"
    labels = label_set(cfg, teacher, ctx.hold.labels if gold_holdout else ())
    answers, ref = _teach(ctx, labels, teacher)
    kept, dropped, index = _kept(ctx, answers, labels)
    order = list(range(len(kept)))
    random.Random(cfg.seed).shuffle(order)
    gold = [e.target for e in ctx.hold.examples] if gold_holdout else None
    return Taught(
        teacher,
        labels,
        answers,
        [kept[i] for i in order],
        [index[i] for i in order],
        dropped,
        ref,
        gold,
    )


SOFT, HARD = "fine-tuned on soft targets", "fine-tuned on labels"


def _fit_student(ctx, recipe, t: Taught, n: int, soft: bool, texts, fit, model=None, ckpt=None):
    """A student from a fresh start on the first n kept inputs (their probabilities when
    soft); its size record, predictions, the fitted classifier and its probabilities."""
    ctx.emit("fit", name=f"student on {n:,} teacher {'probabilities' if soft else 'labels'}",
             index=fit[0], of=fit[1])  # fmt: skip
    part = ctx.train_ds.model_copy(update={"examples": tuple(t.kept[:n])})
    targets = t.answers.probs[t.index[:n]] if soft else None  # (n, L) over the label set
    t0 = time.perf_counter()
    fitted = recipe.fit(ctx, model or recipe.load(ctx), part, ckpt, soft=targets)
    seconds = round(time.perf_counter() - t0, 1)
    probs = predict_proba(fitted.model, ctx.tok, texts, ctx.device, ctx.bf16)  # (Q, C)
    preds = [fitted.model.labels[j] for j in probs.argmax(1)]
    agreement, acc = _scores(preds, t.ref, t.gold)
    at = StudentAtSize(inputs=n, agreement=agreement, accuracy=acc, train_seconds=seconds)
    return at, preds, fitted, probs


def run(ctx: PilotContext) -> Outcome:
    t = _taught(ctx)
    ctx.lap("teacher")
    hold = ctx.hold.examples
    texts = [query_text(e) for e in hold]
    taught = ctx.train_ds.model_copy(
        update={"task": "classify", "labels": t.labels, "examples": tuple(t.kept)}
    )
    ctx = replace(ctx, train_ds=taught)
    recipe = recipe_for(ctx.cfg.method)
    encoder, params = load_model(ctx, recipe)
    # the curve student learns the teacher's probabilities when it gives them, else its
    # labels; fits, for the progress: each size, hard labels beside soft, two threshold folds
    soft = t.answers.probs is not None and ctx.cfg.soft_targets
    sizes = _sizes(len(t.kept), ctx.cfg.curve or SIZES)
    total = len(sizes) + soft + 2 * ctx.cfg.abstain
    results = []
    for i, n in enumerate(sizes):
        last = n == len(t.kept)
        at, preds, fitted, probs = _fit_student(
            ctx, recipe, t, n, soft, texts, (i + 1, total),
            model=encoder if last else None, ckpt="ckpt" if last else None,
        )  # fmt: skip
        results.append(at)
    ctx.lap("train")
    compared, answers = {}, {SOFT if soft else HARD: preds}
    compared["linear probe"], answers["linear probe"] = _probe(ctx, t, texts)
    if soft:
        hard = _fit_student(ctx, recipe, t, len(t.kept), False, texts, (len(sizes) + 1, total))
        compared[HARD], answers[HARD] = hard[0], hard[1]
    ctx.lap("students")
    reference = t.gold or t.ref
    folds = (len(sizes) + soft + 1, total)
    abst, speed = _deploy(ctx, recipe, t, fitted, probs, preds, reference, texts, folds)
    stats = _stats(ctx, t, results, compared, SOFT if soft else HARD)
    best = answers[stats.student]
    quality = accuracy(best, t.gold) if t.gold else stats.agreement
    correct = _correct(ctx.cfg.method, answers, stats.curve_student, reference, t)
    rows = list(zip(hold, best, strict=True))[:20]
    return Outcome(
        quality=quality,
        rows_scored=quality.n,
        model_params=params,
        training=fitted.result,
        serving=speed,
        abstention=abst,
        teacher=TeacherStats(kept=len(t.kept), dropped=t.dropped),
        agreement=stats.agreement,
        distill=stats,
        samples=tuple(
            Sample(input=query_text(e), gold=e.target or r, predicted=p)
            for (e, p), r in zip(rows, t.ref, strict=False)
        ),
        correct=correct,
    )


def _correct(method: str, answers: dict, curve_student: str, reference, t: Taught) -> dict:
    """'1'/'0' per holdout row for each student and the teacher, for paired tests; the
    curve student is the method's own row."""
    out = {method: hits(answers[curve_student], reference)}
    out |= {
        f"student_{k.replace(' ', '_')}": hits(v, reference)
        for k, v in answers.items()
        if k != curve_student
    }
    return out | ({"teacher": hits(t.ref, t.gold)} if t.gold else {})


def _deploy(ctx, recipe, t: Taught, fitted, probs, preds, reference, texts, folds):
    """The saved student as deployed: its escalation threshold (two folds of the kept
    inputs), its CPU serving speed, and the model itself under classifier/."""
    abst = None
    if ctx.cfg.abstain:
        abst = pick_escalation(ctx, recipe, t.kept, fitted.model, probs, preds, reference, folds)
        ctx.lap("threshold")
    ctx.emit("eval", phase="serving speed")
    speed = serving_speed(fitted.model, ctx.tok, texts, ctx.device)
    ctx.lap("serving")
    if runs.is_main_process():
        recipe.save(ctx, fitted)
        shutil.rmtree(ctx.run_dir / "ckpt", ignore_errors=True)
    ctx.lap("save")
    return abst, speed


def _probe(ctx, t: Taught, texts) -> tuple[StudentAtSize, list[str]]:
    """The linear probe on frozen embeddings, trained on the same teacher labels: the
    strongest cheap student, reported beside the fine-tuned one."""
    ctx.emit("eval", phase="linear probe on the teacher's labels")
    t0 = time.perf_counter()
    shots = retrieve_shots(
        t.kept, ctx.hold.examples, classify=True, device=ctx.device, seed=ctx.cfg.seed
    )
    preds = shots.labels["linear_probe"]
    agreement, acc = _scores(preds, t.ref, t.gold)
    seconds = round(time.perf_counter() - t0, 1)
    at = StudentAtSize(inputs=len(t.kept), agreement=agreement, accuracy=acc, train_seconds=seconds)
    return at, preds


def _best(curve: StudentAtSize, compared: dict, name: str, gold_holdout: bool) -> str:
    """The student whose score is the result: the best on gold, else on agreement."""
    options = {name: curve} | compared
    return max(
        options, key=lambda k: (options[k].accuracy if gold_holdout else options[k].agreement).value
    )


def _stats(ctx, t: Taught, results, compared, name: str) -> DistillStats:
    """The record: the teacher, the filter, each size, the curve and the bar."""
    bar = ctx.cfg.agreement_bar_pct / 100
    points = [CurvePoint(examples=r.inputs, quality=r.agreement) for r in results]
    curve = learning_curve(points, floor=1 / len(t.labels), bar=bar)
    needed, summary = (
        curve.examples_needed,
        curve.summary.replace("training examples", "teacher-labelled inputs"),
    )
    met = [r for r in results if r.agreement.value >= bar]
    if met and (needed is None or needed > met[0].inputs):  # measured beats extrapolated
        needed = met[0].inputs
        summary = (
            f"{met[0].inputs:,} teacher-labelled inputs already reached the bar of {bar:.0%} "
            f"agreement (measured {met[0].agreement.value:.1%}); the curve levels off near "
            f"{curve.top:.1%}."
        )
    e = t.answers.endpoint
    return DistillStats(
        teacher=t.teacher.name,
        teacher_kind=t.teacher.kind,
        gold_holdout=t.gold is not None,
        teacher_accuracy=accuracy(t.ref, t.gold) if t.gold else None,
        inputs_labelled=len(ctx.train_ds.examples) + sum(t.dropped.values()),
        kept=len(t.kept),
        dropped=t.dropped,
        curve_student=name,
        sizes=tuple(results),
        compared=compared,
        student=_best(results[-1], compared, name, t.gold is not None),
        agreement_bar=bar,
        inputs_needed=needed,
        curve_top=curve.top,
        curve_floor=curve.floor,
        curve_summary=summary,
        teacher_input_tokens_per_request=e.input_tokens_per_request if e else None,
        teacher_output_tokens_per_request=e.output_tokens_per_request if e else None,
        teacher_usd_per_request=e.usd_per_request if e else None,
        teacher_usd_spent=e.usd_spent if e else None,
        teacher_seconds=round(t.answers.seconds, 2),
    )
