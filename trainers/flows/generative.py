"""The generative flow, top to bottom: the small decoder loaded as its recipe needs it ->
zero-shot, few-shot and retrieval baselines -> (a training method) forgetting probe
before, learning-curve points, fit, score as deployed, forgetting probe after,
label-constrained decoding, save -> agreement with a distillation teacher.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.measurement import QualityMeasure
from core.vocab import BASELINE_METHODS, METHODS
from trainers import runs
from trainers.context import Outcome, PilotContext, load_model
from trainers.eval import baselines
from trainers.eval.constrained import Constrained, score_labels
from trainers.eval.curve import CurvePoint, learning_curve
from trainers.eval.extract_eval import (
    CONSTRAINED,
    Answers,
    exact_rows,
    extraction_stats,
    few_shot_constrained,
    in_schema_order,
    tuned_constrained,
)
from trainers.eval.scoring import (
    forgetting_pattern,
    generate_for,
    hits,
    probe,
    score,
    tokens_per_second,
)
from trainers.metrics import Sample, StudentStats
from trainers.recipe import Fitted, Recipe
from trainers.recipes import recipe_for
from trainers.splits import split


@dataclass(frozen=True)
class Generated:
    """A model's answers on the holdout, their score and the decoding speed."""

    quality: QualityMeasure
    answers: list[str]
    tokens_per_second: float
    seconds: float = 0.0


@dataclass(frozen=True)
class Tuned(Generated):
    probe_after: QualityMeasure | None = None
    constrained: Constrained | None = None
    held: Answers | None = None
    """Extraction: the same model's answers with decoding held to the schema."""


def evaluate_holdout(ctx: PilotContext, model, phase: str = "holdout") -> Generated:
    """Score by greedy generation through the chat template; also decoding tokens/s.
    Emits `eval` events with the rows done, so the app can show "row n/N"."""
    hold = ctx.hold
    preds, seconds = generate_for(ctx, model, [e.messages for e in hold.examples], phase)
    quality = score(hold.task, preds, [e.target for e in hold.examples])
    return Generated(quality, preds, tokens_per_second(ctx.tok, preds, seconds), seconds)


def wanted_baselines(cfg) -> set[str]:
    """The baselines the config asks for, and a baseline method's own."""
    return set(cfg.baselines) | ({cfg.method} & set(BASELINE_METHODS))


def score_baselines(ctx: PilotContext, model) -> dict[str, tuple[QualityMeasure, list[str]]]:
    """Few-shot and retrieval baselines of the frozen model, as the config asks: each
    one's score and answers."""
    cfg, out = ctx.cfg, {}
    wanted = wanted_baselines(cfg)
    kw = dict(
        device=ctx.device, bf16=ctx.bf16, max_new_tokens=ctx.budget, batch_size=cfg.eval_batch_size
    )
    train, hold, task = ctx.train_ds.examples, ctx.hold.examples, ctx.hold.task
    if "prompt" in wanted:
        ctx.emit("eval", phase="few-shot baseline")
        res = baselines.prompt_baseline(model, ctx.tok, task, train, hold, seed=cfg.seed, **kw)
        out["few_shot"] = res["few_shot"]
    if "retrieval" in wanted:
        ctx.emit("eval", phase="retrieval baseline")
        out |= baselines.retrieval_baseline(model, ctx.tok, task, train, hold, seed=cfg.seed, **kw)
    return out


def evaluate_tuned(ctx: PilotContext, model, with_probe: bool = True) -> Tuned:
    """Score as deployed: adapters merged into the weights (W = W0 + BA), so decoding runs
    at the base model's speed (measured 2x faster than through the adapters); QLoRA
    scores through its adapters on the 4-bit base. Then, for the full run, the forgetting
    probe and (classification) label-constrained decoding."""
    four_bit = METHODS[ctx.cfg.method].compute == "qlora"
    merged = hasattr(model, "merge_adapter") and not four_bit
    if merged:
        model.merge_adapter()
    g = evaluate_holdout(ctx, model, "tuned")
    probe_after, constrained, held = None, None, None
    if with_probe:
        probe_after = probe(model, ctx.tok, ctx.device, ctx.bf16)
        if ctx.hold.task == "classify":
            constrained = score_labels(ctx, model, g.answers)
        if ctx.hold.task == "extract":  # merged too: timed like the free answers
            held = tuned_constrained(ctx, model)
    if merged:
        model.unmerge_adapter()  # saved as an adapter
    return Tuned(
        g.quality, g.answers, g.tokens_per_second, g.seconds, probe_after, constrained, held
    )


def agreement(ctx: PilotContext, fitted: Fitted, tuned: Generated):
    """Distillation: how often the student says what the teacher says on the holdout, and
    (a local teacher) the student's decoding speed against the teacher's."""
    teacher_preds, student = fitted.teacher_predictions, fitted.student
    if fitted.teacher_model is not None:
        teacher = evaluate_holdout(ctx, fitted.teacher_model, "teacher")
        teacher_preds = teacher.answers
        student = (student or StudentStats(params=0, teacher_params=0, layers=0)).model_copy(
            update={
                "generation_tokens_per_second": round(tuned.tokens_per_second, 1),
                "teacher_generation_tokens_per_second": round(teacher.tokens_per_second, 1),
            }
        )
    if teacher_preds is None:
        return None, student
    return score(ctx.hold.task, tuned.answers, teacher_preds), student


def curve_points(ctx: PilotContext, recipe: Recipe) -> list[CurvePoint]:
    """Train from a fresh base at each fraction of the data; score each on the holdout.
    Points already measured (curve.json) are kept when a run resumes."""
    cfg, run_dir = ctx.cfg, ctx.run_dir
    done_path = run_dir / "curve.json"
    done = runs.read_json(done_path) or {"points": []}
    for f in sorted(cfg.curve):
        subset, _ = split(ctx.train_ds, 1 - f, cfg.seed)
        n = len(subset.examples)
        if any(p["examples"] == n for p in done["points"]):
            continue
        ctx.emit("curve", fraction=f, examples=n, status="training")
        t = cfg.train
        sub_ctx = ctx.with_training(
            max_steps=max(1, round(t.max_steps * f)) if t.max_steps else None,
            max_minutes=t.max_minutes * f if t.max_minutes else None,
        )
        fitted = recipe.fit(sub_ctx, recipe.load(sub_ctx), subset, f"ckpt-{n}")
        q = evaluate_tuned(sub_ctx, fitted.model, with_probe=False).quality
        done["points"].append(CurvePoint(examples=n, quality=q).model_dump())
        runs.write_json_atomic(done_path, done)
        ctx.emit("curve", fraction=f, examples=n, value=q.value)
        del fitted
    return [CurvePoint.model_validate(p) for p in done["points"]]


def _samples(ctx: PilotContext, answers: list[str]) -> tuple[Sample, ...]:
    rows = list(zip(ctx.hold.examples, answers, strict=True))[:20]
    return tuple(Sample(input=e.messages[-1].content, gold=e.target, predicted=p) for e, p in rows)


def _correct(ctx: PilotContext, answers: dict[str, list[str]]) -> dict[str, str]:
    if ctx.hold.task != "classify":
        return {}
    gold = [e.target for e in ctx.hold.examples]
    return {k: hits(p, gold) for k, p in answers.items()}


def run(ctx: PilotContext) -> Outcome:
    if ctx.hold.task == "extract":
        ctx = in_schema_order(ctx)
    cfg, spec = ctx.cfg, METHODS[ctx.cfg.method]
    recipe = recipe_for(cfg.method)
    model, params = load_model(ctx, recipe)
    ctx.emit("eval", phase="baseline")
    zero = evaluate_holdout(ctx, model, "baseline")
    found = {"zero_shot": (zero.quality, zero.answers), **score_baselines(ctx, model)}
    scored = {k: q for k, (q, _) in found.items()}
    answers = {k: a for k, (_, a) in found.items()}
    fields = {k: Answers(a, zero.seconds if k == "zero_shot" else 0.0) for k, a in answers.items()}
    if ctx.hold.task == "extract" and "few_shot" in answers:
        fields["few_shot" + CONSTRAINED] = few_shot_constrained(ctx, model)
    ctx.lap("baselines")
    if not spec.trains:  # the method's result is one of its baselines
        result = spec.result_baseline or "zero_shot"
        extract = extraction_stats(ctx, fields, result) if ctx.hold.task == "extract" else None
        return Outcome(
            quality=scored[result],
            baseline=zero.quality,
            baselines=scored,
            model_params=params,
            generation_tps=zero.tokens_per_second,
            samples=_samples(ctx, answers[result]),
            correct=exact_rows(ctx, fields) if extract else _correct(ctx, answers),
            extract=extract,
        )
    return _train_and_score(ctx, recipe, model, zero, scored, answers, params, fields)


def _train_and_score(ctx, recipe, model, zero, scored, answers, params, fields) -> Outcome:
    """A training method: forgetting probe before, curve points, fit, score as deployed,
    forgetting probe after, save, agreement with a teacher."""
    cfg = ctx.cfg
    probe_before = probe(model, ctx.tok, ctx.device, ctx.bf16)
    ctx.lap("probe")
    points = curve_points(ctx, recipe) if cfg.curve else []
    ctx.lap("curve")
    fitted = recipe.fit(ctx, model, ctx.train_ds, "ckpt")
    del model
    ctx.lap("train")
    ctx.emit("eval", phase="tuned")
    tuned = evaluate_tuned(ctx, fitted.model)
    extract = None
    if ctx.hold.task == "extract":  # the same model, its decoding held to the schema
        fields[cfg.method] = Answers(tuned.answers, tuned.seconds)
        fields[cfg.method + CONSTRAINED] = tuned.held
        extract = extraction_stats(ctx, fields, cfg.method)
    ctx.lap("eval")
    curve = None
    if cfg.curve:
        measured = [*points, CurvePoint(examples=len(ctx.train_ds.examples), quality=tuned.quality)]
        curve = learning_curve(measured, zero.quality.value, cfg.quality_bar)
    res = fitted.result
    forgetting = forgetting_pattern(
        probe_before, tuned.probe_after, zero.quality, tuned.quality, res.first_loss, res.last_loss
    )
    if runs.is_main_process():
        recipe.save(ctx, fitted)
    ctx.lap("save")
    agreed, student = agreement(ctx, fitted, tuned)
    answers[cfg.method] = tuned.answers
    constrained = tuned.constrained
    if constrained:
        answers[f"{cfg.method}_constrained"] = constrained.predictions
    return Outcome(
        quality=tuned.quality,
        baseline=zero.quality,
        baselines=scored,
        model_params=params,
        training=res,
        generation_tps=tuned.tokens_per_second,
        forgetting=forgetting,
        curve=curve,
        constrained=constrained.quality if constrained else _held(extract, cfg.method),
        invalid_label_share=constrained.invalid_share if constrained else _invalid(extract),
        teacher=fitted.teacher,
        student=student,
        agreement=agreed,
        samples=_samples(ctx, tuned.answers),
        correct=exact_rows(ctx, fields) if extract else _correct(ctx, answers),
        extract=extract,
    )


def _held(extract, method: str) -> QualityMeasure | None:
    """Extraction: the field F1 of the model's schema-constrained answers."""
    return extract.methods[method + CONSTRAINED].f1 if extract else None


def _invalid(extract) -> float | None:
    """Extraction: the share of free answers that break the schema (or do not parse)."""
    return 1 - extract.scores.valid.value if extract else None
