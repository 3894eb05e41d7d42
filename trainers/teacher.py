"""The distillation teacher: who it is, the labels it may answer, its answers and the filter.

A teacher is an OpenAI-compatible endpoint (the team's frontier model), a finished pilot
run (a classifier run's classifier/, a LoRA run's merged/: a team's fine-tuned model can
teach a smaller one) or a local causal model folder. On classification its answer is
constrained to the label set: the endpoint is given the label list and checked, a local
causal model scores every label (trainers/eval/constrained.py), a classifier can answer
nothing else. The filter drops answers that are empty, too long, fail the user's regex or
name no label, and counts each reason.
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.distill import TeacherKind
from core.measurement import EndpointStats
from core.scenario import InputError
from core.text import CHARS_PER_TOKEN
from trainers import runs
from trainers.data import Example, Message, classify_messages
from trainers.eval.scoring import normalize_label
from trainers.models import resolve_model

MAX_ANSWER_CHARS = 4000
EXHAUSTIVE_UP_TO = 20  # a causal teacher scores every label (for probabilities) up to this many


@dataclass(frozen=True)
class Teacher:
    kind: TeacherKind
    name: str
    """As the report names it: the endpoint's model, the run's id, the folder."""
    folder: Path | None = None
    """The classifier folder or the causal model folder (None: an endpoint)."""
    labels: tuple[str, ...] = ()
    """A classifier teacher's own label set."""


def _labels_of(folder: Path) -> tuple[str, ...]:
    """A saved classifier's label set (its labels.json)."""
    return tuple(json.loads((folder / "labels.json").read_text())["labels"])


def _is_classifier(folder: Path) -> bool:
    return (folder / "labels.json").exists() and (folder / "head.safetensors").exists()


def _folder_of(ref: str) -> Path:
    """A path, a run id in the index, or a hub id in the local cache (as --model takes)."""
    if not ref:
        raise InputError("teacher: name a run, a model folder or an endpoint (--teacher-url)")
    path = Path(ref).expanduser()
    if path.exists():
        return path
    try:
        return runs.find_run(ref, index_only=True)
    except InputError:
        pass
    try:
        return Path(resolve_model(ref))
    except InputError:
        raise InputError(f"teacher: {ref!r} is no run id, run folder or model folder") from None


def _from_run(run: Path) -> Teacher:
    """A finished run's model, or why it cannot teach."""
    status = runs.status(run)
    if status != "done":
        raise InputError(f"teacher: run {run.name} is {status}; a teacher run must be finished")
    if _is_classifier(run / "classifier"):
        return Teacher(
            "classifier_run", run.name, run / "classifier", _labels_of(run / "classifier")
        )
    if (run / "merged" / "config.json").exists():
        return Teacher("causal_model", run.name, run / "merged")
    method = (runs.read_json(run / "metrics.json") or {}).get("measurement", {}).get("method")
    again = " (re-run it with --merge)" if (run / "adapter").exists() else ""
    raise InputError(
        f"teacher: run {run.name} ({method or 'unknown method'}) has no model to teach with"
        f"{again}; a classifier run (classifier/) or a LoRA run saved with --merge (merged/) "
        "can teach"
    )


def resolve_teacher(cfg) -> Teacher:
    """The config's teacher, checked before anything starts."""
    if cfg.teacher_url:
        return Teacher("endpoint", cfg.teacher_model or "teacher")
    folder = _folder_of(cfg.teacher or "")
    if folder.name == "classifier" and (folder.parent / "config.yaml").exists():
        folder = folder.parent  # a run's classifier/ folder: the run, checked as one
    if (folder / "config.yaml").exists():
        return _from_run(folder)
    if _is_classifier(folder):
        return Teacher("classifier_run", str(folder), folder, _labels_of(folder))
    if (folder / "config.json").exists():
        resolve_model(str(folder))  # safetensors only
        return Teacher("causal_model", str(folder), folder)
    raise InputError(f"teacher: {folder} holds no model (no config.json, no classifier/)")


def description_labels(path: str | Path) -> tuple[str, ...]:
    """The label column of a label,description CSV (the label set when nothing else has it)."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            return tuple(sorted({(r.get("label") or "").strip() for r in csv.DictReader(f)} - {""}))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the label descriptions ({e})") from None


def label_set(cfg, teacher: Teacher, gold_labels: tuple[str, ...]) -> tuple[str, ...]:
    """The labels the teacher may answer: a classifier's own; else the gold holdout's and
    the label descriptions' together."""
    if teacher.labels:
        return teacher.labels
    named = set(gold_labels) | set(
        description_labels(cfg.label_descriptions) if cfg.label_descriptions else ()
    )
    if len(named) < 2:
        raise InputError(
            "labels: name the labels the teacher may answer: give a labelled --holdout-data "
            "(CSV text,label) or --label-descriptions (CSV label,description)"
        )
    return tuple(sorted(named))


@dataclass(frozen=True)
class Answers:
    """The teacher's answer to every input, in order."""

    texts: list[str]
    probs: np.ndarray | None = None
    """(N, L) probabilities over the label set, when the teacher gives them."""
    endpoint: EndpointStats | None = None
    seconds: float = 0.0


def _classifier(ctx, teacher: Teacher, parts: list[list[str]], labels) -> Answers:
    from trainers.classifier import load_classifier, predict_proba

    clf, tok = load_classifier(teacher.folder, ctx.device)
    # each part in batches of its own: a near tie's answer depends on the batch (padding,
    # bf16), and the holdout must get the answers the teacher's own run scored
    probs = np.concatenate([predict_proba(clf, tok, p, ctx.device, ctx.bf16) for p in parts])
    order = [clf.labels.index(b) for b in labels]  # label_set is the classifier's own
    return Answers(texts=[labels[j] for j in probs[:, order].argmax(1)], probs=probs[:, order])


def _causal(ctx, teacher: Teacher, texts: list[str], labels) -> Answers:
    """Label-constrained scoring: the most likely label is the answer; with few labels
    every one is scored, so the softmax over them is the teacher's probabilities."""
    from trainers.eval.constrained import label_log_likelihoods
    from trainers.models import load_causal_lm, load_tokenizer

    tok = load_tokenizer(teacher.folder, ctx.cfg.trust_remote_code)
    model = load_causal_lm(
        teacher.folder, device=ctx.device, trust_remote_code=ctx.cfg.trust_remote_code
    )
    exhaustive = len(labels) <= EXHAUSTIVE_UP_TO
    prompts = [classify_messages(t, tuple(labels)) for t in texts]
    scores = label_log_likelihoods(
        model, tok, prompts, labels, device=ctx.device, bf16=ctx.bf16, exhaustive=exhaustive
    )  # (N, L)
    probs = np.exp(scores - scores.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return Answers(texts=[labels[j] for j in scores.argmax(1)], probs=probs if exhaustive else None)


def _endpoint(cfg, texts: list[str], labels, progress=None) -> Answers:
    """Asked with the label list in the instruction, as a team would ask it; the filter
    checks each answer against the list. A request that failed after its retries stops
    the run: dropping it silently would bias what the student learns."""
    from trainers.endpoint import ask_all, endpoint_stats, shared_cache, spec_of
    from trainers.instruction import classify_instruction, read_label_descriptions

    path = cfg.label_descriptions
    described = read_label_descriptions(path, tuple(labels)) if path else {}
    system = Message(role="system", content=classify_instruction(tuple(labels), described))
    prompts = [(system, Message(role="user", content=t)) for t in texts]
    spec = spec_of(cfg, teacher=True)
    budget = max(len(b) for b in labels) // 2 + 16  # tokens: the longest label, and room
    replies = ask_all(
        spec,
        prompts,
        max_tokens=budget,
        cache=shared_cache(),
        progress=progress,
    )
    failed = [r.error for r in replies if r.error]
    if failed:
        raise InputError(f"the teacher endpoint failed {len(failed)} request(s): {failed[0]}")
    return Answers(texts=[r.text for r in replies], endpoint=endpoint_stats(spec, replies, 0))


def ask_teacher(ctx, teacher: Teacher, parts: list[list[str]], labels: tuple[str, ...]) -> Answers:
    """The teacher's answers to the texts of every part, in order, timed. A classifier run
    scores each part in its own batches (the inputs, then the holdout)."""
    t0 = time.perf_counter()
    texts = [t for p in parts for t in p]
    if teacher.kind == "classifier_run":
        out = _classifier(ctx, teacher, parts, labels)
    elif teacher.kind == "causal_model":
        out = _causal(ctx, teacher, texts, labels)
    else:

        def progress(done: int, total: int) -> None:
            ctx.emit("teacher", status="asking", rows=done, of=total)

        out = _endpoint(ctx.cfg, texts, labels, progress)
    return Answers(out.texts, out.probs, out.endpoint, time.perf_counter() - t0)


def match_label(text: str, known: dict[str, str]) -> str | None:
    """The label an answer names: the whole answer ("Refund request." is refund_request),
    else the longest label it starts with, followed by punctuation or a space ("Yes, it
    is." is yes): chat models often add a few words after the label."""
    said = normalize_label(text)
    if said in known:
        return known[said]
    starts = [k for k in known if said.startswith(k) and not said[len(k) : len(k) + 1].isalnum()]
    return known[max(starts, key=len)] if starts else None


def drop_reason(text: str, known: dict[str, str], pattern, max_chars: int) -> str | None:
    text = text.strip()
    if not text:
        return "empty"
    if len(text) > max_chars:
        return "too_long"
    if pattern and not pattern.fullmatch(text):
        return "regex"
    if known and match_label(text, known) is None:
        return "no_label"
    return None


def quality_filter(
    examples, outputs, *, labels=(), regex: str | None = None, max_chars: int = MAX_ANSWER_CHARS
) -> tuple[list[Example], dict[str, int], list[int]]:
    """Keep teacher outputs that are non-empty, not over length, match the regex and (for
    classification) name a label, written as the label set spells it. Returns the kept
    examples, the drop counts by reason, and the kept rows' indices."""
    pattern = re.compile(regex) if regex else None
    known = {normalize_label(x): x for x in labels}
    kept, index, dropped = [], [], dict.fromkeys(("empty", "too_long", "regex", "no_label"), 0)
    for i, (ex, out) in enumerate(zip(examples, outputs, strict=True)):
        reason = drop_reason(out, known, pattern, max_chars)
        if reason:
            dropped[reason] += 1
            continue
        target = match_label(out, known) if known else out.strip()
        kept.append(ex.model_copy(update={"target": target, "label": target if known else None}))
        index.append(i)
    return kept, dropped, index


SAMPLE_ROWS = 8  # inputs an endpoint teacher is asked before launch (cached for the run)


def check_endpoint_teacher(cfg, inputs, labels: tuple[str, ...]) -> None:
    """Ask an endpoint teacher a few inputs before anything starts: a teacher that names no
    label for any of them (a wrong model, a wrong label set) would waste the whole run.
    The answers land in the response cache, so the run does not pay for them twice."""
    if not cfg.teacher_url:
        return

    sample = list(inputs.examples[:SAMPLE_ROWS])
    answers = _endpoint(cfg, [e.messages[-1].content for e in sample], labels)
    kept, dropped, _ = quality_filter(
        sample, answers.texts, labels=labels, regex=cfg.teacher_filter_regex
    )
    if not kept:
        reasons = ", ".join(f"{k} {v}" for k, v in dropped.items() if v)
        said = answers.texts[0].strip()[:60]
        raise InputError(
            f"teacher: {cfg.teacher_model} at {cfg.teacher_url} answered no label for any of "
            f"the first {len(sample)} inputs ({reasons}; it said {said!r}); check the model "
            "name and the label set"
        )


def predicted_teacher_usd(cfg) -> tuple[float, int]:
    """(USD, requests) a distillation teacher behind an endpoint will bill before any is
    sent: every input and holdout row asked once with the label list, tokens estimated
    from characters, each answer the longest label."""
    from trainers.endpoint import spec_of
    from trainers.instruction import classify_instruction, read_label_descriptions
    from trainers.splits import make_splits

    inputs, hold = make_splits(cfg)
    labels = label_set(cfg, resolve_teacher(cfg), hold.labels)
    path = cfg.label_descriptions
    ask = classify_instruction(labels, read_label_descriptions(path, labels) if path else {})
    rows = [e.messages[-1].content for e in inputs.examples + hold.examples]
    tokens_in = sum(len(ask) + len(t) for t in rows) / CHARS_PER_TOKEN
    tokens_out = len(rows) * (max(map(len, labels)) / CHARS_PER_TOKEN + 1)
    return spec_of(cfg, teacher=True).usd(tokens_in, tokens_out), len(rows)
