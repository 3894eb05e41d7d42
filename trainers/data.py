"""Datasets in the formats users already have, validated row by row.

Formats: OpenAI chat JSONL (`messages`), prompt/completion JSONL, alpaca JSON or JSONL
(`instruction`, `input`, `output`), and CSV with `text,label` for classification and
routing. Every example becomes chat messages (the prompt) plus a target string, so that
baseline and tuned models see exactly the same template.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

from core.scenario import InputError
from core.text import NO_ANSWER
from trainers import fields as fieldmod
from trainers.records import DataError, Dataset, Example, Message, RowError

__all__ = ["DataError", "Dataset", "Example", "Message", "RowError", "load_dataset", "validate"]

MAX_FILE_BYTES = 200 * 2**20
MAX_FIELD_CHARS = 100_000
CLASSIFY_SYSTEM = "Answer with the label."  # short: every token is paid for at every step
LIST_LABELS_UP_TO = 20  # the template lists the labels when there are this few
MAX_LABELS = 10_000
LABEL_COLUMNS = (
    "label",
    "category",
    "intent",
    "class",
)  # names the second column goes by  # beyond this a label column is an id, not a class
QA_SYSTEM = f"Answer with a short phrase. If you do not know the answer, reply: {NO_ANSWER}."


def _text(value, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{field}' must be text, got {type(value).__name__}")
    if len(value) > MAX_FIELD_CHARS:
        raise ValueError(f"'{field}' is longer than {MAX_FIELD_CHARS:,} characters")
    return value


def classify_messages(text: str, labels: tuple[str, ...]) -> tuple[Message, ...]:
    system = CLASSIFY_SYSTEM
    if len(labels) <= LIST_LABELS_UP_TO:
        system += " Labels: " + ", ".join(labels) + "."
    return (Message(role="system", content=system), Message(role="user", content=text))


def _from_record(rec, line: int) -> tuple[str, Example]:
    """One JSON record to (format name, Example); raises ValueError naming the problem."""
    if not isinstance(rec, dict):
        raise ValueError(f"expected a JSON object, got {type(rec).__name__}")
    if "messages" in rec:
        msgs = rec["messages"]
        if not isinstance(msgs, list) or len(msgs) < 2:
            raise ValueError("'messages' must be a list of at least two turns")
        turns = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                raise ValueError(f"messages[{i}] needs a role of system, user or assistant")
            turns.append(
                Message(role=m["role"], content=_text(m.get("content"), f"messages[{i}].content"))
            )
        if turns[-1].role != "assistant" or not turns[-1].content.strip():
            raise ValueError("the last message must be a non-empty assistant answer")
        return "chat", Example(messages=tuple(turns[:-1]), target=turns[-1].content, line=line)
    if "question" in rec:
        return "qa", _qa_example(rec, line)
    if "fields" in rec and "text" in rec:
        text, found = _text(rec["text"], "text"), fieldmod.parse_fields(rec["fields"])
        if not text.strip():
            raise ValueError("'text' is empty")
        user = Message(role="user", content=text)
        return "fields", Example(
            messages=(user,), target=fieldmod.as_json(found), line=line, fields=found
        )
    if "prompt" in rec or "completion" in rec:
        prompt, completion = (
            _text(rec.get("prompt"), "prompt"),
            _text(rec.get("completion"), "completion"),
        )
        if not completion.strip():
            raise ValueError("'completion' is empty")
        return "prompt_completion", Example(
            messages=(Message(role="user", content=prompt),), target=completion, line=line
        )
    if "instruction" in rec:
        instr, out = _text(rec["instruction"], "instruction"), _text(rec.get("output"), "output")
        inp = _text(rec.get("input", ""), "input")
        if not out.strip():
            raise ValueError("'output' is empty")
        content = f"{instr}\n\n{inp}" if inp.strip() else instr
        return "alpaca", Example(
            messages=(Message(role="user", content=content),), target=out, line=line
        )
    keys = ", ".join(sorted(rec)[:5]) or "none"
    raise ValueError(
        f"unknown record shape (keys: {keys}); expected messages, "
        "prompt/completion, instruction/input/output, question/answers or text/fields"
    )


def _qa_example(rec: dict, line: int) -> Example:
    """{question, answers (a list) or answer, answerable?, paragraph_id or source_id?}"""
    question = _text(rec["question"], "question").strip()
    if not question:
        raise ValueError("'question' is empty")
    answers = rec.get("answers", [rec["answer"]] if "answer" in rec else [])
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ValueError("'answers' must be a list of texts")
    answerable = rec.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ValueError("'answerable' must be true or false")
    answers = [a.strip() for a in answers if a.strip()]
    if answerable and not answers:
        raise ValueError("an answerable question needs 'answers' (or 'answer')")
    source = rec.get("paragraph_id", rec.get("source_id"))
    return Example(
        messages=(
            Message(role="system", content=QA_SYSTEM),
            Message(role="user", content=question),
        ),
        target=answers[0] if answerable else NO_ANSWER,
        line=line,
        answers=tuple(answers) if answerable else (),
        answerable=answerable,
        source_id=str(source) if source is not None else None,
    )


def _json_records(text: str, path: Path) -> list[tuple[int, object]]:
    stripped = text.lstrip()
    if path.suffix == ".json" or stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of records")
        return [(i + 1, r) for i, r in enumerate(data)]  # record number stands in for line
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.strip():
            try:
                out.append((n, json.loads(raw)))
            except json.JSONDecodeError as e:
                out.append((n, ValueError(f"not valid JSON ({e.msg})")))
    return out


def same_text(text: str) -> str:
    """The key two rows repeat each other by: the text with its whitespace normalised."""
    return " ".join(text.split())


def _parse_json(
    text: str, path: Path, drop_repeats: bool = False
) -> tuple[str, list[Example], list[RowError], int]:
    examples, errors, formats, repeats = [], [], Counter(), 0
    seen: dict[str, int] = {}
    first_format = None
    for line, rec in _json_records(text, path):
        try:
            if isinstance(rec, ValueError):
                raise rec
            fmt, ex = _from_record(rec, line)
            if first_format and fmt != first_format:
                raise ValueError(
                    f"mixes formats: {fmt} after {first_format} (line {examples[0].line})"
                )
            first_format = first_format or fmt
            key = ex.model_dump_json(exclude={"line"})
            if key in seen and drop_repeats:
                repeats += 1
                continue
            if key in seen:
                raise ValueError(f"duplicate of line {seen[key]} (it could land in both parts)")
            seen[key] = line
            formats[fmt] += 1
            examples.append(ex)
        except ValueError as e:
            errors.append(RowError(line=line, message=str(e).splitlines()[0]))
    return first_format or "jsonl", examples, errors, repeats


def _parse_csv(
    text: str, path: Path, drop_repeats: bool = False
) -> tuple[list[tuple[int, str, str]], list[RowError], int]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    names = [h.strip().lower() for h in (header or [])[:2]]
    if len(names) != 2 or names[0] != "text" or names[1] not in LABEL_COLUMNS:
        raise InputError(
            f"{path}: line 1: a CSV needs the header 'text,label' (got {','.join(header or [])!r})"
        )
    rows, errors, repeats = [], [], 0
    seen: dict[str, tuple[int, str]] = {}
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != 2:
            errors.append(RowError(line=line, message=f"expected 2 columns, got {len(row)}"))
        elif not row[0].strip():
            errors.append(RowError(line=line, message="'text' is empty"))
        elif not row[1].strip():
            errors.append(RowError(line=line, message="'label' is empty"))
        elif len(row[0]) > MAX_FIELD_CHARS:
            errors.append(RowError(line=line, message="'text' is too long"))
        elif (prev := seen.get(same_text(row[0]))) is not None:
            if drop_repeats and prev[1] == row[1].strip():
                repeats += 1  # a separate holdout: a repeat cannot leak, it only weighs twice
            else:
                errors.append(RowError(line=line, message=_repeat(prev, row[1].strip())))
        else:
            rows.append((line, row[0].strip(), row[1].strip()))
            seen[same_text(row[0])] = (line, row[1].strip())
    return rows, errors, repeats


def _repeat(prev: tuple[int, str], label: str) -> str:
    """A repeated text leaks into the holdout; with another label it contradicts itself."""
    line, first = prev
    if first == label:
        return f"duplicate of line {line} (it could land in both training and holdout)"
    return f"same text as line {line} with a different label ({label!r} vs {first!r})"


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"{path}: cannot read data file ({e.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{path}: {size / 2**20:.0f} MiB is over the {MAX_FILE_BYTES // 2**20} "
            "MiB limit for a pilot"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: not UTF-8 text") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    return text


def validate(path: str | Path, drop_repeats: bool = False) -> tuple[Dataset | None, list[RowError]]:
    """The dataset (None if unusable) and every bad row; raises InputError when the file
    as a whole is unusable (empty, wrong encoding, unknown shape, one class).
    drop_repeats: a row repeating an earlier one (same text, same answer) is dropped and
    counted instead of refused (when the holdout is a separate file, nothing can leak)."""
    path = Path(path)
    text = _read_text(path)
    if path.suffix.lower() == ".csv":
        rows, errors, repeats = _parse_csv(text, path, drop_repeats)
        labels = tuple(sorted({r[2] for r in rows}))
        examples = [
            Example(messages=classify_messages(t, labels), target=lab, label=lab, line=n)
            for n, t, lab in rows
        ]
        task, fmt = "classify", "csv"
    else:
        fmt, examples, errors, repeats = _parse_json(text, path, drop_repeats)
        labels, task = (), "generate"
        if examples and fmt in ("fields", "chat"):
            examples, task = _extraction(fmt, examples)
    if not examples:
        raise InputError(f"{path}: no usable rows" + (f" ({errors[0]})" if errors else ""))
    if task == "classify" and len(labels) < 2:
        raise InputError(
            f"{path}: only one label ({labels[0]!r}); classification needs at least two"
        )
    if len(labels) > MAX_LABELS:
        raise InputError(
            f"{path}: {len(labels):,} different labels; a pilot classifies into at most "
            f"{MAX_LABELS:,} (is the label column an id or free text?)"
        )
    dropped = {"repeats": repeats} if repeats else {}
    names = fieldmod.field_names(e.fields for e in examples) if task == "extract" else ()
    ds = Dataset(
        task=task,
        format=fmt,
        examples=tuple(examples),
        labels=labels,
        fields=names,
        dropped=dropped,
    )
    return ds, errors


def _extraction(fmt: str, examples: list[Example]) -> tuple[list[Example], str]:
    """Fields records, or chat whose every answer is a fields object, as an extraction
    task (the instruction names the fields when there are few); other chat stays free."""
    if fmt == "chat":
        found = [fieldmod.chat_fields(e.target) for e in examples]
        if any(f is None for f in found):
            return examples, "generate"
        return [
            e.model_copy(update={"fields": f}) for e, f in zip(examples, found, strict=True)
        ], "extract"
    system = Message(
        role="system",
        content=fieldmod.extract_system(fieldmod.field_names(e.fields for e in examples)),
    )
    return [e.model_copy(update={"messages": (system, *e.messages)}) for e in examples], "extract"


def load_dataset(
    path: str | Path, allow_bad_rows: bool = False, drop_repeats: bool = False
) -> Dataset:
    ds, errors = validate(path, drop_repeats)
    if errors and not allow_bad_rows:
        raise DataError(path, errors)
    return ds
