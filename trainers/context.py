"""The one context every pilot kind runs in, and the one place its Measurement is made.

`build_context` freezes the splits, picks the device and loads the tokenizer the flow
needs (the decoder's, the encoder's, or none for an endpoint). A flow (trainers/flows/)
reads it, does its work and returns an `Outcome`; `finish` turns that into metrics.json,
with the rules every kind shares: only rows that were scored count as the holdout (a
failed request is never a wrong answer), a holdout under the floor is said to be one,
and the hardware, the phases, the fidelity and the holdout's fingerprint are recorded
the same way for every kind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.distill import DistillStats
from core.extract import ExtractStats
from core.measurement import (
    MIN_HOLDOUT,
    Abstention,
    EndpointStats,
    Measurement,
    QualityMeasure,
    RagStats,
    ServingSpeed,
)
from core.scenario import InputError
from core.vocab import METHODS, Flow
from trainers import (
    hardware,  # hardware.detect(), patchable in tests
    runs,
)
from trainers.classifier import load_encoder
from trainers.config import FULL_MAX_PARAMS, PilotConfig, pick_device
from trainers.data import Dataset
from trainers.eval.curve import LearningCurve
from trainers.fields import EXTRACT_DATA
from trainers.hardware import peak_memory_mib, use_bf16
from trainers.loop import TrainResult
from trainers.metrics import (
    FailedRow,
    Forgetting,
    PilotMetrics,
    Sample,
    StudentStats,
    TeacherStats,
    device_name,
    run_fidelity,
)
from trainers.models import load_tokenizer, resolve_model
from trainers.splits import fingerprint, freeze_splits

ENDPOINT = "endpoint"  # the device of a pilot whose answers come from an endpoint


@dataclass(frozen=True)
class PilotContext:
    """What a flow and a recipe may read: the config, the run, the device, the tokenizer
    and the frozen data; and the clock of the run's phases."""

    cfg: PilotConfig
    run_dir: Path
    device: str
    bf16: bool
    where: Path | str | None
    """The resolved local folder of the small model (None: an endpoint answers)."""
    tok: Any
    train_ds: Dataset
    hold: Dataset
    budget: int
    """New tokens to generate per answer."""
    t0: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)
    """Wall seconds of each phase so far (load, baselines, train, eval...)."""
    _tick: list[float] = field(default_factory=lambda: [time.perf_counter()])

    def emit(self, kind: str, **fields) -> None:
        runs.emit(self.run_dir, kind, **fields)

    def lap(self, name: str) -> None:
        """Close the phase `name` (seconds since the last lap), for fidelity and benchmarks."""
        now = time.perf_counter()
        self.phases[name] = round(self.phases.get(name, 0.0) + now - self._tick[0], 2)
        self._tick[0] = now

    def with_training(self, **settings) -> PilotContext:
        """The context with some training settings changed (the run's config.yaml keeps
        the user's; the caller says in the event log what changed and why)."""
        train = self.cfg.train.model_copy(update=settings)
        return replace(self, cfg=self.cfg.model_copy(update={"train": train}))


def answer_budget(tok, ds: Dataset) -> int:
    """New tokens to generate: the longest training answer, plus a little room."""
    longest = max(len(tok(e.target, add_special_tokens=False)["input_ids"]) for e in ds.examples)
    return min(512, longest + 4)


def build_context(cfg: PilotConfig, run_dir: Path, flow: Flow, t0: float | None = None):
    """The context of a run of this flow: the same splits, device and clock for every kind;
    the tokenizer the flow's model reads (none when an endpoint answers)."""
    train_ds, hold = freeze_splits(cfg, run_dir)
    common = dict(cfg=cfg, run_dir=run_dir, train_ds=train_ds, hold=hold)
    common |= {"t0": t0} if t0 is not None else {}
    if flow == "distill" and hold.task == "generate":
        raise InputError(
            f"{cfg.holdout_data}: distillation into a classifier scores a classification "
            "holdout (CSV text,label), or none (the teacher then labels a share of the inputs)"
        )
    if flow in ("classifier", "distill", "extract"):
        if flow == "classifier" and hold.task != "classify":
            raise InputError(
                f"{cfg.data}: the classifier method needs classification data (CSV "
                "text,label); for generation use method=lora"
            )
        if flow == "extract" and hold.task != "extract":
            raise InputError(EXTRACT_DATA.format(data=cfg.data, method=cfg.method))
        device, where = pick_device(cfg.device), resolve_model(cfg.model)
        tok = load_encoder(where, cfg.trust_remote_code)[0]
        bf16 = use_bf16(cfg.train_config("full"), device)
        ctx = PilotContext(device=device, bf16=bf16, where=where, tok=tok, budget=0, **common)
    elif cfg.endpoint_url:  # a capable model answers: no local model at all
        budget = min(512, max(len(e.target) for e in train_ds.examples) // 2 + 16)  # generous
        ctx = PilotContext(
            device=ENDPOINT, bf16=False, where=None, tok=None, budget=budget, **common
        )
    else:
        device, where = pick_device(cfg.device), resolve_model(cfg.model)
        tok = load_tokenizer(where, cfg.trust_remote_code)
        bf16 = use_bf16(cfg.train_config(), device)
        budget = answer_budget(tok, train_ds)
        ctx = PilotContext(device=device, bf16=bf16, where=where, tok=tok, budget=budget, **common)
    task = "qa" if hold.format == "qa" else hold.task
    ctx.emit("data", train=len(train_ds.examples), holdout=len(hold.examples), task=task)
    return ctx


def model_size(ctx: PilotContext, model) -> int:
    """Parameters of the model as trained, 4-bit weights counted by their true shape
    (bitsandbytes packs two 4-bit values into each stored byte); full fine-tuning of a
    model over FULL_MAX_PARAMS is refused, whichever flow loaded it."""
    total = 0
    for p in model.parameters():
        state = getattr(p, "quant_state", None)
        total += math.prod(state.shape) if state is not None else p.numel()
    if METHODS[ctx.cfg.method].compute == "full" and total > FULL_MAX_PARAMS:
        raise InputError(
            f"full fine-tuning of {total / 1e9:.1f}B parameters will not fit a pilot; use "
            "method=lora or qlora"
        )
    return total


def load_model(ctx: PilotContext, recipe) -> tuple[Any, int]:
    """The model the method's recipe starts from, and its size (the cap checked): the
    load phase of every flow that runs a local model."""
    ctx.emit("model", status="loading")
    model = recipe.load(ctx)
    params = model_size(ctx, model)
    ctx.lap("load")
    return model, params


@dataclass(frozen=True)
class Outcome:
    """What a flow measured, for `finish`: the method's result and everything beside it."""

    quality: QualityMeasure
    """The method's result on the holdout rows that were scored."""
    baseline: QualityMeasure | None = None
    baselines: Mapping[str, QualityMeasure] = field(default_factory=dict)
    failed_rows: tuple[FailedRow, ...] = ()
    """Rows that got no answer (an endpoint's errors, the spend cap), with the variant."""
    result_variant: str | None = None
    """The variant whose failed rows leave the holdout (endpoint pilots)."""
    rows_scored: int | None = None
    """Holdout rows behind the result, when the flow left failed rows out of every score
    itself (None: every row but the result variant's failed ones)."""
    model: str | None = None
    """The model that answered (None: the config's small model)."""
    model_params: int = 0
    training: TrainResult | None = None
    generation_tps: float = 0.0
    forgetting: Forgetting | None = None
    curve: LearningCurve | None = None
    constrained: QualityMeasure | None = None
    invalid_label_share: float | None = None
    teacher: TeacherStats | None = None
    student: StudentStats | None = None
    agreement: QualityMeasure | None = None
    serving: ServingSpeed | None = None
    abstention: Abstention | None = None
    endpoint: EndpointStats | None = None
    rag: RagStats | None = None
    distill: DistillStats | None = None
    extract: ExtractStats | None = None
    samples: tuple[Sample, ...] = ()
    correct: Mapping[str, str] = field(default_factory=dict)
    """'1'/'0' per holdout row for each method and baseline scored on every row."""


def scored_rows(ctx: PilotContext, out: Outcome) -> int:
    """Holdout rows behind the result: a row whose request failed is left out of the
    score, so it is left out of the count the advisor's holdout floor reads."""
    if out.rows_scored is not None:
        return out.rows_scored
    failed = {r.line for r in out.failed_rows if r.variant == out.result_variant}
    return len(ctx.hold.examples) - len(failed)


def _measurement(ctx: PilotContext, out: Outcome, rows: int, peak: float) -> Measurement:
    cfg, res = ctx.cfg, out.training
    return Measurement(
        run_id=ctx.run_dir.name,
        method=cfg.method,
        model=out.model or cfg.model,
        model_params=out.model_params,
        device=ctx.device,
        device_name=cfg.endpoint_url if ctx.device == ENDPOINT else device_name(ctx.device),
        train_examples=len(ctx.train_ds.examples),
        holdout_examples=rows,
        train_tokens=res.tokens if res else 0,
        tokens_per_second=res.tokens_per_second if res else 0.0,
        generation_tokens_per_second=out.generation_tps,
        peak_memory_mib=peak,
        wall_seconds=time.perf_counter() - ctx.t0,
        quality=out.quality,
        baseline=out.baseline,
        baselines=dict(out.baselines),
        forgetting_delta=(
            out.forgetting.probe_after - out.forgetting.probe_before if out.forgetting else None
        ),
        examples_needed=out.curve.examples_needed if out.curve else None,
        train_steps=res.steps if res else 0,
        planned_steps=res.planned_steps if res else 0,
        stopped_by=res.stopped_by if res else None,
        constrained=out.constrained,
        invalid_label_share=out.invalid_label_share,
        serving=out.serving,
        abstention=out.abstention,
        endpoint=out.endpoint,
        rag=out.rag,
        distill=out.distill,
        extract=out.extract,
        hardware=hardware.detect(),
    )


def finish(ctx: PilotContext, out: Outcome) -> PilotMetrics:
    """The one place a Measurement is assembled, for every pilot kind."""
    peak = 0.0 if ctx.device == ENDPOINT else peak_memory_mib(ctx.device)
    rows = scored_rows(ctx, out)
    if rows < MIN_HOLDOUT:
        ctx.emit(
            "note",
            message=f"scored on {rows} holdout rows: under {MIN_HOLDOUT}, too few for the "
            "advice to act on (a larger holdout narrows the interval)",
        )
    m = _measurement(ctx, out, rows, peak)
    return PilotMetrics(
        run_dir=str(ctx.run_dir),
        measurement=m,
        training=out.training,
        forgetting=out.forgetting,
        fidelity=run_fidelity(ctx.run_dir, m.wall_seconds, peak, m.tokens_per_second),
        learning_curve=out.curve,
        phase_seconds=dict(ctx.phases),
        teacher=out.teacher,
        student=out.student,
        agreement=out.agreement,
        samples=out.samples,
        holdout_fingerprint=fingerprint(ctx.hold),
        failed_rows=out.failed_rows,
        correct=dict(out.correct),
    )
