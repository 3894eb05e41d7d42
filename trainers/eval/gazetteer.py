"""The cheapest extractor worth beating: a gazetteer of the training values. Every value
seen in training is looked up in the text (whole words, case-insensitive, longest
first, never overlapping) and answered with the field it was most often seen as."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from trainers.fields import values

MIN_CHARS = 2  # one-letter values ("a", "i") would match almost every utterance


def gazetteer(train_fields) -> list[tuple[re.Pattern, str, str]]:
    """(pattern, normalised value, the field it was most often a value of), longest
    value first."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for fields in train_fields:
        for name, v in (fields or {}).items():
            for x in values(v):
                key = " ".join(x.lower().split())
                if len(key) >= MIN_CHARS:
                    seen[key][name] += 1
    return [
        (re.compile(r"(?<!\w)" + re.escape(k) + r"(?!\w)"), k, seen[k].most_common(1)[0][0])
        for k in sorted(seen, key=len, reverse=True)
    ]


def look_up(table: list[tuple[re.Pattern, str, str]], text: str) -> dict:
    """The fields a text holds by the table, each value as the text writes it, a field
    found twice as a list."""
    low = text.lower()  # the same length as the text: a match's span is the text's
    taken: list[tuple[int, int]] = []
    found: dict[str, list[str]] = {}
    for pattern, _, field in table:
        for m in pattern.finditer(low):
            a, b = m.span()
            if not any(a < y and x < b for x, y in taken):
                taken.append((a, b))
                found.setdefault(field, []).append(text[a:b])
    return {k: v[0] if len(v) == 1 else tuple(v) for k, v in found.items()}
