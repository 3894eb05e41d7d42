"""Questions asked with passages from the team's documents: the one prompt template every
system answers with, the run's index, retrieval, and the training set the methods that
learn on questions see, shared by the documents flow and the preflight's probe (so the
probe times what the run trains on: the same passages, the same sequence length).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.text import NO_ANSWER
from core.vocab import METHODS
from rag.chunk import Chunk, chunk_documents
from rag.documents import read_documents
from rag.index import HybridIndex
from trainers import runs
from trainers.config import PilotConfig
from trainers.data import Dataset, Example, Message
from trainers.models import embedding_model_dir

if TYPE_CHECKING:  # the preflight reads this module's limits without loading torch
    from trainers.context import PilotContext

RAG_SYSTEM = (
    "Answer the question with a short phrase copied from the passages. If the passages do "
    f"not contain the answer, reply: {NO_ANSWER}."
)
MRR_DEPTH = 10
MAX_UNANSWERABLE_SHARE = 0.25
QA_LORA_LR = 2e-4
MAX_PASSAGE_SEQ_LEN = 2048  # training sequences that hold the passages grow up to this


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


def asked_with_passages(index: HybridIndex, examples, k: int) -> list[Example]:
    ranked, _ = retrieve(index, examples, k)
    return [
        with_passages(e, [index.chunks[j] for j in r[:k]])
        for e, r in zip(examples, ranked, strict=True)
    ]


def balanced(train: list[Example], seed: int, run_dir: Path) -> list[Example]:
    """At most MAX_UNANSWERABLE_SHARE of the training questions unanswerable. Every
    unanswerable question has the same answer, so when half the data says it (SQuAD 2.0),
    greedy decoding learns to say it always (measured: 40 steps on 569 SQuAD 2.0
    questions, 100% abstention on answerable ones). The holdout keeps its own share."""
    yes = [e for e in train if e.answerable]
    no = [e for e in train if not e.answerable]
    room = int(len(yes) * MAX_UNANSWERABLE_SHARE / (1 - MAX_UNANSWERABLE_SHARE))
    if len(no) <= room:
        return train
    keep = set(map(id, random.Random(seed).sample(no, room)))
    runs.emit(run_dir, "note", message=f"trained on {room} of {len(no)} unanswerable questions")
    return [e for e in train if e.answerable or id(e) in keep]


def qa_learning_rate(ctx: PilotContext) -> PilotContext:
    """Adapters at the SFT default (1e-3) collapse onto the one shared answer on question
    answering: QA_LORA_LR unless the config names a rate. Full fine-tuning keeps its own
    default (5e-5), already far lower."""
    adapters = METHODS[ctx.cfg.method].compute in ("lora", "qlora")
    if ctx.cfg.train.learning_rate is not None or not adapters:
        return ctx
    return ctx.with_training(learning_rate=QA_LORA_LR)


def fit_length(ctx: PilotContext, train: list[Example]) -> PilotContext:
    """Training sequences must hold the passages whole: the loop keeps a long prompt's
    end, which would cut the first passages off. Raised (never lowered) to the longest
    training prompt plus answer, at most MAX_PASSAGE_SEQ_LEN tokens; the event log says so."""
    longest = max(
        len(ctx.tok.apply_chat_template([m.model_dump() for m in e.messages], tokenize=True))
        + len(ctx.tok(e.target, add_special_tokens=False)["input_ids"])
        + 2
        for e in train
    )
    need = min(MAX_PASSAGE_SEQ_LEN, longest)
    if need <= ctx.cfg.train.max_seq_len:
        return ctx
    ctx.emit("note", message=f"max_seq_len raised to {need} to hold the passages")
    return ctx.with_training(max_seq_len=need)


def training_set(ctx: PilotContext, index: HybridIndex | None) -> tuple[PilotContext, Dataset]:
    """What a method that learns on questions trains on, and the context it trains with:
    with the passages retrieved for each question (misses included, as at inference) when
    the method trains on them, the sequence length raised to hold them, at most a quarter
    unanswerable, and the QA learning rate for adapters."""
    train = list(ctx.train_ds.examples)
    if METHODS[ctx.cfg.method].passages_in_training:
        if index is None:
            raise ValueError("training on passages needs the index")
        train = asked_with_passages(index, train, ctx.cfg.top_k)
        ctx = fit_length(ctx, train)
    train = balanced(train, ctx.cfg.seed, ctx.run_dir)
    return qa_learning_rate(ctx), Dataset(task="generate", format="qa", examples=tuple(train))
