"""The records every reader produces and every flow reads: a message, an example, a
dataset, and a bad row (named by its line)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.scenario import InputError


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class Example(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    messages: tuple[Message, ...]
    """The prompt: every turn before the answer."""
    target: str
    """The answer the model must give."""
    label: str | None = None
    line: int
    answers: tuple[str, ...] = ()
    """Question answering: every accepted answer (empty when the documents hold none)."""
    answerable: bool = True
    source_id: str | None = None
    """Question answering: the id of the document that holds the answer, when known."""
    fields: dict[str, str | tuple[str, ...]] | None = None
    """Extraction: the fields the answer holds (the target is them as JSON)."""


class Dataset(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    task: Literal["classify", "generate", "extract", "unlabelled"]
    """unlabelled: inputs without answers (trainers/inputs.py), for distillation;
    extract: text in, a JSON object of fields out (trainers/fields.py)."""
    format: str
    examples: tuple[Example, ...]
    labels: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    """Extraction: every field name the examples hold."""
    dropped: dict[str, int] = {}
    """Rows left out on reading, by reason (repeats; holdout rows leaked from training)."""


class RowError(BaseModel):
    model_config = ConfigDict(frozen=True)
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class DataError(InputError):
    def __init__(self, path, errors: list[RowError]):
        self.errors = errors
        shown = "; ".join(str(e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{path}: {len(errors)} bad row(s): {shown}{more}")
