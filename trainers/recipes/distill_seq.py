"""distill_seq and distill_rag: sequence-level distillation. A teacher (a local model, a
finished run's merged model, or any OpenAI-compatible endpoint) answers the training
inputs, a filter drops bad outputs, and a LoRA student learns the rest through the SFT
loop; distill_rag's inputs carry the passages retrieved from the team's documents."""

from __future__ import annotations

from core.scenario import InputError
from trainers.data import Dataset
from trainers.endpoint import ask_all, shared_cache, spec_of
from trainers.eval.scoring import generate
from trainers.metrics import TeacherStats
from trainers.models import load_causal_lm, load_tokenizer
from trainers.recipe import Fitted, load_frozen_base, save_model
from trainers.sft import SFTRecipe
from trainers.teacher import quality_filter, resolve_teacher


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


def teacher_outputs(ctx, prompts) -> list[str]:
    """The teacher's answer to each prompt (message lists): an endpoint, or a local causal
    model (a model folder, or a finished run's merged model) by greedy generation."""
    cfg = ctx.cfg
    if cfg.teacher_url:
        return endpoint_teacher(ctx, prompts)
    teacher = resolve_teacher(cfg)
    if teacher.kind != "causal_model":
        raise InputError(
            f"teacher: {teacher.name} is a classifier; it can teach distill_classifier, not "
            f"{cfg.method} (which needs a model that writes answers)"
        )
    tok = load_tokenizer(teacher.folder, cfg.trust_remote_code)
    model = load_causal_lm(
        teacher.folder, device=ctx.device, trust_remote_code=cfg.trust_remote_code
    )
    return generate(
        model, tok, prompts, max_new_tokens=ctx.budget, device=ctx.device, bf16=ctx.bf16
    )


def distilled(ctx, model, train_ds: Dataset, ckpt_name: str | None) -> Fitted:
    """The teacher answers the training prompts, the filter drops bad answers (counted by
    reason), and a LoRA student learns the rest through the SFT loop."""
    ctx.emit("teacher", status="generating", examples=len(train_ds.examples))
    outputs = teacher_outputs(ctx, [e.messages for e in train_ds.examples])
    kept, dropped, _ = quality_filter(
        train_ds.examples, outputs, labels=train_ds.labels, regex=ctx.cfg.teacher_filter_regex
    )
    ctx.emit("teacher", status="filtered", kept=len(kept), dropped=dropped)
    if not kept:
        raise InputError(f"the quality filter dropped every teacher output ({dropped})")
    taught = train_ds.model_copy(update={"examples": tuple(kept)})
    fitted = SFTRecipe("lora").fit(ctx, model, taught, ckpt_name)
    fitted.teacher = TeacherStats(kept=len(kept), dropped=dropped)
    return fitted


class SequenceDistillation:
    def load(self, ctx):
        return load_frozen_base(ctx)

    def fit(self, ctx, model, train_ds: Dataset, ckpt_name: str | None = "ckpt") -> Fitted:
        fitted = distilled(ctx, model, train_ds, ckpt_name)
        fitted.teacher_predictions = teacher_outputs(ctx, [e.messages for e in ctx.hold.examples])
        return fitted

    def save(self, ctx, fitted: Fitted) -> None:
        save_model(ctx, fitted)


class RetrievalDistillation(SequenceDistillation):
    """distill_rag: the teacher answers the training questions from the passages retrieved
    for them (the documents flow builds those prompts), the student learns those answers;
    the flow asks the teacher the holdout with passages too, to score all three."""

    def fit(self, ctx, model, train_ds: Dataset, ckpt_name: str | None = "ckpt") -> Fitted:
        return distilled(ctx, model, train_ds, ckpt_name)
