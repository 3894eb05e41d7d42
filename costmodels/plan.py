"""Training plans: the smallest number of GPUs a fine-tuning run fits on, how it is
sharded, what each GPU holds, how long it takes and what it costs.

GPU counts tried: 1, 2, 4, 8, then whole nodes of 8. One GPU holds the whole run (the
estimate of `compute.estimate_memory`). On more, full fine-tuning and LoRA shard with FSDP
full shard (ZeRO-3): parameters, gradients and optimizer states are divided across the
ranks, while each rank keeps its own activations, the units FSDP gathers whole for
compute, and the framework's overhead. QLoRA is never sharded: the engine the launch files
are written for (accelerate's FSDP2) cannot shard bitsandbytes' 4-bit weights.
Wall time = training FLOPs / (GPUs x peak x MFU x scaling efficiency); GPU-hours = GPUs x
wall hours, priced at the catalog's hourly rate.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.scenario import InputError
from costmodels.assumptions import CostAssumptions, Range, nominal
from costmodels.compute import (
    GIB,
    LINEAR_TARGETS,
    ModelShape,
    estimate_memory,
    shape_from_config,
    training_flops,
    training_seconds,
)

NODE_GPUS = 8
MAX_NODES = 64
HEADROOM = 0.10  # of each GPU's memory, kept free (as `compute.gpu_table`)
GPU_COUNTS = (1, 2, 4, 8) + tuple(NODE_GPUS * n for n in range(2, MAX_NODES + 1))
SHAPES_FILE = Path(__file__).parent / "data" / "model_shapes.json"
QLORA_UNSHARDED = (
    "QLoRA cannot be sharded: accelerate's FSDP2, the engine the launch files are written "
    "for, does not shard bitsandbytes 4-bit weights (huggingface/accelerate#3874)"
)
Sharding = Literal["none", "full_shard"]
LAYOUT = {"none": "DDP, one copy per GPU", "full_shard": "FSDP full shard"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanMemory(_Frozen):
    """What one GPU holds, GiB."""

    weights_gib: float
    quant_constants_gib: float
    gradients_gib: float
    optimizer_gib: float
    gathered_gib: float
    """Units FSDP gathers whole for compute (the current and the prefetched decoder layer,
    or the embeddings), and for full fine-tuning one unit's gradient before it is
    reduce-scattered."""
    activations_gib: float
    overhead_gib: float
    total_gib: float


class TrainingPlan(_Frozen):
    """The smallest layout of one fine-tuning run on one GPU type, with its time and cost."""

    gpu: str
    gpus: int
    nodes: int
    sharding: Sharding
    method: str
    params: int
    memory: PlanMemory
    """Per GPU."""
    usable_gib_per_gpu: float
    """The GPU's memory less 10% headroom."""
    fits: bool
    scaling_efficiency: float
    """Throughput per GPU relative to one GPU (nominal): 1 on one GPU."""
    train_tokens: float
    wall_hours: float
    wall_hours_low: float
    """At the high ends of MFU and scaling efficiency."""
    wall_hours_high: float
    gpu_hours: float
    usd: float
    usd_low: float
    usd_high: float
    note: str = ""

    @property
    def layout(self) -> str:
        return "1 GPU" if self.gpus == 1 else LAYOUT[self.sharding]

    def headline(self) -> str:
        """'A100-80GB: 2 GPUs, FSDP full shard, 53.9 GiB each'."""
        count = f"{self.gpus} GPU" + ("s" if self.gpus > 1 else "")
        if self.nodes > 1:
            count += f" ({self.nodes} nodes of {NODE_GPUS})"
        where = "" if self.gpus == 1 else f", {self.layout}"
        head = f"{self.gpu}: {count}{where}, {self.memory.total_gib:.1f} GiB each"
        return head if self.fits else f"{self.gpu}: does not fit ({self.note})"


def scaling_efficiency(gpus: int, in_node: float, across_nodes: float) -> float:
    """1 on one GPU; `in_node` on 2-8 GPUs of one node; times `across_nodes` beyond."""
    if gpus == 1:
        return 1.0
    return in_node * (across_nodes if gpus > NODE_GPUS else 1.0)


def _units(shape: ModelShape) -> tuple[int, int]:
    """Parameters of one decoder layer and of the root unit (embeddings, head, final norm):
    the units FSDP wraps and gathers one at a time."""
    layer = sum(a * b for a, b in shape.linear_shapes().values()) + 2 * shape.hidden_size
    root = shape.vocab_size * shape.hidden_size * (1 if shape.tie_word_embeddings else 2)
    return layer, root + shape.hidden_size


def per_gpu_memory(est, shape: ModelShape, gpus: int, sharding: Sharding) -> PlanMemory:
    """Divide the sharded components of a whole-run estimate across the ranks."""
    split = gpus if sharding == "full_shard" else 1
    gathered = 0.0
    if split > 1:
        layer, root = _units(shape)
        gathered = max(root, 2 * layer) * 2  # bf16: the unit computing and the next
        if est.method in ("full", "encoder"):
            gathered += max(root, layer) * 2  # one unit's bf16 gradient, unsharded
    parts = {
        "weights_gib": est.weights_gib / split,
        "quant_constants_gib": est.quant_constants_gib / split,
        "gradients_gib": est.gradients_gib / split,
        "optimizer_gib": est.optimizer_gib / split,
        "gathered_gib": gathered / GIB,
        "activations_gib": est.activations_gib,
        "overhead_gib": est.overhead_gib,
    }
    parts = {k: round(v, 3) for k, v in parts.items()}
    return PlanMemory(**parts, total_gib=round(sum(parts.values()), 3))


def _ends(value) -> tuple[float, float, float]:
    """(nominal, low, high) of an uncertain assumption."""
    if isinstance(value, Range):
        return value.nominal, value.low, value.high
    return (nominal(value),) * 3


def wall_hours(flops, gpus: int, gpu_spec, method: str, mfu, in_node, across_nodes):
    """Hours of a run of `flops` on `gpus` GPUs: FLOPs / (GPUs x peak x MFU x scaling
    efficiency). Numbers or arrays of Monte Carlo draws alike."""
    per_gpu = flops / (gpus * scaling_efficiency(gpus, in_node, across_nodes))
    return training_seconds(per_gpu, gpu_spec.peak_bf16_tflops, mfu, method) / 3600


def _priced(gpu_spec, method, params, tokens, gpus, a: CostAssumptions) -> dict:
    """Wall hours, GPU-hours and dollars at nominal MFU and efficiency, with the range."""
    ends = [
        _ends(v)
        for v in (a.training_mfu, a.multi_gpu_scaling_efficiency, a.multi_node_scaling_efficiency)
    ]  # (mfu, in_node, across), each (nominal, low, high)
    flops = training_flops(params, tokens, method)
    wall, slow, fast = (
        wall_hours(flops, gpus, gpu_spec, method, *(e[i] for e in ends)) for i in range(3)
    )
    rate = float(gpu_spec.usd_per_hour) * gpus
    return {
        "scaling_efficiency": round(scaling_efficiency(gpus, ends[1][0], ends[2][0]), 4),
        "wall_hours": round(wall, 4),
        "wall_hours_low": round(fast, 4),
        "wall_hours_high": round(slow, 4),
        "gpu_hours": round(wall * gpus, 4),
        "usd": round(wall * rate, 2),
        "usd_low": round(fast * rate, 2),
        "usd_high": round(slow * rate, 2),
    }


def _layouts(method: str, gpus: int | None, sharding: str) -> list[tuple[int, Sharding]]:
    """The (GPU count, sharding) pairs to try, smallest first."""
    if method == "qlora" and sharding == "full_shard":
        raise InputError(
            f"--sharding full_shard with --method qlora: {QLORA_UNSHARDED}; "
            "use --method lora to shard, or QLoRA on one GPU"
        )
    counts = [gpus] if gpus else list(GPU_COUNTS)
    if method == "qlora" or sharding == "none":
        return [(n, "none") for n in (counts if gpus else [1])]
    return [(n, "none" if n == 1 else "full_shard") for n in counts]


def plan_training(
    shape: ModelShape,
    method: str,
    gpu_spec,
    *,
    batch: int = 4,
    seq_len: int = 512,
    grad_checkpointing: bool = True,
    lora_rank: int = 16,
    lora_targets: tuple[str, ...] = LINEAR_TARGETS,
    train_tokens: float = 1e8,
    gpus: int | None = None,
    sharding: Literal["auto", "none", "full_shard"] = "auto",
    assumptions: CostAssumptions | None = None,
) -> TrainingPlan:
    """The smallest GPU count of `gpu_spec` (a catalog GpuPrice) that holds the run, or
    the given count; `batch` is per GPU. Nothing fits: the largest layout tried, fits False."""
    a = assumptions or CostAssumptions()
    est = estimate_memory(
        shape,
        method,
        lora_rank=lora_rank,
        lora_targets=lora_targets,
        batch=batch,
        seq_len=seq_len,
        grad_checkpointing=grad_checkpointing,
    )
    usable = gpu_spec.memory_gib * (1 - HEADROOM)
    layouts = _layouts(method, gpus, sharding)
    for n, how in layouts:
        memory = per_gpu_memory(est, shape, n, how)
        if memory.total_gib <= usable or (n, how) == layouts[-1]:
            break
    fits = memory.total_gib <= usable
    note = ""
    if not fits:
        tried = "one GPU" if len(layouts) == 1 and n == 1 else f"{n} GPUs"
        note = f"needs {memory.total_gib:.1f} GiB a GPU on {tried}, {usable:.1f} usable"
        if method == "qlora" and not gpus:
            note += f"; {QLORA_UNSHARDED}: LoRA with FSDP full shard, or a larger GPU"
    return TrainingPlan(
        gpu=gpu_spec.name,
        gpus=n,
        nodes=math.ceil(n / NODE_GPUS),
        sharding=how,
        method=method,
        params=est.params,
        memory=memory,
        usable_gib_per_gpu=round(usable, 2),
        fits=fits,
        train_tokens=train_tokens,
        note=note,
        **_priced(gpu_spec, method, est.params, train_tokens, n, a),
    )


@cache
def reference_shapes() -> dict[str, ModelShape]:
    """Shapes of well-known open models, by name (costmodels/data/model_shapes.json)."""
    data = json.loads(SHAPES_FILE.read_text(encoding="utf-8"))
    return {name: shape_from_config(c) for name, c in data["models"].items()}


@cache
def shape_for_params(params_billions: float) -> tuple[ModelShape, str]:
    """A shape of `params_billions`: the listed model nearest in size, its layer count
    scaled to the size; and the words that say so."""
    target = params_billions * 1e9
    name, near = min(
        reference_shapes().items(), key=lambda kv: abs(math.log(kv[1].params / target))
    )
    layer, root = _units(near)
    layers = max(1, round((target - root) / layer))
    shape = near.model_copy(update={"num_layers": layers})
    return shape, f"the shape of {name} with {layers} layers ({shape.params / 1e9:.1f}B)"


# --- the cost model's training runs -------------------------------------------------------


class PlannedTraining(_Frozen):
    """One training run the cost model prices on self-hosted GPUs, with its plan."""

    role: str
    """Which model is trained ("the fine-tuned model", "the fine-tuned teacher", ...)."""
    strategies: tuple[str, ...]
    params_billions: float
    shape: str
    """The model shape the memory plan assumes, in words."""
    examples: int
    plan: TrainingPlan
    """For this run's training tokens (examples x tokens per example x epochs)."""


def seq_len_for(tokens_per_example: float) -> int:
    """The training sequence length: the tokens of one example, to the next power of two."""
    return int(min(32768, max(128, 2 ** math.ceil(math.log2(max(tokens_per_example, 1))))))


@cache
def size_plan(params_billions: float, method: str, gpu_spec, seq_len: int, batch: int):
    """The plan of a model of this size (priced per training token: train_tokens=1)."""
    shape, _ = shape_for_params(params_billions)
    return plan_training(shape, method, gpu_spec, batch=batch, seq_len=seq_len, train_tokens=1.0)


def training_usd(params_billions, tokens, a: CostAssumptions, gpu_spec, seq_len, x):
    """Dollars of one training run on its plan's GPUs (GPU-hours x the hourly price).
    `x(name)` reads an uncertain assumption (a nominal value or an array of draws)."""
    plan = size_plan(
        params_billions, a.training_method, gpu_spec, seq_len, a.training_batch_per_gpu
    )
    flops = training_flops(plan.params, tokens, a.training_method)  # the planned shape's
    hours = wall_hours(
        flops,
        plan.gpus,
        gpu_spec,
        a.training_method,
        x("training_mfu"),
        x("multi_gpu_scaling_efficiency"),
        x("multi_node_scaling_efficiency"),
    )
    return hours * plan.gpus * float(gpu_spec.usd_per_hour)


def planned_runs(runs, a: CostAssumptions, gpu_spec, tokens_per_example: float):
    """PlannedTraining records of (role, strategies, params_billions, examples) runs."""
    seq = seq_len_for(tokens_per_example)
    out = []
    for role, strategies, params_b, examples in runs:
        shape, words = shape_for_params(params_b)
        plan = plan_training(
            shape,
            a.training_method,
            gpu_spec,
            batch=a.training_batch_per_gpu,
            seq_len=seq,
            train_tokens=examples * tokens_per_example * a.training_epochs,
            assumptions=a,
        )
        out.append(
            PlannedTraining(
                role=role,
                strategies=strategies,
                params_billions=params_b,
                shape=words,
                examples=examples,
                plan=plan,
            )
        )
    return tuple(out)
