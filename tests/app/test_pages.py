"""AppTest: every page loads without exceptions; the main interactions by widget key."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGES = [
    "app_pages/decide.py",
    "app_pages/costs.py",
    "app_pages/pilot.py",
    "app_pages/runs.py",
    "app_pages/export.py",
]


@pytest.fixture
def at(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads(at, page):
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_costs_follow_the_questionnaire_and_the_volume(at):
    at.selectbox(key="example_choice").set_value("ticket_triage_distill").run()
    at.switch_page("app_pages/costs.py").run()
    assert not at.exception
    assert at.text_input(key="costs_requests_per_month").value == "2,000,000"
    before = _metric(at, "Break-even month")
    at.text_input(key="costs_requests_per_month").set_value("400000").run()
    after = _metric(at, "Break-even month")
    assert before != after
    at.text_input(key="costs_requests_per_month").set_value("1000").run()
    assert _metric(at, "Break-even month") == "never"
    assert len(at.get("plotly_chart")) == 4


def test_one_state_a_costs_change_is_the_scenario_everywhere(at):
    """Issue 13: the volume set on Costs is what Decide shows and Export writes; the
    assumptions survive leaving Costs; Decide, Costs and Export name the same pick."""
    at.selectbox(key="example_choice").set_value("ticket_triage_distill").run()
    decide_pick = at.success[0].value.split(".")[0]
    at.switch_page("app_pages/costs.py").run()
    assert at.success[0].value.split(".")[0] == decide_pick
    at.text_input(key="costs_requests_per_month").set_value("10000").run()
    at.text_input(key="eng_rate").set_value("150.0").run()
    costs_pick = at.success[0].value.split(".")[0]
    at.switch_page("app_pages/decide.py").run()
    assert at.text_input(key="requests_per_month").value == "10,000"
    assert at.success[0].value.split(".")[0] == costs_pick
    at.switch_page("app_pages/export.py").run()
    assert not at.exception
    written = at.info[0].value
    assert "10,000 requests a month" in written and costs_pick.split(": ")[1] in written
    at.switch_page("app_pages/costs.py").run()
    assert at.text_input(key="eng_rate").value == "150"  # kept across pages
    assert at.text_input(key="costs_requests_per_month").value == "10,000"


def test_a_reload_starts_from_the_saved_scenario(at):
    at.text_input(key="requests_per_month").set_value("123457").run()
    reloaded = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert reloaded.text_input(key="requests_per_month").value == "123,457"


def test_bad_scenario_upload_gets_an_error_box_and_keeps_the_answers(at):
    at.text_input(key="requests_per_month").set_value("123456").run()
    at.get("file_uploader")[0].set_value(
        ("s.yaml", b"requests_per_month: -5\n", "application/x-yaml")
    ).run()
    assert not at.exception
    assert any("requests_per_month" in e.value for e in at.error)
    assert at.text_input(key="requests_per_month").value == "123456"  # nothing lost
    at.get("file_uploader")[0].set_value(
        ("s.yaml", b"requests_per_month: 777\nname: loaded\n", "application/x-yaml")
    ).run()
    assert at.text_input(key="requests_per_month").value == "777"


def test_bad_upload_shows_the_bad_rows(at):
    at.switch_page("app_pages/pilot.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.get("file_uploader")[0].set_value(
        ("my data.csv", b"text,label\nhello,a\n,b\nok,b\nfine,\n", "text/csv")
    ).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "2 bad row(s)" in errors
    assert at.dataframe[0].value["line"].tolist() == [3, 5]
    assert not [b for b in at.button if b.key == "launch"]  # nothing to launch on bad data


def test_upload_of_the_wrong_type_is_refused(at):
    at.switch_page("app_pages/pilot.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.get("file_uploader")[0].set_value(("../../etc/passwd.csv", b"\xff\xfe", "text/csv")).run()
    assert not at.exception
    assert any("not UTF-8" in e.value for e in at.error)


def test_demo_data_shows_a_preflight(at):
    at.switch_page("app_pages/pilot.py").run()
    assert any("Preflight" in i.value for i in at.info)
    assert at.button(key="launch")


def test_export_offers_every_format(at):
    at.switch_page("app_pages/export.py").run()
    labels = {b.label for b in at.get("download_button")}
    assert {"CSV", "XLSX", "JSON", "HTML report"} <= labels


def test_trust_remote_code_warns(at):
    at.switch_page("app_pages/pilot.py").run()
    assert not at.warning
    at.checkbox(key="trust_remote_code").check().run()
    assert any("Remote code runs" in w.value for w in at.warning)


def test_uploaded_names_never_become_paths(at, tmp_path):
    at.switch_page("app_pages/pilot.py").run()
    at.radio(key="data_source").set_value("upload").run()
    name = "../../../escaped.csv"
    at.get("file_uploader")[0].set_value((name, b"text,label\nhi,a\nbye,b\n", "text/csv")).run()
    assert not at.exception
    saved = list((tmp_path / "runs" / "uploads").iterdir())
    assert len(saved) == 1 and saved[0].name != "escaped.csv" and len(saved[0].stem) == 32
    assert not list(tmp_path.rglob("escaped.csv"))


def test_a_run_named_in_the_url_is_an_id_never_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params["run"] = "../../../etc"
    at.run()
    at.switch_page("app_pages/pilot.py").run()
    assert not at.exception
    assert not any("Run" in m.value and "etc" in m.value for m in at.markdown)


def test_a_broken_saved_state_starts_from_the_example_and_is_replaced(tmp_path, monkeypatch):
    state = tmp_path / "broken.json"
    state.write_text('{"scenario": {"requests_per_month": -5}, "assumptions": {}}')
    monkeypatch.setenv("ADAPT_STATE", str(state))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception and not at.error
    assert at.text_input(key="name").value == "Meeting-notes summariser prototype"
    assert '"requests_per_month": 2000' in state.read_text()  # rewritten with what is shown
