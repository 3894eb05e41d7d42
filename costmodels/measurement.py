"""What a pilot measured, as the record the cost model and the advisor consume."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QualityMeasure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int = Field(ge=0)


class Measurement(BaseModel):
    """One pilot's measured numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    run_id: str
    method: str
    model: str
    model_params: int = Field(ge=0)
    device: str
    train_examples: int = Field(ge=0)
    holdout_examples: int = Field(ge=0)
    train_tokens: int = Field(ge=0)
    tokens_per_second: float = Field(ge=0)
    """Measured training throughput (0 for methods that do not train)."""
    generation_tokens_per_second: float = Field(ge=0)
    """Measured decoding throughput while scoring the holdout."""
    peak_memory_mib: float = Field(ge=0)
    wall_seconds: float = Field(ge=0)
    quality: QualityMeasure
    baseline: QualityMeasure | None = None
    forgetting_delta: float | None = None
    """Probe accuracy after training minus before (negative: the model forgot)."""
