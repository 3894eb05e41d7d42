"""Cost assumptions: every number the cost model needs beyond the scenario, each with its
unit in its name, bounds, and a docstring the app shows as help. Any field typed
`Uncertain` may be a single value or a range {low, high, mode} for Monte Carlo.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.scenario import InputError, describe_validation_error
from core.vocab import STRATEGIES


class Range(BaseModel):
    """An uncertain input: drawn from a triangular distribution low..high peaking at mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    low: float
    high: float
    mode: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        mode = self.nominal
        if not self.low <= mode <= self.high:
            raise ValueError(
                f"a range needs low <= mode <= high (got {self.low}, {mode}, {self.high})"
            )
        return self

    @property
    def nominal(self) -> float:
        return (self.low + self.high) / 2 if self.mode is None else self.mode


Uncertain = float | Range

DEFAULT_ENGINEERING_HOURS = {
    "prompt": 24,
    "rag": 80,
    "fine_tune": 120,
    "fine_tune_constrained": 160,
    "fine_tune_rag": 180,
    "distill": 140,
    "distill_rag": 200,
    "fine_tune_then_distill": 260,
    "cascade": 200,
}

# (lowest, highest) allowed value of each numeric field, as a range endpoint too.
BOUNDS: dict[str, tuple[float, float]] = {
    "gpu_utilization": (0.01, 1.0),
    "training_mfu": (0.01, 1.0),
    "multi_gpu_scaling_efficiency": (0.01, 1.0),
    "multi_node_scaling_efficiency": (0.01, 1.0),
    "escalation_rate": (0.0, 1.0),
    "serving_tokens_per_second": (0.1, 1e7),
    "classifier_requests_per_second_per_core": (0.01, 1e7),
    "invalid_output_share": (0.0, 1.0),
    "engineering_usd_per_hour": (0.0, 10_000.0),
    "retrain_hours": (0.0, 10_000.0),
    "retrieved_context_tokens": (0.0, 1e7),
    "volume_multiplier": (0.0, 1000.0),
    "price_multiplier": (0.0, 100.0),
}


class CostAssumptions(BaseModel):
    """What the cost model assumes beyond the scenario; every field has a default."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    teacher_model: str | None = None
    """The frontier model that labels inputs for distillation and answers a cascade's
    escalations (catalog name); empty: the model the scenario calls today."""
    measured_prompt_model: str | None = None
    """Set by a prompt or retrieval pilot through an endpoint: the catalog model it really
    asked, which then prices prompting instead of the scenario's model. Not an answer."""
    small_vendor_model: str = "gpt-4o-mini"
    """The small model fine-tuned through the vendor's API when deployment is vendor_api."""
    embedding_model: str = "text-embedding-3-small"
    """Embedding model for retrieval (catalog name)."""
    gpu: str = "H100"
    """GPU used for self-hosted training and serving (catalog name)."""
    student_params_billions: float = Field(1.5, gt=0, le=2000)
    """Size of the small self-hosted model that is fine-tuned or distilled, in billions."""
    teacher_params_billions: float = Field(8.0, gt=0, le=2000)
    """Size of the self-hosted teacher fine-tuned first in fine-tune-then-distill."""
    serving_tokens_per_second: Uncertain = Range(low=800, high=3000, mode=1500)
    """Output tokens per second one GPU serves for the student, batched (a pilot measures it)."""
    classifier_requests_per_second_per_core: Uncertain | None = None
    """Classification and routing: requests per second one CPU core serves when the
    student is a small encoder classifier; a classifier pilot measures it. Empty: the
    student is a decoder served on GPUs."""
    invalid_output_share: Uncertain | None = None
    """Extraction: share of the small model's free answers that do not parse or break the
    schema; each one is asked again of the capable model (one more request at its price).
    A generative pilot on extraction data measures it; decoding held to the schema (and a
    span tagger, whose answers are built from spans) has none. Empty: not counted."""
    cpu_core_usd_per_hour: float = Field(0.045, ge=0, le=100)
    """Price of one CPU core (vCPU) an hour, for a classifier student (on-demand
    compute-optimized instances list about $0.04-0.05 per vCPU-hour)."""
    min_cpu_cores_serving: int = Field(2, ge=0, le=100_000)
    """CPU cores kept running around the clock for a classifier student (two: one can fail)."""
    prompt_input_tokens_per_request: float | None = Field(None, ge=0, le=1e8)
    """Input tokens of one request to the capable model as a prompt pilot sent it
    (instructions, shots and input together); empty: the scenario's instruction plus input
    tokens."""
    prompt_output_tokens_per_request: float | None = Field(None, ge=0, le=1e8)
    """Output tokens of one answer, as a prompt pilot measured them; empty: the scenario's."""
    rag_input_tokens_per_request: float | None = Field(None, ge=0, le=1e8)
    """Input tokens of one retrieval-augmented request as a retrieval pilot sent it
    (retrieved context included); empty: the scenario's plus the assumed context."""
    rag_output_tokens_per_request: float | None = Field(None, ge=0, le=1e8)
    """Output tokens of one retrieval-augmented answer, as measured; empty: the scenario's."""
    prefill_speedup: float = Field(10.0, ge=1, le=1000)
    """How many times faster input tokens are processed than output tokens are generated."""
    gpu_utilization: Uncertain = Range(low=0.3, high=0.7, mode=0.5)
    """Share of paid GPU time doing useful serving work (0-1)."""
    min_gpus_serving: int = Field(1, ge=0, le=10_000)
    """GPUs kept running around the clock for self-hosted serving, whatever the volume."""
    training_mfu: Uncertain = Range(low=0.25, high=0.5, mode=0.35)
    """Model FLOPs utilisation of training on the GPU (0-1); a pilot measures it."""
    training_epochs: int = Field(3, ge=1, le=100)
    """Passes over the training data."""
    training_method: Literal["lora", "qlora", "full"] = "lora"
    """How a self-hosted model is fine-tuned (LoRA, 4-bit QLoRA, or every weight); sets
    the memory plan (how many GPUs, sharded how) and the FLOPs per token."""
    training_batch_per_gpu: int = Field(4, ge=1, le=4096)
    """Sequences per GPU per step in the training plan (with gradient checkpointing)."""
    multi_gpu_scaling_efficiency: Uncertain = Range(low=0.85, high=0.97, mode=0.92)
    """Throughput per GPU of a sharded run on 2-8 GPUs of one node (NVLink), as a share
    of one GPU's: FSDP overlaps its all-gathers and reduce-scatters with compute, and
    PyTorch reports near-linear scaling for FSDP full shard (Zhao et al., 'PyTorch FSDP',
    VLDB 2023); a planning range, narrow it with a measured run."""
    multi_node_scaling_efficiency: Uncertain = Range(low=0.6, high=0.95, mode=0.85)
    """A further factor once a run spans nodes: the network between nodes is several times
    slower than NVLink (near 0.95 with 400 Gb/s InfiniBand per GPU, 0.6 or lower over
    plain Ethernet); a planning range."""
    distill_examples: int = Field(5000, ge=1, le=100_000_000)
    """Inputs the teacher labels once for distillation (a distillation pilot measures how
    many its student needs to reach the agreement bar)."""
    teacher_input_tokens_per_request: float | None = Field(None, ge=0, le=1e8)
    """Input tokens of one labelling request to the teacher, as a distillation pilot
    measured them (its instruction and the input); empty: the scenario's."""
    teacher_output_tokens_per_request: float | None = Field(None, ge=0, le=1e8)
    """Output tokens of one teacher answer, as measured; empty: the scenario's."""
    teacher_uses_batch_api: bool = True
    """Teacher calls go through the vendor's batch API (about half price)."""
    labelling_usd_per_example: float = Field(1.0, ge=0, le=10_000)
    """Cost of producing one extra labelled example (the scenario's obtainable ones)."""
    engineering_usd_per_hour: Uncertain = 100.0
    """Loaded cost of an engineer's hour, USD."""
    engineering_hours: dict[str, float] = Field(default_factory=DEFAULT_ENGINEERING_HOURS.copy)
    """One-time people hours to build each strategy (per strategy id)."""
    evaluation_hours: float = Field(16.0, ge=0, le=100_000)
    """One-time hours to build the holdout and evaluate, for every strategy."""
    retrain_every_months: float | None = Field(None, ge=1, le=120)
    """Months between retrains of a trained model; empty: derived from how fast facts change
    (never less than 1, at most input_drift_retrain_months)."""
    input_drift_retrain_months: float = Field(6.0, ge=1, le=120)
    """Months before input drift forces a retrain even when facts are static."""
    retrain_hours: Uncertain = 16.0
    """People hours per retrain (data refresh, evaluation, rollout)."""
    retrieved_context_tokens: Uncertain = Range(low=500, high=2000, mode=1000)
    """Tokens of retrieved context added to each request by RAG."""
    vector_store_usd_per_month: float = Field(70.0, ge=0, le=1e9)
    """Hosting the vector store, USD per month."""
    index_refresh_tokens_per_month: int = Field(1_000_000, ge=0, le=10**13)
    """Document tokens re-embedded each month as the knowledge base changes."""
    escalation_rate: Uncertain = Range(low=0.05, high=0.3, mode=0.15)
    """Share of requests a cascade sends on to the frontier model (0-1)."""
    instruction_tokens_kept_fraction: float = Field(0.2, ge=0, le=1)
    """Share of the fixed instructions a fine-tuned or distilled model still needs."""
    cached_instruction_fraction: float = Field(0.0, ge=0, le=1)
    """Share of instruction tokens billed at the vendor's cached-input price."""
    volume_multiplier: Uncertain = Range(low=0.5, high=2.0, mode=1.0)
    """Uncertainty of the volume forecast, as a multiple of the scenario's requests. The
    default, half to double the forecast, is a planning convention for a feature not yet
    at scale; narrow it when the volume is known."""
    price_multiplier: Uncertain = Range(low=0.5, high=1.2, mode=1.0)
    """Uncertainty of API prices over the horizon, as a multiple of today's catalog. The
    default allows prices to halve (prices per capability have fallen several-fold a year:
    Epoch AI, 'LLM inference prices have fallen rapidly but unequally across tasks', 2025)
    or to rise by a fifth."""

    @model_validator(mode="after")
    def _in_bounds(self) -> CostAssumptions:
        for name, (lo, hi) in BOUNDS.items():
            value = getattr(self, name)
            if value is None:  # optional, not set
                continue
            ends = (value.low, value.high) if isinstance(value, Range) else (value,)
            if any(not (lo <= x <= hi) for x in ends):
                raise ValueError(f"{name} must lie between {lo:g} and {hi:g} (got {value})")
        unknown = set(self.engineering_hours) - set(STRATEGIES)
        if unknown:
            raise ValueError(
                f"engineering_hours: unknown strategy {sorted(unknown)[0]!r}; "
                f"allowed: {', '.join(STRATEGIES)}"
            )
        if any(h < 0 for h in self.engineering_hours.values()):
            raise ValueError("engineering_hours: hours cannot be negative")
        return self

    def hours(self, strategy: str) -> float:
        return self.engineering_hours.get(strategy, DEFAULT_ENGINEERING_HOURS[strategy])

    def uncertain_fields(self) -> dict[str, Range]:
        return {n: v for n in type(self).model_fields if isinstance(v := getattr(self, n), Range)}


def nominal(value: Uncertain) -> float:
    return value.nominal if isinstance(value, Range) else float(value)


def assumptions_from_dict(data: dict[str, Any] | None) -> CostAssumptions:
    try:
        return CostAssumptions.model_validate(data or {})
    except ValidationError as e:
        msg = describe_validation_error(e, CostAssumptions)
        if msg.startswith("field '"):
            raise InputError(msg.replace("field '", "field 'costs.", 1)) from None
        raise InputError(f"costs.{msg}") from None


def load_assumptions(path) -> CostAssumptions:
    """The optional `costs:` section of a scenario file (defaults when absent)."""
    from core.scenario import read_document

    section = read_document(path).get("costs")
    if section is not None and not isinstance(section, dict):
        raise InputError(f"{path}: field 'costs': expected a mapping of assumption: value")
    try:
        return assumptions_from_dict(section)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
