"""Checks of a labelled dataset as a whole: labels too rare to train and test on, and a
label column that looks like free text."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from core.scenario import InputError
from trainers.data import Dataset


def data_warnings(ds: Dataset) -> list[str]:
    """What makes a dataset look like noise rather than a task (it still loads)."""
    if ds.task != "classify" or not ds.examples:
        return []
    counts = Counter(e.label for e in ds.examples)
    repeated = sum(1 for c in counts.values() if c > 1)
    if len(counts) > len(ds.examples) / 2:
        return [
            f"{len(counts):,} different labels in {len(ds.examples):,} rows "
            f"({repeated:,} labels appear more than once): this looks like free text in the "
            "label column, not a classification task. Check the file's columns before a pilot."
        ]
    return []


def check_training_labels(ds: Dataset, path: str | Path) -> None:
    """Every label of a training file must appear at least twice: once to train on and
    once to test (and for the classifier's threshold, once in each half)."""
    if ds.task != "classify":
        return
    counts = Counter(e.label for e in ds.examples)
    once = [e for e in ds.examples if counts[e.label] == 1]
    if not once:
        return
    more = f" (and {len(once) - 1} more labels)" if len(once) > 1 else ""
    noise = len(counts) > len(ds.examples) / 2
    raise InputError(
        f"{path}: line {once[0].line}: label {once[0].label!r} appears only once{more}; "
        "a pilot needs at least two examples of each label: add examples or drop the label"
        + (" (so many labels look like free text in the label column)" if noise else "")
    )
