"""What a pilot is asked to do: one PilotConfig (with its training settings nested), saved
whole as config.yaml in the run directory and re-runnable with `adapt pilot --config`;
and the device it runs on (the train/holdout split frozen before training is
trainers/splits.py).

The field docstrings are the help text of the CLI flags and the app's widgets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.scenario import InputError, describe_validation_error
from core.vocab import ENDPOINT_METHODS, METHOD_NAMES, METHODS, Method
from costmodels.compute import LINEAR_TARGETS
from trainers.models import DEFAULT_ENCODER, DEFAULT_MODEL

FULL_MAX_PARAMS = 2_000_000_000  # full fine-tuning is for small models only


class TrainSettings(BaseModel):
    """How the small model is trained (every training method uses the same loop)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
    epochs: float = Field(3.0, gt=0, le=100)
    """Passes over the training data."""
    batch_size: int = Field(16, ge=1, le=4096)
    """Training examples per step."""
    learning_rate: float | None = Field(None, gt=0, le=1)
    """Peak learning rate; empty: 1e-3 for adapters, 5e-5 for full fine-tuning."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (empty: the epochs decide)."""
    max_minutes: float | None = Field(None, gt=0)
    """Stop training after this many minutes (the run is then marked stopped by time)."""
    max_seq_len: int = Field(256, ge=8, le=32768)
    """Longest training sequence in tokens; longer prompts keep their end and the answer."""
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    """Share of the steps spent warming the learning rate up (then linear decay)."""
    lora_rank: int = Field(16, ge=1, le=1024)
    """LoRA rank r of every adapter."""
    lora_alpha: float = Field(32.0, gt=0)
    """LoRA scaling alpha (the update is scaled by alpha / r)."""
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the adapters' input."""
    lora_targets: tuple[str, ...] = LINEAR_TARGETS
    """Linear layers that get adapters (default: all seven of each block)."""
    bf16: Literal["auto", "on", "off"] = "auto"
    """bf16 autocast: auto uses it where the CPU (AVX-512 BF16, AMX) or GPU supports it."""
    grad_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third slower."""
    save_every_steps: int = Field(25, ge=1)
    """Checkpoint interval: a killed run resumes from the last one."""
    log_every_steps: int = Field(1, ge=1)
    """Write a step event every N steps."""


class TrainConfig(TrainSettings):
    """The loop's own config: the settings plus what the recipe decides (adapter kind)."""

    method: Literal["lora", "qlora", "full"] = "lora"
    seed: int = 0

    @property
    def lr(self) -> float:
        return self.learning_rate or (5e-5 if self.method == "full" else 1e-3)


class PilotConfig(BaseModel):
    """Everything a pilot needs; saved as config.yaml in the run directory."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
    method: Method = Field(description="The pilot to run: " + ", ".join(METHOD_NAMES) + ".")
    data: str
    """Examples: chat JSONL (messages), prompt/completion JSONL, alpaca JSON(L), or CSV
    text,label. For distill_classifier: the unlabelled inputs (CSV with a text column, or
    JSONL of {"text"} or of messages ending in a user turn) that the teacher labels."""
    holdout_data: str | None = None
    """A separate holdout file (else the holdout is split from the data)."""
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of the data held out for scoring when no holdout file is given."""
    holdout_max: int = Field(300, ge=1)
    """Score at most this many holdout rows (sampled with the seed)."""
    model: str = DEFAULT_MODEL
    """The small model: a hub id in the local cache or a local folder (safetensors only).
    The classifier method's default is the sentence encoder all-MiniLM-L6-v2."""
    teacher: str | None = None
    """Teacher for distillation: a finished pilot run (its id or folder: a classifier run's
    classifier/, a LoRA run's merged/), or a local causal model folder."""
    endpoint_url: str | None = None
    """OpenAI-compatible endpoint (base URL, e.g. http://127.0.0.1:8000/v1) of the capable
    model that the prompt and retrieval pilots ask instead of the small model."""
    endpoint_model: str | None = None
    """Model name at the endpoint."""
    endpoint_key_env: str | None = None
    """Name of the environment variable holding the endpoint's key (never the key)."""
    usd_per_1m_input: float | None = Field(None, ge=0)
    """Endpoint price per million input tokens (empty: the catalog's price for the model
    name, else 0 for a model you host)."""
    usd_per_1m_output: float | None = Field(None, ge=0)
    """Endpoint price per million output tokens (empty: the catalog's, else 0)."""
    max_usd: float | None = Field(None, gt=0)
    """Spend cap of an endpoint pilot in USD: requests stop once it is reached."""
    label_descriptions: str | None = None
    """CSV with the columns label,description: each label's description is added to the
    endpoint's system prompt (classification only)."""
    concurrency: int = Field(4, ge=1, le=256)
    """Endpoint requests in flight at once."""
    endpoint_timeout_s: float = Field(60.0, gt=0, le=3600)
    """Seconds to wait for one endpoint answer before retrying it."""
    docs: str | None = None
    """The team's documents for rag and fine_tune_rag (a folder or a file: .txt, .md,
    .html, .pdf, .docx, or JSONL of id,title,text); the data is then questions JSONL."""
    top_k: int = Field(3, ge=1, le=20)
    """Passages retrieved into each prompt."""
    chunk_chars: int = Field(1200, ge=200, le=20_000)
    """Largest passage in characters (documents are cut at headings and paragraphs)."""
    chunk_overlap_chars: int = Field(150, ge=0, le=5_000)
    """Characters of the previous passage repeated at the start of the next."""
    teacher_url: str | None = None
    """OpenAI-compatible endpoint of the teacher (for distill_seq)."""
    teacher_model: str | None = None
    """Model name at the teacher endpoint."""
    teacher_key_env: str | None = None
    """Name of the environment variable holding the endpoint's key (never the key)."""
    teacher_filter_regex: str | None = None
    """Teacher outputs must fully match this regular expression to be kept."""
    agreement_bar_pct: float = Field(95.0, gt=0, le=100)
    """Distillation: the agreement with the teacher the student must reach, in percent;
    the pilot reports the teacher-labelled inputs needed to reach it."""
    soft_targets: bool = True
    """Distillation into a classifier: when the teacher gives probabilities, also train
    the student on them (soft targets) and report it beside the student on hard labels."""
    seed: int = 0
    """Seed of the split, the shots, the batch order and the initialisation."""
    baselines: tuple[Literal["prompt", "retrieval"], ...] = ("prompt",)
    """Baselines scored beside the zero-shot model: prompt (few-shot), retrieval."""
    device: str = "auto"
    """auto (this process's GPU, else the CPU), cpu, or cuda:N."""
    trust_remote_code: bool = False
    """Run Python code shipped with the model (only for models you trust)."""
    merge: bool = False
    """Also save the adapters merged into the model (merged/)."""
    eval_batch_size: int = Field(32, ge=1)
    """Rows per generation batch when scoring."""
    curve: tuple[float, ...] = ()
    """Learning curve: also train at these fractions of the training data (0-1, each
    from a fresh base model, same holdout); the full run is the last point."""
    quality_bar_pct: float | None = Field(None, gt=0, le=100)
    """The quality the task needs, in percent: the learning curve reports examples to
    reach it."""
    abstain: bool = True
    """Classifier: pick a confidence threshold below which requests are escalated, on the
    training split's two folds (trains two more classifiers on half the data each)."""
    answered_accuracy_pct: float | None = Field(None, gt=0, le=100)
    """Accuracy the classifier must reach on the requests it answers; less confident ones
    are escalated (empty: the quality bar, else 90%)."""
    output_schema: str | None = None
    """Extraction: a JSON Schema file every output must satisfy (empty: one is inferred
    from the training fields); the run saves it as schema.json."""
    train: TrainSettings = TrainSettings()
    """Training settings (ignored by prompt and retrieval)."""

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_training_keys(cls, data):
        """config.yaml files written before the settings were nested still load."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        flow = METHODS.get(data.get("method"))  # type: ignore[call-overload]
        encoder = flow is not None and flow.compute == "encoder"
        if encoder and not data.get("model"):
            data["model"] = DEFAULT_ENCODER  # a decoder is no encoder classifier's base
        flat = {k: data.pop(k) for k in list(data) if k in TrainSettings.model_fields}
        if flat:
            data["train"] = {**flat, **dict(data.get("train") or {})}
        if flow is not None and flow.train_defaults:  # what the user set wins
            train = data.get("train") or {}
            given = train.model_dump(exclude_unset=True) if isinstance(train, BaseModel) else train
            data["train"] = {**flow.train_defaults, **dict(given)}
        if "quality_bar" in data:  # a share 0-1 before the field named its unit
            bar = data.pop("quality_bar")
            data.setdefault("quality_bar_pct", None if bar is None else bar * 100)
        return data

    @model_validator(mode="after")
    def _endpoint_ok(self) -> PilotConfig:
        if self.endpoint_url and not METHODS[self.method].endpoint:
            served = ", ".join(ENDPOINT_METHODS)
            raise ValueError(f"an endpoint model serves the {served} pilots only")
        if self.endpoint_url and not self.endpoint_model:
            raise ValueError("endpoint_model: name the model at the endpoint")
        return self

    @model_validator(mode="after")
    def _teacher_ok(self) -> PilotConfig:
        if METHODS[self.method].teacher_endpoint and not (self.teacher or self.teacher_url):
            raise ValueError(
                "teacher: distillation needs a teacher: --teacher RUN_OR_MODEL or "
                "--teacher-url URL with --teacher-model NAME"
            )
        if self.teacher_url and not self.teacher_model:
            raise ValueError("teacher_model: name the model at the teacher endpoint")
        return self

    @model_validator(mode="after")
    def _docs_ok(self) -> PilotConfig:
        if METHODS[self.method].documents and not self.docs:
            raise ValueError(f"docs: method {self.method} needs the documents (--docs PATH)")
        if self.chunk_overlap_chars >= self.chunk_chars:
            raise ValueError("chunk_overlap_chars must be smaller than chunk_chars")
        return self

    @model_validator(mode="after")
    def _curve_ok(self) -> PilotConfig:
        if self.curve and not METHODS[self.method].curve:
            ok = ", ".join(m for m, s in METHODS.items() if s.curve)
            raise ValueError(f"a learning curve needs method {ok}")
        if any(not 0 < f < 1 for f in self.curve):
            raise ValueError("curve fractions must lie between 0 and 1 (1 is the full run)")
        return self

    @property
    def answered_accuracy(self) -> float:
        """The classifier's target on the requests it answers (0-1)."""
        pct = self.answered_accuracy_pct or self.quality_bar_pct or 90.0
        return pct / 100

    @property
    def quality_bar(self) -> float | None:
        """The bar as a share (0-1)."""
        return None if self.quality_bar_pct is None else self.quality_bar_pct / 100

    def train_config(self, adapter: str | None = None) -> TrainConfig:
        """The loop's config; adapter: lora, qlora or full (default: the method's kind)."""
        kind = adapter or METHODS[self.method].compute
        return TrainConfig(
            **self.train.model_dump(),
            method=kind if kind in ("lora", "qlora", "full") else "lora",
            seed=self.seed,
        )


def field_help(name: str) -> str:
    """A config field's docstring (PilotConfig, else its training settings)."""
    for model in (PilotConfig, TrainSettings):
        if name in model.model_fields:
            return " ".join((model.model_fields[name].description or "").split())
    raise KeyError(name)


def pick_device(requested: str) -> str:
    """auto: this process's GPU (LOCAL_RANK under torchrun / accelerate launch), else CPU."""
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return "cpu"


def save_config(cfg: PilotConfig, run_dir: Path) -> None:
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    tmp = run_dir / "config.yaml.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(run_dir / "config.yaml")


def read_config_file(path: str | Path) -> dict:
    """A config.yaml's mapping, with a one-line message for a missing or broken file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read the config ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a pilot config is a mapping of fields")
    return data


def load_config(run_dir: Path) -> PilotConfig:
    path = Path(run_dir) / "config.yaml"
    try:
        return PilotConfig.model_validate(read_config_file(path))
    except ValidationError as e:
        raise InputError(f"{path}: {describe_validation_error(e, PilotConfig)}") from None
