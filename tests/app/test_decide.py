"""AppTest: the Decide page loads, answers to the questionnaire move the recommendation."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()


def test_decide_loads_without_exceptions():
    at = _app()
    assert not at.exception
    assert at.success[0].value.startswith("Recommended:")
    # every field has a widget keyed by its name, with help text
    assert at.text_input(key="requests_per_month").help


def test_loading_an_example_and_changing_volume_changes_the_pick():
    at = _app()
    at.selectbox(key="example_choice").set_value("ticket_triage_distill").run()
    assert not at.exception
    assert "Distill" in at.success[0].value
    at.text_input(key="requests_per_month").set_value("1000").run()
    assert "Prompt" in at.success[0].value


def test_questionnaire_answers_drive_the_recommendation():
    at = _app()
    at.multiselect(key="gaps").set_value(["missing_knowledge"])
    at.text_input(key="facts_change_interval_days").set_value("7")
    at.text_input(key="requests_per_month").set_value("200000").run()
    assert "RAG" in at.success[0].value
