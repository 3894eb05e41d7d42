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
    "none": "None",
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
    "base_model_is_distilled": "The base model is itself distilled",
    "horizon_months": "Planning horizon (months)",
    "team_ml_experience": "Team's ML experience",
    "volume_multiplier": "Volume forecast (x)",
    "price_multiplier": "API prices (x today's)",
    "engineering_usd_per_hour": "Engineering rate (USD/hour)",
    "retrain_hours": "Hours per retrain",
    "gpu_utilization": "GPU utilization",
    "training_mfu": "Training MFU",
    "escalation_rate": "Cascade escalation rate",
    "serving_tokens_per_second": "Serving tokens/s per GPU",
    "retrieved_context_tokens": "Retrieved context tokens",
    "train.lr": "Learning rate",
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


def money(x: float) -> str:
    """$1,234 below ten thousand; three significant figures above ($12,600, $1.23M)."""
    x = float(x)
    sign, x = ("-" if x < 0 else ""), abs(x)
    if x >= 1e6:
        return f"{sign}${x / 1e6:,.3g}M" if x < 1e9 else f"{sign}${x / 1e9:,.3g}B"
    if x >= 1e4:
        return f"{sign}${float(f'{x:.3g}'):,.0f}"
    return f"{sign}${x:,.0f}"


def unit_price(x: float) -> str:
    """A price per request: three significant figures ($0.00251, $1.20)."""
    x = float(x)
    return f"${x:,.2f}" if x >= 1 else f"${x:.3g}"


def volume(x: float) -> str:
    """Requests to three significant figures: 1,150,000."""
    return f"{float(f'{x:.3g}'):,.0f}"
