"""Issue 26: the Pilot page reads unlabelled inputs for distillation, offers the finished
runs that can teach, shows the teacher's phase in the preflight, and says what is missing
in an error box."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from trainers import runs


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _page():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    at.selectbox(key="method").set_value("distill_classifier").run()
    assert not at.exception
    return at


def _teaching_run(root):
    """A finished classifier run, as the index and the run folder hold it."""
    run = root / "clf-teacher"
    (run / "classifier").mkdir(parents=True)
    (run / "classifier" / "labels.json").write_text(
        json.dumps({"labels": ["account_access", "cancel_order", "refund_request"]})
    )
    (run / "config.yaml").write_text("method: classifier\ndata: x.csv\n")
    (run / "events.jsonl").write_text(json.dumps({"event": "done", "time": 0}) + "\n")
    runs.index_upsert(run, method="classifier", status_="done")
    return run


def test_the_page_reads_inputs_and_offers_the_runs_that_can_teach(runs_dir):
    at = _page()
    assert any("unlabelled inputs" in s.value for s in at.success), [s.value for s in at.success]
    assert any("No finished run can teach yet" in w.value for w in at.warning)
    _teaching_run(runs_dir)
    at.run()
    assert at.selectbox(key="teacher_run").options == ["clf-teacher (classifier)"]
    infos = [i.value for i in at.info]
    assert any("Preflight on" in i and "the teacher's answers" in i for i in infos), infos
    assert not at.error and not at.exception


def test_an_endpoint_teacher_without_a_label_set_says_what_to_give(runs_dir):
    at = _page()
    at.radio(key="teacher_source").set_value("an endpoint (OpenAI-compatible)").run()
    at.text_input(key="teacher_url").set_value("http://127.0.0.1:9/v1")
    at.text_input(key="teacher_model").set_value("gpt-4o-mini").run()
    errors = [e.value for e in at.error]
    assert any("name the labels the teacher may answer" in e for e in errors), errors
    assert not [b for b in at.button if b.key == "launch"]  # nothing to launch yet
