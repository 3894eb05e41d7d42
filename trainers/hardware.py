"""What this machine is, read once: the CPU model, its cores and the vector extensions
that decide which training path is fast here (AVX-512 BF16 or AMX make bf16 autocast
about twice as fast; without AVX-512, bitsandbytes' 4-bit kernels crawl), and the GPU
with its compute capability and bf16 support. Every run's metrics and every benchmark's
output carry it, so a figure always names the machine it came from. Also the facts of the
device a pilot runs on: bf16 support, memory in use and at peak, and how each stack
reports running out of memory (torch is imported where it is used: the advice and the
preflight read this module without it)."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import resource
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.measurement import Hardware

if TYPE_CHECKING:
    from trainers.config import TrainConfig

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


# What the CPU stack says when memory runs out: PyTorch's allocator raises a plain
# RuntimeError, and oneDNN, asked for a kernel it has no memory to build, "could not
# create a primitive" (measured: both, under an address-space limit, in the same loop).
CPU_OUT_OF_MEMORY = ("DefaultCPUAllocator: can't allocate", "could not create a primitive")


def is_out_of_memory(e: BaseException) -> bool:
    """CUDA raises torch.OutOfMemoryError and Python MemoryError; see CPU_OUT_OF_MEMORY."""
    import torch

    if isinstance(e, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(e, RuntimeError) and any(m in str(e) for m in CPU_OUT_OF_MEMORY)


def cpu_supports_bf16() -> bool:
    """bf16 autocast is the fast path on this CPU (native bf16 instructions the kernels
    may use), read once by detect()."""
    return detect().bf16_autocast_fast()


def use_bf16(cfg: TrainConfig, device: str) -> bool:
    import torch

    if cfg.bf16 != "auto":
        return cfg.bf16 == "on"
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return cpu_supports_bf16()


def reset_peak_memory() -> None:
    """Count the peak afresh from here: a pilot run in a process that did other work first
    (`adapt pilot --foreground` after its preflight, a notebook, a test) reports its own
    peak, not the process's. Linux resets the resident high-water mark on writing "5" to
    clear_refs; elsewhere the peak stays the process's whole life."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    if "torch" in sys.modules:  # never import torch only to reset it
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.reset_peak_memory_stats()


def process_peak_mib() -> float:
    """This process's peak resident set since the last reset_peak_memory (VmHWM; where
    /proc is missing, ru_maxrss: the whole life of the process)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, IndexError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def peak_memory_mib(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return process_peak_mib()


def current_memory_mib(device: str) -> float:
    """Memory in use now (GPU: allocated tensors; CPU: this process's resident set)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.memory_allocated() / 2**20
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
