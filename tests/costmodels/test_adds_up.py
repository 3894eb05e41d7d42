"""Issue 25, item 3: for every example and every scenario of the one-rule sweep, one-time
+ running + retrains = the total, to the cent, in `adapt estimate --json`, the CSV and
the XLSX; the one-time parts add up to the one-time cost; the months add up to the total."""

import csv
import io
import json
from decimal import Decimal

import openpyxl
import pytest
import yaml

from cli import main
from tests.advisor.test_one_rule import CASES

CENT = Decimal("0.01")


def _d(x) -> Decimal:
    return Decimal(str(x)).quantize(CENT)


def _csv_tables(text: str) -> dict[str, list[dict]]:
    out = {}
    for block in text.strip().split("\n\n"):
        name, body = block.split("\n", 1)
        out[name.removeprefix("# ")] = list(csv.DictReader(io.StringIO(body)))
    return out


@pytest.mark.parametrize(("name", "scenario"), CASES, ids=[c[0] for c in CASES])
def test_costs_add_up_to_the_cent(name, scenario, tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario.model_dump(mode="json")))
    assert main(["estimate", str(path), "--json", "--draws", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    for c in report["strategies"]:
        one_time, parts = _d(c["one_time_usd"]), c["one_time_breakdown_usd"].values()
        assert sum(map(_d, parts)) == one_time, (name, c["strategy"])
        assert one_time + _d(c["running_usd"]) + _d(c["retrains_usd"]) == _d(c["tco_usd"])

    assert main(["export", str(path), "--format", "csv", "--out", str(tmp_path / "r.csv")]) == 0
    tables = _csv_tables((tmp_path / "r.csv").read_text())
    for c in tables["strategies"]:
        total = _d(c["one_time_usd"]) + _d(c["running_usd"]) + _d(c["retrains_usd"])
        assert total == _d(c["tco_usd"]), (name, c["strategy"])
        months = [m for m in tables["monthly"] if m["strategy"] == c["strategy"]]
        assert len(months) == scenario.horizon_months
        assert sum(_d(m["cost_usd"]) for m in months) == _d(c["tco_usd"])
        assert _d(c["one_time_usd"]) + sum(
            _d(m["running_usd"]) + _d(m["retrain_usd"]) for m in months
        ) == _d(c["tco_usd"])
        assert _d(months[-1]["cumulative_usd"]) == _d(c["tco_usd"])

    assert main(["export", str(path), "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")]) == 0
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"]
    rows = list(sheet.values)
    head = next(i for i, r in enumerate(rows) if r[0] == "Strategy")
    assert rows[head][1:5] == (
        "One-time",
        f"Running, {scenario.horizon_months} months",
        "Retrains",
        "Total over the horizon",
    )
    for r in rows[head + 1 : head + 10]:
        assert _d(r[1]) + _d(r[2]) + _d(r[3]) == _d(r[4]), (name, r[0])
    assert len(capsys.readouterr().out) > 0
