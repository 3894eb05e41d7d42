"""The preflight's answer: peak memory, wall time and cost of a pilot on its device, and
whether it fits, from the estimator (trainers/preflight/estimate.py) or, better, from a
probe of a few real steps (trainers/preflight/probe.py) scaled to the whole run."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from core.vocab import BASELINE_METHODS, METHODS, TRAINING, curve_applies
from trainers import hardware  # hardware.detect(), patchable in tests
from trainers.config import pick_device
from trainers.instruction import predicted_usd
from trainers.metrics import device_name
from trainers.preflight.estimate import (
    GEN_S_PER_ROW,
    PROBE_QLORA_ROWS,
    PROBE_TIMED_STEPS,
    STARTUP_S,
    _advice,
    _estimator,
    available_memory_mib,
    seq_len_cap,
)
from trainers.preflight.job import ProbeResult, last_probe_s, remember_probe, run_probe
from trainers.preflight.rates import cpu_prior, slow_qlora, usd_per_hour


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


def can_probe(cfg) -> bool:
    """A probe runs a few real steps of generative pilots on the small model; the
    encoder's whole pilot (a classifier, a tagger) takes minutes on a CPU and an endpoint
    pilot loads no model, so those are estimated, never probed."""
    encoder = METHODS[cfg.method].compute == "encoder"
    return not encoder and not cfg.endpoint_url


def probe_seconds(cfg, device: str | None = None, est: dict | None = None) -> float:
    """How long the probe will take: the last probe of this method and model on this
    device when there is one (a probe's cost hardly depends on the data), else from the
    estimator (`est`, when the caller has it already): start-up and load, one batch of
    each generation, 1 + TIMED_STEPS steps."""
    device = device or pick_device(cfg.device)
    if not can_probe(cfg):
        return 0.0
    if (last := last_probe_s(cfg.method, cfg.model, device)) is not None:
        return last
    est = est or _estimator(cfg, device)
    kinds = 1 + len(set(cfg.baselines) | ({cfg.method} & set(BASELINE_METHODS)))
    gen = kinds * cfg.eval_batch_size * GEN_S_PER_ROW
    train = 0.0
    if cfg.method in TRAINING:
        gen += 2 * cfg.eval_batch_size * GEN_S_PER_ROW  # the tuned answers, the forgetting probe
        per_example = min(est["per_example"], seq_len_cap(cfg, est["per_example"]))
        steps = 1 + 2 * PROBE_TIMED_STEPS  # the longest batch first: about 2 ordinary ones
        batch_s = cfg.train.batch_size * per_example / est["tps"]
        if METHODS[cfg.method].compute == "qlora" and device == "cpu":  # LoRA, then 2-row QLoRA
            batch_s = cfg.train.batch_size * per_example / cpu_prior("lora", device)
            batch_s += PROBE_QLORA_ROWS * per_example / est["tps"]
        train = steps * batch_s
    return STARTUP_S + est["phases"]["load"] + gen + train


def _from_probe(cfg, r: ProbeResult, data_format: str) -> tuple[dict, int, float]:
    """(phase seconds, training tokens, tokens/s) of the whole pilot, scaled from the probe;
    learning-curve points only where the run trains them (curve_applies)."""
    holdout = min(cfg.holdout_max, r.holdout_available or r.holdout)
    batches = math.ceil(holdout / cfg.eval_batch_size)
    gen = batches * (r.zero_shot_batch_s + r.few_shot_batch_s + r.retrieval_batch_s)
    gen += r.retriever_s
    held = data_format == "fields"  # extraction: few-shot and tuned again, held to the schema
    gen += batches * r.few_shot_batch_s if held else 0.0
    phases = {"start": r.startup_s, "load": r.load_s, "generation": gen}
    tokens, tps = 0, r.train_tokens_per_second or 0.0
    if r.train_tokens_per_second is not None:
        t = cfg.train
        per_step = r.train_tokens_per_epoch / max(1, r.steps_per_epoch)
        steps = t.max_steps or math.ceil(r.steps_per_epoch * t.epochs)
        tokens = int(per_step * steps)
        train = min(tokens / max(tps, 1e-9), (t.max_minutes or 1e9) * 60)
        # each learning-curve point: a fresh model, a share of the steps, one evaluation
        fractions = cfg.curve if curve_applies(cfg.method, data_format) else ()
        curve = sum(fractions) * train + len(fractions) * (r.load_s / 2 + batches * r.tuned_batch_s)
        phases |= {
            "train": train,
            "curve": curve,
            "generation": gen
            + batches * r.tuned_batch_s * (2 if held else 1)
            + 2 * r.forgetting_probe_s,
            "save": 1.0,
        }
        if r.teacher_s_per_row:  # the teacher answers every training input and the holdout
            phases["teacher"] = r.teacher_s_per_row * (r.train_rows + holdout)
    return phases, tokens, tps


def _probed(cfg, probe: bool, probed: ProbeResult | None) -> ProbeResult | None:
    """The probe's answer when one runs (or was run already for this configuration)."""
    if not can_probe(cfg) or not (probe or probed is not None):
        return None
    r = probed or run_probe(cfg)
    if probed is None:
        remember_probe(cfg, r)
    return r


def estimate_pilot(
    cfg, device: str | None = None, probe: bool = False, probed: ProbeResult | None = None
) -> Preflight:
    """Predict peak memory, wall time and cost of the pilot on its device. probe=True runs
    a few real steps in a fresh process (trainers.preflight.probe) and scales them to the run;
    probed: a probe already run for this configuration (see probe_key), rescaled."""
    device = device or pick_device(cfg.device)
    est = _estimator(cfg, device)
    peak, phases, tokens, tps, source = (
        est[k] for k in ("peak", "phases", "train_tokens", "tps", "source")
    )
    r = _probed(cfg, probe, probed)
    probe, failure = r is not None, (r.error if r is not None and not r.ok else None)
    if r is not None and r.ok:
        phases, tokens, tps = _from_probe(cfg, r, est["format"])
        peak, source = r.peak_memory_mib or peak, "measured by the probe"
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
    usd = usd_per_hour(device_name(device)) * wall / 3600
    usd, teacher, over = _billed(cfg, usd)
    fits, advice = (False, over) if over else (fits, advice)
    said = "probed" if probe and not failure else "estimated"
    capped = _time_cap(cfg, tokens, tps, est.get("steps", 0))
    summary = (
        f"Preflight on {device} ({said}): peak memory about {peak:,.0f} MiB of {avail:,.0f} "
        f"MiB available; about {wall:,.0f} s ({_phase_words(phases)})"
        + (f"; {tokens:,} training tokens at {tps:,.0f} tokens/s, {source}" if tokens else "")
        + f"; cost ${usd:,.2f}."
        + teacher
        + capped
        + (f" {advice}" if advice else "")
    )
    return Preflight(
        device=device if device != "cpu" else f"cpu ({hardware.detect().cpu_cores or 1} cores)",
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


def _time_cap(cfg, tokens: int, tps: float, planned: int) -> str:
    """Where the time cap stops training, when it does: the cap is on training only."""
    cap_s = (cfg.train.max_minutes or 0) * 60
    need_s = tokens / max(tps, 1e-9) if tokens else 0.0
    if not cap_s or need_s <= cap_s or not planned:
        return ""
    share = cap_s / need_s
    return (
        f" Training stops at its time cap of {cfg.train.max_minutes:g} minutes, near step "
        f"{max(1, round(planned * share)):,} of {planned:,} ({share:.0%} of its plan); the "
        "cap is on training only: loading, scoring and baselines come on top."
    )


def _endpoint_spend(cfg) -> tuple[float, str | None]:
    """What the endpoint will bill, and why that refuses the pilot (over its spend cap)."""
    usd = predicted_usd(cfg)
    if cfg.max_usd is not None and usd > cfg.max_usd:
        return usd, (
            f"the endpoint would cost about ${usd:,.4f}, over --max-usd ${cfg.max_usd:g}: "
            "raise the cap or score fewer rows (--holdout-max)"
        )
    return usd, None


def _billed(cfg, usd: float) -> tuple[float, str, str | None]:
    """The pilot's cost with what an endpoint (or a distillation teacher's) will bill, a
    sentence on the teacher's calls, and why the spend cap refuses it (None: it does not)."""
    over = None
    if cfg.endpoint_url:  # what the endpoint will bill, checked against the cap first
        usd, over = _endpoint_spend(cfg)
    if not (cfg.teacher_url and METHODS[cfg.method].unlabelled_inputs):
        return usd, "", over
    teacher_usd, calls, too_much = _teacher_spend(cfg)
    cap = f", spend cap ${cfg.max_usd:g}" if cfg.max_usd is not None else ", no spend cap"
    said = f" The teacher's {calls:,} calls: about ${teacher_usd:,.4f}{cap}."
    return usd + teacher_usd, said, over or too_much


def _teacher_spend(cfg) -> tuple[float, int, str | None]:
    """What a distillation teacher's endpoint will bill, and why that refuses the pilot."""
    from trainers.teacher import predicted_teacher_usd  # torch-free import of the preflight

    usd, calls = predicted_teacher_usd(cfg)
    if cfg.max_usd is not None and usd > cfg.max_usd:
        return (
            usd,
            calls,
            (
                f"the teacher's {calls:,} calls would cost about ${usd:,.4f}, over --max-usd "
                f"${cfg.max_usd:g}: raise the cap or label fewer inputs"
            ),
        )
    return usd, calls, None


PHASE_WORDS = {
    "start": "start-up",
    "load": "loading",
    "generation": "baselines and evaluation",
    "train": "training",
    "curve": "learning curve",
    "teacher": "the teacher's answers",
    "save": "saving",
}


def _phase_words(phases: dict[str, float]) -> str:
    """ "start-up 4 s, loading 3 s, baselines and evaluation 22 s, training 21 s"."""
    return ", ".join(
        f"{PHASE_WORDS.get(k, k)} {v:,.0f} s" for k, v in phases.items() if round(v) > 0
    )
