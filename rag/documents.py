"""A team's documents in: a folder or files of .txt, .md, .html, .pdf, .docx, and JSONL of
{id, title, text}. Text and Markdown are read as UTF-8; HTML and .docx with the standard
library (headings kept as Markdown '#' lines, so chunking can follow them); PDF with pypdf
(pure Python, no dependencies). markitdown was weighed and not taken: it converts the
same formats but pulls in onnxruntime and magika (over 50 MB) for file-type detection.

A file that cannot be read is named with its reason and the rest are read: nothing here
raises for one bad file. Archives are refused, and each file and the whole set are capped.
"""

from __future__ import annotations

import json
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

from pydantic import BaseModel, ConfigDict

from core.scenario import InputError

MAX_FILE_BYTES = 20 * 2**20
MAX_TOTAL_BYTES = 500 * 2**20
MAX_FILES = 20_000
TEXT_TYPES = {".txt", ".md", ".markdown"}
READABLE = TEXT_TYPES | {".html", ".htm", ".pdf", ".docx", ".jsonl"}
ARCHIVES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"}


class Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    """The gold-passage id questions may name (a JSONL record's id, else the file path)."""
    title: str
    text: str
    source: str
    """The file it came from."""


class Skipped(BaseModel):
    """A file (or a JSONL line) that was not indexed, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    file: str
    reason: str


def read_documents(path: str | Path) -> tuple[list[Document], list[Skipped]]:
    """Every readable document under path (a folder, read recursively, or one file), and
    every file skipped with its reason. Raises only when nothing at all could be read."""
    root = Path(path).expanduser()
    if not root.exists():
        raise InputError(f"docs: {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    if len(files) > MAX_FILES:
        raise InputError(f"docs: {len(files):,} files under {root}; at most {MAX_FILES:,}")
    docs: list[Document] = []
    skipped: list[Skipped] = []
    total = 0
    for f in files:
        name = str(f.relative_to(root)) if root.is_dir() else f.name
        try:
            size = f.stat().st_size
            total += size
            if total > MAX_TOTAL_BYTES:
                raise ValueError(f"over the {MAX_TOTAL_BYTES // 2**20} MiB limit for all documents")
            docs += _read_one(f, name, size)
        except ValueError as e:
            skipped.append(Skipped(file=name, reason=str(e)))
        except JsonlLineErrors as e:
            docs += e.docs
            skipped += e.bad
    if not docs:
        why = "; ".join(f"{s.file}: {s.reason}" for s in skipped[:3])
        raise InputError(f"docs: no readable document under {root}" + (f" ({why})" if why else ""))
    return docs, skipped


class JsonlLineErrors(Exception):
    """A JSONL file read in part: its good records and its bad lines."""

    def __init__(self, docs: list[Document], bad: list[Skipped]):
        self.docs, self.bad = docs, bad


def _read_one(f: Path, name: str, size: int) -> list[Document]:
    ext = f.suffix.lower()
    if ext in ARCHIVES:
        raise ValueError("archives are not read: unpack it and give the folder")
    if ext not in READABLE:
        kinds = ", ".join(sorted(READABLE))
        raise ValueError(f"unsupported type {ext or '(none)'}; readable: {kinds}")
    if size == 0:
        raise ValueError("empty file")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{size / 2**20:.0f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit")
    if ext == ".pdf":
        text = _pdf_text(f)
    elif ext == ".docx":
        text = _docx_text(f)
    else:
        raw = f.read_bytes()
        if b"\x00" in raw[:8192]:
            raise ValueError("binary content, not text")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise ValueError(f"line {line}: not UTF-8 text (save it as UTF-8)") from None
        if ext == ".jsonl":
            return _jsonl_docs(text, name)
        if ext in (".html", ".htm"):
            text = html_text(text)
    if not text.strip():
        scanned = " (a scanned PDF? run OCR first)" if ext == ".pdf" else ""
        raise ValueError("no text in it" + scanned)
    return [Document(id=name, title=_title(text, f.stem), text=text, source=name)]


def _title(text: str, fallback: str) -> str:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return first.lstrip("# ").strip()[:120] if first.startswith("#") else fallback


def _jsonl_docs(text: str, name: str) -> list[Document]:
    docs, bad = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                raise ValueError("needs a 'text' field")
            if not rec["text"].strip():
                raise ValueError("'text' is empty")
            doc_id = str(rec.get("id") or f"{name}#{n}")
            title = str(rec.get("title") or doc_id)
            docs.append(Document(id=doc_id, title=title, text=rec["text"], source=name))
        except (json.JSONDecodeError, ValueError) as e:
            bad.append(Skipped(file=f"{name} line {n}", reason=str(e).splitlines()[0]))
    if bad:
        raise JsonlLineErrors(docs, bad)
    if not docs:
        raise ValueError("no records")
    return docs


def _pdf_text(f: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(f))
        return "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except (PdfReadError, OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"not a readable PDF ({type(e).__name__})") from None


W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_text(f: Path) -> str:
    """Paragraphs of word/document.xml; a 'Heading N' style becomes N '#'s."""
    try:
        with zipfile.ZipFile(f) as z:
            info = z.getinfo("word/document.xml")
            if info.file_size > 8 * MAX_FILE_BYTES:  # a zip bomb inflates far past its size
                raise ValueError("document.xml is implausibly large")
            root = ElementTree.fromstring(z.read(info))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as e:
        raise ValueError(f"not a readable .docx ({type(e).__name__})") from None
    lines = []
    for p in root.iter(f"{W}p"):
        text = "".join(t.text or "" for t in p.iter(f"{W}t")).strip()
        style = p.find(f"{W}pPr/{W}pStyle")
        level = (style.get(f"{W}val") or "") if style is not None else ""
        if text and level.lower().startswith("heading") and level[-1:].isdigit():
            text = "#" * int(level[-1]) + " " + text
        lines.append(text)
    return "\n\n".join(ln for ln in lines if ln)


class _HTMLText(HTMLParser):
    SKIP = {"script", "style", "nav", "footer", "head"}
    BLOCK = {"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK or tag.startswith("h"):
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    """Visible text of an HTML page, headings as Markdown '#' lines."""
    parser = _HTMLText()
    parser.feed(html)
    text = "".join(parser.parts)
    paras = (" ".join(p.split()) for p in text.split("\n\n"))
    return "\n\n".join(p for p in paras if p)
