"""What this machine is, read once: the CPU model, its cores and the vector extensions
that decide which training path is fast here (AVX-512 BF16 or AMX make bf16 autocast
about twice as fast; without AVX-512, bitsandbytes' 4-bit kernels crawl), and the GPU
with its compute capability and bf16 support. Every run's metrics and every benchmark's
output carry it, so a figure always names the machine it came from."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

from core.measurement import Hardware

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine(), set()
    name = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), "")
    flags = next((set(x.split(":", 1)[1].split()) for x in lines if x.startswith("flags")), set())
    return name or platform.machine(), flags


# Caps on the kernels used: PyTorch's own, oneDNN's (bf16 matmuls) and MKL's (fp32 BLAS).
LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


@functools.cache
def detect() -> Hardware:
    name, flags = _cpuinfo()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    limits = tuple(f"{k}={os.environ[k]}" for k in LIMITS if os.environ.get(k))
    gpu, kernels, threads = {}, "", 0
    try:
        import torch

        kernels, threads = torch.backends.cpu.get_cpu_capability(), torch.get_num_threads()
        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            gpu = {
                "gpu_name": torch.cuda.get_device_name(0),
                "gpu_compute_capability": f"{major}.{minor}",
                "gpu_bf16": torch.cuda.is_bf16_supported(),
            }
    except (ImportError, RuntimeError):
        pass
    return Hardware(
        cpu_model=name,
        cpu_cores=cores or 0,
        cpu_flags=tuple(f for f in FLAGS if f in flags),
        torch_cpu_kernels=kernels,
        isa_limits=limits,
        cpu_threads=threads,
        **gpu,
    )


def describe() -> str:
    """One line for a benchmark's output: 'Hardware: AMD EPYC (2 cores; avx2, ...)'."""
    return f"Hardware: {detect().text()}"
