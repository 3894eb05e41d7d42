"""distill_logit: logit distillation (Hinton et al. 2015). A half-depth student (every
other layer of the teacher, DistilBERT's recipe) learns the teacher's distributions at
temperature T, mixed with cross-entropy on the answers, through the shared training loop
(checkpoints and resume, clipping, schedule, time limit, data parallelism)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from core.scenario import InputError
from trainers.data import Dataset
from trainers.loop import IGNORE, fit
from trainers.metrics import StudentStats
from trainers.models import load_causal_lm, load_tokenizer, resolve_model
from trainers.recipe import Fitted, save_model
from trainers.sft import answer_logits, encode, training_attention


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


class KDLoss(torch.nn.Module):
    """The student's loss against a frozen teacher; one module, so DDP sees the forward.
    The teacher is held outside the module's parameters: it is neither trained nor
    synchronised."""

    def __init__(self, student, teacher):
        super().__init__()
        self.student = student
        self._teacher = [teacher]

    def forward(self, input_ids, attention_mask, labels):
        target = labels[:, 1:]  # (B, T-1): position t predicts token t+1
        keep = target != IGNORE
        with torch.no_grad():
            t_logits = answer_logits(self._teacher[0], input_ids, attention_mask, keep)
        s_logits = answer_logits(self.student, input_ids, attention_mask, keep)
        return kd_loss(s_logits, t_logits, target[keep])


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


class LogitDistillation:
    def load(self, ctx):
        """The teacher, in fp32 (the student is copied from it and trained whole)."""
        cfg, where = ctx.cfg, ctx.where
        if cfg.teacher and cfg.teacher != cfg.model:  # it must share the student's tokenizer
            where = resolve_model(cfg.teacher)
            if load_tokenizer(where, cfg.trust_remote_code).get_vocab() != ctx.tok.get_vocab():
                raise InputError(
                    "distill_logit needs teacher and student to share a tokenizer; "
                    "they differ, so use method=distill_seq"
                )
        return load_causal_lm(where, device=ctx.device, trust_remote_code=cfg.trust_remote_code)

    def fit(self, ctx, model, train_ds: Dataset, ckpt_name: str | None = "ckpt") -> Fitted:
        teacher = model.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        student = make_student(teacher).to(ctx.device)
        for p in student.parameters():
            p.requires_grad_(True)
        tcfg = ctx.cfg.train_config("full")
        encoded = [encode(ctx.tok, ex, tcfg.max_seq_len) for ex in train_ds.examples]
        longest = max(len(x) for x, _ in encoded)
        with (
            training_attention(teacher, ctx.device, tcfg.batch_size, longest),
            training_attention(student, ctx.device, tcfg.batch_size, longest),
        ):
            res = fit(
                KDLoss(student, teacher),
                student,
                encoded,
                ctx.tok.pad_token_id,
                tcfg,
                device=ctx.device,
                ckpt_dir=ctx.run_dir / ckpt_name if ckpt_name else None,
                emit=ctx.emit,
            )
        size = StudentStats(
            params=sum(p.numel() for p in student.parameters()),
            teacher_params=sum(p.numel() for p in teacher.parameters()),
            layers=student.config.num_hidden_layers,
        )
        return Fitted(model=student, result=res, student=size, teacher_model=teacher)

    def save(self, ctx, fitted: Fitted) -> None:
        save_model(ctx, fitted)
