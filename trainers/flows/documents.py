"""The documents flow: questions JSONL, closed-book (the question alone) against answers
from the team's documents, on one frozen holdout.

  rag            the small model (or a capable one through an endpoint) answers from the
                 top_k passages of the hybrid index; closed-book is the baseline
  fine_tune_rag  LoRA trained on the training questions with their retrieved passages
                 (misses included, as at inference), evaluated with retrieval
  lora (qlora, full) on questions: closed-book fine-tuning, the comparison the
                 literature argues about; with --docs, rag is scored beside it

Every system is scored the same way (rag/qa.py): exact match, F1 and chrF on answerable
questions, abstention ("not in the documents") on both kinds, paired F1 differences; the
index's retrieval against gold passages when the questions name them. Through an
endpoint, a question any system got no answer for is left out of every score (so the
comparisons stay paired) and listed with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.measurement import EndpointStats, RagStats
from core.scenario import InputError
from core.text import NO_ANSWER
from core.vocab import METHODS
from rag.qa import answer_scores, paired_difference, retrieval_scores, row_f1
from trainers import runs
from trainers.context import ENDPOINT, Outcome, PilotContext, load_model
from trainers.endpoint import ask_variants, endpoint_stats, shared_cache, spec_of
from trainers.eval.scoring import generate_for, tokens_per_second
from trainers.loop import TrainResult
from trainers.metrics import FailedRow, Sample, TeacherStats
from trainers.passages import open_index, question, retrieve, training_set, with_passages
from trainers.recipes import recipe_for
from trainers.recipes.distill_seq import teacher_outputs

ENDPOINT_MAX_TOKENS = 64  # a short answer; a capable model stops well before


@dataclass(frozen=True)
class Answered:
    """Every system's answers on the holdout, and what producing them measured."""

    answers: dict[str, list[str]]
    training: TrainResult | None = None
    generation_tps: float = 0.0
    params: int = 0
    context_tokens: float = 0.0
    """Tokens the passages add to a request (with passages minus closed-book)."""
    endpoint: EndpointStats | None = None
    failed: tuple[FailedRow, ...] = field(default_factory=tuple)
    teacher: TeacherStats | None = None
    """distill_rag: the teacher's answers kept and dropped by the filter."""


def run(ctx: PilotContext) -> Outcome:
    cfg = ctx.cfg
    if ctx.hold.format != "qa":
        raise InputError(
            f"{cfg.data}: method {cfg.method} needs questions JSONL "
            '({"question": ..., "answers": [...], "answerable": true})'
        )
    hold = list(ctx.hold.examples)
    prompts = {"closed_book": [e.messages for e in hold]}
    index, about, skipped, ranked, latency_s = None, {}, [], [], 0.0
    if cfg.docs:
        index, about, skipped = open_index(cfg, ctx.run_dir)
        ranked, latency_s = retrieve(index, hold, cfg.top_k)
        prompts["rag"] = [
            with_passages(e, [index.chunks[j] for j in r[: cfg.top_k]]).messages
            for e, r in zip(hold, ranked, strict=True)
        ]
    ctx.lap("index")
    got = _on_endpoint(ctx, prompts) if ctx.device == ENDPOINT else _local(ctx, prompts, index)
    lost = {r.line for r in got.failed}
    keep = [i for i, e in enumerate(hold) if e.line not in lost]
    kept = [hold[i] for i in keep]
    answers = {k: [v[i] for i in keep] for k, v in got.answers.items()}
    rag = RagStats(
        documents=about.get("documents", 0),
        chunks=about.get("chunks", 0),
        chunk_chars=cfg.chunk_chars,
        chunk_overlap_chars=cfg.chunk_overlap_chars,
        top_k=cfg.top_k,
        index_build_seconds=about.get("build_seconds", 0.0),
        encoder_load_seconds=about.get("encoder_load_seconds", 0.0),
        documents_per_second=about.get("documents_per_second", 0.0),
        index_reused=about.get("reused", False),
        query_latency_ms=latency_s * 1000,
        context_tokens_per_request=got.context_tokens,
        corpus_tokens=about.get("corpus_tokens", 0),
        skipped_files=tuple(skipped),
        retrieval=_retrieval(index, hold, ranked, cfg.top_k) if index else None,
        answers={k: _scores(v, kept) for k, v in answers.items()},
        f1_gain=_gains(answers, kept),
    )
    result = cfg.method if cfg.method in answers else "rag"
    scores = rag.answers
    return Outcome(
        quality=scores[result].f1,
        baseline=scores["closed_book"].f1,
        baselines={"rag": scores["rag"].f1} if "rag" in scores else {},
        failed_rows=got.failed,
        rows_scored=len(kept),
        model=cfg.endpoint_model if ctx.device == ENDPOINT else None,
        model_params=got.params,
        training=got.training,
        generation_tps=got.generation_tps,
        endpoint=got.endpoint,
        rag=rag,
        teacher=got.teacher,
        samples=_samples(kept, answers[result], [ranked[i] for i in keep] if ranked else [], index),
    )


def _scores(preds, hold):
    return answer_scores(preds, [e.answers for e in hold], [e.answerable for e in hold])


def _retrieval(index, hold, ranked, k):
    """Fused retrieval on the answerable questions."""
    rows = [(e, r) for e, r in zip(hold, ranked, strict=True) if e.answerable]
    docs = [[index.chunks[j].doc_id for j in r] for _, r in rows]
    contexts = ["\n".join(index.chunks[j].text for j in r[:k]) for _, r in rows]
    return retrieval_scores(
        "fused", docs, [e.source_id for e, _ in rows], contexts, [e.answers for e, _ in rows]
    )


def _gains(answers: dict[str, list[str]], hold) -> dict:
    """Paired F1 differences on the answerable questions: each system against closed-book,
    and a trained system against rag alone."""
    f1 = {
        k: [row_f1(p, e.answers) for p, e in zip(v, hold, strict=True) if e.answerable]
        for k, v in answers.items()
    }
    out = {}
    for name in f1:
        if name != "closed_book":
            out[f"{name} - closed_book"] = paired_difference(f1[name], f1["closed_book"])
        if name not in ("closed_book", "rag") and "rag" in f1:
            out[f"{name} - rag"] = paired_difference(f1[name], f1["rag"])
        if name not in ("closed_book", "rag", "teacher") and "teacher" in f1:
            out[f"{name} - teacher"] = paired_difference(f1[name], f1["teacher"])
    return out


def _generate(ctx: PilotContext, model, prompts, phase: str) -> tuple[list[str], float]:
    """Answers by greedy generation, and decoding tokens/s."""
    answers, seconds = generate_for(ctx, model, prompts, phase)
    return answers, tokens_per_second(ctx.tok, answers, seconds)


def _local(ctx: PilotContext, prompts: dict, index) -> Answered:
    """The small model: closed-book and rag answers of the frozen model, then (for a
    training method) the tuned model's answers with the prompts it was trained on."""
    cfg = ctx.cfg
    recipe = recipe_for(cfg.method)
    model, params = load_model(ctx, recipe)
    answers, tps, result, taught = {}, 0.0, None, None
    for name, batch in prompts.items():
        ctx.emit("eval", phase=name)
        answers[name], tps = _generate(ctx, model, batch, name)
    ctx.lap("baselines")
    if METHODS[cfg.method].trains:
        train_ctx, data = training_set(ctx, index)
        fitted = recipe.fit(train_ctx, model, data, "ckpt")
        result = fitted.result
        ctx.lap("train")
        ctx.emit("eval", phase="tuned")
        which = "rag" if METHODS[cfg.method].passages_in_training else "closed_book"
        answers[cfg.method], tps = _generate(train_ctx, fitted.model, prompts[which], "tuned")
        ctx.lap("eval")
        if fitted.teacher is not None:  # distill_rag: the teacher answers from the passages too
            ctx.emit("eval", phase="teacher")
            answers["teacher"] = teacher_outputs(train_ctx, prompts["rag"])
            taught = fitted.teacher
            ctx.lap("teacher")
        if runs.is_main_process():
            recipe.save(train_ctx, fitted)
    return Answered(
        answers=answers,
        training=result,
        generation_tps=tps,
        params=params,
        context_tokens=_context_tokens(ctx.tok, prompts),
        teacher=taught,
    )


def _context_tokens(tok, prompts: dict) -> float:
    passages = prompts.get("rag")
    if not passages:
        return 0.0
    n = sum(
        len(tok(p[-1].content, add_special_tokens=False)["input_ids"])
        - len(tok(c[-1].content, add_special_tokens=False)["input_ids"])
        for p, c in zip(passages, prompts["closed_book"], strict=True)
    )
    return n / len(passages)


def _on_endpoint(ctx: PilotContext, prompts: dict) -> Answered:
    """A capable model answers closed-book and with passages through the endpoint."""
    spec = spec_of(ctx.cfg)
    replies = ask_variants(spec, prompts, ENDPOINT_MAX_TOKENS, shared_cache(), ctx.run_dir)
    main = replies.get("rag") or replies["closed_book"]
    context_tokens = 0.0
    if "rag" in replies:
        pairs = [
            (a.input_tokens, b.input_tokens)
            for a, b in zip(replies["rag"], replies["closed_book"], strict=True)
            if a.error is None and b.error is None
        ]
        context_tokens = sum(a - b for a, b in pairs) / max(1, len(pairs))
    hold = ctx.hold.examples
    failed = tuple(
        FailedRow(variant=name, line=hold[i].line, reason=r.error)
        for name, rs in replies.items()
        for i, r in enumerate(rs)
        if r.error
    )
    return Answered(
        answers={k: [r.text for r in v] for k, v in replies.items()},
        context_tokens=context_tokens,
        endpoint=endpoint_stats(spec, main, 0),
        failed=failed,
    )


def _samples(hold, preds, ranked, index, n: int = 20) -> tuple[Sample, ...]:
    """Wrong answers first, each with the passages it was given, so a reader sees why."""
    rows = sorted(
        range(len(hold)),
        key=lambda i: row_f1(preds[i], hold[i].answers) if hold[i].answerable else 1.0,
    )
    out = []
    for i in rows[:n]:
        e = hold[i]
        shown = (
            tuple(f"{index.chunks[j].title}: {index.chunks[j].text[:400]}" for j in ranked[i][:3])
            if index
            else ()
        )
        gold = " | ".join(e.answers) if e.answerable else NO_ANSWER
        out.append(Sample(input=question(e), gold=gold, predicted=preds[i], passages=shown))
    return tuple(out)
