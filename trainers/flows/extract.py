"""The extraction flow for the span tagger, top to bottom: the schema (given or inferred,
saved) -> the gazetteer of training values -> fine-tune the encoder as a span tagger ->
tag the holdout -> score both as the field reports it (parse, schema validity, field
F1 with per-field F1, exact match; paired tests) -> time CPU serving -> save. Values that
are not spans of their text are counted as out of the tagger's reach.
"""

from __future__ import annotations

import shutil
import time

from core.extract import ExtractStats
from trainers import runs
from trainers.classifier import serving_speed
from trainers.context import Outcome, PilotContext, load_model
from trainers.eval.fields import paired, score_outputs, worst_rows
from trainers.eval.gazetteer import gazetteer, look_up
from trainers.fields import as_json, held_to, run_schema, values
from trainers.metrics import Sample
from trainers.recipes import recipe_for
from trainers.recipes.tagger import span_fields, text_of
from trainers.tagger import find_spans, predict


def out_of_reach(hold) -> float:
    """Share of the holdout's expected values that are not spans of their text."""
    total = sum(len(values(v)) for e in hold for v in (e.fields or {}).values())
    missed = sum(find_spans(text_of(e), e.fields or {})[1] for e in hold)
    return missed / total if total else 0.0


def run(ctx: PilotContext) -> Outcome:
    cfg, hold = ctx.cfg, ctx.hold.examples
    train_fields = [e.fields or {} for e in ctx.train_ds.examples]
    schema = run_schema(cfg.output_schema, train_fields, ctx.run_dir)
    texts, golds = [text_of(e) for e in hold], [e.fields or {} for e in hold]
    recipe = recipe_for(cfg.method)
    encoder, params = load_model(ctx, recipe)
    ctx.emit("eval", phase="baselines")
    t = time.perf_counter()
    table = gazetteer(train_fields)
    found = [look_up(table, x) for x in texts]
    scored = {"gazetteer": score_outputs(found, golds, schema, time.perf_counter() - t)}
    ctx.lap("baselines")
    ctx.emit("fit", name="the tagger", index=1, of=1)
    fitted = recipe.fit(ctx, encoder, ctx.train_ds, "ckpt")
    ctx.lap("train")
    ctx.emit("eval", phase="tuned")
    tagger, t = fitted.model, time.perf_counter()
    preds = [held_to(schema, p) for p in predict(tagger, ctx.tok, texts, ctx.device, ctx.bf16)]
    scored[cfg.method] = score_outputs(preds, golds, schema, time.perf_counter() - t)
    ctx.lap("eval")
    ctx.emit("eval", phase="serving speed")

    def answer(rows):  # served as deployed: tagged, decoded, held to the schema
        return [held_to(schema, p) for p in predict(tagger, ctx.tok, rows, ctx.device, ctx.bf16)]

    speed = serving_speed(tagger, ctx.tok, texts, ctx.device, answer=answer)
    ctx.lap("serving")
    if runs.is_main_process():
        recipe.save(ctx, fitted)
        shutil.rmtree(ctx.run_dir / "ckpt", ignore_errors=True)
    ctx.lap("save")
    trained = set(ctx.train_ds.fields)
    stats = ExtractStats(
        schema_source=cfg.output_schema or "inferred from the training fields",
        fields=len(trained),
        methods={k: s.scores for k, s in scored.items()},
        result=cfg.method,
        paired=tuple(
            paired(cfg.method, scored[cfg.method], k, s)
            for k, s in scored.items()
            if k != cfg.method
        ),
        out_of_reach=out_of_reach(hold),
        out_of_reach_fields=tuple(sorted(trained - set(span_fields(ctx.train_ds)))),
        worst=worst_rows(texts, golds, scored[cfg.method]),
    )
    return Outcome(
        quality=scored[cfg.method].scores.f1,
        baselines={k: s.scores.f1 for k, s in scored.items() if k != cfg.method},
        model_params=params,
        training=fitted.result,
        serving=speed,
        extract=stats,
        samples=tuple(
            Sample(input=x, gold=as_json(g), predicted=as_json(p))
            for x, g, p in list(zip(texts, golds, preds, strict=True))[:20]
        ),
        correct={k: s.exact for k, s in scored.items()},
    )
