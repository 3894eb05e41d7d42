"""Scoring a question-answering pilot: answers by exact match, token F1 (SQuAD's
normalisation: lower case, no punctuation or articles) and chrF, best over the gold
answers, on the answerable questions; abstention on both kinds; retrieval hit@k and
MRR@10 against the gold passage; and paired F1 differences between systems."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

from core.measurement import (
    Z95,
    AnswerScores,
    Difference,
    QualityMeasure,
    RetrievalScores,
    mean_score,
    wilson,
)
from core.text import NO_ANSWER, chrf


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def says_no_answer(pred: str) -> bool:
    return normalize_answer(NO_ANSWER) in normalize_answer(pred)


def _f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def row_f1(pred: str, golds: Sequence[str]) -> float:
    """Best token F1 over the gold answers (0 when the system abstained)."""
    return 0.0 if says_no_answer(pred) else max((_f1(pred, g) for g in golds), default=0.0)


def _share(k: int, n: int, metric: str) -> QualityMeasure | None:
    if n == 0:
        return None
    lo, hi = wilson(k, n)
    return QualityMeasure(metric=metric, value=k / n, ci_low=lo, ci_high=hi, n=n)


def answer_scores(
    preds: Sequence[str], golds: Sequence[Sequence[str]], answerable: Sequence[bool]
) -> AnswerScores:
    """golds: each question's accepted answers (empty for an unanswerable one)."""
    rows = list(zip(preds, golds, answerable, strict=True))
    yes = [(p, g) for p, g, a in rows if a]
    no = [p for p, _, a in rows if not a]
    em = sum(any(normalize_answer(p) == normalize_answer(x) for x in g) for p, g in yes)
    return AnswerScores(
        exact_match=_share(em, len(yes), "exact_match")
        or QualityMeasure(metric="exact_match", value=0, ci_low=0, ci_high=0, n=0),
        f1=mean_score([row_f1(p, g) for p, g in yes], "f1"),
        chrf=mean_score([max((chrf(p, x) for x in g), default=0.0) for p, g in yes], "chrf"),
        abstained_when_unanswerable=_share(sum(map(says_no_answer, no)), len(no), "abstained"),
        abstained_when_answerable=_share(
            sum(says_no_answer(p) for p, _ in yes), len(yes), "abstained"
        ),
    )


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Mean of a - b row by row, with a normal-approximation 95% interval."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    n = len(d)
    mean = sum(d) / max(1, n)
    var = sum((v - mean) ** 2 for v in d) / max(1, n - 1)
    half = Z95 * math.sqrt(var / max(1, n))
    return Difference(value=mean, ci_low=mean - half, ci_high=mean + half, n=n)


def retrieval_scores(
    mode: str,
    ranked_docs: Sequence[Sequence[str]],
    gold_docs: Sequence[str | None],
    contexts: Sequence[str],
    golds: Sequence[Sequence[str]],
) -> RetrievalScores:
    """ranked_docs: each answerable question's retrieved document ids, best first (at
    least 10 deep for MRR@10); contexts: the text the model was given."""
    n = len(ranked_docs)
    named = [(r, g) for r, g in zip(ranked_docs, gold_docs, strict=True) if g]

    def hit(k: int) -> float | None:
        return sum(g in r[:k] for r, g in named) / len(named) if named else None

    mrr = (
        sum(1 / (list(r[:10]).index(g) + 1) if g in r[:10] else 0 for r, g in named) / len(named)
        if named
        else None
    )
    inside = [
        any(normalize_answer(x) in normalize_answer(c) for x in g if normalize_answer(x))
        for c, g in zip(contexts, golds, strict=True)
    ]
    return RetrievalScores(
        mode=mode,
        questions=n,
        hit_at_1=hit(1),
        hit_at_3=hit(3),
        hit_at_5=hit(5),
        mrr_at_10=mrr,
        answer_in_context=sum(inside) / n if n else None,
    )
