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

from pydantic import BaseModel, ConfigDict

from core.vocab import METHODS, TRAINING
from costmodels.compute import ModelShape, estimate_memory, load_shape, shape_from_config
from trainers import runs
from trainers.data import load_dataset
from trainers.models import DEFAULT_ENCODER, DEFAULT_MODEL, cache_dir, embedding_model_dir
from trainers.probing import ProbeResult, last_probe_s, remember_probe, run_probe

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
CHARS_PER_TOKEN = 3.5
STARTUP_S = 5.0  # a fresh Python importing torch and transformers, before any work
LOAD_S = {True: 5.0, False: 20.0}  # the model converted and cached already, or not yet
GEN_S_PER_ROW = 0.12  # greedy generation of a short answer, per holdout row, on CPU
PROBE_TIMED_STEPS = 3  # trainers.probe: TIMED_STEPS
PROBE_QLORA_ROWS = 2  # trainers.probe: QLORA_TIMING_ROWS (QLoRA's probe steps on a CPU)


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
    probed: bool = False
    """True when a probe ran a few real steps; False: the estimator alone."""
    probe_seconds: float = 0.0
    """How long a probe of this configuration is expected to take."""
    phases_seconds: dict[str, float] = {}
    """Predicted seconds of each phase (load, generation, train)."""


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
    from pydantic import ValidationError

    from trainers.hardware import detect
    from trainers.metrics import PilotMetrics

    here = detect()
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


def can_probe(cfg) -> bool:
    """A probe runs a few real steps of generative pilots on the small model; the
    classifier's whole pilot takes a minute on a CPU and an endpoint pilot loads no model,
    so those are estimated, never probed."""
    return METHODS[cfg.method].compute != "encoder" and not cfg.endpoint_url


ENCODER_S_PER_ROW = 0.004  # embedding one short text with MiniLM on a 2-core CPU
SERVING_TIMING_S = 5.0  # trainers.classifier.serving_speed: warm-up plus two timed parts


def _classifier_phases(cfg, n_rows: int, train_n: int, train_s: float) -> dict:
    """Embedding both splits for the baselines, training, the threshold's two half-size
    trainings (together about one more), scoring and timing the holdout."""
    hold = min(cfg.holdout_max, n_rows - train_n)
    return {
        "start": STARTUP_S,
        "load": LOAD_S[True],
        "generation": (train_n + 2 * hold) * ENCODER_S_PER_ROW + SERVING_TIMING_S,
        "train": train_s * (2 if cfg.abstain else 1),
    }


def _estimator(cfg, device: str) -> dict:
    """Memory from the compute estimator, time from tokens / throughput (no model load)."""
    ds = load_dataset(cfg.data)
    chars = sum(
        len(json.dumps([m.content for m in e.messages])) + len(e.target) for e in ds.examples
    ) / len(ds.examples)
    per_example = chars / CHARS_PER_TOKEN + 20  # + the chat template's own tokens
    if cfg.method == "fine_tune_rag":  # each prompt carries top_k passages (at most)
        per_example += cfg.top_k * cfg.chunk_chars / CHARS_PER_TOKEN
    encoder = METHODS[cfg.method].compute == "encoder"
    if encoder:  # an encoder reads the user's text alone, plus [CLS] and [SEP]
        texts = [m.content for e in ds.examples for m in e.messages if m.role == "user"]
        per_example = sum(map(len, texts)) / len(ds.examples) / CHARS_PER_TOKEN + 2
    train_n = round(len(ds.examples) * (1 - cfg.holdout_fraction))
    t = cfg.train
    steps = t.max_steps or max(1, round(train_n / t.batch_size * t.epochs))
    seq_cap = 2048 if cfg.method == "fine_tune_rag" else t.max_seq_len  # rag_pilot raises it
    train_tokens = (
        int(min(steps * t.batch_size, train_n * t.epochs) * min(per_example, seq_cap))
        if cfg.method in TRAINING
        else 0
    )
    measured = measured_throughput(cfg.method, cfg.model, device)
    tps = measured or _cpu_prior(cfg.method, device) or 400.0
    train_s = min(train_tokens / tps, (t.max_minutes or 1e9) * 60)
    hold = min(cfg.holdout_max, len(ds.examples) - train_n)
    gen_s = hold * GEN_S_PER_ROW * (2 if cfg.method in TRAINING else 1) * (1 + len(cfg.baselines))
    phases = {
        "start": STARTUP_S,
        "load": LOAD_S[_cached(cfg.model)],
        "generation": gen_s,
        "train": train_s,
    }
    if encoder:
        phases = _classifier_phases(cfg, len(ds.examples), train_n, train_s)
    return {
        "peak": PROCESS_BASELINE_MIB + _model_mib(cfg, cfg.method, t.batch_size, per_example),
        "phases": phases,
        "train_tokens": train_tokens,
        "tps": tps,
        "source": "measured by an earlier run" if measured else "default for this CPU class",
        "per_example": per_example,
    }


def _model_mib(cfg, method: str, batch: int, per_example: float, seq_scale=1.5) -> float:
    """The estimator's memory for the LoRA the trainer builds: the same target layers and
    rank, at the trainer's sequence cap."""
    shape = model_shape(cfg.model)
    if shape is None:
        return 0.0
    seq_len = min(int(per_example * seq_scale), cfg.train.max_seq_len)
    targets = tuple(t for t in cfg.train.lora_targets if t in shape.linear_shapes())
    est = estimate_memory(
        shape,
        METHODS[method].compute,
        batch=batch,
        seq_len=seq_len,
        lora_rank=cfg.train.lora_rank,
        lora_targets=targets or ("q_proj", "v_proj"),
    )
    return (est.total_gib - est.overhead_gib) * 1024


def probe_seconds(cfg, device: str | None = None, est: dict | None = None) -> float:
    """How long the probe will take: the last probe of this method and model on this
    device when there is one (a probe's cost hardly depends on the data), else from the
    estimator (`est`, when the caller has it already): start-up and load, one batch of
    each generation, 1 + TIMED_STEPS steps."""
    from trainers.config import pick_device

    device = device or pick_device(cfg.device)
    if not can_probe(cfg):
        return 0.0
    if (last := last_probe_s(cfg.method, cfg.model, device)) is not None:
        return last
    est = est or _estimator(cfg, device)
    kinds = 1 + len(set(cfg.baselines) | ({cfg.method} & {"prompt", "retrieval"}))
    gen = kinds * cfg.eval_batch_size * GEN_S_PER_ROW
    train = 0.0
    if cfg.method in TRAINING:
        gen += 2 * cfg.eval_batch_size * GEN_S_PER_ROW  # the tuned answers, the forgetting probe
        per_example = min(est["per_example"], cfg.train.max_seq_len)
        steps = 1 + 2 * PROBE_TIMED_STEPS  # the longest batch first: about 2 ordinary ones
        batch_s = cfg.train.batch_size * per_example / est["tps"]
        if cfg.method == "qlora" and device == "cpu":  # LoRA on full batches, QLoRA on 2 rows
            batch_s = cfg.train.batch_size * per_example / _cpu_prior("lora", device)
            batch_s += PROBE_QLORA_ROWS * per_example / est["tps"]
        train = steps * batch_s
    return STARTUP_S + est["phases"]["load"] + gen + train


def _from_probe(cfg, r: ProbeResult) -> tuple[dict, int, float]:
    """(phase seconds, training tokens, tokens/s) of the whole pilot, scaled from the probe."""
    holdout = min(cfg.holdout_max, r.holdout_available or r.holdout)
    batches = math.ceil(holdout / cfg.eval_batch_size)
    gen = batches * (r.zero_shot_batch_s + r.few_shot_batch_s + r.retrieval_batch_s)
    gen += r.retriever_s
    phases = {"start": r.startup_s, "load": r.load_s, "generation": gen}
    tokens, tps = 0, r.train_tokens_per_second or 0.0
    if r.train_tokens_per_second is not None:
        t = cfg.train
        per_step = r.train_tokens_per_epoch / max(1, r.steps_per_epoch)
        steps = t.max_steps or math.ceil(r.steps_per_epoch * t.epochs)
        tokens = int(per_step * steps)
        train = min(tokens / max(tps, 1e-9), (t.max_minutes or 1e9) * 60)
        # each learning-curve point: a fresh model, a share of the steps, one evaluation
        curve = sum(cfg.curve) * train + len(cfg.curve) * (r.load_s / 2 + batches * r.tuned_batch_s)
        phases |= {
            "train": train,
            "curve": curve,
            "generation": gen + batches * r.tuned_batch_s + 2 * r.forgetting_probe_s,
            "save": 1.0,
        }
    return phases, tokens, tps


QLORA_SLOWER_LIMIT = 2.0  # QLoRA may train this many times slower than LoRA, no more
# Measured (issue 17) on a 2-core AMD EPYC with AVX2 and no AVX-512: bitsandbytes' 4-bit
# CPU path trained at 7 tokens/s, LoRA at 208 (bf16 off). The estimator's prior there.
AVX2_QLORA_TPS, AVX2_LORA_TPS = 7.0, 208.0


def _cpu_prior(method: str, device: str) -> float:
    """Training tokens/s assumed before any run of the method was measured here: the
    vocabulary's (measured with AVX-512 BF16), or what was measured without it."""
    from trainers.hardware import detect

    rate = METHODS[method].cpu_tokens_per_second
    if device != "cpu":
        return rate
    here = detect()
    if method == "qlora" and "avx512f" not in here.usable_flags():
        return AVX2_QLORA_TPS
    if not here.bf16_autocast_fast():  # fp32 training
        return min(rate, rate * AVX2_LORA_TPS / METHODS["lora"].cpu_tokens_per_second)
    return rate


def slow_qlora(cfg, device: str, probed: ProbeResult | None) -> str | None:
    """Why QLoRA is the wrong choice on this CPU, or None. With a probe: both rates as
    measured here, when QLoRA is over QLORA_SLOWER_LIMIT times slower than LoRA (which
    the probe just trained, so it fits). Without: the CPU's flags and the rates measured
    on a CPU like it."""
    if cfg.method != "qlora" or device != "cpu":
        return None
    if probed is not None and probed.lora_tokens_per_second and probed.train_tokens_per_second:
        q, lora = probed.train_tokens_per_second, probed.lora_tokens_per_second
        if q * QLORA_SLOWER_LIMIT >= lora:
            return None
        return (
            f"QLoRA on this CPU: {q:,.0f} tokens/s against {lora:,.0f} for LoRA (both measured "
            f"by the probe; {lora / q:,.0f}x slower). QLoRA saves memory you do not need here, "
            "since LoRA fits: use --method lora."
        )
    from trainers.hardware import detect

    if "avx512f" in detect().usable_flags():  # bitsandbytes' AVX-512 kernels
        return None
    return (
        f"QLoRA on a CPU without AVX-512 trains at about {AVX2_QLORA_TPS:.0f} tokens/s against "
        f"{AVX2_LORA_TPS:.0f} for LoRA (measured on a 2-core AMD EPYC with AVX2): use --method "
        "lora unless memory forces 4-bit weights; a probe measures both rates here."
    )


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


def estimate_pilot(
    cfg, device: str | None = None, probe: bool = False, probed: ProbeResult | None = None
) -> Preflight:
    """Predict peak memory, wall time and cost of the pilot on its device. probe=True runs
    a few real steps in a fresh process (trainers.probe) and scales them to the run;
    probed: a probe already run for this configuration (see probe_key), rescaled."""
    from trainers.config import pick_device
    from trainers.metrics import device_name

    device = device or pick_device(cfg.device)
    est = _estimator(cfg, device)
    peak, phases, tokens, tps, source = (
        est["peak"],
        est["phases"],
        est["train_tokens"],
        est["tps"],
        est["source"],
    )
    failure = None
    probe = probe and can_probe(cfg)
    probed = probed if can_probe(cfg) else None
    if probe or probed is not None:
        probe = True
        r = probed or run_probe(cfg)
        if probed is None:
            remember_probe(cfg, r)
        if r.ok:
            phases, tokens, tps = _from_probe(cfg, r)
            peak, source = r.peak_memory_mib or peak, "measured by the probe"
        else:
            failure = r.error
    wall = sum(phases.values())
    avail = available_memory_mib(device)
    fits = failure is None and peak < 0.9 * avail
    advice = None
    if not fits:
        advice = (f"the probe could not finish: {failure}. " if failure else "") + _advice(
            cfg, est["per_example"], avail, peak
        )
    slow = slow_qlora(cfg, device, r if probe and not failure else None)
    if slow and fits:
        fits, advice = (False, slow) if probe else (True, slow)
    usd = _usd_per_hour(device_name(device)) * wall / 3600
    if cfg.endpoint_url:  # what the endpoint will bill, checked against the cap first
        from trainers.endpoint_pilot import predicted_usd

        usd = predicted_usd(cfg)
        if cfg.max_usd is not None and usd > cfg.max_usd:
            fits, advice = (
                False,
                (
                    f"the endpoint would cost about ${usd:,.4f}, over --max-usd ${cfg.max_usd:g}: "
                    "raise the cap or score fewer rows (--holdout-max)"
                ),
            )
    summary = (
        f"Preflight on {device} ({'probed' if probe and not failure else 'estimated'}): peak "
        f"memory about {peak:,.0f} MiB of {avail:,.0f} MiB available; about {wall:,.0f} s "
        f"({_phase_words(phases)})"
        + (f"; {tokens:,} training tokens at {tps:,.0f} tokens/s, {source}" if tokens else "")
        + f"; cost ${usd:,.2f}."
        + (f" {advice}" if advice else "")
    )
    return Preflight(
        device=device if device != "cpu" else f"cpu ({os.cpu_count() or 1} cores)",
        peak_memory_mib=round(peak, 1),
        available_memory_mib=round(avail, 1),
        wall_seconds=round(wall, 1),
        train_tokens=tokens,
        tokens_per_second=round(tps, 1),
        tokens_per_second_source=source,
        cost_usd=round(usd, 4),
        fits=fits,
        advice=advice,
        summary=summary,
        probed=probe and failure is None,
        probe_seconds=round(probe_seconds(cfg, device, est), 1),
        phases_seconds={k: round(v, 1) for k, v in phases.items()},
    )


PHASE_WORDS = {
    "start": "start-up",
    "load": "loading",
    "generation": "baselines and evaluation",
    "train": "training",
    "curve": "learning curve",
    "save": "saving",
}


def _phase_words(phases: dict[str, float]) -> str:
    """ "start-up 4 s, loading 3 s, baselines and evaluation 22 s, training 21 s"."""
    return ", ".join(
        f"{PHASE_WORDS.get(k, k)} {v:,.0f} s" for k, v in phases.items() if round(v) > 0
    )


def _usd_per_hour(name: str) -> float:
    """A catalog GPU's list price when the device is one; 0 for a machine you own (CPU)."""
    from costmodels.calibrate import matching_gpu
    from costmodels.prices import load_catalog

    cat = load_catalog()
    gpu = matching_gpu(name, cat)
    return float(cat.gpu(gpu).usd_per_hour) if gpu else 0.0
