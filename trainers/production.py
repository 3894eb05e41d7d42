"""From pilot to the production run: `adapt plan` writes a ready-to-run TRL SFT job.

The folder it writes holds the data converted to TRL's conversational prompt-completion
JSONL (the loss falls on the answer only, as in the pilot), `sft.yaml` (TRL's SFTConfig
and ModelConfig fields, with the pilot's hyperparameters), `accelerate.yaml` (FSDP2 full
shard, DDP or one GPU, as the plan says), `accelerate_cpu.yaml` (the same job in two CPU
processes, for a smoke test before paying for GPUs: accelerate runs FSDP on accelerators
only, so that one is plain data parallelism), `train.py` (TRL's SFT script), `launch.sh`,
`smoke_test.sh` (that one, 3 steps), `slurm.sbatch` and
`plan.json` (the memory and cost plan it was written for).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from core.text import CHARS_PER_TOKEN
from costmodels.compute import LINEAR_TARGETS, ModelShape
from costmodels.plan import NODE_GPUS, TrainingPlan, plan_training
from trainers.records import Dataset

TEMPLATE = Path(__file__).parent / "templates" / "sft_train.py"
NO_BF16 = ("T4", "V100")  # GPUs without bf16 tensor cores: fp16 mixed precision instead
# Learning rates when the production method differs from the pilot's: the QLoRA paper's
# 2e-4 for 7B-13B adapters (Dettmers et al. 2023), and the pilot's own default for full.
DEFAULT_LR = {"lora": 2e-4, "qlora": 2e-4, "full": 5e-5}


class LaunchSpec(BaseModel):
    """One production fine-tuning run, as `adapt plan` writes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str
    """The model to fine-tune: a Hub name or a local folder, written into sft.yaml as is."""
    method: Literal["full", "lora", "qlora"]
    gpu: str
    gpus: int | None = None
    """None: the smallest count that fits."""
    sharding: Literal["auto", "none", "full_shard"] = "auto"
    epochs: float = Field(3.0, gt=0)
    batch_per_gpu: int = Field(4, ge=1)
    effective_batch: int = Field(16, ge=1)
    """Sequences per optimizer step over all GPUs (the pilot's batch); gradient accumulation
    makes up the difference."""
    learning_rate: float = Field(2e-4, gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    max_seq_len: int = Field(512, ge=8)
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = LINEAR_TARGETS
    grad_checkpointing: bool = True
    seed: int = 0


def trl_records(ds: Dataset) -> list[dict]:
    """TRL's conversational prompt-completion rows: the turns before the answer, then it."""
    return [
        {
            "prompt": [m.model_dump() for m in ex.messages],
            "completion": [{"role": "assistant", "content": ex.target}],
        }
        for ex in ds.examples
    ]


def train_tokens(ds: Dataset, epochs: float) -> float:
    """Tokens the run trains on: every row's prompt and answer, once per epoch."""
    chars = sum(len(ex.target) + sum(len(m.content) for m in ex.messages) for ex in ds.examples)
    return chars / CHARS_PER_TOKEN * epochs


def sft_config(spec: LaunchSpec, plan: TrainingPlan) -> dict:
    """sft.yaml: TRL's SFTConfig and ModelConfig fields, and the data files."""
    accumulate = max(1, round(spec.effective_batch / (spec.batch_per_gpu * plan.gpus)))
    sharded = plan.sharding == "full_shard" and plan.gpus > 1
    cfg = {
        "model_name_or_path": spec.model,
        "dtype": "bfloat16" if plan.gpu not in NO_BF16 else "float16",
        "train_file": "data/train.jsonl",
        "eval_file": "data/eval.jsonl",
        "output_dir": "output",
        "num_train_epochs": spec.epochs,
        "per_device_train_batch_size": spec.batch_per_gpu,
        "gradient_accumulation_steps": accumulate,
        "learning_rate": spec.learning_rate,
        "lr_scheduler_type": "cosine",
        "warmup_steps": spec.warmup_ratio,  # under 1: a share of the steps (transformers 5)
        "max_length": spec.max_seq_len,
        "bf16": plan.gpu not in NO_BF16,
        "fp16": plan.gpu in NO_BF16,
        # under FSDP the activation checkpointing is FSDP's own (accelerate.yaml)
        "gradient_checkpointing": spec.grad_checkpointing and not sharded,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": 200,
        "eval_strategy": "epoch",
        "per_device_eval_batch_size": spec.batch_per_gpu,
        "report_to": "none",
        "seed": spec.seed,
    }
    if spec.method != "full":
        cfg |= {
            "use_peft": True,
            "lora_r": spec.lora_rank,
            "lora_alpha": int(spec.lora_alpha),
            "lora_dropout": spec.lora_dropout,
            "lora_target_modules": list(spec.lora_targets),
        }
    if spec.method == "qlora":
        cfg |= {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "use_bnb_nested_quant": True}
    return cfg


def accelerate_config(plan: TrainingPlan, grad_checkpointing: bool) -> dict:
    """accelerate.yaml for the plan's layout (FSDP2 full shard, DDP, or one GPU)."""
    cfg = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "NO" if plan.gpus == 1 else "MULTI_GPU",
        "mixed_precision": "fp16" if plan.gpu in NO_BF16 else "bf16",
        "num_machines": plan.nodes,
        "num_processes": plan.gpus,
        "machine_rank": 0,
        "main_training_function": "main",
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
    }
    if plan.gpus > 1 and plan.sharding == "full_shard":
        cfg["distributed_type"] = "FSDP"
        cfg["fsdp_config"] = {
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",  # one unit per decoder layer
            "fsdp_reshard_after_forward": True,  # full shard (ZeRO-3)
            "fsdp_activation_checkpointing": grad_checkpointing,
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_offload_params": False,
            "fsdp_state_dict_type": "FULL_STATE_DICT",  # output/ loads like any checkpoint
        }
    return cfg


# Two CPU processes over gloo. accelerate starts several processes only for an
# accelerator kind ("MULTI_CPU" expects mpirun); with use_cpu its MULTI_GPU launcher
# starts torchrun and the run becomes MULTI_CPU on gloo. FSDP is for accelerators only.
CPU_CONFIG = {
    "compute_environment": "LOCAL_MACHINE",
    "distributed_type": "MULTI_GPU",
    "mixed_precision": "no",
    "num_machines": 1,
    "num_processes": 2,
    "machine_rank": 0,
    "main_training_function": "main",
    "rdzv_backend": "static",
    "same_network": True,
    "use_cpu": True,
}
CPU_FLAGS = "--use_cpu true --bf16 false --fp16 false --dtype float32"


def launch_script(plan: TrainingPlan) -> str:
    return f"""#!/usr/bin/env bash
# {plan.headline()}; {plan.wall_hours:.1f} h wall, {plan.gpu_hours:.1f} GPU-hours, ${plan.usd:,.2f}
# One node: bash launch.sh (extra flags override sft.yaml, e.g. --max_steps 10);
# several: sbatch slurm.sbatch. Try bash smoke_test.sh on any machine first.
set -euo pipefail
cd "$(dirname "$0")"
accelerate launch --config_file accelerate.yaml train.py --config sft.yaml "$@"
"""


SMOKE_TEST = f"""#!/usr/bin/env bash
# The same job on this machine's CPU for 3 steps, in 2 processes over gloo: it checks the
# data, the model and the settings before GPUs are paid for. Plain data parallelism here:
# accelerate runs FSDP on accelerators only. Writes smoke_output/.
set -euo pipefail
cd "$(dirname "$0")"
accelerate launch --config_file accelerate_cpu.yaml train.py --config sft.yaml \\
  --max_steps 3 --output_dir smoke_output {CPU_FLAGS} "$@"
"""


def slurm_script(plan: TrainingPlan) -> str:
    per_node = min(plan.gpus, NODE_GPUS)
    return f"""#!/usr/bin/env bash
# {plan.headline()}: sbatch slurm.sbatch
#SBATCH --job-name=adapt-sft
#SBATCH --nodes={plan.nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={per_node}
#SBATCH --exclusive
set -euo pipefail
MAIN=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun bash -c 'accelerate launch --config_file accelerate.yaml \\
  --num_machines "$SLURM_NNODES" --num_processes $(( SLURM_NNODES * {per_node} )) \\
  --machine_rank "$SLURM_NODEID" --main_process_ip '"$MAIN"' --main_process_port 29500 \\
  train.py --config sft.yaml'
"""


def write_launch(
    spec: LaunchSpec, train: Dataset, hold: Dataset, shape: ModelShape, gpu_spec, out: Path
) -> TrainingPlan:
    """Plan the run and write its folder; the plan is returned and saved as plan.json."""
    plan = plan_training(
        shape,
        spec.method,
        gpu_spec,
        batch=spec.batch_per_gpu,
        seq_len=spec.max_seq_len,
        grad_checkpointing=spec.grad_checkpointing,
        lora_rank=spec.lora_rank,
        lora_targets=spec.lora_targets,
        train_tokens=train_tokens(train, spec.epochs),
        gpus=spec.gpus,
        sharding=spec.sharding,
    )
    (out / "data").mkdir(parents=True, exist_ok=True)
    for name, ds in (("train", train), ("eval", hold)):
        rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in trl_records(ds))
        (out / "data" / f"{name}.jsonl").write_text(rows, encoding="utf-8")
    dump = lambda d: yaml.safe_dump(d, sort_keys=False)  # noqa: E731
    (out / "sft.yaml").write_text(dump(sft_config(spec, plan)), encoding="utf-8")
    accel = accelerate_config(plan, spec.grad_checkpointing)
    (out / "accelerate.yaml").write_text(dump(accel), encoding="utf-8")
    (out / "accelerate_cpu.yaml").write_text(dump(CPU_CONFIG), encoding="utf-8")
    shutil.copyfile(TEMPLATE, out / "train.py")
    scripts = {"launch.sh": launch_script(plan), "smoke_test.sh": SMOKE_TEST}
    for name, text in (scripts | {"slurm.sbatch": slurm_script(plan)}).items():
        (out / name).write_text(text, encoding="utf-8")
        (out / name).chmod(0o755)
    record = {"spec": spec.model_dump(mode="json"), "plan": plan.model_dump(mode="json")}
    (out / "plan.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return plan
