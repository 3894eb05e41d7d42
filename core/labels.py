"""Human labels for every identifier a reader sees: field names and choice values.

One map, used by the app's widgets, tables and charts, the HTML report and the XLSX
summary. Field labels come from the field name with its unit suffix turned into words;
the few that read badly that way are spelled out.
"""

from __future__ import annotations

from core.vocab import METHODS, STRATEGY_LABELS

VALUE_LABELS: dict[str, str] = {
    # task kinds
    "classify": "Classify",
    "extract": "Extract fields",
    "route": "Route requests",
    "rank_search": "Rank or search",
    "summarize_generate": "Summarize or generate text",
    "structured_output_code": "Structured output or code",
    "chat_agent": "Chat or agent",
    # gaps
    "missing_knowledge": "Missing knowledge",
    "behaviour_format_style": "Behaviour, format or style",
    "cost_latency_at_volume": "Cost or latency at volume",
    # deployment
    "vendor_api": "A vendor's API",
    "own_cloud_gpu": "Our own cloud GPUs",
    "on_prem_private": "On-premises (private data)",
    "edge_offline": "Edge, mobile or offline device",
    # task definition
    "stable": "Stable",
    "evolving": "Still evolving",
    "one_off": "One-off",
    # experience
    "none": "No experience yet",
    "some": "Some",
    "strong": "Strong",
    # pilot baselines
    "zero_shot": "Zero-shot",
    "few_shot": "Few-shot prompting",
    "retrieval_few_shot": "Retrieval + few-shot",
    "nearest_neighbour_label": "Nearest example's label",
    "linear_probe": "Linear probe on embeddings",
    # verdicts
    "recommended": "Recommended",
    "viable": "Meets your needs",
    "not_advised": "Not advised",
} | STRATEGY_LABELS

FIELD_LABELS: dict[str, str] = {
    "name": "Scenario name",
    "gaps": "Where a capable model falls short",
    "task_definition": "Task definition",
    "facts_change_interval_days": "Facts change every (days)",
    "labelled_examples_available": "Labelled examples today",
    "labelled_examples_obtainable": "Labelled examples obtainable",
    "label_classes": "Number of labels (classification)",
    "frontier_outputs_good": "A frontier model's outputs are good enough",
    "requests_per_month": "Requests per month",
    "monthly_growth_pct": "Monthly growth (%)",
    "instruction_tokens_per_request": "Instruction tokens per request",
    "quality_bar_pct": "Quality bar (%)",
    "latency_target_ms": "Latency target (ms)",
    "strict_output_format": "Strict output format required",
    "fields_in_text": "Field values are written in the input (extraction)",
    "base_model_is_distilled": "The base model is itself distilled",
    "horizon_months": "Planning horizon (months)",
    "team_ml_experience": "Team's ML experience",
    "volume_multiplier": "Volume forecast (x)",
    "price_multiplier": "API prices (x today's)",
    "engineering_usd_per_hour": "Engineering rate (USD/hour)",
    "retrain_hours": "Hours per retrain",
    "gpu_utilization": "GPU utilization",
    "training_mfu": "Training efficiency (share of the GPU's peak)",
    "escalation_rate": "Cascade escalation rate",
    "serving_tokens_per_second": "Serving tokens/s per GPU",
    "retrieved_context_tokens": "Retrieved context tokens",
    "capable_model": "Model you call today",
    "teacher_model": "Distillation teacher",
    "starts_on": "Month 1 starts on",
    "cpu_core_usd_per_hour": "CPU core (USD per hour)",
    "train.lr": "Learning rate",
}
# Column names of the cost report's tables, for XLSX headers and the HTML report.
COLUMN_LABELS: dict[str, str] = {
    "strategy": "Strategy",
    "one_time_usd": "One-time (USD)",
    "running_usd": "Running costs over the horizon (USD)",
    "retrains_usd": "Retrains over the horizon (USD)",
    "monthly_usd": "Running cost, month 1 (USD)",
    "per_request_usd": "Per request, month 1 (USD)",
    "all_in_per_request_usd": "All-in per request (USD)",
    "tco_usd": "Total over the horizon (USD)",
    "baseline": "Compared with",
    "break_even_month": "Pays back in month",
    "path_note": "Priced through another path",
    "one_time_people_usd": "One-time: people (USD)",
    "one_time_training_usd": "One-time: training (USD)",
    "one_time_teacher_usd": "One-time: teacher labels (USD)",
    "one_time_labelling_usd": "One-time: labelling (USD)",
    "month": "Month (from 0)",
    "requests": "Requests",
    "retrain_usd": "Retrain (USD)",
    "cost_usd": "Cost of the month (USD)",
    "cumulative_usd": "Cumulative (USD)",
    "a": "Strategy A",
    "b": "Strategy B",
    "requests_per_month": "Break-even requests per month",
    "assumption": "Assumption",
    "value": "Value",
    "low": "Low",
    "high": "High",
    "source": "Source",
}
UNITS = {
    "pct": "%",
    "ms": "ms",
    "days": "days",
    "months": "months",
    "mib": "MiB",
    "billions": "billions",
    "seconds": "s",
}


STOPPED_WORDS = {"done": "ran its plan", "steps": "step limit", "minutes": "time limit"}
"""Why a pilot's training ended, in words."""


def label(value: object) -> str:
    """A choice value in words ("own_cloud_gpu" -> "Our own cloud GPUs")."""
    return VALUE_LABELS.get(str(value), str(value).replace("_", " "))


def method_label(method: str) -> str:
    """A pilot method as a picker shows it ("LoRA", "Sequence distillation")."""
    text = METHODS[method].label
    return text[0].upper() + text[1:]


WORDS = {"gpus": "GPUs", "gpu": "GPU", "api": "API", "mfu": "MFU", "usd": "USD", "lr": "LR"}


def field_label(name: str) -> str:
    """A field name in words, unit in brackets ("max_minutes" -> "Max minutes",
    "labelling_usd_per_example" -> "Labelling (USD per example)")."""
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    words = name.split(".")[-1].split("_")
    unit = None
    if "usd" in words[1:]:
        at = words.index("usd")
        words, unit = words[:at], " ".join(["USD", *words[at + 1 :]])
    elif len(words) > 1 and words[-1] in UNITS:
        words, unit = words[:-1], UNITS[words[-1]]
    text = " ".join(WORDS.get(w, w) for w in words)
    text = text[0].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def column_label(name: str) -> str:
    """A report column in words ("tco_usd" -> "Total over the horizon (USD)")."""
    return COLUMN_LABELS.get(name) or field_label(name)


def assumption_label(name: str) -> str:
    """An assumption's name in words, per-strategy hours included
    ("engineering_hours.prompt" -> "Engineering hours: Prompt a capable model")."""
    if "." in name:
        head, key = name.split(".", 1)
        return f"{field_label(head)}: {label(key)}"
    return field_label(name) if "_" in name else name[0].upper() + name[1:]


def money(x: float) -> str:
    """Every amount of money a reader sees, to the cent ($12,575.31): the one rounding
    rule, so that the parts shown always add up to the totals shown beside them."""
    x = float(x)
    sign, x = ("-" if x < -0.005 else ""), abs(x)
    return f"{sign}${x:,.2f}"


def unit_price(x: float) -> str:
    """A price per request: three significant figures ($0.00251, $1.20)."""
    x = float(x)
    return f"${x:,.2f}" if x >= 1 else f"${x:.3g}"


def volume(x: float) -> str:
    """Requests to three significant figures: 1,150,000."""
    return f"{float(f'{x:.3g}'):,.0f}"
