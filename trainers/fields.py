"""Extraction data: text in, a JSON object of fields out; and the JSON Schema its outputs
must satisfy (given with --schema, else inferred from the training fields), saved in the
run.

A fields object maps a field name to a value (text, a number or true/false) or a list of
values (the field occurs more than once). Records: `{"text", "fields": {...}}` JSONL (the
shared SLURP files), or chat JSONL whose every assistant answer is such an object.
Nothing here imports the rest of trainers/: data.py reads records through it.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.scenario import InputError

EXTRACT_SYSTEM = "Extract the fields as a JSON object; leave out fields that are not there."
LIST_FIELDS_UP_TO = 20  # the instruction names the fields when there are this few
Value = str | tuple[str, ...]
EXTRACT_DATA = (
    '{data}: the {method} method needs extraction data: JSONL of {{"text", "fields": '
    "{{...}}}} or chat whose answers are JSON objects of fields"
)


def _scalar(v, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str | int | float):
        return str(v)
    raise ValueError(
        f"{where} has a value of the wrong type ({type(v).__name__}); a field "
        "is text, a number, true/false, or a list of those"
    )


def parse_fields(obj, where: str = "'fields'") -> dict[str, Value]:
    """A fields object, checked: names to a value or a tuple of values (as text)."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(obj).__name__}")
    out: dict[str, Value] = {}
    for name, v in obj.items():
        if not name.strip():
            raise ValueError(f"{where} has an empty field name")
        if isinstance(v, list):
            if not v:
                raise ValueError(f"{where}[{name!r}] is an empty list (leave the field out)")
            out[name] = tuple(_scalar(x, f"{where}[{name!r}]") for x in v)
        else:
            out[name] = _scalar(v, f"{where}[{name!r}]")
    return out


def as_json(fields: dict[str, Value], order: tuple[str, ...] = ()) -> str:
    """The answer a model is trained to write: JSON with json.dumps's separators, lists as
    lists, the fields in `order` (the schema's), others after them alphabetically. One
    order matters: decoding held to a schema writes the properties in the schema's order
    (as llguidance does), so a model trained on another order would be forced off the
    path it learned (on SLURP that cost the constrained LoRA 4 points of F1)."""
    rank = {k: i for i, k in enumerate(order)}
    keys = sorted(fields, key=lambda k: (rank.get(k, len(rank)), k))
    return json.dumps(
        {k: list(fields[k]) if isinstance(fields[k], tuple) else fields[k] for k in keys},
        ensure_ascii=False,
    )


def schema_order(schema: dict) -> tuple[str, ...]:
    return tuple(schema.get("properties", {}))


def values(v: Value) -> tuple[str, ...]:
    return v if isinstance(v, tuple) else (v,)


def field_names(all_fields) -> tuple[str, ...]:
    return tuple(sorted({k for f in all_fields for k in f}))


def extract_system(names: tuple[str, ...]) -> str:
    if len(names) <= LIST_FIELDS_UP_TO:
        return EXTRACT_SYSTEM + " Fields: " + ", ".join(names) + "."
    return EXTRACT_SYSTEM


def chat_fields(target: str) -> dict[str, Value] | None:
    """A chat answer as a fields object, or None when it is not one (free text)."""
    try:
        obj = json.loads(target)
        return parse_fields(obj, "the assistant answer") if isinstance(obj, dict) else None
    except (json.JSONDecodeError, ValueError):
        return None


# ---- the schema ---------------------------------------------------------------------


def infer_schema(all_fields) -> dict:
    """A JSON Schema (draft 2020-12) of the training fields: every field optional, no
    others; a field is text (or a number where every training value was one), or a list
    of two or more when it occurs more than once in a row."""
    kinds: dict[str, set[str]] = {}
    for f in all_fields:
        for k, v in f.items():
            kinds.setdefault(k, set()).update(_kind(x) for x in values(v))
    props = {}
    for k in sorted(kinds):
        one = {"type": "number"} if kinds[k] == {"number"} else {"type": "string"}
        props[k] = {"anyOf": [one, {"type": "array", "items": one, "minItems": 2}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "fields inferred from the training data",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
    }


def _kind(x: str) -> str:
    try:
        float(x)
        return "number"
    except ValueError:
        return "string"


def load_schema(path: str | Path) -> dict:
    """A JSON Schema file, checked as one (draft 2020-12 unless it names another); one line
    naming the file and the problem otherwise."""
    from jsonschema import exceptions, validators

    path = Path(path)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read the schema ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path}: line {e.lineno}: the schema is not valid JSON ({e.msg})"
        ) from None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise InputError(f'{path}: the schema must describe a JSON object ("type": "object")')
    try:
        validators.validator_for(schema, default=validators.Draft202012Validator).check_schema(
            schema
        )
    except exceptions.SchemaError as e:
        at = "/".join(str(p) for p in e.absolute_path) or "the top level"
        raise InputError(f"{path}: not a valid JSON Schema at {at}: {e.message}") from None
    return schema


def validator(schema: dict):
    from jsonschema import validators

    return validators.validator_for(schema, default=validators.Draft202012Validator)(schema)


def plain(fields: dict[str, Value]) -> dict:
    """The object as a model would write it (tuples as lists, numbers as numbers where
    they read as numbers), for validation against the schema."""
    return json.loads(as_json({k: _typed(v) for k, v in fields.items()}))


def _typed(v: Value):
    if isinstance(v, tuple):
        return tuple(_typed(x) for x in v)
    return float(v) if _kind(v) == "number" else v


def held_to(schema: dict, fields: dict[str, Value]) -> dict[str, Value]:
    """A tagger's object with every value its field's schema refuses left out (a span
    that breaks a pattern or an enum, a field the schema does not know): what a deployed
    tagger answers. The object as a whole can still fail (a required field not found)."""
    props = schema.get("properties", {})
    closed = schema.get("additionalProperties") is False
    kept = {}
    for k, v in fields.items():
        if k in props:
            value = list(v) if isinstance(v, tuple) else v
            if not validator(props[k]).is_valid(value):
                continue
        elif closed:
            continue
        kept[k] = v
    return kept


def check_against(schema: dict, all_fields, source: str) -> int:
    """How many training rows break the schema; none satisfying it is refused (the schema
    and the data cannot both be right). Numbers count as numbers or as text."""
    check = validator(schema)
    bad = sum(
        not (check.is_valid(plain(f)) or check.is_valid(json.loads(as_json(f)))) for f in all_fields
    )
    if all_fields and bad == len(all_fields):
        raise InputError(
            f"{source}: no training row satisfies the schema (e.g. {as_json(all_fields[0])}); "
            "is it the schema of this data?"
        )
    return bad


def run_schema(schema_path: str | None, all_fields, run_dir: Path | None = None) -> dict:
    """The schema a run's outputs are held to: the run's saved one, else the file given,
    else one inferred from the training fields; saved as schema.json in the run."""
    saved = run_dir / "schema.json" if run_dir else None
    if saved and saved.exists():
        return json.loads(saved.read_text(encoding="utf-8"))
    schema = load_schema(schema_path) if schema_path else infer_schema(all_fields)
    check_against(schema, list(all_fields), schema_path or "the inferred schema")
    if saved:
        saved.write_text(json.dumps(schema, indent=1), encoding="utf-8")
    return schema
