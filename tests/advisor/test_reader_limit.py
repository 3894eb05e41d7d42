"""Issue 25, item 8: when retrieval finds the answer far more often than the small reader
gets it right, the note says the reader is the limit and how to measure a capable one."""

from advisor import Scenario
from advisor.measured import measurement_rules
from core.measurement import AnswerScores, Measurement, QualityMeasure, RagStats, RetrievalScores


def _q(v, metric="f1", n=108):
    return QualityMeasure(metric=metric, value=v, ci_low=max(0, v - 0.05), ci_high=v + 0.05, n=n)


def _rag(found: float, f1: float) -> RagStats:
    scores = lambda v: AnswerScores(exact_match=_q(v, "em"), f1=_q(v), chrf=_q(v, "chrf"))  # noqa: E731
    return RagStats(
        documents=20,
        chunks=300,
        chunk_chars=1200,
        chunk_overlap_chars=150,
        top_k=3,
        index_build_seconds=4.0,
        documents_per_second=5.0,
        retrieval=RetrievalScores(mode="fused", questions=108, answer_in_context=found),
        answers={"closed_book": scores(0.02), "rag": scores(f1)},
    )


def test_the_reader_is_named_as_the_limit_only_when_it_is():
    note = _rag(0.907, 0.079).reader_limit()
    assert "90.7%" in note and "F1 7.9%" in note and "the reader is the limit" in note
    assert "--endpoint-url" in note
    assert _rag(0.907, 0.8).reader_limit() is None  # a good reader
    assert _rag(0.3, 0.05).reader_limit() is None  # retrieval fails first


def test_the_advice_quotes_the_reader_limit():
    m = Measurement(
        run_id="r1",
        method="rag",
        model="SmolLM2-135M",
        model_params=1,
        device="cpu",
        train_examples=0,
        holdout_examples=160,
        train_tokens=0,
        tokens_per_second=0,
        generation_tokens_per_second=1,
        peak_memory_mib=1,
        wall_seconds=1,
        quality=_q(0.079),
        baselines={"rag": _q(0.079)},
        rag=_rag(0.907, 0.079),
    )
    rules = measurement_rules(Scenario(task_kind="summarize_generate"), [m])
    text = " ".join(r.rationale for r in rules)
    assert "the reader is the limit" in text
