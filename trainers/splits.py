"""The train/holdout split, frozen into the run directory before any training: made once
from the seed (stratified by label), read back on resume, so the holdout can never change
or leak; and the fingerprint that proves two runs scored the same rows."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from pathlib import Path

from core.scenario import InputError
from core.vocab import METHODS
from trainers import runs
from trainers.config import PilotConfig
from trainers.data import Dataset, Example, load_dataset, same_text
from trainers.inputs import load_inputs
from trainers.labelcheck import check_training_labels


def split(ds: Dataset, holdout: int | float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Deterministic train/holdout split from a seed; stratified by label for classification
    so that every label with two or more examples is in both parts."""
    rng = random.Random(seed)
    groups: dict[str | None, list[Example]] = defaultdict(list)
    for ex in ds.examples:
        groups[ex.label].append(ex)
    n = len(ds.examples)
    frac = holdout / n if holdout >= 1 else holdout
    train, hold = [], []
    for key in sorted(groups, key=str):
        items = groups[key][:]
        rng.shuffle(items)
        k = round(len(items) * frac) if len(items) > 1 else 0
        k = min(max(k, 1 if len(items) > 1 and frac > 0 else 0), len(items) - 1)
        hold += items[:k]
        train += items[k:]
    if not hold or not train:
        raise InputError(f"{n} examples are too few to hold some out; add more rows")
    rng.shuffle(train)
    hold.sort(key=lambda e: e.line)
    return ds.model_copy(update={"examples": tuple(train)}), ds.model_copy(
        update={"examples": tuple(hold)}
    )


def fingerprint(ds: Dataset) -> str:
    """A short hash of the examples, to prove the holdout never changed."""
    h = hashlib.sha256()
    for ex in ds.examples:
        h.update(ex.model_dump_json().encode())
    return h.hexdigest()[:16]


def save_dataset(ds: Dataset, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(ds.model_dump_json(indent=1), encoding="utf-8")
    tmp.replace(path)


def read_frozen(path: Path) -> Dataset:
    return Dataset.model_validate_json(path.read_text(encoding="utf-8"))


def _capped(hold: Dataset, cfg: PilotConfig) -> Dataset:
    """At most holdout_max rows, sampled with the seed: bounds the evaluation's cost."""
    if len(hold.examples) <= cfg.holdout_max:
        return hold
    keep = sorted(random.Random(cfg.seed).sample(range(len(hold.examples)), cfg.holdout_max))
    return hold.model_copy(update={"examples": tuple(hold.examples[i] for i in keep)})


def _asked(ex: Example) -> str:
    """What a row asks (every turn before the answer), whitespace normalised."""
    return same_text(" ".join(m.content for m in ex.messages if m.role != "system"))


def without_leaks(hold: Dataset, train: Dataset) -> Dataset:
    """The holdout without the rows whose input also occurs in the training (or inputs)
    file: a model scored on what it trained on measures memory, not the task. They are
    dropped and counted, never silently kept."""
    seen = {_asked(e) for e in train.examples}
    kept = tuple(e for e in hold.examples if _asked(e) not in seen)
    leaked = len(hold.examples) - len(kept)
    if not leaked:
        return hold
    if not kept:
        raise InputError("every holdout row also occurs in the training data: nothing to score")
    dropped = hold.dropped | {"leaked_from_training": leaked}
    return hold.model_copy(update={"examples": kept, "dropped": dropped})


def _inputs_splits(cfg: PilotConfig) -> tuple[Dataset, Dataset]:
    """Distillation: the unlabelled inputs to teach from, and the holdout: the team's
    labelled file (leaks into the inputs dropped) or a share of the inputs themselves,
    which the teacher labels (the pilot then measures agreement only)."""
    inputs = load_inputs(cfg.data)
    if cfg.holdout_data:
        hold = load_dataset(cfg.holdout_data, drop_repeats=True)
        return inputs, _capped(without_leaks(hold, inputs), cfg)
    n = len(inputs.examples)
    k = min(cfg.holdout_max, max(1, round(n * cfg.holdout_fraction)))
    if n - k < 2:
        raise InputError(f"{cfg.data}: {n} inputs are too few to hold some out; add more rows")
    order = list(range(n))
    random.Random(cfg.seed).shuffle(order)
    held = set(order[:k])
    part = [e for i, e in enumerate(inputs.examples) if i in held]
    rest = [inputs.examples[i] for i in order[k:]]
    return inputs.model_copy(update={"examples": tuple(rest)}), inputs.model_copy(
        update={"examples": tuple(part), "dropped": {}}
    )


def make_splits(cfg: PilotConfig) -> tuple[Dataset, Dataset]:
    """(train, holdout) from the config: deterministic from the seed, holdout capped. With
    a separate holdout file a repeated training row cannot leak, so it is dropped and
    counted; a holdout row that occurs in the training file is dropped as leakage."""
    if METHODS[cfg.method].unlabelled_inputs:
        return _inputs_splits(cfg)
    separate = bool(cfg.holdout_data)
    ds = load_dataset(cfg.data, drop_repeats=separate)
    check_training_labels(ds, cfg.data)
    if separate:
        train_ds, hold = ds, without_leaks(load_dataset(cfg.holdout_data, drop_repeats=True), ds)
    else:
        train_ds, hold = split(ds, cfg.holdout_fraction, cfg.seed)
    return train_ds, _capped(hold, cfg)


def dropped_note(train: Dataset, hold: Dataset) -> str | None:
    """One sentence on the rows left out on reading (None: none were)."""
    parts = []
    if n := train.dropped.get("repeats"):
        parts.append(f"{n:,} repeated training row(s) dropped (each kept once)")
    if n := hold.dropped.get("repeats"):
        parts.append(f"{n:,} repeated holdout row(s) dropped")
    if n := hold.dropped.get("leaked_from_training"):
        parts.append(f"{n:,} holdout row(s) dropped because they also occur in the training data")
    return "; ".join(parts).capitalize() + "." if parts else None


def freeze_splits(cfg: PilotConfig, run_dir: Path) -> tuple[Dataset, Dataset]:
    """Split once and freeze both parts into the run directory before any training; a
    resumed run reads the frozen files, so the holdout can never change or leak."""
    hold_path, train_path = run_dir / "holdout.json", run_dir / "train.json"
    if hold_path.exists() and train_path.exists():
        return read_frozen(train_path), read_frozen(hold_path)
    train_ds, hold = make_splits(cfg)
    if note := dropped_note(train_ds, hold):
        runs.emit(run_dir, "note", message=note)
    save_dataset(hold, hold_path)
    save_dataset(train_ds, train_path)
    return train_ds, hold
