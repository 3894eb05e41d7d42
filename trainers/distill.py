"""Training per method: plain SFT (lora, qlora, full), sequence-level distillation
(a teacher labels the training inputs, a filter drops bad outputs, a LoRA student learns
the rest) and logit distillation (Hinton et al. 2015: KL at temperature T, mixed with
cross-entropy by alpha, into a student made of every other layer of the teacher).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import time
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F

from advisor.scenario import InputError
from trainers import runs
from trainers.data import Dataset, Example
from trainers.evaluate import generate, normalize_label
from trainers.models import load_causal_lm, load_tokenizer, resolve_model
from trainers.sft import (
    IGNORE,
    TrainResult,
    collate,
    encode,
    length_grouped_batches,
    prepare_model,
    train,
    training_attention,
    use_bf16,
)


def kd_loss(
    student_logits, teacher_logits, hard_labels, temperature: float = 2.0, alpha: float = 0.5
):
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels).
    Logits are (N, V) at the N answer positions; T^2 keeps gradient scale independent of T."""
    t = temperature
    log_p_student = F.log_softmax(student_logits.float() / t, dim=-1)  # (N, V)
    p_teacher = F.softmax(teacher_logits.float() / t, dim=-1)  # (N, V)
    kl = (p_teacher * (torch.log(p_teacher.clamp_min(1e-12)) - log_p_student)).sum(-1).mean()
    ce = F.cross_entropy(student_logits.float(), hard_labels)
    return alpha * t * t * kl + (1 - alpha) * ce


# ---- teachers -------------------------------------------------------------------------


def endpoint_teacher(
    url: str, model: str, key_env: str | None, prompts, max_tokens: int, timeout: float = 60.0
) -> list[str]:
    """An OpenAI-compatible chat endpoint. The key is read from the environment at call
    time and sent only in the request header: it is never stored or logged."""
    key = os.environ.get(key_env, "") if key_env else ""
    if key_env and not key:
        raise InputError(f"teacher key: environment variable {key_env} is not set")
    out = []
    for msgs in prompts:
        body = json.dumps(
            {
                "model": model,
                "messages": [m.model_dump() for m in msgs],
                "temperature": 0,
                "max_tokens": max_tokens,
            }
        ).encode()
        req = urllib.request.Request(
            url.rstrip("/") + "/chat/completions",
            data=body,
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {key}"} if key else {}),
            },
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (user URL)
            out.append(json.loads(resp.read())["choices"][0]["message"]["content"] or "")
    return out


def teacher_outputs(cfg, ds: Dataset, examples, device, budget, bf16) -> list[str]:
    prompts = [e.messages for e in examples]
    if cfg.teacher_url:
        return endpoint_teacher(
            cfg.teacher_url, cfg.teacher_model or "teacher", cfg.teacher_key_env, prompts, budget
        )
    if not cfg.teacher:
        raise InputError("distill_seq needs a teacher: --teacher MODEL or --teacher-url URL")
    where = resolve_model(cfg.teacher)
    tok = load_tokenizer(where, cfg.trust_remote_code)
    teacher = load_causal_lm(where, device=device, trust_remote_code=cfg.trust_remote_code)
    return generate(teacher, tok, prompts, max_new_tokens=budget, device=device, bf16=bf16)


def quality_filter(
    examples, outputs, *, labels=(), regex: str | None = None, max_chars: int = 4000
) -> tuple[list[Example], dict[str, int]]:
    """Keep teacher outputs that are non-empty, not over length, match the regex and (for
    classification) name a known label. Returns the kept examples and drop counts."""
    pattern = re.compile(regex) if regex else None
    known = {normalize_label(x) for x in labels}
    kept, dropped = [], {"empty": 0, "too_long": 0, "regex": 0, "unknown_label": 0}
    for ex, out in zip(examples, outputs, strict=True):
        text = out.strip()
        reason = (
            "empty"
            if not text
            else "too_long"
            if len(text) > max_chars
            else "regex"
            if pattern and not pattern.fullmatch(text)
            else "unknown_label"
            if known and normalize_label(text) not in known
            else None
        )
        if reason:
            dropped[reason] += 1
        else:
            kept.append(ex.model_copy(update={"target": text}))
    return kept, dropped


# ---- per-method training ----------------------------------------------------------------


def train_for_method(
    cfg,
    model,
    tok,
    train_ds: Dataset,
    hold: Dataset,
    run_dir: Path,
    device: str,
    budget: int,
    ckpt_name: str = "ckpt",
):
    """-> (model to evaluate, TrainResult, extra metrics)."""
    emit = lambda kind, **f: runs.emit(run_dir, kind, **f)  # noqa: E731
    tcfg = cfg.train_config()
    bf16 = use_bf16(tcfg, device)
    examples, extra = list(train_ds.examples), {}
    if cfg.method == "distill_logit":
        return distill_logit(cfg, model, tok, examples, run_dir, device)
    if cfg.method == "distill_seq":
        emit("teacher", status="generating", examples=len(examples))
        outputs = teacher_outputs(cfg, train_ds, examples, device, budget, bf16)
        examples, dropped = quality_filter(
            examples, outputs, labels=train_ds.labels, regex=cfg.teacher_filter_regex
        )
        emit("teacher", status="filtered", kept=len(examples), dropped=dropped)
        if not examples:
            raise InputError(f"the quality filter dropped every teacher output ({dropped})")
        teacher_hold = teacher_outputs(cfg, train_ds, hold.examples, device, budget, bf16)
        extra = {
            "teacher": {"kept": len(examples), "dropped": dropped},
            "teacher_predictions": teacher_hold,
        }
    model = prepare_model(model, tcfg)
    res = train(model, tok, examples, tcfg, device=device, ckpt_dir=run_dir / ckpt_name, emit=emit)
    return model, res, extra


def make_student(teacher):
    """DistilBERT's recipe: copy the teacher and keep every other transformer layer."""
    student = copy.deepcopy(teacher)
    layers = student.model.layers
    student.model.layers = torch.nn.ModuleList(layers[i] for i in range(0, len(layers), 2))
    for i, layer in enumerate(student.model.layers):
        layer.self_attn.layer_idx = i  # the KV cache is indexed by layer position
    student.config.num_hidden_layers = len(student.model.layers)
    if getattr(student.config, "layer_types", None):
        student.config.layer_types = student.config.layer_types[: len(student.model.layers)]
    return student


def distill_logit(cfg, teacher, tok, examples, run_dir: Path, device: str):
    """Train a half-depth student on the teacher's distributions (explicit loop)."""
    if cfg.teacher and cfg.teacher != cfg.model:  # a separate teacher must share the tokenizer
        t_tok = load_tokenizer(resolve_model(cfg.teacher), cfg.trust_remote_code)
        if t_tok.get_vocab() != tok.get_vocab():
            raise InputError(
                "distill_logit needs teacher and student to share a tokenizer; "
                "they differ, so use method=distill_seq"
            )
        teacher = load_causal_lm(resolve_model(cfg.teacher), device=device)
    teacher.eval()
    student = make_student(teacher).to(device)
    for p in student.parameters():
        p.requires_grad_(True)
    tcfg = cfg.train_config("full")
    bf16 = use_bf16(tcfg, device)
    encoded = [encode(tok, ex, tcfg.max_seq_len) for ex in examples]
    per_epoch = math.ceil(len(encoded) / tcfg.batch_size)
    planned = tcfg.max_steps or max(1, math.ceil(per_epoch * tcfg.epochs))
    opt = torch.optim.AdamW(student.parameters(), lr=tcfg.learning_rate or 1e-4)
    runs.emit(run_dir, "start", planned_steps=planned, examples=len(encoded), bf16=bf16)
    longest = max(len(x) for x, _ in encoded)
    with (
        training_attention(teacher, device, tcfg.batch_size, longest),
        training_attention(student, device, tcfg.batch_size, longest),
    ):
        t0, step, tokens, losses = time.perf_counter(), 0, 0, []
        while step < planned:
            batches = length_grouped_batches(
                [len(x) for x, _ in encoded], tcfg.batch_size, tcfg.seed + step // per_epoch
            )
            for idx in batches:
                b = {
                    k: v.to(device)
                    for k, v in collate([encoded[i] for i in idx], tok.pad_token_id).items()
                }
                target = b.pop("labels")[:, 1:]  # (B, T-1)
                keep = target != IGNORE
                with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                    with torch.no_grad():
                        t_logits = teacher(**b).logits[:, :-1][keep]  # (N, V)
                    s_logits = student(**b).logits[:, :-1][keep]  # (N, V)
                loss = kd_loss(s_logits, t_logits, target[keep])
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                step, tokens = step + 1, tokens + int(b["attention_mask"].sum())
                losses.append(float(loss))
                el = time.perf_counter() - t0
                runs.emit(
                    run_dir,
                    "step",
                    step=step,
                    loss=round(losses[-1], 5),
                    tokens_per_second=round(tokens / el, 1),
                    eta_seconds=round(el / step * (planned - step), 1),
                )
                if step >= planned or (tcfg.max_minutes and el > tcfg.max_minutes * 60):
                    planned = step
                    break
    seconds = time.perf_counter() - t0
    student.eval()
    extra = {
        "student": {
            "params": sum(p.numel() for p in student.parameters()),
            "teacher_params": sum(p.numel() for p in teacher.parameters()),
            "layers": student.config.num_hidden_layers,
        }
    }
    extra["teacher_predictions"] = None  # filled by the caller from the teacher itself
    extra["_teacher"] = teacher
    res = TrainResult(
        steps=step,
        planned_steps=planned,
        tokens=tokens,
        seconds=seconds,
        tokens_per_second=tokens / max(seconds, 1e-9),
        first_loss=losses[0],
        last_loss=losses[-1],
        stopped_by="done",
        bf16=bf16,
    )
    return student, res, extra


def save_outputs(cfg, model, tok, run_dir: Path) -> None:
    """The adapter in PEFT safetensors format (plus a merged model on request); a full or
    distilled student is saved whole."""
    out = run_dir / ("adapter" if hasattr(model, "peft_config") else "model")
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    if cfg.merge and hasattr(model, "merge_and_unload") and cfg.method != "qlora":
        model.merge_and_unload().save_pretrained(run_dir / "merged", safe_serialization=True)
        tok.save_pretrained(run_dir / "merged")
