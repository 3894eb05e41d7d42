"""The questionnaire a product manager answers, as one frozen pydantic model.

Every field carries its unit in its name and a docstring; the app shows the
docstring as the widget's help text, so write them for a product manager.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TaskKind = Literal[
    "classify",
    "extract",
    "route",
    "rank_search",
    "summarize_generate",
    "structured_output_code",
    "chat_agent",
]
Gap = Literal["missing_knowledge", "behaviour_format_style", "cost_latency_at_volume"]
Deployment = Literal["vendor_api", "own_cloud_gpu", "on_prem_private", "edge_offline"]
TaskDefinition = Literal["stable", "evolving", "one_off"]
Experience = Literal["none", "some", "strong"]

# Task kinds whose labels form a fixed set of classes (examples are counted per class).
CLASS_TASKS = ("classify", "route")

NO_MODEL = "none"  # capable_model of a team that calls no model yet
# The common choice for a workhorse task (classify, extract, route): what a team without a
# model of its own is priced at, and the default answer.
DEFAULT_CAPABLE_MODEL = "gpt-4o-mini"


class InputError(ValueError):
    """Bad user input; the message is one line that names the field or line."""


class Scenario(BaseModel):
    """One use case of a language model, as the team sees it today."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str = Field("Untitled scenario", max_length=200)
    """A short name for this use case, shown in reports."""

    task_kind: TaskKind = "classify"
    """What the model must do: classify, extract fields, route requests, rank or search,
    summarize or generate text, produce structured output or code, or hold a chat / act
    as an agent."""

    gaps: tuple[Gap, ...] = Field(("behaviour_format_style",), min_length=1)
    """Where a capable model falls short today: it lacks knowledge (facts it was not
    trained on), it behaves wrongly (format, style, policy), or it is too slow or too
    expensive at your volume. Pick all that apply."""

    task_definition: TaskDefinition = "stable"
    """Is the task settled (stable), still being defined (evolving), or a one-off job?"""

    facts_change_interval_days: float = Field(3650.0, ge=1.0, le=36500.0)
    """How many days, typically, before the facts the task relies on change.
    Use 3650 (ten years) or more when they are effectively static."""

    labelled_examples_available: int = Field(0, ge=0, le=100_000_000)
    """Good input/output examples you have today (reviewed, correct, representative)."""

    labelled_examples_obtainable: int = Field(0, ge=0, le=100_000_000)
    """Additional good examples the team could produce within the planning horizon."""

    label_classes: int = Field(0, ge=0, le=100_000)
    """For classification and routing, how many distinct labels there are (0 otherwise)."""

    frontier_outputs_good: bool = False
    """Does a frontier model (e.g. GPT-4o, Claude) already give outputs good enough,
    when prompted well?"""

    capable_model: str = Field(DEFAULT_CAPABLE_MODEL, min_length=1, max_length=200)
    """The model you call for this task today (a price-catalog name such as gpt-4o-mini
    or gpt-4o), or "none" if you call none yet (prompting is then priced as gpt-4o-mini).
    Prompting and retrieval are priced as this model; it is also the default teacher
    for distillation."""

    requests_per_month: int = Field(10_000, ge=0, le=100_000_000_000)
    """Requests the feature serves per month today."""

    monthly_growth_pct: float = Field(0.0, ge=-100.0, le=1000.0)
    """Expected growth of monthly requests, percent per month (compounded)."""

    instruction_tokens_per_request: int = Field(500, ge=0, le=10_000_000)
    """Tokens of fixed instructions and few-shot examples sent with every request."""

    input_tokens_per_request: int = Field(300, ge=0, le=10_000_000)
    """Tokens of variable input per request (the user's message, the document ...)."""

    output_tokens_per_request: int = Field(50, ge=0, le=10_000_000)
    """Tokens the model generates per request."""

    quality_bar_pct: float = Field(90.0, ge=0.0, le=100.0)
    """The quality (accuracy, pass rate) the feature must reach to ship, in percent."""

    latency_target_ms: int = Field(2000, ge=1, le=3_600_000)
    """The response time users will accept, in milliseconds."""

    deployment: Deployment = "vendor_api"
    """Where the model must run: a vendor's API, your own cloud GPUs, on-premises for
    private data, or on an edge / mobile / offline device."""

    strict_output_format: bool = False
    """Must every output follow a strict format (JSON schema, grammar, label set)?"""

    fields_in_text: bool = True
    """Extraction: are the field values written in the input as they must come out (names,
    dates, amounts as written)? Then a span tagger can find them; no when they are
    rewritten or inferred (a category, a normalised date)."""

    base_model_is_distilled: bool = False
    """Is the small base model you would adapt itself a distilled model
    (e.g. DistilBERT, a 'distill' checkpoint)?"""

    horizon_months: int = Field(12, ge=1, le=120)
    """How many months ahead to plan costs for."""

    team_ml_experience: Experience = "some"
    """The team's experience with training and serving models."""

    @model_validator(mode="after")
    def _classes_only_for_class_tasks(self) -> Scenario:
        if self.label_classes == 1:
            raise ValueError("label_classes: a classification needs at least 2 labels (or 0)")
        return self

    @property
    def prompted_model(self) -> str:
        """The catalog model prompting is priced as: the one called today, else the
        default."""
        return DEFAULT_CAPABLE_MODEL if self.capable_model == NO_MODEL else self.capable_model

    @property
    def examples_total(self) -> int:
        """Examples on hand plus those that could be produced."""
        return self.labelled_examples_available + self.labelled_examples_obtainable

    @property
    def tokens_per_request(self) -> int:
        return (
            self.instruction_tokens_per_request
            + self.input_tokens_per_request
            + self.output_tokens_per_request
        )


def field_help(model: type[BaseModel] = Scenario) -> dict[str, str]:
    """Docstring of every field, for UI help texts."""
    return {name: (f.description or "") for name, f in model.model_fields.items()}


MAX_DOCUMENT_BYTES = 2**20  # a scenario is a few dozen fields; anything bigger is a mistake


def read_document(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping from a file, with one-line errors."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise InputError(
                f"{path}: {size / 2**20:,.0f} MiB is too large for a scenario file "
                f"(at most {MAX_DOCUMENT_BYTES // 2**20} MiB)"
            )
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read file ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (bad byte at offset {e.start})") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty; expected a YAML or JSON mapping of fields")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        where = (
            getattr(e, "lineno", None) or getattr(getattr(e, "problem_mark", None), "line", -1) + 1
        )
        raise InputError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} (line {where})"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of field: value, got {type(data).__name__}")
    return data


UNION_TAGS = {"float", "int", "str", "bool", "Range", "list[str]", "dict[str,float]"}


def _is_type_mismatch(e: dict) -> bool:
    return e["type"].endswith(("_type", "_parsing"))


def describe_validation_error(err: ValidationError, model: type[BaseModel] = Scenario) -> str:
    """The most telling error of a pydantic ValidationError, as one line naming the field.
    Of a union's branch errors, a failed check beats a plain type mismatch."""
    errors = sorted(err.errors(), key=_is_type_mismatch)
    first = errors[0]
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    msg = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a whole-model check; its message names the field itself
        return f"{msg}{more}"
    parts = [
        str(p)
        for p in first["loc"]
        if str(p) not in UNION_TAGS and not str(p).startswith("function-")
    ]
    field = ".".join(parts)
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(model.model_fields)
        return f"field '{field}': unknown field; allowed fields are: {allowed}"
    got = first.get("input")
    shown = repr(got) if not isinstance(got, dict) else "a mapping"
    return f"field '{field}': {msg} (got {shown[:80]}){more}"


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise InputError(describe_validation_error(e)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from YAML or JSON. A `costs:` section, if present, is ignored
    here (the cost model reads it)."""
    data = read_document(path)
    data.pop("costs", None)
    try:
        return scenario_from_dict(data)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None


def save_scenario(scenario: Scenario, path: str | Path) -> None:
    """Write a scenario as YAML (or JSON when the suffix is .json)."""
    path = Path(path)
    data = scenario.model_dump(mode="json")
    if path.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # never leave a half-written scenario behind
