"""The one Protocol every pilot method follows, and what passes between it and the pilot.

A method is the module `trainers/recipes/<method>.py` holding `RECIPE`, an object with
three steps: `load` the model the method starts from, `fit` it (train, or nothing for a
method that only scores prompts), and `save` what it produced. The pilot around it
(trainers/pilot.py) owns everything the methods share: the frozen holdout, baselines,
scoring by generation, the forgetting probe, the learning curve and metrics.json.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.measurement import QualityMeasure
from core.vocab import Method
from trainers import runs
from trainers.config import PilotConfig
from trainers.data import Dataset
from trainers.loop import TrainResult


@dataclass(frozen=True)
class PilotContext:
    """What a recipe may read: the config, the run, the device and the frozen data."""

    cfg: PilotConfig
    run_dir: Path
    device: str
    bf16: bool
    where: Path
    """The resolved local folder of the small model."""
    tok: Any
    train_ds: Dataset
    hold: Dataset
    budget: int
    """New tokens to generate per answer."""

    def emit(self, kind: str, **fields) -> None:
        runs.emit(self.run_dir, kind, **fields)


@dataclass
class Fitted:
    """What `fit` returns: the model to score, and what training measured."""

    model: Any
    result: TrainResult | None = None
    """None: the method trains nothing (prompt, retrieval)."""
    quality_from: str | None = None
    """For scoring-only methods: the baseline whose score is the method's result."""
    teacher: dict | None = None
    """Sequence distillation: teacher outputs kept and dropped by the filter."""
    student: dict | None = None
    """Logit distillation: the student's size against the teacher's."""
    teacher_predictions: list[str] | None = None
    """The teacher's answers on the holdout (for agreement)."""
    teacher_model: Any = None
    """A local teacher to score for agreement and decoding speed."""
    extra: dict = field(default_factory=dict)


class Recipe(Protocol):
    """One pilot method."""

    def load(self, ctx: PilotContext) -> Any:
        """The model this method starts from, loaded as it needs it (4-bit, bf16...)."""
        ...

    def fit(self, ctx: PilotContext, model: Any, train: Dataset, ckpt_name: str) -> Fitted:
        """Train on `train` (checkpointing into run_dir/ckpt_name), or nothing."""
        ...

    def save(self, ctx: PilotContext, fitted: Fitted) -> None:
        """Write what the method produced (adapter/, model/, merged/) into the run."""
        ...


def recipe_for(method: Method) -> Recipe:
    """The method's recipe module; the vocabulary (core.vocab.METHODS) lists the names."""
    return importlib.import_module(f"trainers.recipes.{method}").RECIPE


def load_frozen_base(ctx: PilotContext, quantize_4bit: bool = False):
    """The small model for scoring or adapter training. A frozen base needs no fp32
    master copy: it is kept in bf16 when autocast would cast it to bf16 anyway (saves the
    cast every step: 414 vs 360 tokens/s measured on CPU)."""
    import torch

    from trainers.models import load_causal_lm

    return load_causal_lm(
        ctx.where,
        quantize_4bit=quantize_4bit,
        device=ctx.device,
        dtype=torch.bfloat16 if ctx.bf16 and not quantize_4bit else torch.float32,
        trust_remote_code=ctx.cfg.trust_remote_code,
    )


def save_model(ctx: PilotContext, fitted: Fitted) -> None:
    """The adapter in PEFT safetensors format (plus a merged model on request); a full or
    distilled model is saved whole."""
    model, tok, run_dir = fitted.model, ctx.tok, ctx.run_dir
    out = run_dir / ("adapter" if hasattr(model, "peft_config") else "model")
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    if ctx.cfg.merge and hasattr(model, "merge_and_unload") and ctx.cfg.method != "qlora":
        model.merge_and_unload().save_pretrained(run_dir / "merged", safe_serialization=True)
        tok.save_pretrained(run_dir / "merged")


def baseline_quality(fitted: Fitted, baselines: dict[str, QualityMeasure]) -> QualityMeasure:
    """A scoring-only method's result: the baseline it names."""
    return baselines[fitted.quality_from or "zero_shot"]
