"""Extraction in the generative flow: the small decoder's answers scored as the field
reports it, free and with decoding constrained to the schema (trainers/eval/
schema_decode.py), each variant timed, all on the one holdout.

Every answer is generated the way it would be served (the chat template, greedy, the
answer budget of the run); the schema-constrained variant differs only in the mask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from core.extract import ExtractStats
from trainers.eval.baselines import FEW_SHOT_K, few_shot_examples, with_shots
from trainers.eval.fields import paired, score_outputs, worst_rows
from trainers.eval.schema_decode import library, schema_constraint
from trainers.eval.scoring import generate_for
from trainers.fields import as_json, run_schema, schema_order

CONSTRAINED = " + schema"  # the suffix of a variant decoded under the schema


@dataclass(frozen=True)
class Answers:
    texts: list[str]
    seconds: float


def schema_of(ctx) -> dict:
    return run_schema(
        ctx.cfg.output_schema, [e.fields or {} for e in ctx.train_ds.examples], ctx.run_dir
    )


def in_schema_order(ctx):
    """The context with every training and holdout answer written in the schema's field
    order (trainers/fields.py: as_json says why); the same on every resume."""
    order = schema_order(schema_of(ctx))

    def ordered(ds):
        rows = tuple(
            e.model_copy(update={"target": as_json(e.fields or {}, order)}) for e in ds.examples
        )
        return ds.model_copy(update={"examples": rows})

    return replace(ctx, train_ds=ordered(ctx.train_ds), hold=ordered(ctx.hold))


def answer(ctx, model, prompts, phase: str, constrained: bool) -> Answers:
    """The model's answers to the prompts, free or held to the run's schema."""
    held = schema_constraint(ctx.tok, schema_of(ctx), ctx.budget) if constrained else None
    return Answers(*generate_for(ctx, model, prompts, phase, held))


def few_shot_constrained(ctx, model) -> Answers:
    """The frozen model asked with the few-shot baseline's shots, under the schema."""
    shots = few_shot_examples(ctx.train_ds.examples, FEW_SHOT_K, ctx.cfg.seed)
    prompts = [with_shots(e, shots) for e in ctx.hold.examples]
    ctx.emit("eval", phase="few-shot baseline, schema-constrained")
    return answer(ctx, model, prompts, "few-shot" + CONSTRAINED, constrained=True)


def tuned_constrained(ctx, model) -> Answers:
    ctx.emit("eval", phase="schema-constrained")
    prompts = [e.messages for e in ctx.hold.examples]
    return answer(ctx, model, prompts, "tuned" + CONSTRAINED, constrained=True)


def extraction_stats(ctx, answers: dict[str, Answers], result: str) -> ExtractStats:
    """Every variant scored on the holdout; the result paired with each of the others."""
    schema = schema_of(ctx)
    hold = ctx.hold.examples
    golds = [e.fields or {} for e in hold]
    scored = {k: score_outputs(a.texts, golds, schema, a.seconds) for k, a in answers.items()}
    free, held = answers.get(result), answers.get(result + CONSTRAINED)
    ratio = held.seconds / free.seconds if free and held and free.seconds > 0 else None
    return ExtractStats(
        schema_source=ctx.cfg.output_schema or "inferred from the training fields",
        fields=len(ctx.train_ds.fields),
        methods={k: s.scores for k, s in scored.items()},
        result=result,
        paired=tuple(
            paired(result, scored[result], k, s) for k, s in scored.items() if k != result
        ),
        constrained_library=library() if any(CONSTRAINED in k for k in answers) else None,
        constrained_time_ratio=round(ratio, 3) if ratio is not None else None,
        worst=worst_rows([e.messages[-1].content for e in hold], golds, scored[result]),
    )


def exact_rows(ctx, answers: dict[str, Answers]) -> dict[str, str]:
    """'1'/'0' per holdout row (the whole object right) for each variant."""
    golds = [e.fields or {} for e in ctx.hold.examples]
    return {k: score_outputs(a.texts, golds, {}).exact for k, a in answers.items()}


# ---- through an endpoint --------------------------------------------------------------

REFUSED = ("BadRequestError", "UnprocessableEntityError", "NotFoundError")  # not retried


def schema_route(spec, schema: dict, probe_messages, ask) -> tuple[object, str]:
    """(the spec to ask with, how the schema is sent): as `response_format` json_schema when
    the server accepts it (one request tells), else in the instruction. `ask(spec,
    messages)` sends one request and returns its Reply."""
    held = spec.model_copy(update={"response_schema": schema})
    reply = ask(held, probe_messages)
    if reply.error is None:
        return held, "response_format"
    if reply.error.split()[0].rstrip(":") in REFUSED:
        return spec, "instruction"
    return held, "response_format"  # a passing failure: the run's own retries decide


def schema_instruction(system: str, schema: dict) -> str:
    """The system prompt that carries the schema when the server cannot take it."""
    return f"{system} Answer with one JSON object that validates against this JSON Schema: " + (
        json.dumps(schema, separators=(",", ":"))
    )


def endpoint_extraction(ctx, hold, replies: dict, result: str, sent_as: str) -> ExtractStats:
    """Every variant scored on the rows all of them answered (a failed request is no wrong
    answer), with how the schema went to the server."""
    rows = [i for i in range(len(hold)) if all(rs[i].error is None for rs in replies.values())]
    kept = ctx.hold.model_copy(update={"examples": tuple(ctx.hold.examples[i] for i in rows)})
    answers = {k: Answers([rs[i].text for i in rows], 0.0) for k, rs in replies.items()}
    stats = extraction_stats(replace(ctx, hold=kept), answers, result)
    return stats.model_copy(update={"schema_sent_as": sent_as})
