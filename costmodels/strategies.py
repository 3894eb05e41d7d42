"""Cost components of every strategy: one-time, fixed monthly, per request, upkeep.

Monthly cost at volume V is
    fixed + api_per_request * V + max(gpu_floor, gpu_per_request * V)   (+ retrains)
Every number may be a float or a numpy array of Monte Carlo draws; the arithmetic is the
same, so the deterministic estimate and the simulation share one code path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.scenario import Scenario
from core.vocab import ENCODER_TASKS, STRATEGIES
from costmodels.assumptions import CostAssumptions, nominal
from costmodels.compute import training_seconds
from costmodels.plan import planned_runs, seq_len_for, training_usd
from costmodels.prices import ModelPrice, PriceCatalog

HOURS_PER_MONTH = 730.0
RAG_STRATEGIES = ("rag", "fine_tune_rag", "distill_rag")
TEACHER_STRATEGIES = ("distill", "distill_rag", "cascade", "fine_tune_then_distill")


@dataclass(frozen=True)
class Components:
    one_time_parts: dict[str, np.ndarray | float]  # people, training, teacher, labelling
    fixed_monthly: np.ndarray | float
    api_per_request: np.ndarray | float
    gpu_per_request: np.ndarray | float
    gpu_floor_monthly: np.ndarray | float
    retrain_cost: np.ndarray | float
    retrain_every_months: int  # 0: never retrained
    after: Components | None = None
    """The components from `after_month` on, when a path closes within the horizon (the
    retrain at that month and every month after are priced through the open path)."""
    after_month: int = 0
    path_note: str = ""
    """Why this strategy is priced through another path than its deployment's, if so."""

    def at(self, month: int) -> Components:
        """The components that price `month` (the open path once a closed one is left)."""
        return self.after if self.after is not None and month >= self.after_month else self

    @property
    def one_time(self):
        return sum(self.one_time_parts.values())

    def monthly(self, volume, include_upkeep: bool = True):
        """Steady-state monthly cost at `volume` requests/month (upkeep spread evenly)."""
        cost = (
            self.fixed_monthly
            + self.api_per_request * volume
            + np.maximum(self.gpu_floor_monthly, self.gpu_per_request * volume)
        )
        if include_upkeep and self.retrain_every_months:
            cost = cost + self.retrain_cost / self.retrain_every_months
        return cost


def usd_per_token(price: ModelPrice, kind: str, batch: bool = False) -> float:
    per_1m = getattr(price, f"usd_per_1m_{'batch_' if batch else ''}{kind}_tokens")
    if per_1m is None:  # no batch price listed: pay the standard price
        per_1m = getattr(price, f"usd_per_1m_{kind}_tokens")
    return float(per_1m) / 1e6


def api_call_usd(
    price: ModelPrice, input_tokens, output_tokens, cached_tokens=0.0, batch: bool = False
):
    cached = price.usd_per_1m_cached_input_tokens
    cached_rate = float(cached) / 1e6 if cached is not None else usd_per_token(price, "input")
    return (
        usd_per_token(price, "input", batch) * input_tokens
        + cached_rate * cached_tokens
        + usd_per_token(price, "output", batch) * output_tokens
    )


def retrain_interval_months(s: Scenario, a: CostAssumptions, strategy: str) -> int:
    """Trained models are retrained as inputs drift; those that bake in facts also when the
    facts change. RAG variants keep facts in the index instead."""
    if strategy in ("prompt", "rag"):
        return 0
    if a.retrain_every_months is not None:
        return max(1, round(a.retrain_every_months))
    months = a.input_drift_retrain_months
    if strategy not in RAG_STRATEGIES:
        months = min(months, s.facts_change_interval_days / 30.0)
    return max(1, round(months))


def _measured(value: float | None, assumed):
    return assumed if value is None else value


def serve_classifier(s: Scenario, a: CostAssumptions, per_core, util) -> tuple:
    """(api, compute per request, compute floor) of a small encoder classifier on CPU cores:
    it answers with a label, so it needs neither GPUs nor retrieved context. Whatever the
    deployment, it runs on the team's own cores (on the users' devices: free). Measured
    throughput is at full load, so it is divided by the utilization, as for GPUs."""
    if s.deployment == "edge_offline":
        return 0.0, 0.0, 0.0
    core_usd_per_s = a.cpu_core_usd_per_hour / 3600
    return (
        0.0,
        core_usd_per_s / per_core / util,
        a.min_cpu_cores_serving * a.cpu_core_usd_per_hour * HOURS_PER_MONTH,
    )


def _student_price(cat: PriceCatalog, a: CostAssumptions) -> tuple[ModelPrice, float]:
    """Prices of the vendor-fine-tuned small model, and its training USD per token."""
    base = cat.model(a.small_vendor_model, "costs.small_vendor_model")
    ft = cat.fine_tune_price(a.small_vendor_model)
    if ft is None:
        raise ValueError(f"no fine-tuning price for {a.small_vendor_model}")
    if ft.fine_tuned_model in cat.models:
        return cat.models[ft.fine_tuned_model], float(ft.usd_per_1m_training_tokens) / 1e6
    m = ft.inference_markup
    marked = base.model_copy(
        update={
            "usd_per_1m_input_tokens": base.usd_per_1m_input_tokens * m,
            "usd_per_1m_output_tokens": base.usd_per_1m_output_tokens * m,
            "usd_per_1m_cached_input_tokens": None,
        }
    )
    return marked, float(ft.usd_per_1m_training_tokens) / 1e6


def tokens_per_example(s: Scenario, a: CostAssumptions) -> float:
    """Tokens of one training example: the instructions a tuned model still needs, the
    input and the answer."""
    kept = s.instruction_tokens_per_request * a.instruction_tokens_kept_fraction
    return kept + s.input_tokens_per_request + s.output_tokens_per_request


def training_plans(s: Scenario, a: CostAssumptions, cat: PriceCatalog):
    """The self-hosted training runs the costs price, each with its GPU plan."""
    student, ft = a.student_params_billions, max(1, s.examples_total)
    runs = [
        (
            "the fine-tuned model",
            ("fine_tune", "fine_tune_constrained", "fine_tune_rag"),
            student,
            ft,
        ),
        (
            "the distilled student",
            ("distill", "distill_rag", "cascade"),
            student,
            a.distill_examples,
        ),
        ("the fine-tuned teacher", ("fine_tune_then_distill",), a.teacher_params_billions, ft),
    ]
    return planned_runs(runs, a, cat.gpu(a.gpu, "costs.gpu"), tokens_per_example(s, a))


def strategy_components(
    s: Scenario,
    a: CostAssumptions,
    cat: PriceCatalog,
    v: dict[str, np.ndarray | float] | None = None,
) -> dict[str, Components]:
    """Components of every strategy. `v` overrides uncertain inputs (e.g. with draws)."""
    v = v or {}
    x = lambda name: v.get(name, nominal(getattr(a, name)))  # noqa: E731
    frontier = cat.model(a.measured_prompt_model or s.prompted_model, "capable_model")
    teacher_model = cat.model(
        a.teacher_model or a.measured_prompt_model or s.prompted_model, "costs.teacher_model"
    )
    embed = cat.model(a.embedding_model, "costs.embedding_model")
    gpu = cat.gpu(a.gpu, "costs.gpu")
    rate, pm = x("engineering_usd_per_hour"), x("price_multiplier")
    gpu_hourly = float(gpu.usd_per_hour)
    instr, inp, out = (
        s.instruction_tokens_per_request,
        s.input_tokens_per_request,
        s.output_tokens_per_request,
    )
    ctx = x("retrieved_context_tokens")
    cached = instr * a.cached_instruction_fraction

    # Prompting the frontier model, with and without retrieved context; a pilot's measured
    # tokens per request (the prompt as really sent) replace the scenario's when known.
    prompt_req = pm * api_call_usd(
        frontier,
        _measured(a.prompt_input_tokens_per_request, instr - cached + inp),
        _measured(a.prompt_output_tokens_per_request, out),
        cached,
    )
    rag_req = pm * (
        api_call_usd(
            frontier,
            _measured(a.rag_input_tokens_per_request, instr - cached + inp + ctx),
            _measured(a.rag_output_tokens_per_request, out),
            cached,
        )
        + usd_per_token(embed, "input") * inp
    )
    rag_fixed = a.vector_store_usd_per_month + pm * usd_per_token(embed, "input") * (
        a.index_refresh_tokens_per_month
    )

    # A small tuned model needs only part of the instructions.
    s_in = instr * a.instruction_tokens_kept_fraction + inp
    vendor = s.deployment == "vendor_api"
    tok_per_example = tokens_per_example(s, a)
    if vendor:
        student, train_usd_per_token = _student_price(cat, a)

        def serve(extra_in):  # -> (api, gpu per request, gpu floor)
            return pm * api_call_usd(student, s_in + extra_in, out), 0.0, 0.0

        def train(n_examples, params_b=None):
            return n_examples * tok_per_example * a.training_epochs * train_usd_per_token
    else:
        tps, util = x("serving_tokens_per_second"), x("gpu_utilization")

        def serve(extra_in):
            if s.deployment == "edge_offline":  # runs on the users' own devices
                return 0.0, 0.0, 0.0
            gpu_seconds = (out + (s_in + extra_in) / a.prefill_speedup) / tps / util
            return (
                0.0,
                gpu_seconds * gpu_hourly / 3600,
                a.min_gpus_serving * gpu_hourly * (HOURS_PER_MONTH),
            )

        seq_len = seq_len_for(tok_per_example)

        def train(n_examples, params_b=a.student_params_billions):  # on the plan's GPUs
            tokens = n_examples * tok_per_example * a.training_epochs
            return training_usd(params_b, tokens, a, gpu, seq_len, x)

    n_ft = max(1, s.examples_total)
    labelling = s.labelled_examples_obtainable * a.labelling_usd_per_example
    teacher = (
        a.distill_examples
        * pm
        * api_call_usd(
            teacher_model,
            _measured(a.teacher_input_tokens_per_request, instr + inp),
            _measured(a.teacher_output_tokens_per_request, out),
            batch=a.teacher_uses_batch_api,
        )
    )
    rh = x("retrain_hours")

    def build(strategy, parts, retrain_extra, api, gpu_req, floor, fixed=0.0):
        every = retrain_interval_months(s, a, strategy)
        people = {"people": (a.hours(strategy) + a.evaluation_hours) * rate}
        return Components(
            one_time_parts=people | {k: v for k, v in parts.items() if np.any(v)},
            fixed_monthly=fixed,
            api_per_request=api,
            gpu_per_request=gpu_req,
            gpu_floor_monthly=floor,
            retrain_cost=rh * rate + retrain_extra if every else 0.0,
            retrain_every_months=every,
        )

    plain, with_ctx = serve(0.0), serve(ctx)
    # a cascade escalates to the teacher (by default the model called today)
    escalated_req = (
        prompt_req
        if teacher_model.name == frontier.name
        else pm * api_call_usd(teacher_model, instr - cached + inp, out, cached)
    )
    held = plain  # a student whose decoding is held to the format: no invalid answers
    if a.invalid_output_share is not None:  # each invalid free answer is asked again above
        retry = x("invalid_output_share") * escalated_req
        plain, with_ctx = (plain[0] + retry, *plain[1:]), (with_ctx[0] + retry, *with_ctx[1:])
    if a.classifier_requests_per_second_per_core is not None and s.task_kind in ENCODER_TASKS:
        per_core = x("classifier_requests_per_second_per_core")
        plain = held = serve_classifier(s, a, per_core, x("gpu_utilization"))
    embed_req = pm * usd_per_token(embed, "input") * inp
    ft_once = {"training": train(n_ft), "labelling": labelling}
    distill_once = {"teacher": teacher, "training": train(a.distill_examples)}
    retrain_distill = teacher + train(a.distill_examples)
    out_ = {
        "prompt": build("prompt", {}, 0.0, prompt_req, 0.0, 0.0),
        "rag": build("rag", {}, 0.0, rag_req, 0.0, 0.0, rag_fixed),
        "fine_tune": build("fine_tune", ft_once, train(n_ft), *plain),
        "fine_tune_constrained": build("fine_tune_constrained", ft_once, train(n_ft), *held),
        "fine_tune_rag": build(
            "fine_tune_rag", ft_once, train(n_ft), with_ctx[0] + embed_req, *with_ctx[1:], rag_fixed
        ),
        "distill": build("distill", distill_once, retrain_distill, *plain),
        "distill_rag": build(
            "distill_rag",
            distill_once,
            retrain_distill,
            with_ctx[0] + embed_req,
            *with_ctx[1:],
            rag_fixed,
        ),
        "cascade": build(
            "cascade",
            distill_once,
            retrain_distill,
            plain[0] + x("escalation_rate") * escalated_req,
            *plain[1:],
        ),
    }
    # Fine-tune a larger teacher on the examples, let it label inputs, train the student.
    big = train(n_ft, a.teacher_params_billions) if not vendor else train(n_ft)
    gen = (
        0.0
        if vendor
        else training_seconds(
            2 * a.teacher_params_billions * 1e9 * a.distill_examples * tok_per_example,
            gpu.peak_bf16_tflops,
            x("training_mfu"),
            "full",
        )
        / 3600
        * gpu_hourly
    )
    ftd = {
        "training": big + train(a.distill_examples),
        "teacher": gen + (teacher if vendor else 0.0),
        "labelling": labelling,
    }
    out_["fine_tune_then_distill"] = build(
        "fine_tune_then_distill", ftd, ftd["training"] + ftd["teacher"], *plain
    )
    return {k: out_[k] for k in STRATEGIES}
