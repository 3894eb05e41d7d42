"""What a pilot is asked to do: the validated config saved as config.yaml in its run
directory, the device it runs on, and the train/holdout split frozen before training."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from advisor.scenario import InputError
from trainers.data import Dataset, load_dataset, read_frozen, save_dataset, split
from trainers.models import DEFAULT_MODEL
from trainers.sft import TrainConfig

Method = Literal["prompt", "retrieval", "lora", "qlora", "full", "distill_seq", "distill_logit"]
TRAINING = ("lora", "qlora", "full", "distill_seq", "distill_logit")
FULL_MAX_PARAMS = 2_000_000_000  # full fine-tuning is for small models only


class PilotConfig(BaseModel):
    """Everything a pilot needs; saved as config.yaml in the run directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    method: Method
    data: str
    holdout_data: str | None = None
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    holdout_max: int = Field(300, ge=1)
    model: str = DEFAULT_MODEL
    teacher: str | None = None
    teacher_url: str | None = None
    teacher_model: str | None = None
    teacher_key_env: str | None = None
    teacher_filter_regex: str | None = None
    max_steps: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    seed: int = 0
    epochs: float = Field(3.0, gt=0)
    batch_size: int = Field(16, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    lora_rank: int = Field(16, ge=1)
    bf16: Literal["auto", "on", "off"] = "auto"
    baselines: tuple[Literal["prompt", "retrieval"], ...] = ("prompt",)
    device: str = "auto"
    trust_remote_code: bool = False
    merge: bool = False
    eval_batch_size: int = Field(32, ge=1)
    save_every_steps: int = Field(25, ge=1)
    """Checkpoint interval: a killed run resumes from the last one."""
    curve: tuple[float, ...] = ()
    """Learning curve: also train at these fractions of the training data (0-1, each
    from a fresh base model, same holdout); the full run is the last point."""
    quality_bar: float | None = Field(None, gt=0, le=1)
    """The quality the task needs (0-1): the learning curve reports examples to reach it."""

    @model_validator(mode="after")
    def _curve_ok(self) -> PilotConfig:
        if self.curve and self.method not in ("lora", "qlora", "full"):
            raise ValueError("a learning curve needs method lora, qlora or full")
        if any(not 0 < f < 1 for f in self.curve):
            raise ValueError("curve fractions must lie between 0 and 1 (1 is the full run)")
        return self

    def train_config(self, method: str | None = None) -> TrainConfig:
        return TrainConfig(
            method=method or (self.method if self.method in ("lora", "qlora", "full") else "lora"),
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            lora_rank=self.lora_rank,
            max_steps=self.max_steps,
            max_minutes=self.max_minutes,
            seed=self.seed,
            bf16=self.bf16,
            save_every_steps=self.save_every_steps,
        )


def pick_device(requested: str) -> str:
    """auto: this process's GPU (LOCAL_RANK under torchrun / accelerate launch), else CPU."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return "cpu"


def save_config(cfg: PilotConfig, run_dir: Path) -> None:
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    tmp = run_dir / "config.yaml.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(run_dir / "config.yaml")


def load_config(run_dir: Path) -> PilotConfig:
    return PilotConfig.model_validate(yaml.safe_load((run_dir / "config.yaml").read_text()))


def make_splits(cfg: PilotConfig) -> tuple[Dataset, Dataset]:
    """(train, holdout) from the config: deterministic from the seed, holdout capped."""
    ds = load_dataset(cfg.data)
    if cfg.holdout_data:
        train_ds, hold = ds, load_dataset(cfg.holdout_data)
    else:
        train_ds, hold = split(ds, cfg.holdout_fraction, cfg.seed)
    if len(hold.examples) > cfg.holdout_max:  # bound the evaluation cost, deterministically
        import random

        keep = sorted(random.Random(cfg.seed).sample(range(len(hold.examples)), cfg.holdout_max))
        hold = hold.model_copy(update={"examples": tuple(hold.examples[i] for i in keep)})
    overlap = {e.model_dump_json() for e in hold.examples} & {
        e.model_dump_json() for e in train_ds.examples
    }
    if overlap:
        raise InputError(f"{len(overlap)} holdout example(s) also appear in the training data")
    return train_ds, hold


def freeze_splits(cfg: PilotConfig, run_dir: Path) -> tuple[Dataset, Dataset]:
    """Split once and freeze both parts into the run directory before any training; a
    resumed run reads the frozen files, so the holdout can never change or leak."""
    hold_path, train_path = run_dir / "holdout.json", run_dir / "train.json"
    if hold_path.exists() and train_path.exists():
        return read_frozen(train_path), read_frozen(hold_path)
    train_ds, hold = make_splits(cfg)
    save_dataset(hold, hold_path)
    save_dataset(train_ds, train_path)
    return train_ds, hold
