"""Issue 25, item 2: a vendor fine-tuning path that closes is not priced after it closes.
'Today' is one injectable value (estimate's `today`, or ADAPT_TODAY for the CLI)."""

import datetime as dt
import json

from advisor import Scenario, recommend
from cli import main
from costmodels import CostAssumptions, estimate, load_catalog
from costmodels.paths import closing_month, priced_components
from costmodels.strategies import strategy_components

CAT = load_catalog()
END = CAT.fine_tune_price("gpt-4o-mini").takes_no_new_jobs_after
TICKETS = Scenario(
    task_kind="classify",
    gaps=("cost_latency_at_volume",),
    labelled_examples_available=2000,
    label_classes=40,
    frontier_outputs_good=True,
    requests_per_month=2_000_000,
    facts_change_interval_days=180,
    deployment="vendor_api",
    capable_model="gpt-4o",
)
TRAINED = ("fine_tune", "distill", "cascade", "fine_tune_then_distill")


def test_the_catalog_dates_the_vendor_path():
    assert dt.date(2027, 1, 6) == END
    assert closing_month(END, END + dt.timedelta(days=1)) == 0
    assert closing_month(END, dt.date(2026, 12, 1)) == 2  # month 0 and month 1 begin before


def test_after_the_end_date_nothing_is_priced_through_the_closed_path():
    after = END + dt.timedelta(days=30)
    vendor = strategy_components(TICKETS, CostAssumptions(), CAT)
    priced = priced_components(TICKETS, CostAssumptions(), CAT, start=after)
    report = estimate(TICKETS, today=after)
    for k in TRAINED:
        assert vendor[k].api_per_request > 0  # the vendor's fine-tuned model, per token
        if k == "cascade":  # only its escalations still go to the vendor's capable model
            assert priced[k].api_per_request < vendor[k].api_per_request
        else:
            assert priced[k].api_per_request == 0.0
        assert priced[k].after is None and priced[k].gpu_floor_monthly > 0  # own cores
        note = report.cost(k).path_note
        assert note and "takes no new jobs after 2027-01-06" in note
        assert "encoder classifier trained and served on CPU cores" in note
    rec = recommend(TICKETS, report)
    assert rec.recommended in TRAINED + ("fine_tune_constrained",)
    assert "priced as a small encoder classifier" in rec.summary
    # the untrained strategies do not use the path
    assert report.cost("prompt").path_note is None


def test_before_the_end_date_a_retrain_after_it_moves_to_the_open_path():
    before = dt.date(2026, 12, 1)  # retrains every 6 months: month 6 falls after the date
    report = estimate(TICKETS, today=before)
    vendor = estimate(TICKETS, today=dt.date(2024, 1, 1))  # the path open all year
    assert vendor.cost("fine_tune").path_note is None
    c = report.cost("fine_tune")
    assert "the retrain of month 6" in c.path_note
    rows = {m.month: m for m in report.monthly if m.strategy == "fine_tune"}
    old = {m.month: m for m in vendor.monthly if m.strategy == "fine_tune"}
    for m in range(6):  # the vendor path before the switch: the same as when it stays open
        assert rows[m].running_usd == old[m].running_usd
    assert rows[6].retrain_usd != old[6].retrain_usd  # trained on the open path
    assert rows[7].running_usd != old[7].running_usd  # and served there
    assert c.tco_usd == c.one_time_usd + c.running_usd + c.retrains_usd


def test_the_cli_reads_today_from_the_environment(tmp_path, capsys, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(TICKETS.model_dump(mode="json")))
    path = path.rename(tmp_path / "s.json")
    monkeypatch.setenv("ADAPT_TODAY", "2027-03-01")
    assert main(["estimate", str(path), "--json", "--draws", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["starts_on"] == "2027-03-01"
    notes = [c["path_note"] for c in out["strategies"] if c["strategy"] == "fine_tune"]
    assert "before 2027-03-01" in notes[0]
    monkeypatch.setenv("ADAPT_TODAY", "next tuesday")
    assert main(["estimate", str(path), "--json", "--draws", "0"]) == 2
    assert "ADAPT_TODAY" in capsys.readouterr().err
