"""Issue 25, item 6: every page, for two scenarios and after a classifier and a rag run,
and the XLSX and the HTML report, shows no vocabulary identifier with an underscore, no
"None", and no number with more digits than its format (money to the cent, percentages
to one decimal)."""

import io
import json
import re
import typing
from pathlib import Path

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from advisor import Scenario
from cli import main
from core.vocab import METHOD_NAMES, STRATEGIES
from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow
PAGES = ["decide", "costs", "pilot", "runs", "export"]
SCENARIOS = [ROOT / "tests" / "data" / "pm_tickets.yaml", EXAMPLES / "product_faq_rag.yaml"]
BASELINES = ("nearest_neighbour_label", "linear_probe", "zero_shot", "few_shot")
RAW = {n for n in Scenario.model_fields if "_" in n} | {
    k for k in (*STRATEGIES, *METHOD_NAMES, *BASELINES) if "_" in k
}
for name in ("task_kind", "gaps", "deployment", "task_definition", "team_ml_experience"):
    ann = Scenario.model_fields[name].annotation
    ann = typing.get_args(ann)[0] if typing.get_origin(ann) is tuple else ann
    RAW |= {v for v in typing.get_args(ann) if "_" in v}
# a percentage with two decimals, or any other number with four or more (unit prices
# such as $0.000123 a request are fine: three significant figures)
TOO_PRECISE = re.compile(r"\d\.\d{2,}%|(?<![\d.$])\d+\.\d{4,}")


def problems(text: str) -> list[str]:
    text = re.sub(r"`[^`]*`", "", text)  # commands the reader copies keep their flags
    found = [w for w in RAW if re.search(rf"\b{w}\b", text)]
    found += [m.group(0) for m in re.finditer(r"\bNone\b|\bnan\b", text)]
    found += [m.group(0) for m in TOO_PRECISE.finditer(text)]
    return found


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A classifier run and a rag run on the demo data, really run."""
    import os

    root = tmp_path_factory.mktemp("runs")
    old = os.environ.get("ADAPT_RUNS")
    os.environ["ADAPT_RUNS"] = str(root)
    data = EXAMPLES / "data"
    ids = []
    for argv in (
        ["--method", "classifier", "--data", str(data / "support_intents.csv")],
        [
            "--method",
            "rag",
            "--data",
            str(data / "policy_questions.jsonl"),
            "--docs",
            str(EXAMPLES / "docs" / "larkspur"),
        ],
    ):
        out = io.StringIO()
        from contextlib import redirect_stdout

        with redirect_stdout(out):
            code = main(
                [
                    "pilot",
                    "--foreground",
                    *argv,
                    "--max-steps",
                    "4",
                    "--holdout-max",
                    "12",
                    "--no-probe",
                    "--json",
                ]
            )
        assert code == 0
        ids.append(Path(json.loads(out.getvalue())["run_dir"]).name)
    yield root, ids
    if old is None:
        os.environ.pop("ADAPT_RUNS")
    else:
        os.environ["ADAPT_RUNS"] = old


def _texts(at) -> list[str]:
    """Everything a reader sees on the page, chart titles and trace names included."""
    out = []
    for kind in (
        "markdown",
        "caption",
        "info",
        "success",
        "warning",
        "error",
        "title",
        "header",
        "subheader",
    ):
        out += [str(e.value) for e in getattr(at, kind)]
    for m in at.metric:
        out += [str(m.label), str(m.value), str(m.delta or "")]
    for t in [*at.table, *at.dataframe]:
        df = t.value
        out += [str(c) for c in df.columns] + [str(i) for i in df.index]
        out += [str(v) for v in df.astype(str).values.ravel()]
    for w in [*at.selectbox, *at.multiselect, *at.radio]:
        out += [str(w.label), *map(str, w.options)]
    for w in [*at.text_input, *at.checkbox, *at.button]:
        out.append(str(w.label))
    for chart in at.get("plotly_chart"):
        fig = json.loads(chart.proto.spec)
        out += [str(tr.get("name", "")) for tr in fig.get("data", [])]
        layout = fig.get("layout", {})
        out += [
            json.dumps(layout.get("title", "")),
            json.dumps(layout.get("xaxis", {}).get("title", "")),
        ]
    return out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_every_page_reads_as_words(scenario, two_runs, monkeypatch, tmp_path):
    root, ids = two_runs
    monkeypatch.setenv("ADAPT_RUNS", str(root))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90).run()
    data = scenario.read_bytes()
    at.get("file_uploader")[0].set_value((scenario.name, data, "application/x-yaml")).run()
    at.session_state["use_runs"] = ids
    found = {}
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        texts = _texts(at)
        if page == "pilot":  # each run's results, one after the other
            for run_id in ids:
                at.selectbox(key="run_choice").set_value(run_id).run()
                texts += _texts(at)
        bad = sorted({p for t in texts for p in problems(t)})
        if bad:
            found[page] = bad
    assert not found, found


def test_the_exports_read_as_words(two_runs, monkeypatch, tmp_path, capsys):
    root, ids = two_runs
    monkeypatch.setenv("ADAPT_RUNS", str(root))
    for scenario in SCENARIOS:
        html, xlsx = tmp_path / "r.html", tmp_path / "r.xlsx"
        runs_arg = ["--runs", ",".join(ids)]
        assert (
            main(["export", str(scenario), "--format", "html", "--out", str(html), *runs_arg]) == 0
        )
        assert main(["export", str(scenario), "--format", "xlsx", "--out", str(xlsx)]) == 0
        visible = re.sub(
            r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", html.read_text(), flags=re.S
        )
        assert not problems(visible), (scenario.name, sorted(set(problems(visible))))
        wb = openpyxl.load_workbook(xlsx)
        cells = [ws.title for ws in wb.worksheets]
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                cells += [v for v in row if isinstance(v, str)]
        bad = sorted({p for c in cells for p in problems(c)})
        assert not bad, (scenario.name, bad)
    capsys.readouterr()
