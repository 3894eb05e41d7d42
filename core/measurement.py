"""What a pilot measured, as the record the cost model and the advisor consume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.distill import DistillStats
from core.extract import ExtractStats
from core.quality import (  # noqa: F401  (re-exported: their home was here)
    Z95,
    Paired,
    QualityMeasure,
    mcnemar,
    mean_score,
    wilson,
)
from core.scenario import InputError
from core.vocab import Method

MIN_HOLDOUT = 30  # fewer holdout rows than this: the interval is too wide to act on


class ServingSpeed(BaseModel):
    """How fast the trained classifier serves on this machine's CPU, timed as served
    (tokenize, encode, softmax) on the holdout's texts."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    requests_per_second: float = Field(gt=0)
    """Batched throughput with all `threads`."""
    latency_p50_ms: float = Field(ge=0)
    """Median latency of one request at batch 1."""
    latency_p95_ms: float = Field(ge=0)
    batch_latency_p50_ms: float = Field(ge=0)
    """Median time to answer a whole batch of `batch_size` requests."""
    batch_latency_p95_ms: float = Field(ge=0)
    batch_size: int = Field(ge=1)
    threads: int = Field(ge=1)
    """CPU threads used (torch.get_num_threads())."""

    @property
    def requests_per_second_per_core(self) -> float:
        return self.requests_per_second / self.threads


class EndpointStats(BaseModel):
    """What a capable model behind an endpoint cost and how fast it answered, per request
    of the method's own prompt (tokens from the response's usage)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str
    requests: int = Field(ge=0)
    errors: int = Field(ge=0)
    """Requests that failed after the retries, or were not sent (the spend cap)."""
    cached: int = Field(0, ge=0)
    """Answers taken from the response cache (not sent again)."""
    input_tokens_per_request: float = Field(ge=0)
    output_tokens_per_request: float = Field(ge=0)
    tokens_counted: bool = True
    """False: the server sent no usage; tokens were estimated from characters."""
    latency_ms_p50: float = Field(ge=0)
    latency_ms_p95: float = Field(ge=0)
    usd_per_request: float = Field(ge=0)
    usd_per_correct: float | None = Field(None, ge=0)
    usd_spent: float = Field(0.0, ge=0)
    """What this run paid (cached answers cost nothing again)."""
    instruction_tokens: int | None = Field(None, ge=0)
    """The system prompt's own tokens as the endpoint counts them: part of every request's
    input, and what a fine-tuned model no longer needs (None: not measured)."""


class Abstention(BaseModel):
    """A confidence threshold picked on the training split, and what it did on the holdout."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    threshold: float = Field(ge=0)
    """Answer when the top label's probability reaches this; escalate below it."""
    target_accuracy: float = Field(gt=0, le=1)
    """Accuracy the answered requests had to reach on the training split's folds."""
    answered: QualityMeasure
    """Accuracy on the holdout rows answered (n: how many were)."""
    escalated_share: float = Field(ge=0, le=1)
    out_of_scope_rows: int = Field(0, ge=0)
    """Holdout rows whose label the training data never had."""
    out_of_scope_caught: float | None = Field(None, ge=0, le=1)
    """Share of those escalated (None: the holdout has none)."""
    curve: tuple[tuple[float, float], ...] = ()
    """(answered share, accuracy on it), the most confident rows answered first."""


class Difference(BaseModel):
    """A paired difference of means on one holdout, with its 95% interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    value: float
    ci_low: float
    ci_high: float
    n: int = Field(ge=0)

    def text(self) -> str:
        """A difference of two shares, in percentage points."""
        pts = lambda x: f"{x * 100:+.1f}"  # noqa: E731
        return f"{pts(self.value)} points [{pts(self.ci_low)}, {pts(self.ci_high)}] (n={self.n})"


class AnswerScores(BaseModel):
    """One system's answers: exact match, token F1 and chrF over the answerable questions
    (best over the gold answers), and its abstention figures."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    exact_match: QualityMeasure
    f1: QualityMeasure
    chrf: QualityMeasure
    abstained_when_unanswerable: QualityMeasure | None = None
    """Share of unanswerable questions where it said the answer is not in the documents."""
    abstained_when_answerable: QualityMeasure | None = None
    """Share of answerable questions where it wrongly said so."""


class RetrievalScores(BaseModel):
    """Retrieval on the answerable questions: hit@k and MRR@10 against the gold passage
    (when the questions name one), and how often a gold answer is in the retrieved text."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: str
    """fused (BM25 + dense by reciprocal rank fusion), bm25 or dense."""
    questions: int = Field(ge=0)
    hit_at_1: float | None = None
    hit_at_3: float | None = None
    hit_at_5: float | None = None
    mrr_at_10: float | None = None
    answer_in_context: float | None = None
    """Share whose retrieved passages (the top_k given to the model) contain a gold answer."""


class RagStats(BaseModel):
    """A pilot over documents: the index, retrieval, every system's answers, and costs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    documents: int = Field(ge=0)
    chunks: int = Field(ge=0)
    chunk_chars: int
    chunk_overlap_chars: int
    top_k: int
    index_build_seconds: float = Field(ge=0)
    """Wall time to build the index, the encoder's loading included."""
    encoder_load_seconds: float = Field(0.0, ge=0)
    documents_per_second: float = Field(ge=0)
    """Documents chunked, tokenized and embedded per second, once the encoder is loaded."""
    index_reused: bool = False
    query_latency_ms: float = Field(0.0, ge=0)
    """Mean retrieval time per question (fused, batched)."""
    context_tokens_per_request: float = Field(0.0, ge=0)
    """Tokens of retrieved passages in each prompt."""
    corpus_tokens: int = Field(0, ge=0)
    """The documents' size in tokens (estimated from characters): what a full re-index
    embeds."""
    skipped_files: tuple[str, ...] = ()
    """'file: reason' for every file not indexed."""
    retrieval: RetrievalScores | None = None
    answers: dict[str, AnswerScores] = {}
    """closed_book, rag, and the method's own (lora, fine_tune_rag)."""
    f1_gain: dict[str, Difference] = {}
    """Paired F1 differences on the answerable questions, e.g. 'rag - closed_book'."""

    def reader_limit(self) -> str | None:
        """When retrieval put the answer in the passages far more often than the reader
        answered right, the reader is the limit: say so, and how to measure a capable one."""
        found = self.retrieval.answer_in_context if self.retrieval else None
        read = self.answers.get("rag")
        if found is None or read is None or found < 0.5 or found - read.f1.value < READER_GAP:
            return None
        return (
            f"The answer was in the retrieved passages for {found:.1%} of the questions, but "
            f"the small pilot model reading them scored F1 {read.f1.value:.1%}: the reader is "
            "the limit, not retrieval. Measure a capable reader by running the retrieval "
            "pilot against its endpoint (--endpoint-url, or the capable model's endpoint on "
            "the Pilot page)."
        )


READER_GAP = 0.3  # answer found this much more often than read right: the reader fails


class Hardware(BaseModel):
    """The machine a pilot or benchmark ran on, with what decides its fast paths."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    cpu_model: str
    cpu_cores: int = Field(ge=0)
    cpu_flags: tuple[str, ...] = ()
    """Those of avx2, avx512f, avx512_bf16, amx_bf16, amx_tile the CPU has."""
    torch_cpu_kernels: str = ""
    """The vector kernels PyTorch dispatches to here (AVX512, AVX2, DEFAULT); below the
    CPU's own when ATEN_CPU_CAPABILITY limits them ('' when not read)."""
    isa_limits: tuple[str, ...] = ()
    """Environment settings that cap the kernels used (ATEN_CPU_CAPABILITY=avx2,
    ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2): an AVX-512 CPU then runs as
    an AVX2-only one."""
    cpu_threads: int = Field(default=0, ge=0)
    """PyTorch's intra-op threads (0 when not read)."""
    gpu_name: str | None = None
    gpu_compute_capability: str | None = None
    gpu_bf16: bool | None = None

    def usable_flags(self) -> tuple[str, ...]:
        """The flags the kernels may use: without AVX-512 kernels (an AVX2-only CPU, or
        limits set), none of the AVX-512 or AMX paths (bf16 autocast, 4-bit) is fast."""
        capped = any(  # e.g. ATEN_CPU_CAPABILITY=avx2; a cap at AVX-512 or AMX caps nothing
            not v.split("=", 1)[-1].lower().startswith(("avx512", "amx")) for v in self.isa_limits
        )
        if self.torch_cpu_kernels in ("", "AVX512") and not capped:
            return self.cpu_flags
        return tuple(f for f in self.cpu_flags if not f.startswith(("avx512", "amx")))

    def bf16_autocast_fast(self) -> bool:
        """bf16 autocast on this CPU runs on native bf16 instructions (AVX-512 BF16 or AMX:
        about 2x fp32); without them it is emulated and slower than fp32."""
        return bool({"avx512_bf16", "amx_bf16"} & set(self.usable_flags()))

    def text(self) -> str:
        flags = ", ".join(self.cpu_flags) or "no AVX2"
        limits = (
            f"; kernels limited to {self.torch_cpu_kernels} by {', '.join(self.isa_limits)}"
            if self.isa_limits
            else ""
        )
        threads = f"; {self.cpu_threads} torch threads" if self.cpu_threads else ""
        gpu = (
            f"; GPU {self.gpu_name} (compute {self.gpu_compute_capability}, "
            f"bf16 {'yes' if self.gpu_bf16 else 'no'})"
            if self.gpu_name
            else ""
        )
        return f"{self.cpu_model} ({self.cpu_cores} cores; {flags}{limits}{threads}){gpu}"


class Measurement(BaseModel):
    """One pilot's measured numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    run_id: str
    method: Method
    model: str
    model_params: int = Field(ge=0)
    device: str
    device_name: str = ""
    """The accelerator's or CPU's name ('NVIDIA H100 80GB HBM3'), to match catalog GPUs."""
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
    """The same model zero-shot, same prompt template, same holdout."""
    baselines: dict[str, QualityMeasure] = Field(default_factory=dict)
    """Every baseline the run scored: zero_shot, few_shot, retrieval_few_shot,
    nearest_neighbour_label."""
    forgetting_delta: float | None = None
    """Probe accuracy after training minus before (negative: the model forgot)."""
    train_steps: int = Field(0, ge=0)
    """Optimizer steps the training ran (0 for methods that do not train)."""
    planned_steps: int = Field(0, ge=0)
    """Steps the training planned (its epochs over the data); 0 when nothing trained."""
    stopped_by: Literal["steps", "minutes", "done"] | None = None
    """Why training ended: done (the planned steps ran), or cut short by the step or time
    limit (then the quality is a lower bound). None: nothing trained."""
    examples_needed: int | None = None
    """From a learning-curve pilot: training examples predicted to reach the quality bar
    (None: not measured, or not reachable with this model)."""
    constrained: QualityMeasure | None = None
    """Generative methods on classification data: accuracy when the answer is the label the
    model finds most likely (label-constrained decoding) instead of free generation; on
    extraction data: field F1 with decoding constrained to the schema."""
    invalid_label_share: float | None = Field(None, ge=0, le=1)
    """Share of free-generation answers that were no valid label (extraction: that did
    not parse or broke the schema)."""
    serving: ServingSpeed | None = None
    """A trained classifier's measured CPU serving speed."""
    abstention: Abstention | None = None
    """A trained classifier's escalation threshold and what it did on the holdout."""
    endpoint: EndpointStats | None = None
    """A prompt or retrieval pilot through an endpoint: tokens, latency and price."""
    hardware: Hardware | None = None
    """The CPU (model, cores, vector flags) and GPU the run measured on."""
    rag: RagStats | None = None
    """A pilot over documents: retrieval, answers, abstention, index and context costs."""
    extract: ExtractStats | None = None
    """An extraction pilot: parse and schema-valid rates, field F1 per field, exact match,
    the methods compared on the holdout."""
    distill: DistillStats | None = None
    """A distillation pilot: the teacher, its filter, the student's agreement at each size
    of the teacher-labelled set, and the inputs the agreement bar needs."""


def load_measurement(path: str | Path) -> Measurement:
    """The Measurement in a run directory's metrics.json (or that file itself)."""
    p = Path(path)
    p = p / "metrics.json" if p.is_dir() else p
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return Measurement.model_validate(data["measurement"])
    except FileNotFoundError:
        raise InputError(f"{p}: no metrics.json (is the run finished?)") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValidationError) as e:
        raise InputError(f"{p}: not a finished run's metrics ({type(e).__name__})") from None
