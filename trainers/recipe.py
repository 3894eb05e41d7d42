"""The one Protocol every pilot method follows, and what passes between it and its flow.

A method's recipe is an object with three steps: `load` the model the method starts from,
`fit` it (train, or nothing for a method that only scores prompts), and `save` what it
produced. `trainers/recipes/__init__.py: RECIPES` names each method's recipe. The flow
around it (trainers/flows/) owns everything the methods share: the frozen holdout,
baselines, scoring, the forgetting probe, the learning curve; trainers/context.py makes
metrics.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.vocab import METHODS
from trainers.context import PilotContext
from trainers.data import Dataset
from trainers.loop import TrainResult
from trainers.metrics import StudentStats, TeacherStats
from trainers.models import load_causal_lm


@dataclass
class Fitted:
    """What `fit` returns: the model to score, and what training measured."""

    model: Any
    result: TrainResult | None = None
    """None: the method trains nothing (prompt, retrieval)."""
    teacher: TeacherStats | None = None
    """Sequence distillation: teacher outputs kept and dropped by the filter."""
    student: StudentStats | None = None
    """Logit distillation: the student's size against the teacher's."""
    teacher_predictions: list[str] | None = None
    """The teacher's answers on the holdout (for agreement)."""
    teacher_model: Any = None
    """A local teacher to score for agreement and decoding speed."""


class Recipe(Protocol):
    """One pilot method."""

    def load(self, ctx: PilotContext) -> Any:
        """The model this method starts from, loaded as it needs it (4-bit, bf16...)."""
        ...

    def fit(self, ctx: PilotContext, model: Any, train: Dataset, ckpt_name: str | None) -> Fitted:
        """Train on `train` (checkpointing into run_dir/ckpt_name; None: no checkpoints,
        for a short side training such as the probe's), or nothing."""
        ...

    def save(self, ctx: PilotContext, fitted: Fitted) -> None:
        """Write what the method produced (adapter/, model/, merged/) into the run."""
        ...


def load_frozen_base(ctx: PilotContext, quantize_4bit: bool = False):
    """The small model for scoring or adapter training. A frozen base needs no fp32
    master copy: it is kept in bf16 when autocast would cast it to bf16 anyway (saves the
    cast every step: 414 vs 360 tokens/s measured on CPU)."""
    import torch

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
    four_bit = METHODS[ctx.cfg.method].compute == "qlora"  # no merge into 4-bit weights
    if ctx.cfg.merge and hasattr(model, "merge_and_unload") and not four_bit:
        model.merge_and_unload().save_pretrained(run_dir / "merged", safe_serialization=True)
        tok.save_pretrained(run_dir / "merged")
