"""The train/holdout split, frozen into the run directory before any training: made once
from the seed (stratified by label), read back on resume, so the holdout can never change
or leak; and the fingerprint that proves two runs scored the same rows."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from pathlib import Path

from core.scenario import InputError
from trainers.config import PilotConfig
from trainers.data import Dataset, Example, check_training_labels, load_dataset


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


def make_splits(cfg: PilotConfig) -> tuple[Dataset, Dataset]:
    """(train, holdout) from the config: deterministic from the seed, holdout capped."""
    ds = load_dataset(cfg.data)
    check_training_labels(ds, cfg.data)
    if cfg.holdout_data:
        train_ds, hold = ds, load_dataset(cfg.holdout_data)
    else:
        train_ds, hold = split(ds, cfg.holdout_fraction, cfg.seed)
    if len(hold.examples) > cfg.holdout_max:  # bound the evaluation cost, deterministically
        keep = sorted(random.Random(cfg.seed).sample(range(len(hold.examples)), cfg.holdout_max))
        hold = hold.model_copy(update={"examples": tuple(hold.examples[i] for i in keep)})
    overlap = {e.model_dump_json() for e in hold.examples} & {
        e.model_dump_json() for e in train_ds.examples
    }
    if overlap:
        raise InputError(f"{len(overlap)} holdout example(s) also appear in the training data")
    return train_ds, hold


def freeze_splits(cfg: PilotConfig, run_dir: Path) -> tuple[Dataset, Dataset]:
    """Split once and freeze both parts into the run directory before any training; a
    resumed run reads the frozen files, so the holdout can never change or leak."""
    hold_path, train_path = run_dir / "holdout.json", run_dir / "train.json"
    if hold_path.exists() and train_path.exists():
        return read_frozen(train_path), read_frozen(hold_path)
    train_ds, hold = make_splits(cfg)
    save_dataset(hold, hold_path)
    save_dataset(train_ds, train_path)
    return train_ds, hold
