"""Issue 26: distillation into a classifier, end to end on the demo intents: a classifier
run teaches a student from unlabelled inputs; the run records the teacher, the filter,
the student at each size and the inputs the agreement bar needs; the advice and the
costs quote it."""

import csv
import json
import random
from pathlib import Path

import pytest

from cli import main
from tests.conftest import EXAMPLES
from tests.trainers.conftest import DEMO_CSV
from trainers.metrics import read_metrics


def _write(path: Path, rows, header) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """A classifier teacher trained on 120 demo rows; 140 other texts as unlabelled
    inputs; the last 60, labelled, as the holdout."""
    folder = tmp_path_factory.mktemp("distill")
    rows = list(csv.reader(DEMO_CSV.open(encoding="utf-8")))[1:]
    random.Random(0).shuffle(rows)
    teach, inputs, hold = rows[:120], rows[120:260], rows[260:]
    files = {
        "teacher": _write(folder / "teacher.csv", teach, ["text", "label"]),
        "inputs": _write(folder / "inputs.csv", [[t] for t, _ in inputs], ["text"]),
        "holdout": _write(folder / "holdout.csv", hold, ["text", "label"]),
    }
    return folder, files


def _pilot(capsys, *argv) -> Path:
    assert main(["pilot", "--foreground", "--no-probe", "--epochs", "1", "--json", *argv]) == 0
    return Path(json.loads(capsys.readouterr().out)["run_dir"])


@pytest.mark.slow
def test_a_classifier_run_teaches_a_student_from_unlabelled_inputs(
    taught, runs_dir, capsys, monkeypatch
):
    folder, files = taught
    teacher = _pilot(
        capsys, "--method", "classifier", "--data", str(files["teacher"]), "--no-abstain",
        "--holdout-data", str(files["holdout"]),
    )  # fmt: skip
    run = _pilot(
        capsys, "--method", "distill_classifier", "--inputs", str(files["inputs"]),
        "--holdout-data", str(files["holdout"]), "--teacher", teacher.name, "--curve", "0.5",
    )  # fmt: skip
    m = read_metrics(run)
    d = m.measurement.distill
    assert d.teacher == teacher.name and d.teacher_kind == "classifier_run" and d.gold_holdout
    assert d.inputs_labelled == 140 and d.kept + sum(d.dropped.values()) == 140
    assert [s.inputs for s in d.sizes] == [70, 140]  # each size from a fresh start
    assert all(s.agreement.n == 60 and s.accuracy.n == 60 for s in d.sizes)
    assert all(s.agreement.metric == "agreement" for s in d.sizes)
    # the teacher's own score on the holdout is the one its run measured
    assert d.teacher_accuracy.value == pytest.approx(read_metrics(teacher).quality.value)
    # the classifier teacher gives probabilities: the curve student learns them, and the
    # students on its labels and the linear probe are compared on the full set
    assert d.curve_student == "fine-tuned on soft targets"
    assert set(d.compared) == {"linear probe", "fine-tuned on labels"}
    options = {d.curve_student: d.sizes[-1]} | d.compared
    assert m.quality == options[d.student].accuracy
    assert m.quality.value == max(x.accuracy.value for x in options.values())
    assert set(m.correct) >= {
        "distill_classifier", "student_linear_probe", "student_fine-tuned_on_labels", "teacher"
    }  # fmt: skip
    assert (run / "classifier" / "labels.json").exists() and m.measurement.serving
    assert d.inputs_needed is None or d.inputs_needed >= 1
    # the student can teach in turn: a classifier run's classifier/ is a teacher
    from trainers.config import PilotConfig
    from trainers.teacher import resolve_teacher

    cfg = PilotConfig(method="distill_classifier", data="x.csv", teacher=str(run))
    assert resolve_teacher(cfg).labels == tuple(
        json.loads((run / "classifier" / "labels.json").read_text())["labels"]
    )

    # without a labelled holdout: a share of the inputs, labelled by the teacher
    alone = _pilot(
        capsys, "--method", "distill_classifier", "--inputs", str(files["inputs"]),
        "--teacher", str(teacher), "--no-abstain", "--no-soft-targets",
        "--holdout-fraction", "0.25",
    )  # fmt: skip
    a = read_metrics(alone).measurement
    assert not a.distill.gold_holdout and a.distill.teacher_accuracy is None
    assert a.quality.metric == "agreement" and a.quality.n == 35
    assert a.distill.curve_student == "fine-tuned on labels"  # --no-soft-targets
    assert set(a.distill.compared) == {"linear probe"}
    assert a.distill.inputs_labelled == 105

    # the advice and the costs quote what the run measured
    scenario = EXAMPLES / "ticket_triage_distill.yaml"
    assert main(["recommend", str(scenario), "--runs", run.name]) == 0
    out = capsys.readouterr().out
    assert "Next pilot: adapt pilot --method distill_classifier --inputs" in out
    assert f"Distillation: the distillation into a classifier pilot {run.name}" in out
    assert "teacher-labelled inputs" in out and "labels" in out and "once ($" in out
    assert "Serving: the classifier pilot" in out  # the student priced on CPU cores
    report = folder / "report.html"
    argv = ["export", str(scenario), "--runs", run.name, "--format", "html", "--out", str(report)]
    assert main(argv) == 0
    text = report.read_text()
    assert "distillation from" in text and "How many teacher labels are enough" in text
