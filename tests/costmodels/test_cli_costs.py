"""`adapt estimate`, `adapt export`, `adapt memory`; the price catalog; bad assumptions."""

import csv
import datetime as dt
import io
import json

import openpyxl
import pytest

from advisor import InputError
from cli import main
from costmodels.assumptions import assumptions_from_dict
from costmodels.prices import load_catalog
from tests.conftest import EXAMPLES
from trainers.preflight.estimate import DEFAULT_SHAPE

ALL = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("example", ALL)
def test_estimate_json_contract(example, capsys):
    assert main(["estimate", str(EXAMPLES / example), "--json", "--draws", "500"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["strategies"]) == 9
    for row in out["strategies"]:
        assert {"strategy", "one_time_usd", "monthly_usd", "per_request_usd", "tco_usd"} <= set(row)
    assert len(out["break_even"]) == 36
    assert {"a", "b", "requests_per_month"} == set(out["break_even"][0])
    assert out["uncertainty"]["draws"] == 500


@pytest.mark.parametrize("example", ALL)
def test_export_every_format(example, tmp_path, capsys):
    src = str(EXAMPLES / example)
    for fmt in ("csv", "json", "xlsx"):
        assert main(["export", src, "--format", fmt, "--out", str(tmp_path / f"r.{fmt}")]) == 0
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    sheets = ["Summary", "Strategies", "By month", "Break-even", "Assumptions"]
    # GPU plans when some training runs on rented GPUs, in the JSON and the workbook alike
    hosted = bool(json.loads((tmp_path / "r.json").read_text())["training_plans"])
    assert wb.sheetnames == sheets + ["Training plans"] * hosted
    strategies = list(wb["Strategies"].values)
    assert strategies[0][:2] == ("Strategy", "One-time (USD)") and len(strategies) == 10
    assert strategies[1][0] == "Prompt a capable model"
    for sheet in wb.worksheets:  # plain tables: no JSON blobs in cells
        for row in sheet.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and v.startswith(("{", "[")) for v in row)
    sources = [r for r in wb["Assumptions"].values if r[0] == "Price source"]
    assert sources and "LiteLLM" in sources[0][4]
    text = (tmp_path / "r.csv").read_text()
    assert text.startswith("# strategies\n") and "# break_even" in text and "# assumptions" in text
    rows = list(csv.reader(io.StringIO(text.split("\n\n")[0])))
    assert rows[1][0] == "strategy" and len(rows) == 11
    assert json.loads((tmp_path / "r.json").read_text())["horizon_months"] > 0


def test_costs_section_is_read(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(
        (EXAMPLES / "ticket_triage_distill.yaml").read_text()
        + "costs:\n  gpu: L4\n  engineering_usd_per_hour: {low: 80, high: 160}\n"
    )
    assert main(["estimate", str(path), "--json", "--draws", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["assumptions"]["gpu"] == "L4"
    assert out["assumptions"]["engineering_usd_per_hour"]["high"] == 160
    assert any("GPU L4" in s for s in out["price_sources"])


BAD_COSTS = [
    ("teacher_model: gpt-4o-minii", "did you mean gpt-4o-mini"),
    ("gpu: H1000", "did you mean H100"),
    ("gpu_utilization: 1.5", "gpu_utilization must lie between"),
    ("gpu_utilization: {low: 0.2, high: 1.2}", "gpu_utilization"),
    ("escalation_rate: {low: 0.5, high: 0.1}", "low <= mode <= high"),
    ("vector_store_usd_per_month: -3", "vector_store_usd_per_month"),
    ("engineering_hours: {rocket: 3}", "unknown strategy 'rocket'"),
    ("teleport: 3", "costs.teleport"),
]


@pytest.mark.parametrize(("line", "expected"), BAD_COSTS)
def test_bad_assumptions_name_the_field(tmp_path, capsys, line, expected):
    path = tmp_path / "s.yaml"
    path.write_text((EXAMPLES / "prototype_prompt.yaml").read_text() + f"costs:\n  {line}\n")
    assert main(["estimate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err


def test_negative_price_in_a_loaded_catalog(tmp_path, capsys):
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"gpt-4o": {"input_cost_per_token": -1e-6, "output_cost_per_token": 1e-5}})
    )
    assert main(["estimate", str(EXAMPLES / "prototype_prompt.yaml"), "--prices", str(prices)]) == 2
    err = capsys.readouterr().err
    assert "gpt-4o" in err and "usd_per_1m_input_tokens" in err


def test_newer_catalog_file_is_used_and_dated(tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                "gpt-4o": {"input_cost_per_token": 5e-6, "output_cost_per_token": 2e-5},
                "gpt-4o-mini": {"input_cost_per_token": 1e-7, "output_cost_per_token": 4e-7},
                "text-embedding-3-small": {"input_cost_per_token": 2e-8},
            }
        )
    )
    cat = load_catalog(prices=prices)
    assert float(cat.model("gpt-4o").usd_per_1m_input_tokens) == 5.0
    assert cat.snapshot.taken_on == dt.date.today()
    assert "user-loaded" in cat.snapshot.source


def test_stale_snapshot_warns():
    cat = load_catalog()
    assert cat.stale_warning(cat.snapshot.taken_on + dt.timedelta(days=30)) is None
    warning = cat.stale_warning(cat.snapshot.taken_on + dt.timedelta(days=91))
    assert warning and "91 days old" in warning


def test_catalog_has_the_gpus_and_platform_status():
    cat = load_catalog()
    for name in ("H100", "A100-80GB", "L40S", "A10G", "L4", "T4"):
        g = cat.gpu(name)
        assert g.usd_per_hour > 0 and g.source and g.as_of
    assert any(p.effective == dt.date(2027, 1, 6) for p in cat.platforms)
    assert float(cat.fine_tune_price("gpt-4o").usd_per_1m_training_tokens) == 25.0


def test_unknown_model_suggests_close_matches():
    with pytest.raises(InputError, match="did you mean.*claude-sonnet-4-5"):
        load_catalog().model("claude-sonet-4-5")
    with pytest.raises(InputError, match="costs.gpu_utilization"):
        assumptions_from_dict({"gpu_utilization": "lots"})


def test_memory_cli(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(
        json.dumps(DEFAULT_SHAPE)  # SmolLM2-135M's config.json fields
    )
    args = ["memory", "--config", str(cfg), "--json", "--batch", "4", "--seq-len", "256"]
    assert main([*args, "--method", "lora", "--lora-rank", "8"]) == 0
    lora = json.loads(capsys.readouterr().out)
    assert {"total_gib", "weights_gib", "trainable_params"} <= set(lora)
    assert 130e6 < lora["params"] < 140e6  # SmolLM2-135M's shape
    assert main([*args, "--method", "full"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["trainable_params"] == full["params"] > lora["trainable_params"]
    assert full["total_gib"] > lora["total_gib"]
    assert main([*args, "--method", "inference"]) == 0
    inf = json.loads(capsys.readouterr().out)
    assert inf["kv_cache_gib"] > 0
    h100 = next(g for g in inf["gpus"] if g["gpu"] == "H100")
    assert h100["fits"] and h100["decode_tokens_per_second_ceiling"] > 1000


def test_memory_cli_bad_input(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text("{}")
    assert main(["memory", "--config", str(cfg), "--method", "lora"]) == 2
    assert "hidden_size" in capsys.readouterr().err
    cfg.write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "vocab_size": 10,
            }
        )
    )
    assert (
        main(["memory", "--config", str(cfg), "--method", "lora", "--lora-targets", "q_proj,wqkv"])
        == 2
    )
    assert "wqkv" in capsys.readouterr().err
    assert main(["memory", "--config", str(cfg), "--method", "lora", "--batch", "0"]) == 2
