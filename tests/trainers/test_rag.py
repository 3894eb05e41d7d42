"""Issue 16: documents in, passages, the hybrid index, and the answer and retrieval
metrics (fast; the pilots themselves are in test_rag_pilot.py)."""

import json
import zipfile

import pytest

from core.scenario import InputError
from rag import documents
from rag.chunk import chunk_documents
from rag.documents import Document, read_documents
from rag.qa import (
    NO_ANSWER,
    answer_scores,
    normalize_answer,
    paired_difference,
    retrieval_scores,
    row_f1,
)
from tests.conftest import EXAMPLES

DOCS = EXAMPLES / "docs" / "larkspur"
QUESTIONS = EXAMPLES / "data" / "policy_questions.jsonl"


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose page shows `text` in Helvetica (offsets computed, so pypdf
    reads it without repairs)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def blank_pdf() -> bytes:
    from io import BytesIO

    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=612, height=792)
    buf = BytesIO()
    w.write(buf)
    return buf.getvalue()


def docx(paragraphs: list[tuple[str | None, str]]) -> bytes:
    """A minimal .docx: (style, text) paragraphs."""
    from io import BytesIO

    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    body = "".join(
        "<w:p>"
        + (f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else "")
        + f"<w:r><w:t>{text}</w:t></w:r></w:p>"
        for style, text in paragraphs
    )
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", f"<w:document {ns}><w:body>{body}</w:body></w:document>")
    return buf.getvalue()


def test_bad_documents_are_named_and_the_rest_are_indexed(tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "MAX_FILE_BYTES", 4000)
    (tmp_path / "good.md").write_text("# Leave\n\nStaff get 25 days of paid leave a year.")
    (tmp_path / "scan.pdf").write_bytes(blank_pdf())
    (tmp_path / "text.pdf").write_bytes(text_pdf("Parking is free for staff after 6 pm."))
    (tmp_path / "handbook.docx").write_bytes(
        docx([("Heading1", "Travel"), (None, "Trains are booked in second class.")])
    )
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    (tmp_path / "huge.txt").write_text("word " * 2000)
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 opens at 8.".encode("latin-1"))
    (tmp_path / "bundle.zip").write_bytes(b"PK\x03\x04")
    (tmp_path / "broken.docx").write_bytes(b"not a zip at all")
    (tmp_path / "more.jsonl").write_text(
        json.dumps({"id": "p1", "title": "Pets", "text": "Dogs are welcome."}) + "\n{oops\n"
    )
    docs, skipped = read_documents(tmp_path)
    why = {s.file: s.reason for s in skipped}
    assert {d.source for d in docs} == {"good.md", "text.pdf", "handbook.docx", "more.jsonl"}
    assert why["scan.pdf"].startswith("no text in it (a scanned PDF?")
    assert why["empty.txt"] == "empty file"
    assert why["image.txt"] == "binary content, not text"
    assert "over the" in why["huge.txt"] and "MiB limit" in why["huge.txt"]
    assert why["latin1.txt"] == "line 1: not UTF-8 text (save it as UTF-8)"
    assert why["bundle.zip"].startswith("archives are not read")
    assert why["broken.docx"].startswith("not a readable .docx")
    assert why["more.jsonl line 2"]
    text = {d.source: d.text for d in docs}
    assert "Parking is free" in text["text.pdf"]
    assert text["handbook.docx"].startswith("# Travel")
    assert next(d for d in docs if d.source == "more.jsonl").id == "p1"


def test_nothing_readable_is_an_input_error_naming_the_files(tmp_path):
    (tmp_path / "a.txt").write_text("")
    with pytest.raises(InputError, match="no readable document.*a.txt: empty file"):
        read_documents(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        read_documents(tmp_path / "nowhere")


def test_html_keeps_headings_and_drops_navigation_and_scripts():
    docs, _ = read_documents(DOCS / "shipping.html")
    text = docs[0].text
    assert "# Shipping" in text and "## Express delivery" in text
    assert "Home | Bikes" not in text and "font-family" not in text


def test_chunks_follow_headings_cap_their_size_and_overlap():
    long = " ".join(f"Sentence {i} says something about bikes." for i in range(80))
    doc = Document(
        id="d", title="Guide", text=f"# Guide\n\nIntro.\n\n## Brakes\n\n{long}", source="d"
    )
    chunks = chunk_documents([doc], size_chars=400, overlap_chars=60)
    assert chunks[0].title == "Guide" and chunks[0].text == "Intro."
    brakes = [c for c in chunks if c.title == "Guide > Brakes"]
    assert len(brakes) > 3 and all(len(c.text) <= 400 + 60 + 2 for c in brakes)
    for a, b in zip(brakes, brakes[1:], strict=False):  # each starts with the last one's end
        assert b.text.split("\n\n")[0] in a.text
    assert len({c.id for c in chunks}) == len(chunks)


def test_the_index_finds_the_gold_passage_and_is_reused_not_rebuilt(tmp_path):
    from rag.index import HybridIndex
    from trainers.models import embedding_model_dir

    docs, _ = read_documents(DOCS)
    chunks = chunk_documents(docs, 1200, 150)
    enc = str(embedding_model_dir())
    index, about = HybridIndex.open(chunks, tmp_path / "index", enc)
    assert not about["reused"] and about["documents"] == 5 and about["build_seconds"] > 0
    qs = [json.loads(x) for x in QUESTIONS.read_text().splitlines()]
    qs = [q for q in qs if q["answerable"]]
    for mode in ("bm25", "dense", "fused"):
        ranked = index.search([q["question"] for q in qs], 5, mode)
        found = [
            any(chunks[j].doc_id == q["source_id"] for j in r)
            for r, q in zip(ranked, qs, strict=True)
        ]
        assert sum(found) / len(qs) >= 0.9, mode
    again, about2 = HybridIndex.open(chunks, tmp_path / "index", enc)
    assert about2["reused"] and again.dense.shape == index.dense.shape
    query = ["express delivery price"]
    assert again.search(query, 1) == index.search(query, 1)


def test_answer_metrics_follow_squad_and_count_abstention():
    assert normalize_answer("The  Original-Owner!") == "originalowner"
    assert row_f1("the original owner", ["original owner"]) == 1.0
    assert row_f1("owner of it", ["original owner"]) == pytest.approx(0.4)
    assert row_f1(f"Sorry, {NO_ANSWER}.", ["original owner"]) == 0.0
    s = answer_scores(
        ["30 days", "two years", NO_ANSWER, "maybe"],
        [["30 days"], ["2 years"], [], []],
        [True, True, False, False],
    )
    assert s.exact_match.value == 0.5 and s.exact_match.n == 2
    assert s.f1.value == pytest.approx((1 + 0.5) / 2)
    assert s.abstained_when_unanswerable.value == 0.5 and s.abstained_when_answerable.value == 0


def test_retrieval_metrics_and_a_paired_difference():
    r = retrieval_scores(
        "fused",
        [["a", "b"], ["c", "a"], ["x", "y"]],
        ["a", "a", "a"],
        ["the answer is 42", "nothing", "42 again"],
        [["42"], ["42"], ["42"]],
    )
    assert (r.hit_at_1, r.hit_at_5) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert r.mrr_at_10 == pytest.approx((1 + 0.5 + 0) / 3)
    assert r.answer_in_context == pytest.approx(2 / 3)
    d = paired_difference([1, 1, 1, 0.5], [0, 0, 1, 0.5])
    assert d.value == 0.5 and d.ci_low < 0.5 < d.ci_high and d.n == 4
