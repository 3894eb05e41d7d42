"""Rates the preflight assumes before anything was measured here, and the check that
refuses QLoRA on a CPU whose kernels make it crawl."""

from __future__ import annotations

from core.vocab import METHODS
from costmodels.calibrate import matching_gpu
from costmodels.prices import load_catalog
from trainers import hardware  # hardware.detect(), patchable in tests
from trainers.preflight.job import ProbeResult

QLORA_SLOWER_LIMIT = 2.0  # QLoRA may train this many times slower than LoRA, no more
# Measured (issue 17) on a 2-core AMD EPYC with AVX2 and no AVX-512: bitsandbytes' 4-bit
# CPU path trained at 7 tokens/s, LoRA at 208 (bf16 off). The estimator's prior there.
AVX2_QLORA_TPS, AVX2_LORA_TPS = 7.0, 208.0


def cpu_prior(method: str, device: str) -> float:
    """Training tokens/s assumed before any run of the method was measured here: the
    vocabulary's (measured with AVX-512 BF16), or what was measured without it."""
    rate = METHODS[method].cpu_tokens_per_second
    if device != "cpu":
        return rate
    here = hardware.detect()
    if METHODS[method].compute == "qlora" and "avx512f" not in here.usable_flags():
        return AVX2_QLORA_TPS
    if not here.bf16_autocast_fast():  # fp32 training
        return min(rate, rate * AVX2_LORA_TPS / METHODS["lora"].cpu_tokens_per_second)
    return rate


def slow_qlora(cfg, device: str, probed: ProbeResult | None) -> str | None:
    """Why QLoRA is the wrong choice on this CPU, or None. With a probe: both rates as
    measured here, when QLoRA is over QLORA_SLOWER_LIMIT times slower than LoRA (which
    the probe just trained, so it fits). Without: the CPU's flags and the rates measured
    on a CPU like it."""
    if METHODS[cfg.method].compute != "qlora" or device != "cpu":
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
    if "avx512f" in hardware.detect().usable_flags():  # bitsandbytes' AVX-512 kernels
        return None
    return (
        f"QLoRA on a CPU without AVX-512 trains at about {AVX2_QLORA_TPS:.0f} tokens/s against "
        f"{AVX2_LORA_TPS:.0f} for LoRA (measured on a 2-core AMD EPYC with AVX2): use --method "
        "lora unless memory forces 4-bit weights; a probe measures both rates here."
    )


def usd_per_hour(name: str) -> float:
    """A catalog GPU's list price when the device is one; 0 for a machine you own (CPU)."""
    cat = load_catalog()
    gpu = matching_gpu(name, cat)
    return float(cat.gpu(gpu).usd_per_hour) if gpu else 0.0
