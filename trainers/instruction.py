"""The instruction a team would write for a capable model on a classification task: a
system prompt listing every label, each with its description when the team gives one
(CSV `label,description`), and the instruction's own token count, measured at the
endpoint, because it is the part of every request that fine-tuning removes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from core.scenario import InputError
from core.text import CHARS_PER_TOKEN
from core.vocab import METHODS
from trainers.config import PilotConfig
from trainers.data import CLASSIFY_SYSTEM, Example, Message
from trainers.endpoint import EndpointSpec, ResponseCache, ask_all, spec_of
from trainers.splits import make_splits

MAX_DESCRIPTION_CHARS = 500
FEW_SHOT_K = 5  # training examples shown as earlier turns by the few-shot baselines


def read_label_descriptions(path: str | Path, labels: tuple[str, ...]) -> dict[str, str]:
    """label -> description from a CSV with the columns label and description; a label the
    data does not have, a repeated label or an over-long description names its line."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"label", "description"} <= set(reader.fieldnames or ()):
                raise InputError(f"{path}: needs the columns label,description")
            rows = [(reader.line_num, r) for r in reader]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the label descriptions ({e})") from None
    known, out = set(labels), {}
    for line, row in rows:
        label, text = (row["label"] or "").strip(), (row["description"] or "").strip()
        if label not in known:
            raise InputError(f"{path} line {line}: label {label!r} is not in the data")
        if label in out:
            raise InputError(f"{path} line {line}: label {label!r} is described twice")
        if len(text) > MAX_DESCRIPTION_CHARS:
            raise InputError(f"{path} line {line}: over {MAX_DESCRIPTION_CHARS} characters")
        out[label] = text
    return out


def frozen_descriptions(source: str | None, labels: tuple[str, ...], run_dir: Path) -> dict:
    """Read once and frozen into the run directory, so a resumed run asks the same way."""
    frozen = run_dir / "label_descriptions.json"
    if frozen.exists():
        return json.loads(frozen.read_text())
    out = read_label_descriptions(source, labels) if source else {}
    frozen.write_text(json.dumps(out, indent=1))
    return out


def classify_instruction(labels: tuple[str, ...], described: dict[str, str]) -> str:
    """Every label on its own line (with its description), as a team writes it."""
    lines = [f"- {b}: {described[b]}" if described.get(b) else f"- {b}" for b in labels]
    return f"{CLASSIFY_SYSTEM} Answer with exactly one of these labels:\n" + "\n".join(lines)


def as_asked(ex: Example, instruction: str | None) -> Example:
    """The example with its system prompt replaced by the instruction (None: unchanged)."""
    if instruction is None:
        return ex
    rest = tuple(m for m in ex.messages if m.role != "system")
    system = Message(role="system", content=instruction)
    return ex.model_copy(update={"messages": (system, *rest)})


def instruction_tokens(
    spec: EndpointSpec, cache: ResponseCache, instruction: str
) -> tuple[int | None, float]:
    """The instruction's tokens as the endpoint counts them (the input tokens of a one-word
    question asked with and without it: two one-token requests, cached), and what the two
    cost. None: either request failed, or the server sent no usage."""
    probe = Message(role="user", content="Hi")
    with_it, without = ask_all(
        spec,
        [[Message(role="system", content=instruction), probe], [probe]],
        max_tokens=1,
        cache=cache,
    )
    usd = sum(spec.usd(r.input_tokens, r.output_tokens) for r in (with_it, without) if not r.cached)
    if with_it.error or without.error or not (with_it.usage_counted and without.usage_counted):
        return None, usd
    return max(0, with_it.input_tokens - without.input_tokens), usd


def predicted_usd(cfg: PilotConfig) -> float:
    """What the pilot's requests will cost before any is sent: the holdout rows times the
    variants asked, tokens estimated from characters, few-shot and retrieval prompts
    carrying FEW_SHOT_K examples more."""
    train_ds, hold_ds = make_splits(cfg)
    spec = spec_of(cfg)
    ask = None
    if hold_ds.task == "classify":  # priced with the instruction the run will send
        labels = tuple(sorted({e.target for e in train_ds.examples}))
        path = cfg.label_descriptions
        ask = classify_instruction(labels, read_label_descriptions(path, labels) if path else {})
    train = [as_asked(e, ask) for e in train_ds.examples]
    hold = [as_asked(e, ask) for e in hold_ds.examples]

    def tokens(e: Example) -> float:
        return sum(len(m.content) for m in e.messages) / CHARS_PER_TOKEN

    per_row = sum(map(tokens, hold)) / max(1, len(hold))
    if METHODS[cfg.method].documents:  # closed-book, then top_k passages of at most chunk_chars
        per_row += cfg.top_k * cfg.chunk_chars / CHARS_PER_TOKEN / 2
    shots = FEW_SHOT_K * sum(map(tokens, train)) / max(1, len(train))
    out = max(len(e.target) for e in train) / CHARS_PER_TOKEN + 1
    rows = len(hold)
    return spec.usd(rows * (2 * per_row + shots), 2 * rows * out)
