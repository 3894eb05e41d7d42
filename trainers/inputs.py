"""Inputs without answers: what a team's logs hold, for a teacher to label (distillation).

Formats: CSV with a `text` column (other columns are ignored, a label column included: a
distillation pilot learns the teacher's answers, not the file's), JSONL of `{"text": ...}`,
or JSONL of chat `messages` ending in a user turn. Read with the checks of every data
file: bad lines are named, a file with no usable row is refused. Production logs repeat
themselves, so a repeated input is dropped and counted, never refused.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from core.scenario import InputError
from trainers.data import (
    MAX_FIELD_CHARS,
    DataError,
    Dataset,
    Example,
    Message,
    RowError,
    _read_text,
    same_text,
)


def _csv_rows(text: str, path: Path) -> list[tuple[int, str | ValueError]]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, None) or []]
    if "text" not in header:
        raise InputError(
            f"{path}: line 1: an inputs CSV needs a 'text' column (got {','.join(header)!r})"
        )
    col, out = header.index("text"), []
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        value = row[col] if col < len(row) else ValueError(f"no 'text' column ({len(row)} columns)")
        out.append((reader.line_num, value))
    return out


def _user_turns(rec: dict) -> str | ValueError:
    msgs = rec["messages"]
    if not isinstance(msgs, list) or not msgs:
        return ValueError("'messages' must be a non-empty list of turns")
    last = msgs[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return ValueError("the last message must be the user's turn (the input to answer)")
    content = last.get("content")
    return content if isinstance(content, str) else ValueError("the user turn needs 'content' text")


def _json_rows(text: str) -> list[tuple[int, str | ValueError]]:
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as e:
            out.append((n, ValueError(f"not valid JSON ({e.msg})")))
            continue
        if not isinstance(rec, dict) or not ({"text", "messages"} & set(rec)):
            out.append((n, ValueError('expected {"text": ...} or {"messages": [...]}')))
        elif "text" in rec:
            value = rec["text"]
            out.append((n, value if isinstance(value, str) else ValueError("'text' must be text")))
        else:
            out.append((n, _user_turns(rec)))
    return out


def load_inputs(path: str | Path) -> Dataset:
    """The unlabelled inputs of a file (targets empty), repeats dropped and counted; raises
    DataError naming every bad line, InputError for a file with nothing to read."""
    path = Path(path)
    text = _read_text(path)
    rows = _csv_rows(text, path) if path.suffix.lower() == ".csv" else _json_rows(text)
    examples, errors, seen, repeats = [], [], set(), 0
    for line, value in rows:
        if isinstance(value, ValueError):
            errors.append(RowError(line=line, message=str(value)))
        elif not value.strip():
            errors.append(RowError(line=line, message="'text' is empty"))
        elif len(value) > MAX_FIELD_CHARS:
            errors.append(RowError(line=line, message="'text' is too long"))
        elif same_text(value) in seen:
            repeats += 1
        else:
            seen.add(same_text(value))
            turn = Message(role="user", content=value.strip())
            examples.append(Example(messages=(turn,), target="", line=line))
    if errors:
        raise DataError(path, errors)
    if not examples:
        raise InputError(f"{path}: no inputs (the file has a header and no rows)")
    return Dataset(
        task="unlabelled",
        format="inputs",
        examples=tuple(examples),
        dropped={"repeats": repeats} if repeats else {},
    )


def read_data(cfg) -> Dataset:
    """The config's data as its method reads it: unlabelled inputs for distillation into
    a classifier, else labelled examples (repeats dropped when the holdout is its own file)."""
    from core.vocab import METHODS
    from trainers.data import load_dataset

    if METHODS[cfg.method].unlabelled_inputs:
        return load_inputs(cfg.data)
    return load_dataset(cfg.data, drop_repeats=bool(cfg.holdout_data))
