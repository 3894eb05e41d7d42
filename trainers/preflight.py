"""Preflight: before a pilot starts, predict its peak memory, wall time and cost on the
device it will run on, and whether it fits.

Memory comes from the compute estimator (costmodels.compute) plus the process's own
footprint; time comes from the training tokens and the throughput measured by earlier runs
of the same method and model on this device (the run index), else a stated default."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from costmodels.compute import ModelShape, estimate_memory, load_shape, shape_from_config
from trainers import runs
from trainers.data import load_dataset
from trainers.models import DEFAULT_MODEL, cache_dir

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
# Throughput assumed on a CPU before any run was measured (tokens/s, SmolLM2-135M, 2 cores).
DEFAULT_CPU_TOKENS_PER_SECOND = {
    "lora": 400.0,
    "qlora": 150.0,
    "full": 250.0,
    "distill_seq": 400.0,
    "distill_logit": 200.0,
}
PROCESS_BASELINE_MIB = 900.0  # python, torch, transformers and tokenizers loaded
CHARS_PER_TOKEN = 3.5


class Preflight(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    device: str
    peak_memory_mib: float
    available_memory_mib: float
    wall_seconds: float
    train_tokens: int
    tokens_per_second: float
    tokens_per_second_source: str
    cost_usd: float
    fits: bool
    advice: str | None
    summary: str


def model_shape(model: str) -> ModelShape | None:
    if model == DEFAULT_MODEL:
        return shape_from_config(DEFAULT_SHAPE)
    path = Path(model).expanduser()
    if (path / "config.json").exists():
        return load_shape(path)
    cached = cache_dir() / "models" / model
    return load_shape(cached) if (cached / "config.json").exists() else None


def available_memory_mib(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return free / 2**20
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def measured_throughput(method: str, model: str, device: str) -> float | None:
    """Training tokens/s of the latest finished run with this method, model and device."""
    for row in runs.index_list():
        m = row.get("metrics") or {}
        if (
            row["status"] == "done"
            and m.get("method") == method
            and m.get("model") == model
            and m.get("device") == device
            and m.get("tokens_per_second")
        ):
            return float(m["tokens_per_second"])
    return None


def estimate_pilot(cfg, device: str | None = None) -> Preflight:
    from trainers.pilot import TRAINING, pick_device

    device = device or pick_device(cfg.device)
    ds = load_dataset(cfg.data)
    chars = sum(
        len(json.dumps([m.content for m in e.messages])) + len(e.target) for e in ds.examples
    ) / len(ds.examples)
    tokens_per_example = chars / CHARS_PER_TOKEN + 20  # + the chat template's own tokens
    train_n = round(len(ds.examples) * (1 - cfg.holdout_fraction))
    steps = cfg.max_steps or max(1, round(train_n / cfg.batch_size * cfg.epochs))
    train_tokens = (
        int(min(steps * cfg.batch_size, train_n * cfg.epochs) * tokens_per_example)
        if cfg.method in TRAINING
        else 0
    )
    measured = measured_throughput(cfg.method, cfg.model, device)
    tps = measured or DEFAULT_CPU_TOKENS_PER_SECOND.get(cfg.method, 400.0)
    source = "measured by an earlier run" if measured else "default for this CPU class"
    train_s = train_tokens / tps
    if cfg.max_minutes:
        train_s = min(train_s, cfg.max_minutes * 60)
    eval_s = (
        min(cfg.holdout_max, len(ds.examples) - train_n)
        * 0.12
        * (2 if cfg.method in TRAINING else 1)
        * (2 if cfg.baselines else 1)
    )
    wall = 15 + train_s + eval_s  # model load and probes
    shape = model_shape(cfg.model)
    peak = PROCESS_BASELINE_MIB
    if shape is not None:
        method = (
            cfg.method
            if cfg.method in ("lora", "qlora", "full")
            else ("inference" if cfg.method in ("prompt", "retrieval") else "lora")
        )
        est = estimate_memory(
            shape,
            method,
            batch=cfg.batch_size,
            seq_len=int(tokens_per_example * 1.5),
            lora_rank=cfg.lora_rank,
        )
        peak += (est.total_gib - est.overhead_gib) * 1024
    avail = available_memory_mib(device)
    fits = peak < 0.9 * avail
    advice = (
        None
        if fits
        else (
            "will not fit: try a smaller --batch-size, method=qlora, "
            "shorter examples, or a machine with more memory"
        )
    )
    summary = (
        f"Preflight on {device}: peak memory about {peak:,.0f} MiB of {avail:,.0f} MiB "
        f"available; about {wall:,.0f} s ({train_tokens:,} training tokens at "
        f"{tps:,.0f} tokens/s, {source}); cost $0.00 on this machine."
        + (f" {advice}" if advice else "")
    )
    cpu_count = os.cpu_count() or 1
    return Preflight(
        device=device if device != "cpu" else f"cpu ({cpu_count} cores)",
        peak_memory_mib=round(peak, 1),
        available_memory_mib=round(avail, 1),
        wall_seconds=round(wall, 1),
        train_tokens=train_tokens,
        tokens_per_second=tps,
        tokens_per_second_source=source,
        cost_usd=0.0,
        fits=fits,
        advice=advice,
        summary=summary,
    )
