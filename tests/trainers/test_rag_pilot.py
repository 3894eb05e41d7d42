"""Issue 16: pilots over documents through the CLI (rag, fine_tune_rag, closed-book lora),
bad documents at the command line, and a rag run recalibrating the cost model."""

import json
from pathlib import Path

import pytest

from cli import main
from tests.trainers.test_endpoint import faulty  # noqa: F401 (the loopback server)
from tests.trainers.test_rag import DOCS, QUESTIONS, blank_pdf

ANSWER_KEYS = {"exact_match", "f1", "chrf", "abstained_when_unanswerable"}
INTERVAL = {"value", "ci_low", "ci_high", "n"}


@pytest.fixture(scope="module")
def tiny_qa_model(tmp_path_factory):
    """A tiny random model whose word-level vocabulary covers the demo documents and
    questions: fast enough to train in a test."""
    from trainers.models import tiny_model_dir

    text = QUESTIONS.read_text() + "".join(p.read_text() for p in sorted(DOCS.iterdir()))
    for ch in ",.?!\"{}[]:#()'<>/=-":
        text = text.replace(ch, f" {ch} ")
    text += " Passages Question Answer short phrase copied from reply not in the documents"
    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny_qa", text)


def _pilot(capsys, method: str, *extra: str) -> dict:
    argv = [
        "pilot",
        "--foreground",
        "--method",
        method,
        "--data",
        str(QUESTIONS),
        "--holdout-fraction",
        "0.5",
    ]
    assert main([*argv, "--no-probe", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _contract(out: dict, systems: set[str]) -> dict:
    rag = out["measurement"]["rag"]
    assert set(rag["answers"]) == systems
    for a in rag["answers"].values():
        assert set(a) >= ANSWER_KEYS and set(a["f1"]) >= INTERVAL and set(a["chrf"]) >= INTERVAL
        assert a["f1"]["n"] > 0 and a["abstained_when_unanswerable"]["n"] > 0
    assert out["measurement"]["quality"]["metric"] == "f1"
    hw = out["measurement"]["hardware"]  # every run names the machine it measured on
    assert hw["cpu_model"] and hw["cpu_cores"] >= 1
    return rag


@pytest.mark.slow
def test_rag_on_the_default_model_prints_retrieval_answers_abstention_and_costs(runs_dir, capsys):
    out = _pilot(capsys, "rag", "--docs", str(DOCS))
    rag = _contract(out, {"closed_book", "rag"})
    r = rag["retrieval"]
    assert r["hit_at_1"] >= 0.8 and r["hit_at_5"] >= r["hit_at_1"] and 0 < r["mrr_at_10"] <= 1
    assert rag["index_build_seconds"] > 0 and rag["documents_per_second"] > 0
    assert rag["documents"] == 5 and rag["context_tokens_per_request"] > 50
    assert "rag - closed_book" in rag["f1_gain"]
    saved = json.loads((Path(out["run_dir"]) / "metrics.json").read_text())
    wrong = saved["samples"][0]  # worst first, with the passages it was given
    assert len(wrong["passages"]) == 3
    assert main(["runs", "show", Path(out["run_dir"]).name]) == 0  # the text report
    text = capsys.readouterr().out
    assert "retrieval (fused" in text and "rag: F1" in text and "F1 rag - closed_book" in text


def test_fine_tune_rag_and_closed_book_lora_keep_the_same_contract(runs_dir, capsys, tiny_qa_model):
    steps = ["--model", str(tiny_qa_model), "--max-steps", "2", "--batch-size", "4"]
    ft = _pilot(capsys, "fine_tune_rag", "--docs", str(DOCS), *steps)
    rag = _contract(ft, {"closed_book", "rag", "fine_tune_rag"})
    assert {"fine_tune_rag - closed_book", "fine_tune_rag - rag"} <= set(rag["f1_gain"])
    assert ft["training"]["steps"] == 2 and rag["retrieval"]["hit_at_5"] >= 0.8
    closed = _pilot(capsys, "lora", *steps)
    assert set(closed["measurement"]["rag"]["answers"]) == {"closed_book", "lora"}
    assert closed["measurement"]["rag"]["retrieval"] is None  # no documents, no retrieval
    with_docs = _pilot(capsys, "lora", "--docs", str(DOCS), *steps)
    assert set(with_docs["measurement"]["rag"]["answers"]) == {"closed_book", "rag", "lora"}
    # the HTML report shows the run's retrieval, answers and worst answers with passages
    scenario = Path(__file__).parents[2] / "examples" / "product_faq_rag.yaml"
    report = runs_dir / "report.html"
    run_id = Path(ft["run_dir"]).name
    argv = ["export", str(scenario), "--runs", run_id, "--format", "html", "--out", str(report)]
    assert main(argv) == 0
    page = report.read_text()
    assert f"Run {run_id}: answers over your documents" in page
    assert "hit@5" in page and "Passages given" in page
    assert "fine-tune + RAG (trained with passages)" in page


def test_bad_documents_are_named_at_the_command_line_and_the_rest_indexed(
    runs_dir, capsys, tmp_path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text((DOCS / "returns.md").read_text())
    (docs / "empty.txt").write_text("")
    (docs / "scan.pdf").write_bytes(blank_pdf())
    (docs / "photo.txt").write_bytes(b"\x00\x01binary")
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "rag",
        "--data",
        str(QUESTIONS),
        "--docs",
        str(docs),
    ]
    assert main([*argv, "--preflight"]) == 0
    err = capsys.readouterr().err
    reasons = {"empty.txt": "empty file", "scan.pdf": "no text", "photo.txt": "binary"}
    for name, why in reasons.items():
        assert f"docs: skipped {name}: {why}" in err
    (docs / "returns.md").unlink()  # nothing readable left
    assert main([*argv, "--preflight"]) == 2
    assert "no readable document" in capsys.readouterr().err


def test_rag_needs_documents_and_questions(runs_dir, capsys):
    from tests.trainers.conftest import DEMO_CSV

    assert main(["pilot", "--foreground", "--method", "rag", "--data", str(QUESTIONS)]) == 2
    assert "docs: method rag needs the documents" in capsys.readouterr().err
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "rag",
        "--data",
        str(DEMO_CSV),
        "--docs",
        str(DOCS),
    ]
    assert main(argv) == 2
    assert "needs questions JSONL" in capsys.readouterr().err


@pytest.mark.slow
def test_the_pilot_page_runs_rag_over_the_demo_documents_and_shows_why_answers_failed(runs_dir):
    import time

    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from trainers import runs

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    demo = next(o for o in at.selectbox(key="demo_choice").options if "policy questions" in o)
    at.selectbox(key="demo_choice").set_value(demo).run()
    at.selectbox(key="method").set_value("rag").run()
    at.text_input(key="holdout_max").set_value("8").run()
    assert at.radio(key="docs_source").value == "demo documents"
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="launch").click().run()
    (row,) = runs.index_list()
    run_dir = Path(row["run_dir"])
    deadline = time.time() + 240
    while runs.status(run_dir) in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert runs.status(run_dir) == "done", (run_dir / "log.txt").read_text()[-2000:]
    at.run()
    assert not at.exception
    assert "Answers over your documents" in [h.value for h in at.subheader]
    assert any(c.value.startswith("Measured on ") for c in at.caption)  # names the machine
    tables = [d.value for d in at.table]
    retrieval = next(t for t in tables if "hit@5" in t.columns)
    assert retrieval["hit@5"].iloc[0].endswith("%")
    answers = next(t for t in tables if t.index.name == "System")
    assert list(answers.index) == ["closed-book (question only)", "RAG (retrieved passages)"]
    assert any("gold:" in e.label for e in at.expander)


def test_rag_through_an_endpoint_measures_the_context_it_sends(runs_dir, capsys, faulty):  # noqa: F811
    """The capable model answers closed-book and with passages; the context tokens are the
    server's own count (the faulty server counts words), and the advice prices RAG so."""
    from tests.trainers.test_endpoint import Faulty

    Faulty.prompt_tokens = None
    out = _pilot(
        capsys, "rag", "--docs", str(DOCS), "--endpoint-url", faulty, "--endpoint-model", "m"
    )
    m = out["measurement"]
    hold = m["holdout_examples"]
    assert m["endpoint"]["requests"] == hold and len(Faulty.seen) == 2 * hold
    rag = m["rag"]
    assert set(rag["answers"]) == {"closed_book", "rag"}
    sent = [json.loads(k)[-1]["content"] for k in Faulty.seen if "Passages:" in k]
    words = sum(len(s.split()) for s in sent) / len(sent)
    assert 0.8 * words < rag["context_tokens_per_request"] < words  # passages, not question


def test_distill_rag_learns_the_teachers_answers_from_passages_and_scores_all_three(
    runs_dir, capsys, tiny_qa_model
):
    """The teacher (a local model folder here; a fine_tune_rag run's merged/ or an
    endpoint in use) answers from the retrieved passages; the student learns its answers;
    the run scores the student against rag alone and against the teacher, paired."""
    steps = ["--model", str(tiny_qa_model), "--max-steps", "2", "--batch-size", "4"]
    teacher = ["--teacher", str(tiny_qa_model)]
    out = _pilot(capsys, "distill_rag", "--docs", str(DOCS), *teacher, *steps)
    rag = _contract(out, {"closed_book", "rag", "distill_rag", "teacher"})
    assert {"distill_rag - rag", "distill_rag - teacher", "teacher - rag"} <= set(rag["f1_gain"])
    assert all(set(rag["f1_gain"][k]) >= INTERVAL for k in rag["f1_gain"])
    t = out["teacher"]  # the filter's counts, by reason
    assert t["kept"] >= 1 and set(t["dropped"]) == {"empty", "too_long", "regex", "no_label"}
    assert out["measurement"]["method"] == "distill_rag" and out["training"]["steps"] == 2
