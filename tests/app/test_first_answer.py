"""Issue 25: the first answer fits the team's situation. The model called today is a
question of the scenario (Decide, Costs, Export and the HTML report name it), and nothing
on Decide changes without an edit (visiting Costs leaves every total as it was, equal to
`adapt estimate`)."""

import json

import pandas as pd
import yaml
from streamlit.testing.v1 import AppTest

from advisor import load_scenario, recommend
from cli import main
from core.labels import money
from core.vocab import STRATEGY_LABELS
from costmodels import estimate, load_assumptions
from tests.conftest import EXAMPLES, ROOT

PM = ROOT / "tests" / "data" / "pm_tickets.yaml"


def _with_model(tmp_path, model: str):
    data = yaml.safe_load(PM.read_text()) | {"capable_model": model}
    path = tmp_path / f"pm_{model}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_pm_case_prompts_its_cheap_model_and_trains_against_a_dear_one(tmp_path, capsys):
    for model, expected in (("gpt-4o-mini", "prompt"), ("gpt-4o", "fine_tune")):
        path = _with_model(tmp_path, model)
        assert main(["recommend", str(path), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["recommended"] == expected, (model, out["summary"])
        assert f"Prompting is priced as {model}, the model you call today" in out["summary"]
        html = tmp_path / f"{model}.html"
        assert main(["export", str(path), "--format", "html", "--out", str(html)]) == 0
        assert f"Prompting is priced as {model}" in html.read_text()
        xlsx = tmp_path / f"{model}.xlsx"
        assert main(["export", str(path), "--format", "xlsx", "--out", str(xlsx)]) == 0
        import openpyxl

        summary = dict(r[:2] for r in openpyxl.load_workbook(xlsx)["Summary"].values if r[0])
        assert summary["Prompting priced as"] == model
        capsys.readouterr()


def _upload(at, path) -> None:
    at.switch_page("app_pages/decide.py").run()
    data = path.read_bytes()
    at.get("file_uploader")[0].set_value((path.name, data, "application/x-yaml")).run()
    assert not at.exception, at.exception


def _totals(at) -> dict[str, str]:
    table: pd.DataFrame = at.table[0].value
    return dict(zip(table.index, table["Total cost"], strict=True))


def test_decide_names_the_model_and_export_names_it(tmp_path):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    _upload(at, PM)
    assert at.selectbox(key="capable_model").value == "gpt-4o-mini"
    assert at.success[0].value.startswith("Recommended: Prompt a capable model")
    assert "priced as gpt-4o-mini, the model you call today" in at.success[0].value
    at.selectbox(key="capable_model").set_value("gpt-4o").run()
    assert at.success[0].value.startswith("Recommended: Fine-tune")
    at.switch_page("app_pages/costs.py").run()
    assert at.selectbox(key="costs_capable_model").value == "gpt-4o"  # one state
    at.switch_page("app_pages/export.py").run()
    assert "prompting priced as **gpt-4o**" in at.info[0].value


def test_visiting_costs_changes_no_total_on_decide():
    """Every example (their ranges and modes) and the PM case: the totals on Decide are
    the same before and after visiting Costs, and those of `adapt estimate`."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    for path in [PM, *sorted(EXAMPLES.glob("*.yaml"))]:
        _upload(at, path)
        before, summary = _totals(at), at.success[0].value
        at.switch_page("app_pages/costs.py").run()
        assert not at.exception, at.exception
        at.switch_page("app_pages/decide.py").run()
        assert _totals(at) == before, path.name
        assert at.success[0].value == summary, path.name
        s = load_scenario(path)
        report = estimate(s, load_assumptions(path))  # the file's costs: section too
        expected = {STRATEGY_LABELS[c.strategy]: money(c.tco_usd) for c in report.strategies}
        assert before == expected, path.name
        assert recommend(s, report).summary == summary


def test_no_model_yet_and_an_unknown_model(tmp_path, capsys):
    assert main(["recommend", str(_with_model(tmp_path, "none")), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert "priced as gpt-4o-mini (you call no model yet; the common choice)" in summary
    assert main(["recommend", str(_with_model(tmp_path, "gpt-4o-minii"))]) == 2
    err = capsys.readouterr().err
    assert "field 'capable_model': unknown model 'gpt-4o-minii'" in err and "gpt-4o-mini" in err
