"""Issue 13, item 8: each edge a user hit gets a clear message (exit code 2 on the CLI),
never a traceback or a silent wrong answer."""

import os
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from cli import main
from tests.conftest import EXAMPLES, ROOT


def test_quality_bar_of_zero_on_decide_does_not_break_pilot(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.text_input(key="quality_bar_pct").set_value("0.0").run()
    assert not at.exception
    at.switch_page("app_pages/pilot.py").run()
    assert not at.exception
    assert not [e.value for e in at.error if "validation error" in e.value]
    assert at.button(key="launch")  # the preflight was shown and launch offered


def test_number_fields_say_their_allowed_range(tmp_path, monkeypatch):
    """The browser refuses 1e12 requests a month without a word: the help says the range."""
    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert "Allowed: 0 to 100,000,000,000" in at.text_input(key="requests_per_month").help
    doc = tmp_path / "big.yaml"
    doc.write_text((EXAMPLES / "prototype_prompt.yaml").read_text() + "\n")
    text = doc.read_text()
    doc.write_text("\n".join(x for x in text.splitlines() if "requests_per_month" not in x))
    with doc.open("a") as f:
        f.write("\nrequests_per_month: 1000000000000\n")
    assert main(["recommend", str(doc)]) == 2


def test_noise_labels_get_a_warning(tmp_path, capsys):
    from trainers.data import load_dataset
    from trainers.labelcheck import data_warnings

    noise = tmp_path / "noise.csv"
    rows = [f"text {i} {os.urandom(4).hex()},{os.urandom(6).hex()}" for i in range(60)]
    noise.write_text("text,label\n" + "\n".join(rows) + "\n")
    (warning,) = data_warnings(load_dataset(noise))
    assert "60 different labels in 60 rows" in warning
    argv = ["pilot", "--method", "prompt", "--data", str(noise), "--preflight", "--no-probe"]
    assert main(argv) == 2  # every label once: nothing to learn, nothing to test
    err = capsys.readouterr().err
    assert "appears only once (and 59 more labels)" in err and "free text" in err
    assert data_warnings(load_dataset(EXAMPLES / "data" / "support_intents.csv")) == []


def test_export_to_a_missing_folder_names_it(tmp_path, capsys):
    out = tmp_path / "missing" / "x.csv"
    assert (
        main(
            [
                "export",
                str(EXAMPLES / "prototype_prompt.yaml"),
                "--format",
                "csv",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"the folder {out.parent} does not exist" in err and "Traceback" not in err


def test_a_closed_pipe_is_not_a_traceback():
    """`adapt estimate ... | head`: the reader is gone before anything is written."""
    scenario = EXAMPLES / "ticket_triage_distill.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "estimate", str(scenario)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    proc.stdout.close()  # the reader goes away
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "Exception ignored" not in err, err[-1000:]


def test_memory_takes_the_default_model_name(capsys):
    argv = ["memory", "--config", "smollm2-135m-instruct", "--method", "lora", "--json"]
    assert main(argv) == 0
    import json

    assert json.loads(capsys.readouterr().out)["params"] > 100_000_000  # SmolLM2-135M
    assert main(["memory", "--config", "no-such-model", "--method", "lora"]) == 2


def test_the_run_index_lives_in_one_user_level_folder(tmp_path, monkeypatch):
    from trainers import runs

    monkeypatch.delenv("ADAPT_RUNS", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for cwd in (tmp_path, ROOT):
        monkeypatch.chdir(cwd)
        assert runs.runs_root() == tmp_path / "home" / ".local" / "share" / "adapt" / "runs"
    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "elsewhere"))
    assert runs.runs_root() == tmp_path / "elsewhere"


@pytest.mark.parametrize("command", ["recommend", "estimate", "export", "memory", "pilot", "runs"])
def test_every_command_prints_its_help(command, capsys):
    """argparse formats help with %: a docstring's '90%' once broke `adapt pilot --help`."""
    assert main([command, "--help"]) == 0
    assert "usage: adapt" in capsys.readouterr().out
