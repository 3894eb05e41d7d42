"""The one vocabulary: strategies, pilot methods, and which pilot measures which strategy.

Defined here once and imported downward by advisor/, costmodels/, trainers/, the CLI and
the app. Adding a method is one row in METHODS plus its recipe (a row of
`trainers/recipes/__init__.py: RECIPES`, and a module when it needs new code) or its flow
(`trainers/flows/`); tests walk this table and check that every layer accepts every
method. Every fact the code needs about a method is a field of its row: nothing outside
this file tests a method's name.
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
    "distill_classifier",
    "distill_rag",
    "tagger",
]
ComputeKind = Literal["inference", "lora", "qlora", "full", "encoder"]
Flow = Literal["generative", "classifier", "documents", "distill", "extract"]


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
    flow: Flow = "generative"
    """The pilot flow that runs it (trainers/flows/): generative (the small decoder,
    scored by generation), classifier (an encoder, scored by argmax) or documents
    (questions over the team's documents)."""
    closed_book_qa: bool = False
    """On questions JSONL it trains closed-book and the documents flow scores it beside
    rag (the comparison the literature argues about)."""
    documents: bool = False
    """It needs the team's documents (--docs): passages are retrieved into each prompt."""
    passages_in_training: bool = False
    """It trains on the training questions with the passages retrieved for them."""
    endpoint_measures: str | None = None
    """The strategy it measures when a capable model behind an OpenAI-compatible endpoint
    answers instead of the small model (None: it cannot be asked through an endpoint)."""
    teacher_endpoint: bool = False
    """Its teacher may be an OpenAI-compatible endpoint (else a local model)."""
    result_baseline: str | None = None
    """A method that trains nothing: the baseline whose score is its result."""
    unlabelled_inputs: bool = False
    """Its data is inputs without answers (trainers/inputs.py), which a teacher labels."""
    train_defaults: dict[str, float] = {}
    """Training settings measured best for this method, used where the user set none
    (written into the run's config.yaml, so a re-run trains the same way)."""

    @property
    def endpoint(self) -> bool:
        """Whether an endpoint's capable model may answer instead of the small model."""
        return self.endpoint_measures is not None


METHODS: dict[Method, MethodSpec] = {
    "prompt": MethodSpec(
        label="prompting",
        trains=False,
        compute="inference",
        measures=frozenset(),
        endpoint_measures="prompt",
        result_baseline="few_shot",
    ),
    "retrieval": MethodSpec(
        label="retrieval",
        trains=False,
        compute="inference",
        measures=frozenset(),
        endpoint_measures="rag",
        result_baseline="retrieval_few_shot",
    ),
    "rag": MethodSpec(
        label="RAG over documents",
        trains=False,
        compute="inference",
        measures=frozenset(),  # speaks through its baselines (BASELINE_FOR["rag"])
        flow="documents",
        documents=True,
        endpoint_measures="rag",
        result_baseline="rag",
    ),
    "lora": MethodSpec(
        label="LoRA",
        trains=True,
        compute="lora",
        measures=FINE_TUNE_FAMILY,
        curve=True,
        closed_book_qa=True,
        cpu_tokens_per_second=400.0,
    ),
    "qlora": MethodSpec(
        label="QLoRA",
        trains=True,
        compute="qlora",
        measures=FINE_TUNE_FAMILY,
        curve=True,
        closed_book_qa=True,
        cpu_tokens_per_second=150.0,
    ),
    "full": MethodSpec(
        label="full fine-tuning",
        trains=True,
        compute="full",
        measures=FINE_TUNE_FAMILY,
        curve=True,
        closed_book_qa=True,
        cpu_tokens_per_second=250.0,
    ),
    "fine_tune_rag": MethodSpec(
        label="fine-tune + RAG",
        trains=True,
        compute="lora",
        measures=frozenset({"fine_tune_rag"}),
        cpu_tokens_per_second=400.0,
        flow="documents",
        documents=True,
        passages_in_training=True,
    ),
    "distill_seq": MethodSpec(
        label="sequence distillation",
        trains=True,
        compute="lora",
        measures=DISTILL_FAMILY,
        cpu_tokens_per_second=400.0,
        teacher_endpoint=True,
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
        flow="classifier",
    ),
    "distill_classifier": MethodSpec(
        label="distillation into a classifier",
        trains=True,
        compute="encoder",
        measures=DISTILL_FAMILY | {"cascade"},
        curve=True,  # the student at a few sizes of the teacher-labelled set
        cpu_tokens_per_second=900.0,  # the classifier's student: the same encoder
        flow="distill",
        teacher_endpoint=True,
        unlabelled_inputs=True,
    ),
    "distill_rag": MethodSpec(
        label="distillation with retrieval",
        trains=True,
        compute="lora",
        measures=frozenset({"distill_rag"}),
        cpu_tokens_per_second=400.0,
        flow="documents",
        documents=True,
        passages_in_training=True,
        teacher_endpoint=True,
    ),
    "tagger": MethodSpec(
        label="span tagger",
        trains=True,
        compute="encoder",
        # its answer is an object built from spans and held to the schema field by field,
        # so it speaks for the constrained fine-tune too
        measures=frozenset({"fine_tune", "fine_tune_constrained"}),
        cpu_tokens_per_second=2000.0,  # all-MiniLM-L6-v2 on SLURP utterances, batch 32
        flow="extract",
        # measured on SLURP (trainers/tagger.py): F1 75.5% in 124 s, against 68.4% at the
        # shared defaults' batch and a classifier's rate
        train_defaults={"epochs": 8.0, "batch_size": 32, "learning_rate": 5e-4},
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
    "fine_tune_constrained": (
        "lora",
        "train a LoRA adapter and score its answers free and with decoding constrained to "
        "your JSON Schema (--schema): field F1 and the share of answers that validate",
    ),
    "fine_tune_rag": (
        "fine_tune_rag",
        "train a LoRA adapter on questions with their retrieved passages; compare with RAG alone",
    ),
    "distill": ("distill_seq", "let the teacher label your inputs and train a student on them"),
    "distill_rag": (
        "distill_rag",
        "let the teacher answer your questions from passages of your documents, train a "
        "small student on its answers, and compare it with RAG alone and with the teacher",
    ),
    "fine_tune_then_distill": ("lora", "fine-tune first; then distill with distill_logit"),
    "cascade": ("distill_seq", "measure the student's quality to size the escalation rate"),
}

# Classification and routing: a fine-tuned small encoder is the strongest small model
# (on BANKING77 at 10 examples per intent: 87.0% after 34 s of training on a 2-core CPU,
# against 68.7% for the LoRA pilot after 214 s; bench/bench_classify.py).
CLASSIFIER_PILOT: tuple[Method, str] = (
    "classifier",
    "fine-tune a small encoder classifier (minutes on a CPU) and compare it with two cheap "
    "baselines: the label of the most similar training example, and a simple classifier on "
    "frozen sentence embeddings",
)
CLASSIFIER_TASKS = frozenset({"classify", "route"})
ENCODER_TASKS = CLASSIFIER_TASKS | {"extract"}  # a small encoder can be the whole student
# Distillation on classification: the student that suits the task is the same encoder
# classifier, trained on the teacher's labels of your unlabelled inputs (on BANKING77: 90.3%
# from 2,780 teacher-labelled inputs against 87-88% from 10 gold examples per intent).
DISTILL_CLASSIFIER_PILOT: tuple[Method, str] = (
    "distill_classifier",
    "let the teacher label your unlabelled inputs, train a small encoder classifier on its "
    "labels at a few sizes, and measure its agreement with the teacher and how many "
    "teacher-labelled inputs reach your bar",
)


# Extraction whose fields are spans of the input: a span tagger on the same small encoder
# (on SLURP at 2,000 rows: slot F1 79.2% after 132 s of training on a 2-core CPU, against
# 66.3% for LoRA after 482 s; bench/bench_extract.py); a value its field's schema refuses
# is left out, so its answers validate. Fields that are rewritten or inferred
# need a generator: the LoRA pilot, decoding held to the schema.
TAGGER_PILOT: tuple[Method, str] = (
    "tagger",
    "fine-tune a small encoder as a span tagger over your fields (minutes on a CPU) and "
    "compare it with a gazetteer of your training values; its answers are built from "
    "spans and held to your schema field by field",
)
FINE_TUNE_STRATEGIES = frozenset({"fine_tune", "fine_tune_constrained"})


def pilot_for(strategy: str, task_kind: str, fields_in_text: bool = True) -> tuple[Method, str]:
    """The pilot to run next for a strategy on this kind of task, and why. fields_in_text:
    extraction whose field values are spans of the input (a tagger can find them)."""
    if task_kind == "extract" and strategy in FINE_TUNE_STRATEGIES:
        return TAGGER_PILOT if fields_in_text else PILOTS["fine_tune_constrained"]
    if task_kind in CLASSIFIER_TASKS and METHODS["classifier"].measures >= {strategy}:
        return CLASSIFIER_PILOT
    if task_kind in CLASSIFIER_TASKS and strategy in DISTILL_FAMILY:
        return DISTILL_CLASSIFIER_PILOT
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
ENDPOINT_MEASURES: dict[str, str] = {
    m: s.endpoint_measures for m, s in METHODS.items() if s.endpoint_measures
}
ENDPOINT_METHODS: tuple[Method, ...] = tuple(ENDPOINT_MEASURES)  # type: ignore[assignment]
# Methods that answer questions over a team's documents (questions JSONL plus --docs).
DOCUMENT_METHODS = frozenset(m for m, s in METHODS.items() if s.documents)


def flow_of(method: Method, data_format: str) -> Flow:
    """The flow that runs a method on data of this format (trainers/pilot.py dispatches
    on it, the preflight and the app read it): the method's own, except that a method
    that trains closed-book on questions JSONL is scored by the documents flow."""
    spec = METHODS[method]
    if data_format == "qa" and spec.closed_book_qa:
        return "documents"
    return spec.flow


def curve_applies(method: Method, data_format: str) -> bool:
    """A learning curve is trained by the generative flow (on labelled examples) and the
    distillation flow (on teacher-labelled inputs), for methods that offer one."""
    return METHODS[method].curve and flow_of(method, data_format) in ("generative", "distill")
