"""A scenario whose pick is a self-hosted full fine-tune of a 7B model shows the plan's
GPU count and hours on Costs and in the HTML report (issue 28); a vendor-API scenario
shows none."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from advisor import load_scenario, recommend
from costmodels import estimate, load_assumptions
from reports.html import build_report

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "contract_review_7b_full.yaml"


def _report(path=EXAMPLE):
    scenario = load_scenario(path)
    report = estimate(scenario, load_assumptions(path))
    return scenario, report, recommend(scenario, report)


def test_the_7b_pick_is_trained_on_two_sharded_gpus_and_priced_from_the_plan():
    scenario, report, rec = _report()
    assert rec.recommended == "fine_tune"
    run = next(t for t in report.training_plans if "fine_tune" in t.strategies)
    p = run.plan
    assert (p.gpus, p.sharding, p.gpu, p.fits) == (2, "full_shard", "H100", True)
    # the training part of the one-time cost is the plan's own dollars, to the cent
    assert float(report.cost("fine_tune").one_time_breakdown_usd["training"]) == (round(p.usd, 2))
    html = build_report(scenario, rec, report)
    assert "Training on rented GPUs" in html and "H100: 2 GPUs, FSDP full shard" in html
    assert f"{p.wall_hours:,.1f} hours" in html and "GPU-hours" in html


def test_the_costs_page_shows_the_plan_of_the_pick():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.selectbox(key="example_choice").set_value(EXAMPLE.stem).run()
    at.switch_page("app_pages/costs.py").run()
    assert not at.exception
    assert any(s.value == "Training on rented GPUs" for s in at.subheader)
    line = at.info[0].value
    assert line.startswith("Training the fine-tuned model (7B, full fine-tuning")
    assert "H100: 2 GPUs, FSDP full shard" in line and "GPU-hours" in line
    table = at.table[-1].value
    assert "2 GPUs" in table.loc["The fine-tuned model", "Plan"]


def test_a_vendor_api_scenario_has_no_gpu_plan():
    _, report, _ = _report(ROOT / "examples" / "prototype_prompt.yaml")
    assert report.training_plans == ()


def test_the_plans_reach_the_cli_and_every_export(tmp_path, capsys):
    from cli import main

    assert main(["estimate", str(EXAMPLE), "--draws", "0"]) == 0
    out = capsys.readouterr().out
    assert "the fine-tuned model, 7B full: H100: 2 GPUs, FSDP full shard" in out
    csv_file = tmp_path / "e.csv"
    assert main(["export", str(EXAMPLE), "--format", "csv", "--out", str(csv_file)]) == 0
    plans = csv_file.read_text().split("# training_plans\n")[1].splitlines()
    assert plans[0].startswith("trained,strategies,params_billions,method,gpu,gpus")
    assert ",full,H100,2,1,FSDP full shard," in plans[1]
    xlsx = tmp_path / "e.xlsx"
    assert main(["export", str(EXAMPLE), "--format", "xlsx", "--out", str(xlsx)]) == 0
    from openpyxl import load_workbook

    assert "Training plans" in load_workbook(xlsx).sheetnames
