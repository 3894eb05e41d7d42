"""Concurrency (issue 7): two app sessions and the CLI launch pilots at the same time.
Runs never share a directory, the index stays consistent, the configured limit queues
the extra runs, and a queued run starts when a slot frees."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.trainers.conftest import DEMO_CSV
from trainers import runs

pytestmark = pytest.mark.slow


def _app_session(tiny_model) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    at.selectbox(key="method").set_value("lora").run()  # the page opens on the advised one
    at.text_input(key="model").set_value(str(tiny_model))
    at.text_input(key="max_steps").set_value("15")
    at.text_input(key="holdout_max").set_value("16").run()
    assert not at.exception
    return at


def test_two_app_sessions_and_the_cli_launch_at_once(tiny_model, runs_dir, monkeypatch):
    monkeypatch.setenv("ADAPT_MAX_RUNS", "1")
    sessions = [_app_session(tiny_model), _app_session(tiny_model)]
    cli = subprocess.Popen(
        [sys.executable, "-m", "cli", "pilot", "--method", "lora", "--data", str(DEMO_CSV)]
        + ["--model", str(tiny_model), "--max-steps", "15", "--no-probe", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for at in sessions:
        at.button(key="launch").click().run()
        assert not at.exception
    most_running, saw_queued, deadline = 0, False, time.time() + 600
    while time.time() < deadline:
        rows = runs.index_list()
        states = [r["status"] for r in rows]
        most_running = max(most_running, states.count("running"))
        saw_queued |= "queued" in states
        if len(rows) == 3 and all(s in runs.FINAL for s in states):
            break
        time.sleep(0.05)
    cli_out = json.loads(cli.communicate(timeout=120)[0])
    rows = runs.index_list()
    assert len(rows) == 3 and {r["status"] for r in rows} == {"done"}
    assert len({r["run_dir"] for r in rows}) == 3  # never a shared directory
    assert cli_out["status"] == "done" and cli_out["run_dir"] in {r["run_dir"] for r in rows}
    assert most_running == 1 and saw_queued  # the limit held, the extra runs waited
    # never two at once, and the runs that came while another ran waited for it (a run
    # launched after the one before it ended starts at once: a forked pilot from the warm
    # zygote can finish before the CLI's fresh interpreter has even launched its own)
    spans = []
    for r in rows:
        ev = runs.read_events(Path(r["run_dir"]))
        start = next(e["time"] for e in ev if e["event"] == "start")
        end = next(e["time"] for e in ev if e["event"] == "done")
        spans.append((start, end, any(e["event"] == "queued" for e in ev)))
    spans.sort()
    for (_, end, _), (start, _, _) in zip(spans, spans[1:], strict=False):
        assert start >= end
    assert any(queued for _, _, queued in spans)
    print(f"\nconcurrent launches: 3 (2 app sessions + CLI), limit 1, spans {spans}")
