"""Supervised fine-tuning recipe: LoRA, QLoRA or full, with an explicit loop.

Loss on the answer tokens only; length-grouped batches so little compute goes to padding;
bf16 autocast where the CPU or GPU supports it; a checkpoint every few steps, written to a
temporary folder and renamed, so a killed run resumes from the last complete one. Under
torchrun the same loop runs data parallel (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import random
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from trainers.data import Example

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
IGNORE = -100  # label id that the loss skips (the prompt and the padding)


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    method: Literal["lora", "qlora", "full"] = "lora"
    lora_rank: int = Field(16, ge=1, le=1024)
    lora_alpha: float = Field(32.0, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: tuple[str, ...] = ALL_LINEAR
    learning_rate: float | None = Field(None, gt=0, le=1)
    """None: 1e-3 for adapters, 5e-5 for full fine-tuning."""
    batch_size: int = Field(16, ge=1, le=4096)
    epochs: float = Field(3.0, gt=0, le=100)
    max_steps: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    max_seq_len: int = Field(256, ge=8, le=32768)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    seed: int = 0
    bf16: Literal["auto", "on", "off"] = "auto"
    grad_checkpointing: bool = False
    save_every_steps: int = Field(25, ge=1)
    log_every_steps: int = Field(1, ge=1)

    @property
    def lr(self) -> float:
        return self.learning_rate or (5e-5 if self.method == "full" else 1e-3)


class TrainResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    steps: int
    planned_steps: int
    tokens: int
    seconds: float
    tokens_per_second: float
    first_loss: float
    last_loss: float
    stopped_by: Literal["steps", "minutes", "done"]
    bf16: bool


class AnswerLoss(torch.nn.Module):
    """Cross-entropy on the answer tokens only, computing the vocabulary projection just
    where a label exists: for classification that is a few of ~45 positions, and the
    projection onto a 49k vocabulary is a fifth of the model's FLOPs. Wrapped as one
    module so DistributedDataParallel sees the whole forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.body, self.head = causal.model, causal.lm_head

    def forward(self, input_ids, attention_mask, labels):
        hidden = self.body(
            input_ids=input_ids,
            attention_mask=attention_mask,
            use_cache=False,  # no KV cache in training
        ).last_hidden_state
        target = labels[:, 1:]  # (B, T-1): position t predicts token t+1
        keep = target != IGNORE
        logits = self.head(hidden[:, :-1][keep])  # (N, V), N = answer tokens in the batch
        return torch.nn.functional.cross_entropy(logits.float(), target[keep])


EAGER_MAX_SCORES_MIB = 256  # attention scores eager attention may keep for the backward


@contextlib.contextmanager
def training_attention(model, device: str, batch_size: int, longest: int):
    """Eager attention while training on CPU, when its scores are small.

    PyTorch's CPU flash-attention backward costs about 13 ms per layer even on a batch of
    16 rows of 45 tokens, a fifth of a SmolLM2-135M step; eager attention's backward is
    two batched matmuls (measured on BANKING77, 2-core CPU: 323 -> 400-437 tokens/s).
    Eager keeps every layer's (B, H, T, T) scores for the backward, so it is used only
    while they stay under EAGER_MAX_SCORES_MIB; the model's own choice is restored after.
    """
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(causal, "config", None)
    before = getattr(config, "_attn_implementation", None)
    layers, heads = (
        getattr(config, k, 0) or 0 for k in ("num_hidden_layers", "num_attention_heads")
    )
    scores_mib = layers * batch_size * heads * longest**2 * 6 / 2**20  # bf16 scores + fp32 softmax
    switch = (
        device == "cpu"
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


# What the CPU stack says when memory runs out: PyTorch's allocator raises a plain
# RuntimeError, and oneDNN, asked for a kernel it has no memory to build, "could not
# create a primitive" (measured: both, under an address-space limit, in the same loop).
CPU_OUT_OF_MEMORY = ("DefaultCPUAllocator: can't allocate", "could not create a primitive")


def is_out_of_memory(e: BaseException) -> bool:
    """CUDA raises torch.OutOfMemoryError and Python MemoryError; see CPU_OUT_OF_MEMORY."""
    if isinstance(e, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(e, RuntimeError) and any(m in str(e) for m in CPU_OUT_OF_MEMORY)


def cpu_supports_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(cfg: TrainConfig, device: str) -> bool:
    if cfg.bf16 != "auto":
        return cfg.bf16 == "on"
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return cpu_supports_bf16()


def peak_memory_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_memory_mib(device: str) -> float:
    """Memory in use now (GPU: allocated tensors; CPU: this process's resident set)."""
    if device.startswith("cuda"):
        return torch.cuda.memory_allocated() / 2**20
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


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


def length_grouped_batches(
    lengths: list[int], batch: int, seed: int, longest_first: bool = False
) -> list[list[int]]:
    """Shuffle, sort by length inside mega-batches of 32 batches, then shuffle the batches:
    random enough for SGD, and each batch holds similar lengths (little padding).
    longest_first: the batch holding the longest example goes first, so a batch that does
    not fit in memory fails at step 1, not at step 120."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch * 32
    batches = []
    for i in range(0, len(order), mega):
        chunk = sorted(order[i : i + mega], key=lambda j: lengths[j], reverse=True)
        batches += [chunk[k : k + batch] for k in range(0, len(chunk), batch)]
    rng.shuffle(batches)
    if longest_first:
        top = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
        batches.insert(0, batches.pop(top))
    return batches


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id)  # (B, T)
    labels = torch.full((len(rows), width), IGNORE)  # (B, T)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T)
    for i, (x, y) in enumerate(rows):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = (
            torch.tensor(x),
            torch.tensor(y),
            1,
        )
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


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


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad
    }


def save_checkpoint(ckpt: Path, model, opt, sched, state: dict) -> None:
    """Write to ckpt.tmp, then swap it in: a kill at any point leaves a complete checkpoint
    (the old or the new), never a half-written one."""
    from safetensors.torch import save_file

    tmp, old = ckpt.with_name(ckpt.name + ".tmp"), ckpt.with_name(ckpt.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_file(trainable_state(model), tmp / "trainable.safetensors")
        torch.save(
            {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp / "optimizer.pt"
        )
        (tmp / "state.json").write_text(json.dumps(state))  # written last: marks it complete
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)  # on a full disk, give the space back
        if not isinstance(e, OSError) and "No space left on device" in str(e):
            raise OSError(errno.ENOSPC, "No space left on device") from e  # safetensors' own
        raise
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(ckpt: Path, model, opt, sched) -> dict | None:
    from safetensors.torch import load_file

    if not (ckpt / "state.json").exists():
        old = ckpt.with_name(ckpt.name + ".old")  # killed between the two renames
        if not (old / "state.json").exists():
            return None
        ckpt = old
    weights = load_file(ckpt / "trainable.safetensors")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    extra = torch.load(ckpt / "optimizer.pt", weights_only=True)  # tensors and numbers only
    opt.load_state_dict(extra["optimizer"])
    sched.load_state_dict(extra["scheduler"])
    return json.loads((ckpt / "state.json").read_text())


def _dist() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


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
    """Train on `examples`. `emit(kind, **fields)` receives start/step/checkpoint events."""
    encoded = [encode(tok, ex, cfg.max_seq_len) for ex in examples]
    longest = max(len(ids) for ids, _ in encoded)
    with training_attention(model, device, cfg.batch_size, longest):
        return _loop(model, tok, encoded, cfg, device, ckpt_dir, emit, should_stop)


def _loop(model, tok, encoded, cfg, device, ckpt_dir, emit, should_stop) -> TrainResult:
    """The training loop."""
    rank, world = _dist()
    torch.manual_seed(cfg.seed)
    lengths = [len(ids) for ids, _ in encoded]
    per_epoch = math.ceil(math.ceil(len(encoded) / cfg.batch_size) / world)
    planned = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    warmup = int(planned * cfg.warmup_ratio)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min((s + 1) / max(1, warmup), max(0.0, (planned - s) / max(1, planned - warmup))),
    )
    step = 0
    state = load_checkpoint(ckpt_dir, model, opt, sched) if ckpt_dir else None
    if state:
        step = state["step"]
        emit("resume", step=step)
    ddp = AnswerLoss(model)
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(ddp)
    bf16 = use_bf16(cfg, device)
    model.train()
    emit("start", planned_steps=planned, examples=len(encoded), bf16=bf16, world_size=world)
    t0, tokens, first_loss, last_loss, stopped = time.perf_counter(), 0, None, float("nan"), "done"
    while step < planned:
        epoch, pos = divmod(step, per_epoch)
        order = length_grouped_batches(
            lengths, cfg.batch_size, cfg.seed + epoch, longest_first=epoch == 0
        )[rank::world]
        for idx in order[pos:]:
            batch = {
                k: v.to(device)
                for k, v in collate([encoded[i] for i in idx], tok.pad_token_id).items()
            }
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                loss = ddp(**batch)  # mean over the answer tokens of this batch
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            tokens += int(batch["attention_mask"].sum()) * world
            last_loss = float(loss.detach())
            first_loss = last_loss if first_loss is None else first_loss
            elapsed = time.perf_counter() - t0
            tps = tokens / max(elapsed, 1e-9)
            if rank == 0 and (step % cfg.log_every_steps == 0 or step == planned):
                emit(
                    "step",
                    step=step,
                    loss=round(last_loss, 5),
                    lr=sched.get_last_lr()[0],
                    tokens_per_second=round(tps, 1),
                    memory_mib=round(current_memory_mib(device)),
                    eta_seconds=round(
                        elapsed / max(1, step - (state or {}).get("step", 0)) * (planned - step), 1
                    ),
                )
            if rank == 0 and ckpt_dir and (step % cfg.save_every_steps == 0 or step == planned):
                save_checkpoint(ckpt_dir, model, opt, sched, {"step": step, "epoch": epoch})
                emit("checkpoint", step=step)
            if cfg.max_minutes and elapsed > cfg.max_minutes * 60:
                stopped = "minutes"
            if step >= planned or stopped != "done" or should_stop():
                break
        if stopped != "done" or should_stop():
            break
    if cfg.max_steps and step >= cfg.max_steps and stopped == "done":
        stopped = "steps"
    seconds = time.perf_counter() - t0
    model.eval()
    return TrainResult(
        steps=step,
        planned_steps=planned,
        tokens=tokens,
        seconds=seconds,
        tokens_per_second=tokens / max(seconds, 1e-9),
        first_loss=first_loss if first_loss is not None else float("nan"),
        last_loss=last_loss,
        stopped_by=stopped,
        bf16=bf16,
    )
