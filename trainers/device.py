"""Facts about the device a pilot runs on: bf16 support, memory in use and at peak, and
how each stack reports running out of memory."""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from trainers.config import TrainConfig

# What the CPU stack says when memory runs out: PyTorch's allocator raises a plain
# RuntimeError, and oneDNN, asked for a kernel it has no memory to build, "could not
# create a primitive" (measured: both, under an address-space limit, in the same loop).
CPU_OUT_OF_MEMORY = ("DefaultCPUAllocator: can't allocate", "could not create a primitive")


def is_out_of_memory(e: BaseException) -> bool:
    """CUDA raises torch.OutOfMemoryError and Python MemoryError; see CPU_OUT_OF_MEMORY."""
    if isinstance(e, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(e, RuntimeError) and any(m in str(e) for m in CPU_OUT_OF_MEMORY)


def cpu_supports_bf16() -> bool:
    """bf16 autocast is the fast path on this CPU (native bf16 instructions the kernels
    may use); trainers.hardware reads them once."""
    from trainers.hardware import detect

    return detect().bf16_autocast_fast()


def use_bf16(cfg: TrainConfig, device: str) -> bool:
    if cfg.bf16 != "auto":
        return cfg.bf16 == "on"
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return cpu_supports_bf16()


def peak_memory_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_memory_mib(device: str) -> float:
    """Memory in use now (GPU: allocated tensors; CPU: this process's resident set)."""
    if device.startswith("cuda"):
        return torch.cuda.memory_allocated() / 2**20
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
