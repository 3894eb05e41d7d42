"""distill_seq: sequence-level distillation. A teacher (a local model, or any
OpenAI-compatible endpoint) labels the training inputs, a filter drops bad outputs, and
a LoRA student learns the rest through the SFT loop."""

from __future__ import annotations

from core.scenario import InputError
from trainers.data import Dataset
from trainers.endpoint import ask_all, shared_cache, spec_of
from trainers.eval.scoring import generate
from trainers.metrics import TeacherStats
from trainers.models import load_causal_lm, load_tokenizer, resolve_model
from trainers.recipe import Fitted, load_frozen_base, save_model
from trainers.sft import SFTRecipe
from trainers.teacher import quality_filter


def endpoint_teacher(ctx, prompts) -> list[str]:
    """The teacher behind an OpenAI-compatible endpoint, asked through the same client as
    the endpoint pilots (retries, concurrency, the response cache, the spend cap). A
    request that failed after its retries stops the run: a student cannot learn from a
    missing answer, and silently dropping rows would bias what it learns."""
    spec = spec_of(ctx.cfg, teacher=True)
    cache = shared_cache()
    replies = ask_all(spec, prompts, max_tokens=ctx.budget, cache=cache)
    failed = [r.error for r in replies if r.error]
    if failed:
        raise InputError(f"the teacher endpoint failed {len(failed)} request(s): {failed[0]}")
    return [r.text for r in replies]


def teacher_outputs(ctx, examples) -> list[str]:
    cfg, prompts = ctx.cfg, [e.messages for e in examples]
    if cfg.teacher_url:
        return endpoint_teacher(ctx, prompts)
    if not cfg.teacher:
        raise InputError("distill_seq needs a teacher: --teacher MODEL or --teacher-url URL")
    where = resolve_model(cfg.teacher)
    tok = load_tokenizer(where, cfg.trust_remote_code)
    teacher = load_causal_lm(where, device=ctx.device, trust_remote_code=cfg.trust_remote_code)
    return generate(
        teacher, tok, prompts, max_new_tokens=ctx.budget, device=ctx.device, bf16=ctx.bf16
    )


class SequenceDistillation:
    def load(self, ctx):
        return load_frozen_base(ctx)

    def fit(self, ctx, model, train_ds: Dataset, ckpt_name: str | None = "ckpt") -> Fitted:
        ctx.emit("teacher", status="generating", examples=len(train_ds.examples))
        outputs = teacher_outputs(ctx, train_ds.examples)
        kept, dropped, _ = quality_filter(
            train_ds.examples, outputs, labels=train_ds.labels, regex=ctx.cfg.teacher_filter_regex
        )
        ctx.emit("teacher", status="filtered", kept=len(kept), dropped=dropped)
        if not kept:
            raise InputError(f"the quality filter dropped every teacher output ({dropped})")
        teacher_hold = teacher_outputs(ctx, ctx.hold.examples)
        taught = train_ds.model_copy(update={"examples": tuple(kept)})
        fitted = SFTRecipe("lora").fit(ctx, model, taught, ckpt_name)
        fitted.teacher = TeacherStats(kept=len(kept), dropped=dropped)
        fitted.teacher_predictions = teacher_hold
        return fitted

    def save(self, ctx, fitted: Fitted) -> None:
        save_model(ctx, fitted)
