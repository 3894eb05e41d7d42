"""Issue 13, item 7: what a reader sees has human labels, formatted money, and a report
that stays one small file."""

import io
import re
import typing

import pytest

from advisor import Scenario, load_scenario, recommend
from core.labels import field_label, label, money, unit_price
from core.vocab import STRATEGIES
from costmodels import estimate, simulate
from costmodels.export import to_xlsx
from reports.html import build_report
from tests.conftest import EXAMPLES

# every identifier with an underscore a reader could meet: field names and choice values
RAW = {n for n in Scenario.model_fields if "_" in n} | {k for k in STRATEGIES if "_" in k}
for name in ("task_kind", "gaps", "deployment", "task_definition", "team_ml_experience"):
    ann = Scenario.model_fields[name].annotation
    ann = typing.get_args(ann)[0] if typing.get_origin(ann) is tuple else ann
    RAW |= {v for v in typing.get_args(ann) if "_" in v}


def _visible(html: str) -> str:
    """The report's text as a reader sees it: scripts (plotly.js, the charts' data) out."""
    return re.sub(r"<script.*?</script>", "", html, flags=re.S)


@pytest.mark.parametrize(
    "example", ["ticket_triage_distill", "invoice_json_constrained", "field_manual_edge"]
)
def test_the_report_is_small_and_shows_no_raw_identifier(example):
    s = load_scenario(EXAMPLES / f"{example}.yaml")
    report = estimate(s)
    rec = recommend(s, report)
    html = build_report(s, rec, report, simulate(s, report.assumptions, draws=500))
    assert len(html.encode()) < 1.5e6
    assert html.count("plotly.js (basic") == 1  # the library once, not once per chart
    assert html.count("js-plotly-plot") + html.count("plotly-graph-div") >= 4
    text = _visible(html)
    found = sorted(w for w in RAW if re.search(rf"\b{w}\b", text))
    assert not found, found
    # no unformatted floats (0.6124500635075647, 13600.0324); $0.000909 a request is fine
    assert not re.search(r"(?<!\$)\d\.\d{6,}|\d{4}\.\d{2,}", text)


def test_money_and_labels():
    assert money(12_575.314) == "$12,575.31" and money(999.4) == "$999.40"
    assert money(-2_500) == "-$2,500.00" and money(-0.001) == "$0.00"
    assert money(1_234_567) == "$1,234,567.00" and unit_price(0.0025123) == "$0.00251"
    assert (
        label("own_cloud_gpu") == "Our own cloud GPUs"
        and label("fine_tune") == "Fine-tune a small model (LoRA/QLoRA)"
    )
    assert field_label("quality_bar_pct") == "Quality bar (%)"
    assert field_label("labelling_usd_per_example") == "Labelling (USD per example)"


def test_xlsx_has_a_summary_sheet_and_money_formats():
    from openpyxl import load_workbook

    s = load_scenario(EXAMPLES / "ticket_triage_distill.yaml")
    report = estimate(s)
    rec = recommend(s, report)
    wb = load_workbook(io.BytesIO(to_xlsx(report, rec.summary)))
    assert wb.sheetnames[0] == "Summary"
    summary = wb["Summary"]
    assert summary["B4"].value.startswith("Recommended: Distill")
    assert summary["B5"].value == "gpt-4o"  # the model prompting is priced as
    assert "$" in summary["E10"].number_format and summary["A10"].value == "Prompt a capable model"
    sheet = wb["Strategies"]
    header = [c.value for c in sheet[1]]
    tco = sheet.cell(row=2, column=header.index("Total over the horizon (USD)") + 1)
    assert isinstance(tco.value, float) and "$" in tco.number_format
