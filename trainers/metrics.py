"""metrics.json: what a finished pilot measured, as the Measurement record the cost model
and the advisor consume, with the preflight's predictions against it (fidelity)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from costmodels.measurement import Measurement
from trainers import runs
from trainers.data import Dataset
from trainers.evaluate import Score, forgetting_pattern
from trainers.sft import TrainResult, peak_memory_mib

if TYPE_CHECKING:
    from trainers.config import PilotConfig


def device_name(device: str) -> str:
    """'NVIDIA H100 80GB HBM3' or the CPU's model name with its core count."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        name = next(x.split(":", 1)[1].strip() for x in cpuinfo.splitlines() if "model name" in x)
    except (OSError, StopIteration):
        name = "CPU"
    return f"{name} ({os.cpu_count()} cores)"


@dataclass(frozen=True)
class Outcome:
    """What a pilot produced, gathered for metrics.json."""

    device: str
    params: int
    train_ds: Dataset
    hold: Dataset
    baseline: Score
    tuned: Score
    preds: list[str]
    train_res: TrainResult | None
    probe_before: Score | None
    probe_after: Score | None
    gen_tps: float
    wall: float
    results: dict


def metrics_record(cfg: PilotConfig, run_dir: Path, o: Outcome) -> dict:
    device, train_ds, hold, baseline, tuned, preds = (
        o.device,
        o.train_ds,
        o.hold,
        o.baseline,
        o.tuned,
        o.preds,
    )
    train_res, probe_before, probe_after, results = (
        o.train_res,
        o.probe_before,
        o.probe_after,
        o.results,
    )
    forgetting = None
    if train_res is not None:
        forgetting = forgetting_pattern(
            probe_before, probe_after, baseline, tuned, train_res.first_loss, train_res.last_loss
        ).model_dump()
    peak = peak_memory_mib(device)
    measurement = Measurement(
        run_id=run_dir.name,
        method=cfg.method,
        model=cfg.model,
        model_params=o.params,
        device=device,
        device_name=device_name(device),
        train_examples=len(train_ds.examples),
        holdout_examples=len(hold.examples),
        train_tokens=train_res.tokens if train_res else 0,
        tokens_per_second=train_res.tokens_per_second if train_res else 0.0,
        generation_tokens_per_second=o.gen_tps,
        peak_memory_mib=peak,
        wall_seconds=o.wall,
        quality=tuned,
        baseline=baseline,
        baselines={k: Score(**v) for k, v in results["baselines"].items()},
        forgetting_delta=(probe_after.value - probe_before.value) if probe_after else None,
        examples_needed=(results.get("learning_curve") or {}).get("examples_needed"),
    )
    fidelity = _fidelity(
        run_dir,
        {
            "wall_seconds": o.wall,
            "peak_memory_mib": peak,
            "tokens_per_second": measurement.tokens_per_second,
        },
    )
    samples = [
        {"input": e.messages[-1].content, "gold": e.target, "predicted": p}
        for e, p in list(zip(hold.examples, preds, strict=True))[:20]
    ]
    return {
        "status": "done",
        "run_dir": str(run_dir),
        "method": cfg.method,
        "model": cfg.model,
        "device": device,
        "wall_seconds": round(o.wall, 2),
        "tokens_per_second": round(measurement.tokens_per_second, 2),
        "peak_memory_mib": round(peak, 1),
        "holdout": tuned.model_dump(),
        "baseline": baseline.model_dump(),
        "forgetting": forgetting,
        "fidelity": fidelity,
        "training": train_res.model_dump() if train_res else None,
        "measurement": measurement.model_dump(),
        "samples": samples,
        **results,
    }


def _fidelity(run_dir: Path, measured: dict[str, float]) -> dict | None:
    """The preflight's predictions against what the run measured (error in percent)."""
    pre = runs.read_json(run_dir / "preflight.json")
    if not pre:
        return None
    out: dict = {"probed": pre.get("probed", False)}
    for key, value in measured.items():
        predicted = pre.get(key)
        if predicted and value:
            out[key] = {
                "predicted": predicted,
                "measured": round(value, 1),
                "error_pct": round(100 * (predicted - value) / value, 1),
            }
    return out
