"""Numbers as people type them: "2e6", "2,000,000", "2M", "1.5k", "20%" is not one.

`parse_number(text, integer, low, high)` returns the value or raises InputError with a
sentence for the field's error line; `show_number(value)` writes a value back the way the
field shows it, so that an untouched field parses to exactly what it showed.
"""

from __future__ import annotations

import math
import re

from core.scenario import InputError

SUFFIXES = {"k": 1e3, "m": 1e6, "mn": 1e6, "b": 1e9, "bn": 1e9}
_NUMBER = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(k|m|mn|b|bn)?$")
_GROUPED = re.compile(r"(?<=\d)[,_ ](?=\d{3}\b)")  # 2,000,000 / 2_000_000 / 2 000 000
HINT = "write it like 2000000, 2,000,000, 2e6, 2M or 1.5k"


def parse_number(
    text: str | float, integer: bool = False, low: float | None = None, high: float | None = None
) -> float | int:
    """The number a person meant by `text`; InputError (one sentence) otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = str(text).strip()
        cleaned = _GROUPED.sub("", raw).replace("$", "").lower()
        match = _NUMBER.match(cleaned)
        if not raw:
            raise InputError(f"a number is needed; {HINT}")
        if match is None:
            raise InputError(f"'{raw[:40]}' is not a number; {HINT}")
        value = float(match.group(1)) * SUFFIXES.get(match.group(2) or "", 1.0)
    if not math.isfinite(value):
        raise InputError(f"'{text}' is too large to be a number here; {HINT}")
    if integer and not float(value).is_integer():
        raise InputError(f"{show_number(value)} is not a whole number")
    if low is not None and value < low:
        raise InputError(f"{show_number(value)} is below the lowest allowed, {show_number(low)}")
    if high is not None and value > high:
        raise InputError(f"{show_number(value)} is above the highest allowed, {show_number(high)}")
    return int(value) if integer else value


def show_number(value: float) -> str:
    """2000000 as 2,000,000; 0.045 as 0.045; 1e20 as 100,000,000,000,000,000,000."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e21:
        return f"{int(value):,}"
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return text if text not in ("0", "-0") else f"{value:g}"


def show_figure(value: float) -> str:
    """An assumption or measured figure for reading: whole numbers with separators, the
    rest to three significant figures (0.045, 0.35, 1,234)."""
    value = float(value)
    if value.is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{float(f'{value:.3g}'):g}"
