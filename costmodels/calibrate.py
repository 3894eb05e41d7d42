"""Calibration: pilot measurements replace assumptions.

`calibrate(scenario, assumptions, measurements, catalog)` returns new assumptions and a
note per change, each quoting the measured number:
- training: a pilot's measured tokens/s on the cost model's GPU gives the achieved MFU
  (FLOPs per token x tokens/s / peak), which replaces the assumed MFU range; on any other
  device the full training run is extrapolated on that device, and the GPU assumption
  stands (a CPU's rate says nothing about an H100's);
- serving: measured batched decoding tokens/s on that GPU, scaled from the pilot model's
  size to the student's (decoding is memory-bound: time per token grows with the bytes of
  weights read), replaces the assumed serving throughput;
- classifier serving: a classifier pilot's measured CPU requests/s per core prices the
  student of a classification or routing task on CPU cores instead of GPUs;
- cascade: a classifier's measured escalated share at its threshold (picked on the
  training split), else 1 - measured accuracy of the best trained student (with its
  interval), is the share of requests it must escalate.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.labels import label
from core.measurement import Measurement, wilson
from core.scenario import Scenario
from core.vocab import CLASSIFIER_TASKS, ENDPOINT_MEASURES, METHODS, TRAINING
from costmodels.assumptions import BOUNDS, CostAssumptions, Range, nominal
from costmodels.compute import training_flops
from costmodels.extraction import invalid_outputs
from costmodels.prices import PriceCatalog
from costmodels.strategies import HOURS_PER_MONTH, api_call_usd

SPREAD = 0.15  # a single measured rate becomes a +-15% range (run-to-run variation)


class Calibration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    assumptions: CostAssumptions
    notes: tuple[str, ...]
    """One line per assumption a measurement replaced or could not replace, and why."""
    measurements: tuple[str, ...]
    """Run ids used."""


def _around(x: float, name: str) -> Range:
    lo, hi = BOUNDS[name]
    return Range(
        low=max(lo, x * (1 - SPREAD)), high=min(hi, x * (1 + SPREAD)), mode=min(hi, max(lo, x))
    )


def matching_gpu(device_name: str, catalog: PriceCatalog) -> str | None:
    """The catalog GPU named inside a device name ('NVIDIA H100 80GB HBM3' -> 'H100')."""
    up = device_name.upper()
    hits = [g.name for g in catalog.gpus if g.name.upper() in up]
    return max(hits, key=len, default=None)


def _training(s: Scenario, a: CostAssumptions, m: Measurement, cat: PriceCatalog) -> tuple:
    flops_per_s = training_flops(m.model_params, m.tokens_per_second, METHODS[m.method].compute)
    tokens = s.examples_total * (s.input_tokens_per_request + s.output_tokens_per_request)
    tokens *= a.training_epochs
    gpu = matching_gpu(m.device_name, cat)
    if gpu is not None and gpu.lower() == a.gpu.lower():
        mfu = flops_per_s / (cat.gpu(gpu).peak_bf16_tflops * 1e12)
        note = (
            f"Training efficiency: the {m.method} pilot {m.run_id} measured "
            f"{m.tokens_per_second:,.0f} tokens/s on {m.device_name}, {mfu:.1%} of the GPU's "
            "peak (model FLOPs utilisation, MFU); it "
            f"replaces the assumed {nominal(a.training_mfu):.0%} for {gpu}."
        )
        return {"training_mfu": _around(mfu, "training_mfu")}, note
    hours = tokens / max(m.tokens_per_second, 1e-9) / 3600
    note = (
        f"Training: the {m.method} pilot {m.run_id} measured {m.tokens_per_second:,.0f} "
        f"tokens/s on {m.device_name or m.device}; at that rate the full run "
        f"({tokens:,.0f} tokens, {s.examples_total:,} examples x {a.training_epochs} epochs, "
        f"{m.model_params / 1e6:,.0f}M parameters) would take {hours:,.1f} hours there. The "
        f"cost model prices training on {a.gpu}, so its assumed training efficiency stands."
    )
    return {}, note


def _serving(a: CostAssumptions, m: Measurement, cat: PriceCatalog) -> tuple:
    gpu = matching_gpu(m.device_name, cat)
    if gpu is None or gpu.lower() != a.gpu.lower() or not m.generation_tokens_per_second:
        return {}, None
    scaled = m.generation_tokens_per_second * m.model_params / (a.student_params_billions * 1e9)
    note = (
        f"Serving: {m.generation_tokens_per_second:,.0f} tokens/s measured decoding the "
        f"holdout on {gpu} with {m.model_params / 1e6:,.0f}M parameters, scaled to the "
        f"{a.student_params_billions:g}B student: {scaled:,.0f} tokens/s."
    )
    return {"serving_tokens_per_second": _around(scaled, "serving_tokens_per_second")}, note


def _classifier_serving(s: Scenario, a: CostAssumptions, m: Measurement) -> tuple:
    """A classifier's (or, for extraction, a span tagger's) CPU throughput prices the
    student on CPU cores."""
    if m.serving is None:
        return {}, None
    tagger = METHODS[m.method].flow == "extract"
    sp, kind = m.serving, "span tagger" if tagger else "classifier"
    tasks = {"extract"} if tagger else CLASSIFIER_TASKS
    if s.task_kind not in tasks:
        return {}, (
            f"Serving: the {kind} pilot {m.run_id} serves {sp.requests_per_second:,.0f} "
            f"requests/s on a CPU, but this scenario's task is to "
            f"{label(s.task_kind).lower()}, which a {kind} cannot do; the student stays "
            "a decoder on GPUs."
        )
    per_core = sp.requests_per_second_per_core
    rate = _around(per_core, "classifier_requests_per_second_per_core")
    usd_per_1m = a.cpu_core_usd_per_hour / 3600 / per_core / nominal(a.gpu_utilization) * 1e6
    floor = a.min_cpu_cores_serving * a.cpu_core_usd_per_hour * HOURS_PER_MONTH
    note = (
        f"Serving: the {kind} pilot {m.run_id} served {sp.requests_per_second:,.0f} "
        f"requests/s with {sp.threads} CPU threads on {m.device_name or m.device} "
        f"({per_core:,.0f} per core; {sp.latency_p50_ms:,.1f} ms median, "
        f"{sp.latency_p95_ms:,.1f} ms p95 at batch 1). The fine-tuned and distilled "
        f"students are priced as that {kind} on CPU cores at "
        f"${a.cpu_core_usd_per_hour:g} per core-hour: ${usd_per_1m:,.2f} per million "
        f"requests, at least {a.min_cpu_cores_serving} cores (${floor:,.0f} a month), "
        "instead of a decoder on GPUs."
    )
    return {"classifier_requests_per_second_per_core": rate}, note


def _endpoint(s: Scenario, a: CostAssumptions, m: Measurement, cat: PriceCatalog) -> tuple:
    """A prompt or retrieval pilot through an endpoint: its measured tokens per request
    replace the scenario's, and a catalog model it asked becomes the capable model."""
    e = m.endpoint
    if e is None or m.method not in ENDPOINT_MEASURES:
        return {}, None
    kind = ENDPOINT_MEASURES[m.method]
    update: dict = {
        f"{kind}_input_tokens_per_request": e.input_tokens_per_request,
        f"{kind}_output_tokens_per_request": e.output_tokens_per_request,
    }
    assumed_in = s.instruction_tokens_per_request + s.input_tokens_per_request
    which = ""
    priced = a.measured_prompt_model or s.prompted_model
    if e.model in cat.models and e.model != priced:
        update["measured_prompt_model"] = e.model
        which = f" {e.model} replaces {priced}, the scenario's model, in the prompt's price."
    q = m.quality
    per_correct = f", ${e.usd_per_correct:.5f} per correct answer" if e.usd_per_correct else ""
    instr = (
        f"; the instruction alone is {e.instruction_tokens:,} tokens, the part fine-tuning removes"
        if e.instruction_tokens is not None
        else ""
    )
    note = (
        f"Prompting: the {m.method} pilot {m.run_id} asked {e.model}: {q.metric} {q.text()} "
        f"at ${e.usd_per_request:.5f} a request{per_correct} ({e.input_tokens_per_request:,.0f} "
        f"input and {e.output_tokens_per_request:,.0f} output tokens per request, measured; "
        f"the scenario assumed {assumed_in:,} and {s.output_tokens_per_request:,}{instr}). The "
        f"{'prompt' if kind == 'prompt' else 'RAG'} strategy is priced with the measured "
        f"tokens.{which}"
    )
    return update, note


def _documents(a: CostAssumptions, m: Measurement, cat: PriceCatalog) -> tuple:
    """A pilot over the team's documents: its measured context tokens per request replace
    the assumed retrieved context of every RAG strategy, and its corpus prices a full
    re-index at the embedding model's rate."""
    r = m.rag
    if r is None or r.context_tokens_per_request <= 0:
        return {}, None
    embed = cat.models.get(a.embedding_model)
    full = (
        f" Re-embedding the whole corpus ({r.corpus_tokens:,} tokens) costs "
        f"${r.corpus_tokens * float(embed.usd_per_1m_input_tokens) / 1e6:,.4f} at "
        f"{a.embedding_model}'s price."
        if embed and r.corpus_tokens
        else ""
    )
    rag_q = r.answers.get("rag")
    quality = f"; RAG with the pilot's model reached F1 {rag_q.f1.text()}" if rag_q else ""
    note = (
        f"Retrieval: the {m.method} pilot {m.run_id} put {r.context_tokens_per_request:,.0f} "
        f"tokens of retrieved passages into each request (top {r.top_k} of {r.chunks:,} "
        f"passages from {r.documents:,} documents; the assumption was "
        f"{nominal(a.retrieved_context_tokens):,.0f}){quality}. The index built in "
        f"{r.index_build_seconds:,.1f} s ({r.documents_per_second:,.0f} documents/s on "
        f"{m.device_name or m.device}).{full}"
    )
    return {"retrieved_context_tokens": round(r.context_tokens_per_request, 1)}, note


def _distillation(s: Scenario, a: CostAssumptions, m: Measurement, cat: PriceCatalog) -> tuple:
    """A distillation pilot: the teacher-labelled inputs its student needs to reach the
    agreement bar replace the assumed count, and an endpoint teacher's measured tokens per
    labelling call replace the scenario's; the note prices the calls they imply."""
    d = m.distill
    if d is None:
        return {}, None
    sizes = ", ".join(f"{x.agreement.value:.1%} at {x.inputs:,}" for x in d.sizes)
    text = (
        f"Distillation: the {METHODS[m.method].label} pilot {m.run_id} (teacher {d.teacher}) "
        f"agreed with its teacher {sizes} teacher-labelled inputs"
    )
    if d.teacher_accuracy is not None:
        text += (
            f"; on gold labels the teacher was right {d.teacher_accuracy.text()} and the "
            f"student ({d.student}) {m.quality.text()}"
        )
    update: dict = {}
    if d.inputs_needed is not None:
        update["distill_examples"] = max(1, d.inputs_needed)
        text += (
            f". About {d.inputs_needed:,} teacher-labelled inputs reach the "
            f"{d.agreement_bar:.0%} agreement bar; they replace the assumed {a.distill_examples:,}"
        )
    else:
        text += (
            f". {d.agreement_bar:.0%} agreement is not reachable with this student (its curve "
            f"levels off near {d.curve_top:.1%}); the assumed {a.distill_examples:,} inputs stand"
        )
    if d.teacher_input_tokens_per_request is not None:
        update["teacher_input_tokens_per_request"] = d.teacher_input_tokens_per_request
        update["teacher_output_tokens_per_request"] = d.teacher_output_tokens_per_request
    teacher = cat.model(a.teacher_model or a.measured_prompt_model or s.prompted_model, "teacher")
    tok_in = update.get("teacher_input_tokens_per_request") or (
        s.instruction_tokens_per_request + s.input_tokens_per_request
    )
    tok_out = update.get("teacher_output_tokens_per_request") or s.output_tokens_per_request
    per_call = api_call_usd(teacher, tok_in, tok_out, batch=a.teacher_uses_batch_api)
    per_call *= nominal(a.price_multiplier)
    n = update.get("distill_examples", a.distill_examples)
    measured = "measured" if d.teacher_input_tokens_per_request is not None else "the scenario's"
    text += (
        f"; {teacher.name} labels {n:,} inputs for ${n * per_call:,.2f} once (${per_call:.6f} a "
        f"call at {tok_in:,.0f} input and {tok_out:,.0f} output tokens, {measured}"
        + (", through the batch API" if a.teacher_uses_batch_api else "")
        + ")."
    )
    if d.teacher_kind != "endpoint":
        kind = d.teacher_kind.replace("_", " ")
        text += f" The pilot's teacher was a {kind}, not {teacher.name}."
    return update, text


def _escalation(trained: list[Measurement]) -> tuple:
    abstaining = [m for m in trained if m.abstention is not None]
    if abstaining:  # a measured threshold beats "every error is escalated"
        return _measured_escalation(max(abstaining, key=lambda m: m.quality.value))
    scored = [m for m in trained if m.quality.metric == "accuracy"]
    best = max(scored, key=lambda m: m.quality.value, default=None)
    if best is None:
        return {}, None
    q = best.quality
    rate = Range(low=1 - q.ci_high, high=1 - q.ci_low, mode=1 - q.value)
    note = (
        f"Cascade: the {best.method} student ({best.run_id}) is right {q.text()}, so it "
        f"escalates {rate.mode:.1%} [{rate.low:.1%}, {rate.high:.1%}] of requests."
    )
    return {"escalation_rate": rate}, note


def _measured_escalation(m: Measurement) -> tuple:
    a = m.abstention
    n = m.holdout_examples
    lo, hi = wilson(round(a.escalated_share * n), n)
    # the interval of the rounded count, widened to hold the share itself (1.0 against a
    # Wilson bound of 0.9999999999 broke the range on a small holdout)
    lo, hi = min(lo, a.escalated_share), max(hi, a.escalated_share)
    rate = Range(low=lo, high=hi, mode=a.escalated_share)
    caught = (
        f"; it caught {a.out_of_scope_caught:.0%} of the {a.out_of_scope_rows} out-of-scope "
        "requests"
        if a.out_of_scope_caught is not None
        else ""
    )
    note = (
        f"Cascade: the classifier pilot {m.run_id} escalates {rate.mode:.1%} [{lo:.1%}, "
        f"{hi:.1%}] of requests below confidence {a.threshold:.2f} (picked on the training "
        f"split for {a.target_accuracy:.0%} accuracy) and is right on {a.answered.text()} "
        f"of those it answers{caught}."
    )
    return {"escalation_rate": rate}, note


def calibrate(
    scenario: Scenario,
    assumptions: CostAssumptions,
    measurements: list[Measurement],
    catalog: PriceCatalog,
) -> Calibration:
    trained = [m for m in measurements if m.method in TRAINING and m.tokens_per_second > 0]
    changes: dict = {}
    notes: list[str] = []
    # the fastest run per device stands for what the device can do
    for m in sorted(trained, key=lambda m: m.tokens_per_second):
        for update, note in (
            _training(scenario, assumptions, m, catalog),
            _serving(assumptions, m, catalog),
            _classifier_serving(scenario, assumptions, m),
        ):
            changes |= update
            if note:
                notes.append(note)
    update, note = _escalation(trained)
    changes |= update
    notes += [note] if note else []
    for m in measurements:
        for update, note in (
            _endpoint(scenario, assumptions, m, catalog),
            _documents(assumptions, m, catalog),
            _distillation(scenario, assumptions, m, catalog),
            invalid_outputs(scenario, m),
        ):
            changes |= update
            notes += [note] if note else []
    if not measurements:
        notes.append("No pilot measurements: every assumption is a prior.")
    elif not trained and not any(m.endpoint or m.rag for m in measurements):
        notes.append("Only prompt/retrieval pilots: they inform the advice, not the costs.")
    return Calibration(
        assumptions=assumptions.model_copy(update=changes),
        notes=tuple(notes),
        measurements=tuple(m.run_id for m in measurements),
    )
