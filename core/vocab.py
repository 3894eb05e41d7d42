"""The one vocabulary: strategies, pilot methods, and which pilot measures which strategy.

Defined here once and imported downward by advisor/, costmodels/, trainers/, the CLI and
the app. Adding a method is one row in METHODS plus one recipe module
`trainers/recipes/<method>.py`; tests walk this table and check that every layer accepts
every method.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Strategy = Literal[
    "prompt",
    "rag",
    "fine_tune",
    "fine_tune_constrained",
    "fine_tune_rag",
    "distill",
    "distill_rag",
    "fine_tune_then_distill",
    "cascade",
]
STRATEGIES: tuple[Strategy, ...] = Strategy.__args__  # type: ignore[attr-defined]

STRATEGY_LABELS: dict[str, str] = {
    "prompt": "Prompt a capable model",
    "rag": "Retrieval-augmented generation (RAG)",
    "fine_tune": "Fine-tune a small model (LoRA/QLoRA)",
    "fine_tune_constrained": "Fine-tune + constrained decoding",
    "fine_tune_rag": "Fine-tune + RAG",
    "distill": "Distill a frontier teacher into a small student",
    "distill_rag": "Distill, then retrieve",
    "fine_tune_then_distill": "Fine-tune, then distill for the edge",
    "cascade": "Small model with escalation to the frontier model",
}

# Strategies that train weights on the team's own labelled examples.
FINE_TUNE_FAMILY: frozenset[str] = frozenset(
    {"fine_tune", "fine_tune_constrained", "fine_tune_rag", "fine_tune_then_distill"}
)
DISTILL_FAMILY: frozenset[str] = frozenset({"distill", "distill_rag"})
# Strategies that need a trained small model of any kind (an investment to amortize).
ADAPTED: frozenset[str] = FINE_TUNE_FAMILY | DISTILL_FAMILY | {"cascade"}

Method = Literal[
    "prompt",
    "retrieval",
    "rag",
    "lora",
    "qlora",
    "full",
    "fine_tune_rag",
    "distill_seq",
    "distill_logit",
    "classifier",
]
ComputeKind = Literal["inference", "lora", "qlora", "full", "encoder"]


class MethodSpec(BaseModel):
    """What one pilot method is, for every layer that must know it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    label: str
    """How the method is named in sentences ("the LoRA pilot")."""
    trains: bool
    """Whether it trains weights (else it scores prompts on the frozen model)."""
    compute: ComputeKind
    """How its training is counted in FLOPs and memory."""
    measures: frozenset[str]
    """The strategies a trained pilot of this method speaks for (empty for baselines:
    their baselines speak through BASELINE_FOR)."""
    curve: bool = False
    """Whether a learning curve (train at fractions of the data) is offered."""
    cpu_tokens_per_second: float = 0.0
    """Training throughput assumed on a 2-core CPU for SmolLM2-135M before any run of this
    method was measured (tokens/s)."""


METHODS: dict[Method, MethodSpec] = {
    "prompt": MethodSpec(
        label="prompting", trains=False, compute="inference", measures=frozenset()
    ),
    "retrieval": MethodSpec(
        label="retrieval", trains=False, compute="inference", measures=frozenset()
    ),
    "rag": MethodSpec(
        label="RAG over documents",
        trains=False,
        compute="inference",
        measures=frozenset(),  # speaks through its baselines (BASELINE_FOR["rag"])
    ),
    "lora": MethodSpec(
        label="LoRA",
        trains=True,
        compute="lora",
        measures=FINE_TUNE_FAMILY,
        curve=True,
        cpu_tokens_per_second=400.0,
    ),
    "qlora": MethodSpec(
        label="QLoRA",
        trains=True,
        compute="qlora",
        measures=FINE_TUNE_FAMILY,
        curve=True,
        cpu_tokens_per_second=150.0,
    ),
    "full": MethodSpec(
        label="full fine-tuning",
        trains=True,
        compute="full",
        measures=FINE_TUNE_FAMILY,
        curve=True,
        cpu_tokens_per_second=250.0,
    ),
    "fine_tune_rag": MethodSpec(
        label="fine-tune + RAG",
        trains=True,
        compute="lora",
        measures=frozenset({"fine_tune_rag"}),
        cpu_tokens_per_second=400.0,
    ),
    "distill_seq": MethodSpec(
        label="sequence distillation",
        trains=True,
        compute="lora",
        measures=DISTILL_FAMILY,
        cpu_tokens_per_second=400.0,
    ),
    "distill_logit": MethodSpec(
        label="logit distillation",
        trains=True,
        compute="full",
        measures=DISTILL_FAMILY,
        cpu_tokens_per_second=200.0,
    ),
    "classifier": MethodSpec(
        label="encoder classifier",
        trains=True,
        compute="encoder",
        measures=frozenset({"fine_tune", "fine_tune_constrained", "cascade"}),
        cpu_tokens_per_second=900.0,  # all-MiniLM-L6-v2, measured 870-1,000 (AVX-512 BF16)
    ),
}
METHOD_NAMES: tuple[Method, ...] = Method.__args__  # type: ignore[attr-defined]
TRAINING: tuple[str, ...] = tuple(m for m in METHOD_NAMES if METHODS[m].trains)
BASELINE_METHODS = ("prompt", "retrieval")  # baselines a training pilot may also score

# The pilot to run next for each strategy, and why.
PILOTS: dict[str, tuple[Method, str]] = {
    "prompt": ("prompt", "measure zero- and few-shot prompting on a frozen holdout first"),
    "rag": ("rag", "measure retrieval over your documents, and answers with it as context"),
    "fine_tune": ("lora", "train a LoRA adapter and compare it with prompt and retrieval"),
    "fine_tune_constrained": ("lora", "train a LoRA adapter; score format validity too"),
    "fine_tune_rag": (
        "fine_tune_rag",
        "train a LoRA adapter on questions with their retrieved passages; compare with RAG alone",
    ),
    "distill": ("distill_seq", "let the teacher label your inputs and train a student on them"),
    "distill_rag": ("distill_seq", "distill a student, then add retrieval at inference"),
    "fine_tune_then_distill": ("lora", "fine-tune first; then distill with distill_logit"),
    "cascade": ("distill_seq", "measure the student's quality to size the escalation rate"),
}

# Classification and routing: a fine-tuned small encoder is the strongest small model
# (on BANKING77 at 10 examples per intent: 87.0% after 34 s of training on a 2-core CPU,
# against 68.7% for the LoRA pilot after 214 s; bench/bench_classify.py).
CLASSIFIER_PILOT: tuple[Method, str] = (
    "classifier",
    "fine-tune a small encoder classifier (minutes on a CPU) and compare it with the "
    "nearest-neighbour label and the linear probe",
)
CLASSIFIER_TASKS = frozenset({"classify", "route"})


def pilot_for(strategy: str, task_kind: str) -> tuple[Method, str]:
    """The pilot to run next for a strategy on this kind of task, and why."""
    if task_kind in CLASSIFIER_TASKS and METHODS["classifier"].measures >= {strategy}:
        return CLASSIFIER_PILOT
    return PILOTS[strategy]


# Baselines a pilot scores (on its small model): the strategy each one is a lower bound for.
BASELINE_FOR: dict[str, str] = {
    "few_shot": "prompt",
    "retrieval_few_shot": "rag",
    "nearest_neighbour_label": "rag",
    "linear_probe": "fine_tune",  # a small classifier trained on frozen embeddings
    "rag": "rag",  # the small model answering from passages retrieved from the documents
}
# A prompt or retrieval pilot that asked the capable model itself (through an endpoint)
# measures the strategy, not a lower bound of it.
ENDPOINT_MEASURES: dict[str, str] = {"prompt": "prompt", "retrieval": "rag", "rag": "rag"}
# The baseline that stands for a baseline method's own result.
BASELINE_RESULT: dict[str, str] = {
    "prompt": "few_shot",
    "retrieval": "retrieval_few_shot",
    "rag": "rag",
}
# Methods that answer questions over a team's documents (questions JSONL plus --docs).
DOCUMENT_METHODS = frozenset({"rag", "fine_tune_rag"})
