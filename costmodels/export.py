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
    """One row per assumption (ranges spelled out in three columns), then the sources."""
    rows = []
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


def tables(r: CostReport) -> dict[str, list[dict]]:
    return {
        "strategies": strategy_rows(r),
        "monthly": monthly_rows(r),
        "break_even": break_even_rows(r),
        "assumptions": assumption_rows(r),
    }


def _plain(v):
    return float(v) if isinstance(v, Decimal) else ("" if v is None else v)


def to_csv(r: CostReport) -> str:
    """All four tables in one CSV, each under a `# table` line, separated by blank lines."""
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


def to_xlsx(r: CostReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in tables(r).items():
        ws = wb.create_sheet(name)
        ws.append(list(rows[0]))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([_plain(v) for v in row.values()])
        ws.freeze_panes = "A2"
        for col in ws.columns:
            width = max(len(str(c.value or "")) for c in col[:200])
            ws.column_dimensions[col[0].column_letter].width = min(60, max(10, width + 2))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export(r: CostReport, fmt: Format, out: str | Path) -> Path:
    """Write the report; a temporary file renamed into place, so no half-written export."""
    out = Path(out)
    data = {
        "csv": lambda: to_csv(r).encode(),
        "json": lambda: to_json(r).encode(),
        "xlsx": lambda: to_xlsx(r),
    }[fmt]()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out
