"""The endpoint flow: the prompt and retrieval pilots asking the capable model itself, the
way a team would ask it, on the frozen holdout. prompt: zero-shot and few-shot (the
method's result); retrieval: zero-shot and the nearest training examples as shots (the
result), plus, for classification, the nearest-neighbour label and the linear probe on
frozen embeddings, computed locally. For classification the system prompt lists every
label (with the team's descriptions when given), as a team would write it for a capable
model, and the instruction's own token count is measured at the endpoint.

Rows that failed (after the retries) or were not sent (the spend cap) are listed with
their reason in metrics.json and left out of the score and of the holdout count, never
counted as answers.
"""

from __future__ import annotations

from core.vocab import METHODS
from trainers.context import Outcome, PilotContext
from trainers.endpoint import ask_all, ask_variants, endpoint_stats, shared_cache, spec_of
from trainers.eval.baselines import few_shot_examples, retrieve_shots, with_shots
from trainers.eval.extract_eval import (
    endpoint_extraction,
    in_schema_order,
    schema_instruction,
    schema_of,
    schema_route,
)
from trainers.eval.scoring import accuracy, hits, score
from trainers.fields import EXTRACT_SYSTEM
from trainers.instruction import (
    FEW_SHOT_K,
    as_asked,
    classify_instruction,
    frozen_descriptions,
    instruction_tokens,
)
from trainers.metrics import FailedRow, Sample


def _scored(task, replies: dict, local: dict, hold) -> tuple[dict, dict, list[FailedRow]]:
    """Each variant scored on the rows it answered (a failed row is no wrong answer), the
    per-row record of the variants that answered every row, and the failed rows."""
    gold = [e.target for e in hold]
    scored, correct, failed = {}, {}, []
    for name, rs in replies.items():
        ok = [i for i, r in enumerate(rs) if r.error is None]
        preds = [rs[i].text for i in ok]
        scored[name] = score(task, preds, [gold[i] for i in ok])
        failed += [
            FailedRow(variant=name, line=hold[i].line, reason=r.error)
            for i, r in enumerate(rs)
            if r.error
        ]
        if task == "classify" and len(ok) == len(rs):  # a paired test needs every row
            correct[name] = hits(preds, gold)
    for name, preds in local.items():
        scored[name], correct[name] = accuracy(preds, gold), hits(preds, gold)
    return scored, correct, failed


def _schema(ctx: PilotContext, spec, cache) -> tuple[object, str | None, str]:
    """Extraction: the schema as a response format where the server takes one, else in
    the instruction. Returns (spec, instruction or None, how it was sent)."""
    schema = schema_of(ctx)

    def ask(sp, messages):
        return ask_all(sp, [messages], max_tokens=ctx.budget, cache=cache)[0]

    spec, sent_as = schema_route(spec, schema, ctx.hold.examples[0].messages, ask)
    if sent_as == "response_format":
        return spec, None, sent_as
    first = ctx.hold.examples[0].messages
    system = next((m.content for m in first if m.role == "system"), EXTRACT_SYSTEM)
    return spec, schema_instruction(system, schema), sent_as


def run(ctx: PilotContext) -> Outcome:
    cfg, task = ctx.cfg, ctx.hold.task
    instruction, sent_as = None, None
    spec, cache = spec_of(cfg), shared_cache()
    if task == "classify":  # the data's own template lists at most 20 labels: list all
        labels = tuple(sorted({e.target for e in ctx.train_ds.examples}))
        described = frozen_descriptions(cfg.label_descriptions, labels, ctx.run_dir)
        instruction = classify_instruction(labels, described)
    if task == "extract":
        ctx = in_schema_order(ctx)
        spec, instruction, sent_as = _schema(ctx, spec, cache)
    train = [as_asked(e, instruction) for e in ctx.train_ds.examples]
    hold = [as_asked(e, instruction) for e in ctx.hold.examples]
    system = next((m.content for m in hold[0].messages if m.role == "system"), None)
    instr_tokens, spent = instruction_tokens(spec, cache, system) if system else (0, 0.0)
    prompts = {"zero_shot": [e.messages for e in hold]}
    local: dict[str, list[str]] = {}
    result = METHODS[cfg.method].result_baseline
    if result == "few_shot":
        shots = few_shot_examples(train, FEW_SHOT_K, cfg.seed)
        prompts["few_shot"] = [with_shots(e, shots) for e in hold]
    if result == "retrieval_few_shot":
        r = retrieve_shots(train, hold, classify=task == "classify", seed=cfg.seed)
        prompts["retrieval_few_shot"], local = r.prompts, r.labels
    replies = ask_variants(spec, prompts, ctx.budget, cache, ctx.run_dir, spent)
    ctx.lap("endpoint")
    scored, correct, failed = _scored(task, replies, local, hold)
    q = scored[result]
    right = round(q.value * q.n) if task == "classify" else 0
    stats = endpoint_stats(spec, replies[result], right).model_copy(
        update={"instruction_tokens": instr_tokens}
    )
    rows = list(zip(hold, replies[result], strict=True))[:20]
    extract = endpoint_extraction(ctx, hold, replies, result, sent_as) if sent_as else None
    return Outcome(
        quality=q,
        baseline=scored["zero_shot"],
        baselines={k: v for k, v in scored.items() if k != result},
        failed_rows=tuple(failed),
        result_variant=result,
        model=spec.model,
        endpoint=stats,
        samples=tuple(
            Sample(
                input=e.messages[-1].content,
                gold=e.target,
                predicted=r.text or f"(failed: {r.error})",
            )
            for e, r in rows
        ),
        correct=correct,
        extract=extract,
    )
