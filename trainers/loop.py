"""The one training loop, shared by every training recipe (SFT, logit distillation)
and timed by the preflight probe: length-grouped batches, bf16 autocast, clipping, a
warmup-then-linear schedule, a time limit, checkpoints a kill cannot corrupt, and
data parallelism under torchrun (gloo on CPU, nccl on GPU).

A recipe hands `fit` a loss module, `loss_module(input_ids, attention_mask, labels) ->
scalar`, and the model whose trainable parameters it optimizes and checkpoints.
"""

from __future__ import annotations

import errno
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch

from trainers.config import TrainConfig
from trainers.hardware import current_memory_mib, use_bf16
from trainers.metrics import TrainResult

IGNORE = -100  # label id that the loss skips (the prompt and the padding)


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


def schedule(opt, planned: int, warmup_ratio: float):
    """Linear warmup over warmup_ratio of the steps, then linear decay to zero."""
    warmup = int(planned * warmup_ratio)
    return torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min((s + 1) / max(1, warmup), max(0.0, (planned - s) / max(1, planned - warmup))),
    )


def to_device(rows, pad_id: int, device: str) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in collate(rows, pad_id).items()}


def train_step(loss_module, batch: dict, opt, sched, params, device: str, bf16: bool) -> float:
    """One optimizer step: forward under autocast, backward, clip to norm 1, step."""
    with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
        loss = loss_module(**batch)  # mean over the answer tokens of this batch
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    if sched is not None:
        sched.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def fit(
    loss_module: torch.nn.Module,
    model,
    encoded: list[tuple[list[int], list[int]]],
    pad_id: int,
    cfg: TrainConfig,
    *,
    device: str = "cpu",
    ckpt_dir: Path | None = None,
    emit: Callable[..., None] = lambda *a, **k: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """Train `model`'s trainable parameters on `encoded` (input ids, labels) rows."""
    rank, world = _dist()
    torch.manual_seed(cfg.seed)
    lengths = [len(ids) for ids, _ in encoded]
    per_epoch = math.ceil(math.ceil(len(encoded) / cfg.batch_size) / world)
    planned = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sched = schedule(opt, planned, cfg.warmup_ratio)
    step = 0
    state = load_checkpoint(ckpt_dir, model, opt, sched) if ckpt_dir else None
    if state:
        step = state["step"]
        emit("resume", step=step)
    start_step = step
    if world > 1:
        loss_module = torch.nn.parallel.DistributedDataParallel(loss_module)
    bf16 = use_bf16(cfg, device)
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    attention = getattr(getattr(causal, "config", None), "_attn_implementation", None) or ""
    threads = torch.get_num_threads()
    model.train()
    emit(
        "start",
        planned_steps=planned,
        examples=len(encoded),
        bf16=bf16,
        attention=attention,
        threads=threads,
        world_size=world,
    )
    t0, tokens, first_loss, last_loss, stopped = time.perf_counter(), 0, None, float("nan"), "done"
    while step < planned and stopped == "done":
        epoch, pos = divmod(step, per_epoch)
        order = length_grouped_batches(
            lengths, cfg.batch_size, cfg.seed + epoch, longest_first=epoch == 0
        )[rank::world]
        for idx in order[pos:]:
            batch = to_device([encoded[i] for i in idx], pad_id, device)
            last_loss = train_step(loss_module, batch, opt, sched, params, device, bf16)
            first_loss = last_loss if first_loss is None else first_loss
            step += 1
            tokens += int(batch["attention_mask"].sum()) * world
            elapsed = time.perf_counter() - t0
            if rank == 0 and (step % cfg.log_every_steps == 0 or step == planned):
                emit(
                    "step",
                    step=step,
                    loss=round(last_loss, 5),
                    lr=sched.get_last_lr()[0],
                    tokens=tokens,
                    tokens_per_second=round(tokens / max(elapsed, 1e-9), 1),
                    memory_mib=round(current_memory_mib(device)),
                    eta_seconds=round(elapsed / (step - start_step) * (planned - step), 1),
                )
            if rank == 0 and ckpt_dir and (step % cfg.save_every_steps == 0 or step == planned):
                save_checkpoint(ckpt_dir, model, opt, sched, {"step": step, "epoch": epoch})
                emit("checkpoint", step=step)
            if cfg.max_minutes and elapsed > cfg.max_minutes * 60 and step < planned:
                stopped = "minutes"
            if step >= planned or stopped != "done" or should_stop():
                break
        if should_stop():
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
        attention=attention,
        threads=threads,
    )
