"""Issue 24: the bugs that lived on the seams between the hand-written pilot flows, each
with a test that failed before its fix (bug numbers as the issue lists them)."""

import inspect
import json
import os
import re
import typing

import pytest
from pydantic import ValidationError

from cli import build_parser, main
from core.vocab import METHOD_NAMES, METHODS
from tests.conftest import ROOT
from tests.trainers.conftest import DEMO_CHAT, DEMO_CSV
from tests.trainers.test_endpoint import Faulty, faulty  # noqa: F401 (the loopback server)
from tests.trainers.test_rag import DOCS, QUESTIONS
from tests.trainers.test_rag_pilot import tiny_qa_model  # noqa: F401 (a fixture)
from trainers import runs


# ---- 1. a resumed run reads "running", not the error of its earlier attempt -----------
def test_a_resumed_run_reads_running_until_it_ends(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "pid").write_text(str(os.getpid()))  # this process: alive
    for kind in ("start", "error"):
        runs.emit(run, kind)
    assert runs.status(run) == "failed"
    runs.emit(run, "resume_requested")
    assert runs.status(run) == "queued"
    runs.emit(run, "start")
    assert runs.status(run) == "running"
    runs.emit(run, "error", message="again")
    assert runs.status(run) == "failed"


# ---- 2. a failed request is never a wrong answer, nor a holdout row -------------------
def _endpoint_pilot(capsys, url, data, method="prompt", *extra) -> dict:
    argv = ["pilot", "--foreground", "--method", method, "--data", str(data), "--endpoint-url", url]
    argv += ["--endpoint-model", "m", "--no-probe", "--json", *extra]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_rows_that_failed_are_left_out_of_the_holdout_count(faulty, runs_dir, capsys):  # noqa: F811
    Faulty.plan = ["ok", "400"]
    out = _endpoint_pilot(capsys, faulty, DEMO_CSV, "prompt", "--holdout-max", "40")
    m, failed = out["measurement"], out["failed_rows"]
    lost = {f["line"] for f in failed if f["variant"] == "few_shot"}
    assert lost and m["holdout_examples"] == 40 - len(lost) == m["quality"]["n"]


def test_a_pilot_whose_every_request_failed_claims_nothing(faulty, runs_dir, capsys):  # noqa: F811
    """No answer is no evidence: the interval is the whole range, no row counts, and the
    advice neither vetoes prompting nor quotes it as measured."""
    from advisor.recommend import recommend
    from core.measurement import Measurement
    from core.scenario import Scenario

    Faulty.plan = ["400"]
    out = _endpoint_pilot(
        capsys, faulty, DEMO_CHAT, "prompt", "--holdout-fraction", "0.5", "--holdout-max", "40"
    )
    m = out["measurement"]
    assert m["holdout_examples"] == 0
    assert (m["quality"]["n"], m["quality"]["ci_low"], m["quality"]["ci_high"]) == (0, 0.0, 1.0)
    rec = recommend(Scenario(quality_bar_pct=80), measurements=[Measurement(**m)])
    prompt = next(r for r in rec.ranking if r.strategy == "prompt")
    assert prompt.verdict != "not_advised"


def test_rag_through_an_endpoint_lists_failed_questions_and_scores_the_rest(
    faulty,  # noqa: F811
    runs_dir,
    capsys,
):
    Faulty.plan = ["ok", "ok", "400"]
    out = _endpoint_pilot(
        capsys, faulty, QUESTIONS, "rag", "--docs", str(DOCS), "--holdout-fraction", "0.5"
    )
    m, failed = out["measurement"], out["failed_rows"]
    lost = {f["line"] for f in failed}
    assert failed and all(f["reason"] for f in failed)
    assert m["holdout_examples"] == 22 - len(lost)  # 22 questions held out of 43
    scored = m["rag"]["answers"]["rag"]
    assert scored["f1"]["n"] + scored["abstained_when_unanswerable"]["n"] == 22 - len(lost)


# ---- 3. fine_tune_rag's preflight sees the passages the run trains on -----------------
def test_fine_tune_rag_memory_is_estimated_at_the_length_the_run_trains(monkeypatch, runs_dir):
    from costmodels import compute
    from trainers.config import PilotConfig
    from trainers.preflight import estimate, estimate_pilot

    seen = []

    def spy(*a, **k):
        seen.append(k["seq_len"])
        return compute.estimate_memory(*a, **k)

    monkeypatch.setattr(estimate, "estimate_memory", spy)
    cfg = PilotConfig(method="fine_tune_rag", data=str(QUESTIONS), docs=str(DOCS))
    estimate_pilot(cfg, probe=False)
    # three passages of up to 1,200 characters: far over the 256-token default cap
    assert seen and min(seen) > cfg.train.max_seq_len


@pytest.mark.slow
def test_the_probe_of_fine_tune_rag_trains_on_the_passages(tiny_qa_model, runs_dir):  # noqa: F811
    from trainers.config import PilotConfig
    from trainers.preflight.probe import run_probe

    common = dict(data=str(QUESTIONS), model=str(tiny_qa_model), device="cpu")
    rag = run_probe(PilotConfig(method="fine_tune_rag", docs=str(DOCS), **common))
    closed = run_probe(PilotConfig(method="lora", **common))
    assert rag.ok and closed.ok
    assert rag.train_tokens_per_epoch > 3 * closed.train_tokens_per_epoch  # 4.5x measured


# ---- 4. question answering's settings stay with the methods they were measured for -----
def test_full_fine_tuning_on_questions_keeps_its_own_learning_rate(tmp_path):
    from trainers.config import PilotConfig
    from trainers.context import PilotContext
    from trainers.passages import QA_LORA_LR, qa_learning_rate
    from trainers.splits import make_splits

    def ctx(method):
        cfg = PilotConfig(method=method, data=str(QUESTIONS))
        train, hold = make_splits(cfg)
        return PilotContext(cfg, tmp_path, "cpu", False, None, None, train, hold, 8)

    assert qa_learning_rate(ctx("lora")).cfg.train_config().lr == QA_LORA_LR
    assert qa_learning_rate(ctx("full")).cfg.train_config().lr == 5e-5
    assert qa_learning_rate(ctx("distill_logit")).cfg.train.learning_rate is None


def test_the_full_fine_tuning_cap_holds_on_questions_too(tiny_qa_model, runs_dir, monkeypatch):  # noqa: F811
    from core.scenario import InputError
    from trainers import context
    from trainers.config import PilotConfig
    from trainers.launch import start_pilot
    from trainers.pilot import run_pilot

    cfg = PilotConfig(method="full", data=str(QUESTIONS), model=str(tiny_qa_model), device="cpu")
    run_dir = start_pilot(cfg, probe=False, prepare=True).run_dir
    monkeypatch.setattr(context, "FULL_MAX_PARAMS", 1000)  # the tiny model is over it
    with pytest.raises(InputError, match="full fine-tuning of"):
        run_pilot(run_dir)


def test_a_curve_on_questions_is_refused_not_ignored(runs_dir, capsys):
    argv = ["pilot", "--foreground", "--method", "lora", "--data", str(QUESTIONS), "--curve", "0.5"]
    assert main([*argv, "--preflight", "--no-probe"]) == 2
    assert "curve" in capsys.readouterr().err
    assert main(["pilot", "--method", "lora", "--data", str(DEMO_CSV), "--curve", "0.5",
                 "--preflight", "--no-probe"]) == 0  # fmt: skip


# ---- 5. distill_logit on questions keeps its agreement and student records -------------
@pytest.mark.slow
def test_logit_distillation_on_questions_reports_agreement(tiny_qa_model, runs_dir, capsys):  # noqa: F811
    argv = ["pilot", "--foreground", "--method", "distill_logit", "--data", str(QUESTIONS)]
    argv += ["--model", str(tiny_qa_model), "--max-steps", "2", "--holdout-fraction", "0.5"]
    assert main([*argv, "--no-probe", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["agreement"] is not None and out["student"]["layers"] >= 1


# ---- 6. the probe is kept when only the checkpoint interval changes --------------------
def test_the_checkpoint_interval_does_not_invalidate_the_probe():
    from trainers.config import PilotConfig, TrainSettings
    from trainers.preflight.job import probe_key

    a = PilotConfig(method="lora", data=str(DEMO_CSV))
    b = a.model_copy(update={"train": TrainSettings(save_every_steps=5)})
    c = a.model_copy(update={"train": TrainSettings(batch_size=4)})
    assert probe_key(a) == probe_key(b) != probe_key(c)


# ---- 7. a misspelled field of metrics.json is refused ----------------------------------
def test_metrics_refuse_unknown_fields_but_read_old_copies():
    from tests.advisor.test_measured import measurement
    from trainers.metrics import PilotMetrics

    record = {"run_dir": "r", "measurement": measurement().model_dump(mode="json")}
    assert PilotMetrics.model_validate(record | {"holdout": {}, "wall_seconds": 3.0})
    with pytest.raises(ValidationError, match="holdout_fingreprint"):
        PilotMetrics.model_validate(record | {"holdout_fingreprint": "abc"})


# ---- 8. each fact is defined once --------------------------------------------------------
def test_characters_per_token_is_one_number():
    from core import text
    from rag import index
    from trainers import endpoint
    from trainers.preflight import estimate

    assert endpoint.CHARS_PER_TOKEN is estimate.CHARS_PER_TOKEN is index.CHARS_PER_TOKEN
    assert endpoint.CHARS_PER_TOKEN == text.CHARS_PER_TOKEN


def test_the_default_lora_targets_are_the_pilots_everywhere():
    from costmodels.compute import estimate_memory
    from trainers.config import TrainSettings

    trained = TrainSettings().lora_targets
    assert inspect.signature(estimate_memory).parameters["lora_targets"].default == trained
    args = build_parser()[0].parse_args(["memory", "--config", "x", "--method", "lora"])
    assert tuple(args.lora_targets.split(",")) == trained


def test_cores_are_counted_one_way(monkeypatch):
    from core.measurement import Hardware
    from trainers import hardware
    from trainers.metrics import device_name

    one = Hardware(cpu_model="Some CPU", cpu_cores=1, cpu_flags=())
    monkeypatch.setattr(hardware, "detect", lambda: one)
    assert device_name("cpu") == "Some CPU (1 cores)"


def test_the_method_help_names_every_method():
    from trainers.config import field_help

    assert all(m in field_help("method") for m in METHOD_NAMES)


def test_distillation_records_are_typed():
    from trainers.metrics import StudentStats, TeacherStats
    from trainers.recipe import Fitted

    hints = typing.get_type_hints(Fitted)
    assert hints["teacher"] == TeacherStats | None and hints["student"] == StudentStats | None


PILOT_ONLY = sorted(set(METHOD_NAMES) - {"lora", "qlora", "full"})  # not also compute kinds


def test_no_method_name_is_tested_outside_the_vocabulary():
    """Every fact about a method is a field of its vocabulary row (uses documents, may be
    asked through an endpoint, which flow runs it, its result baseline)."""
    names = "|".join(PILOT_ONLY)
    test = re.compile(
        rf"method\s*(==|!=)\s*\"({names})\"|method\s+(not\s+)?in\s+[\(\{{\[][^\n]*\"({names})\""
    )
    found = []
    for folder in ("trainers", "app_pages", "reports", "advisor", "costmodels"):
        for p in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(p.read_text().splitlines(), 1):
                if test.search(line):
                    found.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == []
    assert all(METHODS[m].result_baseline for m in METHOD_NAMES if not METHODS[m].trains)
