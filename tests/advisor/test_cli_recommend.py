"""`adapt recommend`: output contract and one-line errors with exit code 2."""

import json

import pytest
from pydantic import ValidationError

from advisor import Scenario, load_scenario, save_scenario
from cli import main
from tests.conftest import EXAMPLES


def test_json_contract(capsys):
    assert main(["recommend", str(EXAMPLES / "product_faq_rag.yaml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recommended"] == "rag"
    assert {"strategy", "verdict", "reasons"} <= set(out["ranking"][0])
    assert out["ranking"][0]["verdict"] == "recommended"


def test_table_output(capsys):
    assert main(["recommend", str(EXAMPLES / "chat_cascade.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Recommended: Small model with escalation")
    assert "cascade" in out and "viable" in out and "Next pilot: adapt pilot" in out
    assert "$" in out  # each strategy's total cost


def test_installed_console_script_runs():
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "adapt"  # the script pip installed beside python
    res = subprocess.run(
        [str(exe), "recommend", str(EXAMPLES / "prototype_prompt.yaml"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(res.stdout)["recommended"] == "prompt"


BAD_FILES = {
    "wrong_type.yaml": (b"requests_per_month: lots\n", "requests_per_month"),
    "negative.yaml": (b"requests_per_month: -5\n", "requests_per_month"),
    "unknown.yaml": (b"requests_per_minute: 5\n", "requests_per_minute"),
    "empty.yaml": (b"", "empty"),
    "blank.json": (b"  \n", "empty"),
    "latin1.yaml": ("name: Caf\u00e9\n".encode("latin-1"), "UTF-8"),
    "list.yaml": (b"- a\n- b\n", "mapping"),
    "bad_enum.yaml": (b"deployment: moon\n", "deployment"),
    "bad_yaml.yaml": (b"name: [unclosed\n", "YAML"),
    "bad_json.json": (b'{"name": ', "JSON"),
    "one_class.yaml": (b"label_classes: 1\n", "label_classes"),
    "huge.yaml": (b"requests_per_month: 1e400\n", "requests_per_month"),
    "no_gaps.yaml": (b"gaps: []\n", "gaps"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_malformed_files_get_one_line_and_exit_2(tmp_path, capsys, name):
    content, must_mention = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["recommend", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert must_mention in err
    assert "Traceback" not in err


def test_unknown_field_lists_allowed_fields(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("colour: blue\n")
    assert main(["recommend", str(path)]) == 2
    assert "allowed fields are: name, task_kind" in capsys.readouterr().err


def test_enum_error_names_allowed_values(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("deployment: moon\n")
    main(["recommend", str(path)])
    assert "vendor_api" in capsys.readouterr().err


def test_missing_file_and_bad_args(tmp_path, capsys):
    assert main(["recommend", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["recommend"]) == 2
    assert main(["frobnicate"]) == 2


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, suffix):
    s = load_scenario(EXAMPLES / "legal_drafting_ft_rag.yaml")
    path = tmp_path / f"s{suffix}"
    save_scenario(s, path)
    assert load_scenario(path) == s


def test_scenario_is_frozen_and_documented():
    s = Scenario()
    with pytest.raises(ValidationError):
        s.requests_per_month = 5  # type: ignore[misc]
    for name, f in Scenario.model_fields.items():
        assert f.description, f"{name} has no docstring for the UI"
