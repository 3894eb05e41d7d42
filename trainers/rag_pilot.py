"""Pilots over a team's documents, on questions JSONL: closed-book (the question alone)
against retrieval-augmented answers, on one frozen holdout.

  rag            the small model (or a capable one through an endpoint) answers from the
                 top_k passages of the hybrid index; closed-book is the baseline
  fine_tune_rag  LoRA trained on the training questions with their retrieved passages
                 (misses included, as at inference), evaluated with retrieval
  lora (qlora, full) on questions: closed-book fine-tuning, the comparison the
                 literature argues about; with --docs, rag is scored beside it

Every system is scored the same way (rag/qa.py): exact match, F1 and chrF on answerable
questions, abstention ("not in the documents") on both kinds, paired F1 differences; the
index's retrieval against gold passages when the questions name them.
"""

from __future__ import annotations

import time
from pathlib import Path

from core.measurement import Measurement, RagStats
from core.scenario import InputError
from core.vocab import DOCUMENT_METHODS, METHODS
from rag.chunk import Chunk, chunk_documents
from rag.documents import read_documents
from rag.index import HybridIndex
from rag.qa import answer_scores, paired_difference, retrieval_scores, row_f1
from trainers import runs
from trainers.config import PilotConfig, freeze_splits
from trainers.data import NO_ANSWER, Dataset, Example, Message, fingerprint, read_frozen
from trainers.metrics import PilotMetrics, Sample, device_name, run_fidelity
from trainers.models import embedding_model_dir

RAG_SYSTEM = (
    "Answer the question with a short phrase copied from the passages. If the passages do "
    f"not contain the answer, reply: {NO_ANSWER}."
)
MRR_DEPTH = 10
ENDPOINT_MAX_TOKENS = 64  # a short answer; a capable model stops well before


def routes_here(cfg: PilotConfig, hold: Dataset) -> bool:
    """Document methods, and closed-book fine-tuning on questions JSONL."""
    closed_book = hold.format == "qa" and METHODS[cfg.method].compute in ("lora", "qlora", "full")
    return cfg.method in DOCUMENT_METHODS or (closed_book and cfg.method != "distill_seq")


def question(ex: Example) -> str:
    return next(m.content for m in reversed(ex.messages) if m.role == "user")


def with_passages(ex: Example, passages: list[Chunk]) -> Example:
    """The question asked with its passages (the same template for every system)."""
    shown = "\n\n".join(f"[{i}] {c.title}\n{c.text}" for i, c in enumerate(passages, 1))
    user = f"Passages:\n{shown}\n\nQuestion: {question(ex)}"
    msgs = (Message(role="system", content=RAG_SYSTEM), Message(role="user", content=user))
    return ex.model_copy(update={"messages": msgs})


def open_index(cfg: PilotConfig, run_dir: Path) -> tuple[HybridIndex, dict, list[str]]:
    """The run's index (built once into run_dir/index, loaded when resumed), its build
    figures, and every file skipped with its reason."""
    docs, skipped = read_documents(cfg.docs)
    chunks = chunk_documents(docs, cfg.chunk_chars, cfg.chunk_overlap_chars)
    index, about = HybridIndex.open(chunks, run_dir / "index", str(embedding_model_dir()))
    reasons = [f"{s.file}: {s.reason}" for s in skipped]
    runs.emit(run_dir, "index", skipped=len(reasons), **about)
    return index, about, reasons


def retrieve(index: HybridIndex, examples, k: int) -> tuple[list[list[int]], float]:
    """Each question's passages, best first, MRR_DEPTH deep; and seconds per question."""
    t0 = time.perf_counter()
    ranked = index.search([question(e) for e in examples], max(k, MRR_DEPTH))
    return ranked, (time.perf_counter() - t0) / max(1, len(examples))


def run(cfg: PilotConfig, run_dir: Path, t0: float) -> PilotMetrics:
    train_ds, hold_ds = freeze_splits(cfg, run_dir)
    if hold_ds.format != "qa":
        raise InputError(
            f"{cfg.data}: method {cfg.method} needs questions JSONL "
            '({"question": ..., "answers": [...], "answerable": true})'
        )
    hold, train = list(hold_ds.examples), list(train_ds.examples)
    runs.emit(run_dir, "data", train=len(train), holdout=len(hold), task="qa")
    prompts = {"closed_book": [e.messages for e in hold]}
    index, about, skipped, ranked, latency_s = None, {}, [], [], 0.0
    if cfg.docs:
        index, about, skipped = open_index(cfg, run_dir)
        ranked, latency_s = retrieve(index, hold, cfg.top_k)
        prompts["rag"] = [
            with_passages(e, [index.chunks[j] for j in r[: cfg.top_k]]).messages
            for e, r in zip(hold, ranked, strict=True)
        ]
    if cfg.endpoint_url:
        run_ = _on_endpoint(cfg, run_dir, prompts)
    else:
        run_ = _local(cfg, run_dir, prompts, train, index)
    answers = run_["answers"]
    context_tokens = run_["context_tokens"]
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
        context_tokens_per_request=context_tokens,
        corpus_tokens=about.get("corpus_tokens", 0),
        skipped_files=tuple(skipped),
        retrieval=_retrieval(index, hold, ranked, cfg.top_k) if index else None,
        answers={k: _scores(v, hold) for k, v in answers.items()},
        f1_gain=_gains(answers, hold),
    )
    return _metrics(cfg, run_dir, t0, hold, answers, rag, run_, len(train), ranked, index)


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
    return out


def _local(cfg, run_dir, prompts, train, index) -> dict:
    """The small model: closed-book and rag answers of the frozen model, then (for a
    training method) the tuned model's answers with the prompts it was trained on."""
    from trainers.evaluate import generate
    from trainers.pilot import context, count_params
    from trainers.recipe import recipe_for

    ctx = context(cfg, run_dir)
    recipe = recipe_for(cfg.method)
    model = recipe.load(ctx)
    params = count_params(model)
    kw = dict(
        max_new_tokens=ctx.budget,
        batch_size=cfg.eval_batch_size,
        device=ctx.device,
        bf16=ctx.bf16,
    )
    answers, tps = {}, 0.0
    for name, batch in prompts.items():
        runs.emit(run_dir, "eval", phase=name)
        t = time.perf_counter()
        answers[name] = generate(model, ctx.tok, batch, progress=_progress(run_dir, name), **kw)
        tps = _tokens(ctx.tok, answers[name]) / max(time.perf_counter() - t, 1e-9)
    result = None
    if METHODS[cfg.method].trains:
        tuned_on_passages = cfg.method == "fine_tune_rag"
        if tuned_on_passages:
            ranked, _ = retrieve(index, train, cfg.top_k)
            train = [
                with_passages(e, [index.chunks[j] for j in r[: cfg.top_k]])
                for e, r in zip(train, ranked, strict=True)
            ]
            ctx = _fit_length(ctx, train)
        train = balanced(train, cfg.seed, run_dir)
        ctx = _qa_learning_rate(ctx)
        data = Dataset(task="generate", format="qa", examples=tuple(train))
        fitted = recipe.fit(ctx, model, data, "ckpt")
        result = fitted.result
        runs.emit(run_dir, "eval", phase="tuned")
        which = "rag" if tuned_on_passages else "closed_book"
        t = time.perf_counter()
        answers[cfg.method] = generate(
            fitted.model, ctx.tok, prompts[which], progress=_progress(run_dir, "tuned"), **kw
        )
        tps = _tokens(ctx.tok, answers[cfg.method]) / max(time.perf_counter() - t, 1e-9)
        if runs.is_main_process():
            recipe.save(ctx, fitted)
    passages = prompts.get("rag")
    context_tokens = (
        sum(
            len(ctx.tok(p[-1].content, add_special_tokens=False)["input_ids"])
            - len(ctx.tok(c[-1].content, add_special_tokens=False)["input_ids"])
            for p, c in zip(passages, prompts["closed_book"], strict=True)
        )
        / len(passages)
        if passages
        else 0.0
    )
    return {
        "answers": answers,
        "training": result,
        "generation_tps": tps,
        "params": params,
        "device": ctx.device,
        "context_tokens": context_tokens,
        "endpoint": None,
    }


def _progress(run_dir, phase):
    return lambda done, total: runs.emit(run_dir, "eval", phase=phase, rows=done, of=total)


def _tokens(tok, texts) -> int:
    return sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)


MAX_UNANSWERABLE_SHARE = 0.25
QA_LORA_LR = 2e-4


def balanced(train: list[Example], seed: int, run_dir: Path) -> list[Example]:
    """At most MAX_UNANSWERABLE_SHARE of the training questions unanswerable. Every
    unanswerable question has the same answer, so when half the data says it (SQuAD 2.0),
    greedy decoding learns to say it always (measured: 40 steps on 569 SQuAD 2.0
    questions, 100% abstention on answerable ones). The holdout keeps its own share."""
    import random

    yes = [e for e in train if e.answerable]
    no = [e for e in train if not e.answerable]
    room = int(len(yes) * MAX_UNANSWERABLE_SHARE / (1 - MAX_UNANSWERABLE_SHARE))
    if len(no) <= room:
        return train
    keep = set(map(id, random.Random(seed).sample(no, room)))
    runs.emit(run_dir, "note", message=f"trained on {room} of {len(no)} unanswerable questions")
    return [e for e in train if e.answerable or id(e) in keep]


def _qa_learning_rate(ctx):
    """LoRA at the SFT default (1e-3) collapses onto the one shared answer on question
    answering; QA_LORA_LR unless the config names a rate."""
    if ctx.cfg.train.learning_rate is not None:
        return ctx
    return _with_training(ctx, learning_rate=QA_LORA_LR)


def _with_training(ctx, **settings):
    """The context with some training settings changed (the run's config.yaml keeps the
    user's; the event log says what changed)."""
    from dataclasses import replace

    train_cfg = ctx.cfg.train.model_copy(update=settings)
    return replace(ctx, cfg=ctx.cfg.model_copy(update={"train": train_cfg}))


def _fit_length(ctx, train: list[Example]):
    """Training sequences must hold the passages whole: the loop keeps a long prompt's
    end, which would cut the first passages off. Raised (never lowered) to the longest
    training prompt plus answer, at most 2,048 tokens; the event log says so."""
    longest = max(
        len(ctx.tok.apply_chat_template([m.model_dump() for m in e.messages], tokenize=True))
        + len(ctx.tok(e.target, add_special_tokens=False)["input_ids"])
        + 2
        for e in train
    )
    need = min(2048, longest)
    if need <= ctx.cfg.train.max_seq_len:
        return ctx
    runs.emit(ctx.run_dir, "note", message=f"max_seq_len raised to {need} to hold the passages")
    return _with_training(ctx, max_seq_len=need)


def _on_endpoint(cfg, run_dir, prompts) -> dict:
    """A capable model answers closed-book and with passages through the endpoint."""
    from trainers.endpoint import ResponseCache, endpoint_stats
    from trainers.endpoint_pilot import ask_variants, spec_of
    from trainers.models import cache_dir

    spec = spec_of(cfg)
    cache = ResponseCache(cache_dir() / "endpoint_cache.sqlite")
    replies = ask_variants(spec, prompts, ENDPOINT_MAX_TOKENS, cache, run_dir)
    main = replies.get("rag") or replies["closed_book"]
    context_tokens = 0.0
    if "rag" in replies:
        pairs = [
            (a.input_tokens, b.input_tokens)
            for a, b in zip(replies["rag"], replies["closed_book"], strict=True)
            if a.error is None and b.error is None
        ]
        context_tokens = sum(a - b for a, b in pairs) / max(1, len(pairs))
    return {
        "answers": {k: [r.text if r.error is None else "" for r in v] for k, v in replies.items()},
        "training": None,
        "generation_tps": 0.0,
        "params": 0,
        "device": "endpoint",
        "context_tokens": context_tokens,
        "endpoint": endpoint_stats(spec, main, 0),
    }


def _metrics(cfg, run_dir, t0, hold, answers, rag, run_, n_train, ranked, index):
    result = cfg.method if cfg.method in answers else "rag"
    scores = rag.answers
    wall = time.perf_counter() - t0
    res = run_["training"]
    device = run_["device"]
    m = Measurement(
        run_id=run_dir.name,
        method=cfg.method,
        model=cfg.endpoint_model or cfg.model,
        model_params=run_["params"],
        device=device,
        device_name=cfg.endpoint_url if device == "endpoint" else device_name(device),
        train_examples=n_train,
        holdout_examples=len(hold),
        train_tokens=res.tokens if res else 0,
        tokens_per_second=res.tokens_per_second if res else 0.0,
        generation_tokens_per_second=run_["generation_tps"],
        peak_memory_mib=0.0 if device == "endpoint" else _peak(device),
        wall_seconds=wall,
        quality=scores[result].f1,
        baseline=scores["closed_book"].f1,
        baselines={"rag": scores["rag"].f1} if "rag" in scores else {},
        train_steps=res.steps if res else 0,
        planned_steps=res.planned_steps if res else 0,
        stopped_by=res.stopped_by if res else None,
        endpoint=run_["endpoint"],
        rag=rag,
    )
    return PilotMetrics(
        run_dir=str(run_dir),
        measurement=m,
        training=res,
        fidelity=run_fidelity(run_dir, wall, m.peak_memory_mib, m.tokens_per_second),
        samples=_samples(hold, answers[result], ranked, index),
        holdout_fingerprint=fingerprint(read_frozen(run_dir / "holdout.json")),
    )


def _peak(device: str) -> float:
    from trainers.device import peak_memory_mib

    return peak_memory_mib(device)


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
