"""What a distillation pilot measured: the teacher and its filter, the student at each size
of the teacher-labelled set, and how many teacher-labelled inputs the agreement bar needs
(the number the one-time teacher cost is priced from)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.quality import QualityMeasure

TeacherKind = Literal["endpoint", "classifier_run", "causal_model"]


class StudentAtSize(BaseModel):
    """The student trained from a fresh start on the first `inputs` kept teacher labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    inputs: int = Field(ge=1)
    agreement: QualityMeasure
    """Share of holdout rows where the student gives the teacher's answer."""
    accuracy: QualityMeasure | None = None
    """Against the gold labels, when the holdout has them."""
    train_seconds: float = Field(0.0, ge=0)


class DistillStats(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    teacher: str
    """The teacher: a model name at an endpoint, a finished run, or a model folder."""
    teacher_kind: TeacherKind
    gold_holdout: bool
    """True: the holdout has gold labels, so teacher and student are scored against them;
    False: the holdout is teacher-labelled and the pilot measures agreement only."""
    teacher_accuracy: QualityMeasure | None = None
    """The teacher against the gold labels of the holdout."""
    inputs_labelled: int = Field(ge=0)
    """Unlabelled inputs the teacher answered (repeats already dropped)."""
    kept: int = Field(ge=0)
    dropped: dict[str, int] = {}
    """Teacher answers the filter dropped, by reason (empty, too_long, regex, no_label)."""
    curve_student: str
    """What the student at each size learned from: "fine-tuned on soft targets" (the
    teacher's probabilities, Hinton et al. 2015, when it gives them) or "fine-tuned on
    labels". Its full-size model is the one saved, timed and thresholded."""
    sizes: tuple[StudentAtSize, ...]
    """The curve student at each size, smallest first; the last is the full set."""
    compared: dict[str, StudentAtSize] = {}
    """Other students on the same full set: "linear probe" (frozen embeddings) and, beside
    soft targets, "fine-tuned on labels" (the teacher's hard labels)."""
    student: str
    """Which student the result is: the curve student or a compared one when it did better
    (the stronger cheap student is reported, never hidden)."""
    agreement_bar: float = Field(gt=0, le=1)
    inputs_needed: int | None = None
    """Teacher-labelled inputs the fitted curve says reach the agreement bar (None: not
    reachable with this student, or the curve could not say)."""
    curve_top: float = Field(ge=0, le=1)
    """The level the fitted agreement curve saturates at."""
    curve_floor: float = Field(0.0, ge=0, le=1)
    """The curve at no teacher labels: chance, one over the number of labels."""
    curve_summary: str = ""
    teacher_input_tokens_per_request: float | None = None
    """An endpoint teacher: measured tokens of one labelling request."""
    teacher_output_tokens_per_request: float | None = None
    teacher_usd_per_request: float | None = None
    teacher_usd_spent: float | None = None
    teacher_seconds: float = Field(0.0, ge=0)
    """Wall seconds the teacher took to label the inputs and the holdout."""

    @property
    def agreement(self) -> QualityMeasure:
        """The reported student's agreement with the teacher at the full size."""
        return self.compared.get(self.student, self.sizes[-1]).agreement

    @property
    def student_accuracy(self) -> QualityMeasure | None:
        """The reported student against gold (None: no gold holdout)."""
        return self.compared.get(self.student, self.sizes[-1]).accuracy
