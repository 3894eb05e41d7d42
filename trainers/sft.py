"""Supervised fine-tuning recipe: LoRA, QLoRA or full, with an explicit loop.

Loss on the answer tokens only; length-grouped batches so little compute goes to padding;
bf16 autocast where the CPU or GPU supports it; a checkpoint every few steps, written to a
temporary folder and renamed, so a killed run resumes from the last complete one. Under
torchrun the same loop runs data parallel (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch

from trainers import hardware  # hardware.detect(), patchable in tests
from trainers.config import TrainConfig
from trainers.data import Example
from trainers.loop import IGNORE, TrainResult, fit
from trainers.models import load_causal_lm
from trainers.recipe import Fitted, load_frozen_base, save_model


def answer_logits(causal, input_ids, attention_mask, keep):
    """(N, V) logits at the N answer positions only: the projection onto a 49k vocabulary
    is a fifth of a small model's FLOPs, and for classification the answer is a few of
    ~45 positions. keep: (B, T-1), True where position t predicts an answer token."""
    hidden = causal.model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        use_cache=False,  # no KV cache in training
    ).last_hidden_state  # (B, T, D)
    return causal.lm_head(hidden[:, :-1][keep])


class AnswerLoss(torch.nn.Module):
    """Cross-entropy on the answer tokens only (see answer_logits). Wrapped as one module
    so DistributedDataParallel sees the whole forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.causal = model.get_base_model() if hasattr(model, "get_base_model") else model

    def forward(self, input_ids, attention_mask, labels):
        target = labels[:, 1:]  # (B, T-1): position t predicts token t+1
        keep = target != IGNORE
        logits = answer_logits(self.causal, input_ids, attention_mask, keep)  # (N, V)
        return torch.nn.functional.cross_entropy(logits.float(), target[keep])


EAGER_MAX_SCORES_MIB = 256  # attention scores eager attention may keep for the backward


def eager_is_faster(device: str) -> bool:
    """Eager attention trains faster than PyTorch's CPU flash attention where the kernels
    have AVX-512; with AVX2 kernels only, flash attention is the faster one (bench_step.py,
    LoRA on SmolLM2-135M, batch 16, 2-core EPYC: AVX-512 fp32 272 vs 256 tokens/s and bf16
    431 vs 353; limited to AVX2, fp32 239-234 vs 252-273)."""
    return device == "cpu" and "avx512f" in hardware.detect().usable_flags()


@contextlib.contextmanager
def training_attention(model, device: str, batch_size: int, longest: int):
    """Eager attention while training on an AVX-512 CPU, when its scores are small.

    PyTorch's CPU flash-attention backward costs about 13 ms per layer even on a batch of
    16 rows of 45 tokens, a fifth of a SmolLM2-135M step; eager attention's backward is
    two batched matmuls (measured on BANKING77, 2-core CPU: 323 -> 400-437 tokens/s).
    Eager keeps every layer's (B, H, T, T) scores for the backward, so it is used only
    while they stay under EAGER_MAX_SCORES_MIB; the model's own choice is restored after.
    With AVX2 kernels only, flash attention is faster (eager_is_faster) and stays.
    """
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(causal, "config", None)
    before = getattr(config, "_attn_implementation", None)
    layers, heads = (
        getattr(config, k, 0) or 0 for k in ("num_hidden_layers", "num_attention_heads")
    )
    scores_mib = layers * batch_size * heads * longest**2 * 6 / 2**20  # bf16 scores + fp32 softmax
    switch = (
        eager_is_faster(device)
        and before not in (None, "eager")
        and scores_mib <= EAGER_MAX_SCORES_MIB
        and hasattr(causal, "set_attn_implementation")
    )
    if switch:
        causal.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            causal.set_attn_implementation(before)


def encode(tok, ex: Example, max_len: int) -> tuple[list[int], list[int]]:
    """(input ids, labels): the chat-templated prompt, then the answer and end-of-turn.
    The prompt is masked out of the loss; the answer is kept whole when truncating."""
    prompt = tok.apply_chat_template(
        [m.model_dump() for m in ex.messages], tokenize=False, add_generation_prompt=True
    )
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tok(ex.target + tok.eos_token, add_special_tokens=False)["input_ids"]
    p_ids = p_ids[-max(1, max_len - len(a_ids)) :]  # keep the end of a long prompt
    ids = (p_ids + a_ids)[:max_len]
    return ids, ([IGNORE] * len(p_ids) + a_ids)[:max_len]


def prepare_model(model, cfg: TrainConfig):
    """Wrap with LoRA adapters (QLoRA: on the 4-bit base), or unfreeze all for full."""
    if cfg.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        if cfg.grad_checkpointing:
            model.gradient_checkpointing_enable()
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.method == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.grad_checkpointing
        )
    elif cfg.grad_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in cfg.lora_targets if t in present]
    if not targets:
        raise ValueError(f"none of the LoRA targets {cfg.lora_targets} is in this model")
    lcfg = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lcfg)


def train(
    model,
    tok,
    examples: list[Example],
    cfg: TrainConfig,
    *,
    device: str = "cpu",
    ckpt_dir: Path | None = None,
    emit: Callable[..., None] = lambda *a, **k: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """Supervised fine-tuning on `examples` (loss on the answer tokens only).
    `emit(kind, **fields)` receives start/step/checkpoint events."""
    encoded = [encode(tok, ex, cfg.max_seq_len) for ex in examples]
    longest = max(len(ids) for ids, _ in encoded)
    with training_attention(model, device, cfg.batch_size, longest):
        return fit(
            AnswerLoss(model),
            model,
            encoded,
            tok.pad_token_id,
            cfg,
            device=device,
            ckpt_dir=ckpt_dir,
            emit=emit,
            should_stop=should_stop,
        )


class SFTRecipe:
    """lora, qlora and full: supervised fine-tuning of the small model on the examples."""

    def __init__(self, adapter: str):
        self.adapter = adapter  # lora, qlora or full

    def load(self, ctx):
        if self.adapter == "full":  # every weight trains: keep an fp32 master copy
            return load_causal_lm(
                ctx.where, device=ctx.device, trust_remote_code=ctx.cfg.trust_remote_code
            )
        return load_frozen_base(ctx, quantize_4bit=self.adapter == "qlora")

    def fit(self, ctx, model, train_ds, ckpt_name: str | None = "ckpt") -> Fitted:
        if self.adapter == "qlora" and ctx.device == "cpu":
            # bitsandbytes repacks 4-bit weights for fast CPU inference on the first
            # generate; training through the repacked weights gets wrong gradients
            # (measured on BANKING77: loss stuck near 5.8 over 20 steps instead of falling
            # to 1.4). So QLoRA on CPU trains a freshly quantized copy.
            model = self.load(ctx)
        tcfg = ctx.cfg.train_config(self.adapter)
        model = prepare_model(model, tcfg)
        res = train(
            model,
            ctx.tok,
            list(train_ds.examples),
            tcfg,
            device=ctx.device,
            ckpt_dir=ctx.run_dir / ckpt_name if ckpt_name else None,
            emit=ctx.emit,
        )
        return Fitted(model=model, result=res)

    def save(self, ctx, fitted) -> None:
        save_model(ctx, fitted)
