"""Documents cut into passages by their structure: sections at Markdown headings, then
paragraphs packed up to a size, each passage starting with the tail of the one before
(the overlap) so an answer that straddles a boundary is whole in one of them. Each passage
keeps its document's id (for hit@k against gold passages) and its heading path (shown to
the model, since a paragraph often depends on the heading above it)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from rag.documents import Document

HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


class Chunk(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    doc_id: str
    title: str
    """The document's title and the headings above the passage."""
    text: str


def _sections(text: str) -> list[tuple[list[str], list[str]]]:
    """(heading path, paragraphs) in order."""
    out: list[tuple[list[str], list[str]]] = [([], [])]
    path: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        first, *rest = para.splitlines()
        m = HEADING.match(first)
        if m:
            level = len(m.group(1))
            path = [*path[: level - 1], m.group(2).strip()]
            out.append((list(path), []))
            para = "\n".join(rest).strip()
            if not para:
                continue
        out[-1][1].append(para)
    return [s for s in out if s[1]]


def _pieces(para: str, size: int) -> list[str]:
    """A paragraph longer than a chunk, cut at sentence ends (else at spaces)."""
    if len(para) <= size:
        return [para]
    out, cur = [], ""
    for sent in re.split(r"(?<=[.!?])\s+", para):
        while len(sent) > size:  # one enormous sentence: cut at the last space
            cut = sent.rfind(" ", 0, size)
            cut = cut if cut > 0 else size
            out, cur = ([*out, cur] if cur else out), ""
            out.append(sent[:cut])
            sent = sent[cut:].lstrip()
        if cur and len(cur) + 1 + len(sent) > size:
            out.append(cur)
            cur = sent
        else:
            cur = f"{cur} {sent}".strip()
    return [*out, cur] if cur else out


def chunk_documents(docs: list[Document], size_chars: int, overlap_chars: int) -> list[Chunk]:
    """Every document's passages, at most size_chars each plus the overlap."""
    chunks: list[Chunk] = []
    for doc in docs:
        n = 0
        for path, paras in _sections(doc.text):
            path = path[1:] if path[:1] == [doc.title] else path  # the title is its H1
            title = " > ".join([doc.title, *path])
            cur, tail = "", ""
            for piece in (p for para in paras for p in _pieces(para, size_chars)):
                if cur and len(cur) + 2 + len(piece) > size_chars:
                    chunks.append(Chunk(id=f"{doc.id}::{n}", doc_id=doc.id, title=title, text=cur))
                    n += 1
                    tail = _tail(cur, overlap_chars)
                    cur = f"{tail}\n\n{piece}" if tail else piece
                else:
                    cur = f"{cur}\n\n{piece}" if cur else piece
            if cur:
                chunks.append(Chunk(id=f"{doc.id}::{n}", doc_id=doc.id, title=title, text=cur))
                n += 1
    return chunks


def _tail(text: str, chars: int) -> str:
    """The last `chars` characters, started at a word boundary."""
    if chars <= 0:
        return ""
    tail = text[-chars:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < len(tail) - 1 and len(text) > chars else tail
