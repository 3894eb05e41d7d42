"""What an extraction pilot measured, scored as the field reports it: the share of outputs
that parse as JSON and that validate against the schema, field micro precision/recall/F1
over (field, value) pairs, per-field F1, and exact match of the whole object (an empty
object counted like any other), each with its 95% interval; the methods compared on the
one holdout with paired tests."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.quality import QualityMeasure

NORMALISATION = "values compared in lower case with runs of whitespace made one space"


class FieldScore(BaseModel):
    """One field's precision, recall and F1 over its (field, value) pairs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    field: str
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    f1: float = Field(ge=0, le=1)
    support: int = Field(ge=0)
    """Values of this field in the holdout's expected objects."""


class ExtractScores(BaseModel):
    """One method's outputs on the holdout."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    parsed: QualityMeasure
    """Share of outputs that parse as a JSON object."""
    valid: QualityMeasure
    """Share of outputs that validate against the schema."""
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    f1: QualityMeasure
    """Micro F1 over (field, value) pairs; the interval from 1,000 bootstrap resamples of
    the holdout rows."""
    exact: QualityMeasure
    """Share of rows whose whole object is right."""
    per_field: tuple[FieldScore, ...] = ()
    """Most frequent fields first."""
    seconds: float = Field(0.0, ge=0)
    """Wall seconds to answer the holdout."""


class PairedF1(BaseModel):
    """Two methods on the same holdout rows: the F1 difference (A - B) with its paired
    bootstrap interval and p-value, and McNemar's exact test on exact match."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    a: str
    b: str
    f1_delta: float
    ci_low: float
    ci_high: float
    p_value: float = Field(ge=0, le=1)
    exact_p_value: float = Field(ge=0, le=1)


class WorstRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str
    expected: str
    predicted: str
    f1: float = Field(ge=0, le=1)


class ExtractStats(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    normalisation: str = NORMALISATION
    schema_source: str
    """The --schema file, or "inferred from the training fields" (saved as schema.json)."""
    fields: int = Field(ge=0)
    methods: dict[str, ExtractScores]
    """Every method and baseline scored on the holdout, by name ("tagger", "gazetteer",
    "few_shot", "lora", and each generative one "+ schema" when decoding was constrained)."""
    result: str
    """The name in `methods` that is the pilot's result."""
    paired: tuple[PairedF1, ...] = ()
    """The result against each other method."""
    out_of_reach: float | None = Field(None, ge=0, le=1)
    """A span tagger: share of the holdout's expected values that are not spans of their
    text, which no tagger can produce (they count as misses in its recall)."""
    out_of_reach_fields: tuple[str, ...] = ()
    """Fields that never occur as a span of the training texts (the tagger leaves them)."""
    constrained_library: str | None = None
    """The library that constrained decoding to the schema, with its version."""
    constrained_time_ratio: float | None = Field(None, ge=0)
    """Constrained over free generation seconds on the same rows."""
    worst: tuple[WorstRow, ...] = ()
    """The result's worst rows, expected against predicted."""
    schema_sent_as: str | None = None
    """Through an endpoint: "response_format" (the server took the schema as a json_schema
    response format) or "instruction" (it refused one, so the schema went in the system
    prompt); the validity rate is measured either way."""

    @property
    def scores(self) -> ExtractScores:
        return self.methods[self.result]
