"""metrics.json: what a finished pilot measured, as one typed record. The Measurement the
cost model and the advisor consume sits inside it, with the forgetting check, the
learning curve, the preflight's predictions against the run (fidelity) and samples.
The CLI, the app and the report read this record, never loose keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.measurement import Measurement, QualityMeasure
from core.scenario import InputError
from trainers import hardware  # hardware.detect(), patchable in tests
from trainers.eval.curve import LearningCurve
from trainers.runs import read_json


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrainResult(_Frozen):
    steps: int
    planned_steps: int
    tokens: int
    seconds: float
    tokens_per_second: float
    first_loss: float
    last_loss: float
    stopped_by: Literal["steps", "minutes", "done"]
    """done: the planned steps ran; steps: --max-steps; minutes: --max-minutes."""
    bf16: bool
    """The fast path taken on this hardware: bf16 autocast (native bf16 instructions or a
    GPU with bf16), else fp32."""
    attention: str = ""
    """The attention implementation trained with (eager on CPU while its scores are small,
    since PyTorch's CPU flash-attention backward is slower; the model's own otherwise)."""
    threads: int = Field(default=0, ge=0)
    """PyTorch intra-op threads while training."""

    def path(self) -> str:
        """The fast path the training took on its hardware, in words."""
        parts = ["bf16 autocast" if self.bf16 else "fp32"]
        parts += [f"{self.attention} attention"] if self.attention else []
        parts += [f"{self.threads} threads"] if self.threads else []
        return "trained with " + ", ".join(parts)


class Forgetting(_Frozen):
    pattern: Literal["no_change", "overfitting", "degradation", "improvement"]
    probe_before: float
    probe_after: float


class Predicted(_Frozen):
    predicted: float
    measured: float
    error_pct: float
    """100 x (predicted - measured) / measured."""


class Fidelity(_Frozen):
    """The preflight's predictions against what the run measured."""

    probed: bool = False
    wall_seconds: Predicted | None = None
    peak_memory_mib: Predicted | None = None
    tokens_per_second: Predicted | None = None


class Sample(_Frozen):
    input: str
    gold: str
    predicted: str
    passages: tuple[str, ...] = ()
    """RAG pilots: the passages retrieved for it ('title: text'), best first."""


class FailedRow(_Frozen):
    """A holdout row an endpoint never answered, and why."""

    variant: str
    line: int
    reason: str


class TeacherStats(_Frozen):
    kept: int
    dropped: dict[str, int]


class StudentStats(_Frozen):
    params: int
    teacher_params: int
    layers: int
    generation_tokens_per_second: float | None = None
    teacher_generation_tokens_per_second: float | None = None


# Keys of metrics.json before it was one typed record: copies of the Measurement's numbers.
OLD_COPIES = frozenset(
    {
        "method",
        "model",
        "device",
        "wall_seconds",
        "tokens_per_second",
        "peak_memory_mib",
        "holdout",
        "baseline",
        "baselines",
    }
)


class PilotMetrics(_Frozen):
    """metrics.json of a finished pilot."""

    status: Literal["done"] = "done"
    run_dir: str
    measurement: Measurement
    training: TrainResult | None = None
    forgetting: Forgetting | None = None
    fidelity: Fidelity | None = None
    learning_curve: LearningCurve | None = None
    phase_seconds: dict[str, float] = Field(default_factory=dict)
    teacher: TeacherStats | None = None
    student: StudentStats | None = None
    agreement: QualityMeasure | None = None
    """Distillation: how often the student says what the teacher says on the holdout."""
    samples: tuple[Sample, ...] = ()
    holdout_fingerprint: str = ""
    """Hash of the frozen holdout: runs with the same one can be compared row by row."""
    failed_rows: tuple[FailedRow, ...] = ()
    """Endpoint pilots: rows left out of the score because no answer came."""
    correct: dict[str, str] = Field(default_factory=dict)
    """Per holdout row, in order, '1' where the method or baseline was right and '0' where
    not (classification): what a paired test between two of them needs."""

    @model_validator(mode="before")
    @classmethod
    def _drop_old_copies(cls, data):
        """metrics.json files written before this record kept untyped copies of the
        Measurement's numbers beside it (OLD_COPIES); those, and only those, are dropped
        on reading, so a misspelled field is still refused."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in OLD_COPIES}
        return data

    @property
    def quality(self) -> QualityMeasure:
        return self.measurement.quality

    @property
    def stopped_early(self) -> bool:
        """Training was cut short by its step or time limit."""
        return self.training is not None and self.training.stopped_by != "done"


def read_metrics(path: str | Path) -> PilotMetrics:
    """A run directory's metrics.json (or the file itself), with a one-line message when
    it is missing or was not written by a finished pilot."""
    p = Path(path)
    p = p / "metrics.json" if p.is_dir() else p
    try:
        return PilotMetrics.model_validate(json.loads(p.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"{p}: no metrics.json (is the run finished?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as e:
        raise InputError(f"{p}: not a finished run's metrics ({type(e).__name__})") from None


def from_index(row: dict) -> PilotMetrics | None:
    """The typed record of a run-index row; None when the run has not finished or its
    metrics predate what this version can read."""
    if row.get("status") != "done" or not row.get("metrics"):
        return None
    try:
        return PilotMetrics.model_validate(row["metrics"])
    except ValidationError:
        return None


def device_name(device: str) -> str:
    """'NVIDIA H100 80GB HBM3' or the CPU's model name with the cores this process may use
    (trainers.hardware reads both once)."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    hw = hardware.detect()
    return f"{hw.cpu_model} ({hw.cpu_cores} cores)"


def run_fidelity(run_dir: Path, wall: float, peak: float, tps: float) -> Fidelity | None:
    """The run's preflight.json against its measured wall time, peak and throughput."""
    measured = {"wall_seconds": wall, "peak_memory_mib": peak, "tokens_per_second": tps}
    return fidelity(read_json(Path(run_dir) / "preflight.json"), measured)


def fidelity(pre: dict | None, measured: dict[str, float]) -> Fidelity | None:
    """preflight.json's predictions against what the run measured (error in percent)."""
    if not pre:
        return None
    out: dict = {"probed": pre.get("probed", False)}
    for key, value in measured.items():
        predicted = pre.get(key)
        if predicted and value:
            out[key] = Predicted(
                predicted=predicted,
                measured=round(value, 1),
                error_pct=round(100 * (predicted - value) / value, 1),
            )
    return Fidelity(**out)
