"""A pilot over documents as table rows (plain dicts), for the Runs page and the HTML
report alike: the index, retrieval, every system's answers, paired F1 differences, and the
worst answers beside the passages they were given."""

from __future__ import annotations

from core.measurement import QualityMeasure, RagStats
from core.vocab import METHODS
from trainers.metrics import PilotMetrics

SYSTEM_NAMES = {
    "closed_book": "closed-book (question only)",
    "rag": "RAG (retrieved passages)",
    "teacher": "the teacher (retrieved passages)",
}


def system_name(name: str) -> str:
    """A system scored over documents, in words: closed-book, RAG, or a trained method
    (with the passages it was trained on, or closed-book), from the vocabulary."""
    if name in SYSTEM_NAMES or name not in METHODS:
        return SYSTEM_NAMES.get(name, name)
    spec = METHODS[name]  # type: ignore[index]
    return (
        f"{spec.label} (trained with passages)"
        if spec.passages_in_training
        else f"{spec.label}, closed-book"
    )


def _pct(q: QualityMeasure | None) -> str:
    return f"{q.value:.1%} [{q.ci_low:.1%}, {q.ci_high:.1%}]" if q else ""


def index_row(r: RagStats) -> dict:
    return {
        "Documents": r.documents,
        "Passages": r.chunks,
        "Passage size (chars, overlap)": f"{r.chunk_chars} ({r.chunk_overlap_chars})",
        "Index build s": f"{r.index_build_seconds:.1f}" + (" (reused)" if r.index_reused else ""),
        "Documents/s": f"{r.documents_per_second:,.0f}",
        "Context tokens a request": f"{r.context_tokens_per_request:,.0f} (top {r.top_k})",
        "Query ms": f"{r.query_latency_ms:.1f}",
    }


def retrieval_row(r: RagStats) -> dict | None:
    t = r.retrieval
    if t is None:
        return None
    fmt = lambda v: "" if v is None else f"{v:.1%}"  # noqa: E731
    return {
        "Retriever": RETRIEVERS.get(t.mode, t.mode),
        "Questions": t.questions,
        "hit@1": fmt(t.hit_at_1),
        "hit@3": fmt(t.hit_at_3),
        "hit@5": fmt(t.hit_at_5),
        "MRR@10": "" if t.mrr_at_10 is None else f"{t.mrr_at_10:.3f}",
        "Answer in passages": fmt(t.answer_in_context),
    }


def answer_rows(r: RagStats) -> list[dict]:
    return [
        {
            "System": system_name(name),
            "F1": _pct(a.f1),
            "Exact match": _pct(a.exact_match),
            "chrF": _pct(a.chrf),
            "Says 'not in the documents' when it is not": _pct(a.abstained_when_unanswerable),
            "... when it is": _pct(a.abstained_when_answerable),
        }
        for name, a in r.answers.items()
    ]


def gain_rows(r: RagStats) -> list[dict]:
    """Each paired F1 difference in words ("RAG (retrieved passages) over closed-book")."""
    rows = []
    for k, d in r.f1_gain.items():
        a, _, b = k.partition(" - ")
        rows.append(
            {
                "Paired F1 difference": f"{system_name(a)} over {system_name(b)}",
                "Points [95% interval]": d.text(),
            }
        )
    return rows


RETRIEVERS = {
    "fused": "BM25 and embeddings, fused",
    "bm25": "BM25 (words)",
    "dense": "embeddings",
}


def wrong_answer_rows(p: PilotMetrics, n: int = 5) -> list[dict]:
    """The worst answers (samples are stored worst first) and what retrieval gave them."""
    return [
        {
            "Question": s.input,
            "Gold": s.gold,
            "Answer": s.predicted,
            "Passages given": " || ".join(x[:240] for x in s.passages),
        }
        for s in p.samples[:n]
    ]
