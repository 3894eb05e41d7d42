"""Preflight: before a pilot starts, predict its peak memory, wall time and cost on the
device it will run on, and whether it fits.

Memory comes from the compute estimator (costmodels.compute) plus the process's own
footprint; time comes from the training tokens and the throughput measured by earlier runs
of the same method and model on this device (the run index), else a stated default."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from pydantic import ValidationError

from core.text import CHARS_PER_TOKEN
from core.vocab import METHODS, TRAINING
from costmodels.compute import (
    LINEAR_TARGETS,
    ModelShape,
    estimate_memory,
    load_shape,
    shape_from_config,
)
from trainers import (
    hardware,  # hardware.detect(), patchable in tests
    runs,
)
from trainers.config import PilotConfig
from trainers.data import load_dataset
from trainers.inputs import read_data
from trainers.metrics import PilotMetrics
from trainers.models import DEFAULT_ENCODER, DEFAULT_MODEL, cache_dir, embedding_model_dir
from trainers.passages import MAX_PASSAGE_SEQ_LEN
from trainers.preflight.rates import cpu_prior

# SmolLM2-135M-Instruct's shape, so a preflight needs no model conversion.
DEFAULT_SHAPE = {
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}
PROCESS_BASELINE_MIB = 900.0  # python, torch, transformers and tokenizers loaded
STARTUP_S = 5.0  # a fresh Python importing torch and transformers, before any work
LOAD_S = {True: 5.0, False: 20.0}  # the model converted and cached already, or not yet
GEN_S_PER_ROW = 0.12  # greedy generation of a short answer, per holdout row, on CPU
PROBE_TIMED_STEPS = 3  # trainers.preflight.probe: TIMED_STEPS
PROBE_QLORA_ROWS = 2  # trainers.preflight.probe: QLORA_TIMING_ROWS (QLoRA's probe steps on a CPU)


def model_shape(model: str) -> ModelShape | None:
    if model == DEFAULT_MODEL:
        return shape_from_config(DEFAULT_SHAPE)
    if model == DEFAULT_ENCODER:
        return load_shape(embedding_model_dir())
    path = Path(model).expanduser()
    if (path / "config.json").exists():
        return load_shape(path)
    cached = cache_dir() / "models" / model
    return load_shape(cached) if (cached / "config.json").exists() else None


def _cached(model: str) -> bool:
    """The model is a local folder, or was converted into the cache by an earlier run."""
    if model == DEFAULT_MODEL:
        return (cache_dir() / "models" / "SmolLM2-135M-Instruct" / "model.safetensors").exists()
    if model == DEFAULT_ENCODER:
        return True  # ships inside a Python package
    return (Path(model).expanduser() / "config.json").exists()


def available_memory_mib(device: str) -> float:
    """Free memory on the device, capped by ADAPT_MEMORY_LIMIT_MIB (a budget for pilots
    on a shared machine)."""
    cap = float(os.environ.get("ADAPT_MEMORY_LIMIT_MIB") or "inf")
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return min(cap, free / 2**20)
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return min(cap, int(line.split()[1]) / 1024)
    return cap


def measured_throughput(method: str, model: str, device: str) -> float | None:
    """Training tokens/s of the latest finished run with this method, model and device, on
    hardware of this kind (the same usable CPU flags and GPU, when the run recorded them)."""
    here = hardware.detect()
    for row in runs.index_list():
        if row["status"] != "done" or not row.get("metrics"):
            continue
        try:
            m = PilotMetrics.model_validate(row["metrics"]).measurement
        except ValidationError:
            continue  # a run this version cannot read says nothing about speed
        same_kind = m.hardware is None or (
            (m.hardware.usable_flags(), m.hardware.gpu_name) == (here.usable_flags(), here.gpu_name)
        )
        same_run = (m.method, m.model, m.device) == (method, model, device)
        if same_run and same_kind and m.tokens_per_second:
            return m.tokens_per_second
    return None


ENCODER_S_PER_ROW = 0.004  # embedding one short text with MiniLM on a 2-core CPU
SERVING_TIMING_S = 5.0  # trainers.classifier.serving_speed: warm-up plus two timed parts


TEACHER_S_PER_ROW = {"classifier_run": ENCODER_S_PER_ROW, "causal_model": 0.5, "endpoint": 0.25}
"""Seconds per input the teacher takes to answer: an encoder's forward pass; a causal
model scoring the labels (SmolLM2-135M, CPU); an endpoint (a guess: latency over the
requests in flight)."""


def _classifier_phases(cfg, hold: int, train_n: int, train_s: float) -> dict:
    """Embedding both splits for the baselines, training, the threshold's two half-size
    trainings (together about one more, on at most THRESHOLD_MAX_ROWS rows), scoring and
    timing the holdout. Distillation adds the teacher's answers and the student's other
    sizes (each a fresh training on a share of the rows), plus soft targets."""
    from trainers.flows.classifier import THRESHOLD_MAX_ROWS
    from trainers.flows.distill import SIZES

    thresholded = cfg.abstain and METHODS[cfg.method].flow == "classifier"
    threshold = train_s * min(1.0, THRESHOLD_MAX_ROWS / max(1, train_n)) if thresholded else 0.0
    phases = {
        "start": STARTUP_S,
        "load": LOAD_S[True],
        "generation": (train_n + 2 * hold) * ENCODER_S_PER_ROW + SERVING_TIMING_S,
        "train": train_s + threshold,
    }
    if METHODS[cfg.method].unlabelled_inputs:
        kind = "endpoint" if cfg.teacher_url else "classifier_run"  # a causal one: slower
        phases["teacher"] = (train_n + hold) * TEACHER_S_PER_ROW[kind]
        extra = sum(cfg.curve or SIZES) + (1.0 if cfg.soft_targets and not cfg.teacher_url else 0)
        phases["train"] += train_s * extra
    return phases


def _estimator(cfg, device: str) -> dict:
    """Memory from the compute estimator, time from tokens / throughput (no model load)."""
    ds = read_data(cfg)
    chars = sum(
        len(json.dumps([m.content for m in e.messages])) + len(e.target) for e in ds.examples
    ) / len(ds.examples)
    per_example = chars / CHARS_PER_TOKEN + 20  # + the chat template's own tokens
    if METHODS[cfg.method].passages_in_training:  # each prompt carries top_k passages at most
        per_example += cfg.top_k * cfg.chunk_chars / CHARS_PER_TOKEN
    encoder = METHODS[cfg.method].compute == "encoder"
    if encoder:  # an encoder reads the user's text alone, plus [CLS] and [SEP]
        texts = [m.content for e in ds.examples for m in e.messages if m.role == "user"]
        per_example = sum(map(len, texts)) / len(ds.examples) / CHARS_PER_TOKEN + 2
    train_n = (
        len(ds.examples)
        if cfg.holdout_data
        else round(len(ds.examples) * (1 - cfg.holdout_fraction))
    )
    t = cfg.train
    steps = t.max_steps or max(1, round(train_n / t.batch_size * t.epochs))
    seq_cap = seq_len_cap(cfg, per_example)
    train_tokens = (
        int(min(steps * t.batch_size, train_n * t.epochs) * min(per_example, seq_cap))
        if cfg.method in TRAINING
        else 0
    )
    measured = measured_throughput(cfg.method, cfg.model, device)
    tps = measured or cpu_prior(cfg.method, device) or 400.0
    train_s = min(train_tokens / tps, (t.max_minutes or 1e9) * 60)
    hold = min(cfg.holdout_max, max(len(ds.examples) - train_n, 1 if cfg.holdout_data else 0))
    if cfg.holdout_data:  # its own file: its rows, capped
        hold = min(cfg.holdout_max, len(load_dataset(cfg.holdout_data, drop_repeats=True).examples))
    passes = (2 if cfg.method in TRAINING else 1) * (1 + len(cfg.baselines))
    if ds.task == "extract":  # few-shot and tuned answers again, held to the schema
        passes += ("prompt" in cfg.baselines) + (cfg.method in TRAINING)
    gen_s = hold * GEN_S_PER_ROW * passes
    phases = {
        "start": STARTUP_S,
        "load": LOAD_S[_cached(cfg.model)],
        "generation": gen_s,
        "train": train_s,
    }
    if encoder:
        phases = _classifier_phases(cfg, hold, train_n, train_s)
    return {
        "peak": PROCESS_BASELINE_MIB + _model_mib(cfg, cfg.method, t.batch_size, per_example),
        "phases": phases,
        "train_tokens": train_tokens,
        "tps": tps,
        "source": "measured by an earlier run" if measured else "default for this CPU class",
        "per_example": per_example,
        "format": ds.format,
        "steps": steps if cfg.method in TRAINING else 0,
    }


def seq_len_cap(cfg: PilotConfig, per_example: float) -> int:
    """The longest training sequence the run will use: the configured cap, raised (as the
    documents flow raises it: trainers/passages.py: fit_length) to hold the passages of a
    method that trains on them, up to MAX_PASSAGE_SEQ_LEN."""
    cap = cfg.train.max_seq_len
    if METHODS[cfg.method].passages_in_training:
        return max(cap, min(MAX_PASSAGE_SEQ_LEN, math.ceil(per_example)))
    return cap


def _model_mib(cfg, method: str, batch: int, per_example: float, seq_scale=1.5) -> float:
    """The estimator's memory for the LoRA the trainer builds: the same target layers and
    rank, at the trainer's sequence cap."""
    shape = model_shape(cfg.model)
    if shape is None:
        return 0.0
    seq_len = min(int(per_example * seq_scale), seq_len_cap(cfg, per_example))
    targets = tuple(t for t in cfg.train.lora_targets if t in shape.linear_shapes())
    est = estimate_memory(
        shape,
        METHODS[method].compute,
        batch=batch,
        seq_len=seq_len,
        lora_rank=cfg.train.lora_rank,
        lora_targets=targets or LINEAR_TARGETS,
    )
    return (est.total_gib - est.overhead_gib) * 1024


def _advice(cfg, per_example: float, avail: float, peak: float) -> str:
    """What would fit, from the estimator's ratios applied to the predicted peak."""
    batch = cfg.train.batch_size
    now = _model_mib(cfg, cfg.method, batch, per_example)
    options = []
    for label, method, b, scale in (
        (f"--batch-size {max(1, batch // 4)}", cfg.method, max(1, batch // 4), 1.5),
        ("--method qlora", "qlora", batch, 1.5),
        ("shorter examples (half the tokens)", cfg.method, batch, 0.75),
    ):
        if method == cfg.method and b == batch and scale == 1.5:
            continue
        alt = peak - now + _model_mib(cfg, method, b, per_example, scale)
        if alt < 0.9 * avail:
            options.append(f"{label} (about {alt:,.0f} MiB)")
    need = f"a machine with at least {peak / 0.9:,.0f} MiB free"
    return "will not fit: try " + ", or ".join([*options, need])
