"""Export a cost report as CSV, JSON or XLSX: the strategy table, the monthly series, the
break-evens, and the assumptions with their price sources. Spreadsheets get plain tables
(one value per cell), never JSON blobs."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Literal

from core.labels import assumption_label, column_label, label
from core.vocab import STRATEGY_LABELS
from costmodels.amortize import CostReport

Format = Literal["csv", "json", "xlsx"]


def strategy_rows(r: CostReport) -> list[dict]:
    rows = []
    for c in r.strategies:
        row = c.model_dump(exclude={"one_time_breakdown_usd"})
        for part in ("people", "training", "teacher", "labelling"):
            row[f"one_time_{part}_usd"] = c.one_time_breakdown_usd.get(part, Decimal(0))
        rows.append(row)
    return rows


def monthly_rows(r: CostReport) -> list[dict]:
    return [m.model_dump() for m in r.monthly]


def break_even_rows(r: CostReport) -> list[dict]:
    return [b.model_dump() for b in r.break_even]


def assumption_rows(r: CostReport) -> list[dict]:
    """The models and date the report is priced with, one row per assumption (ranges
    spelled out in three columns), then the sources."""
    rows = [
        {"assumption": name, "value": str(getattr(r, name)), "low": "", "high": "", "source": ""}
        for name in ("capable_model", "teacher_model", "starts_on")
    ]
    for name, value in r.assumptions.model_dump().items():
        if isinstance(value, dict) and {"low", "high"} <= set(value):
            rows.append(
                {
                    "assumption": name,
                    "value": value.get("mode") or "",
                    "low": value["low"],
                    "high": value["high"],
                    "source": "",
                }
            )
        elif isinstance(value, dict):  # per-strategy hours: one row each
            rows += [
                {"assumption": f"{name}.{k}", "value": v, "low": "", "high": "", "source": ""}
                for k, v in value.items()
            ]
        else:
            rows.append(
                {
                    "assumption": name,
                    "value": "" if value is None else value,
                    "low": "",
                    "high": "",
                    "source": "",
                }
            )
    rows += [
        {"assumption": "price source", "value": "", "low": "", "high": "", "source": s}
        for s in r.price_sources
    ]
    rows += [
        {"assumption": "warning", "value": "", "low": "", "high": "", "source": w}
        for w in r.warnings
    ]
    return rows


def training_plan_rows(r: CostReport) -> list[dict]:
    """The self-hosted training runs, each on the fewest GPUs that hold it."""
    return [
        {
            "trained": t.role,
            "strategies": ", ".join(label(k) for k in t.strategies),
            "params_billions": t.params_billions,
            "method": t.plan.method,
            "gpu": t.plan.gpu,
            "gpus": t.plan.gpus,
            "nodes": t.plan.nodes,
            "layout": t.plan.layout,
            "gib_per_gpu": t.plan.memory.total_gib,
            "wall_hours": t.plan.wall_hours,
            "wall_hours_low": t.plan.wall_hours_low,
            "wall_hours_high": t.plan.wall_hours_high,
            "gpu_hours": t.plan.gpu_hours,
            "run_usd": t.plan.usd,
        }
        for t in r.training_plans
    ]


def tables(r: CostReport) -> dict[str, list[dict]]:
    out = {
        "strategies": strategy_rows(r),
        "monthly": monthly_rows(r),
        "break_even": break_even_rows(r),
        "assumptions": assumption_rows(r),
    }
    if r.training_plans:  # self-hosted training only
        out["training_plans"] = training_plan_rows(r)
    return out


def _plain(v):
    return float(v) if isinstance(v, Decimal) else ("" if v is None else v)


def to_csv(r: CostReport) -> str:
    """Every table (four; five with training plans) in one CSV, each under a `# table`
    line, separated by blank lines."""
    buf = io.StringIO()
    for name, rows in tables(r).items():
        buf.write(f"# {name}\n")
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows({k: _plain(v) for k, v in row.items()} for row in rows)
        buf.write("\n")
    return buf.getvalue()


def to_json(r: CostReport) -> str:
    return json.dumps(r.model_dump(mode="json"), indent=2)


USD_FORMAT = '"$"#,##0.00'
UNIT_USD_FORMAT = '"$"#,##0.000000'  # per-request prices: fractions of a cent
COUNT_FORMAT = "#,##0"
SHEETS = {
    "strategies": "Strategies",
    "monthly": "By month",
    "break_even": "Break-even",
    "assumptions": "Assumptions",
    "training_plans": "Training plans",
}
VALUE_COLUMNS = ("strategy", "baseline", "a", "b")  # cells holding a strategy id


def _number_format(column: str) -> str | None:
    if column.startswith("per_request") or column.startswith("all_in_per_request"):
        return UNIT_USD_FORMAT
    if column.endswith("_usd"):
        return USD_FORMAT
    if column == "requests" or column.endswith("requests_per_month"):
        return COUNT_FORMAT
    return None


def _cell(column: str, v):
    """A value as a reader reads it: strategy names in words, yes/no, blank for none."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if column in VALUE_COLUMNS and isinstance(v, str):
        return label(v)
    if column == "assumption" and isinstance(v, str):
        return assumption_label(v)
    return _plain(v)


def _summary_sheet(wb, r: CostReport, summary: str) -> None:
    """The first sheet: what a reader needs before the tables (the pick and the totals)."""
    from openpyxl.styles import Alignment, Font

    ws = wb.create_sheet("Summary")
    ws.append(["adapt cost estimate"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["Requests per month", r.requests_per_month])
    ws.append(["Horizon (months)", r.horizon_months])
    ws.append(["Recommendation", summary])
    ws["B4"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.append(["Prompting priced as", r.capable_model])
    ws.append(["Distillation teacher", r.teacher_model])
    ws.append(["Month 1 starts on", r.starts_on.isoformat()])
    ws["B2"].number_format = COUNT_FORMAT
    ws.append([])
    head = ["Strategy", "One-time", f"Running, {r.horizon_months} months", "Retrains"]
    ws.append([*head, "Total over the horizon", "Month 1 running", "Per request, month 1"])
    header = ws.max_row
    for cell in ws[header]:
        cell.font = Font(bold=True)
    for c in r.strategies:
        ws.append(
            [
                STRATEGY_LABELS[c.strategy],
                *(float(x) for x in (c.one_time_usd, c.running_usd, c.retrains_usd)),
                float(c.tco_usd),  # = one-time + running + retrains, to the cent
                float(c.monthly_usd),
                float(c.per_request_usd),
            ]
        )
        row = ws.max_row
        for col in "BCDEF":
            ws[f"{col}{row}"].number_format = USD_FORMAT
        ws[f"G{row}"].number_format = UNIT_USD_FORMAT
    notes = [c for c in r.strategies if c.path_note]
    for c in notes:
        ws.append([STRATEGY_LABELS[c.strategy], c.path_note])
    ws.column_dimensions["A"].width = 30
    for col in "BCDEFG":
        ws.column_dimensions[col].width = 18
    ws.column_dimensions["B"].width = 60


def to_xlsx(r: CostReport, summary: str = "") -> bytes:
    """A summary sheet first (its totals are formulas over the parts beside them), then
    one sheet per table, with headers and strategy names in words, money and counts
    formatted as such. summary: the recommendation's text, when the caller has one."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    _summary_sheet(wb, r, summary)
    for name, rows in tables(r).items():
        ws = wb.create_sheet(SHEETS[name])
        columns = list(rows[0])
        ws.append([column_label(c) for c in columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([_cell(k, v) for k, v in row.items()])
        ws.freeze_panes = "A2"
        for column, col in zip(columns, ws.columns, strict=True):
            fmt = _number_format(column)
            if fmt:
                for cell in col[1:]:
                    cell.number_format = fmt
            width = max(len(str(c.value or "")) for c in col[:200])
            ws.column_dimensions[col[0].column_letter].width = min(60, max(10, width + 2))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export(r: CostReport, fmt: Format, out: str | Path, summary: str = "") -> Path:
    """Write the report; a temporary file renamed into place, so no half-written export.
    summary: the recommendation's text, for the XLSX summary sheet."""
    out = Path(out)
    data = {
        "csv": lambda: to_csv(r).encode(),
        "json": lambda: to_json(r).encode(),
        "xlsx": lambda: to_xlsx(r, summary),
    }[fmt]()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out
