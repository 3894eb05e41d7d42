"""Untrusted models and files (issue 7): no remote code unless asked, safetensors only,
pickles refused with a reason, and the app on loopback by default."""

import json
import shutil
import tomllib

import pytest

from cli import main
from core.scenario import InputError
from tests.conftest import ROOT
from tests.trainers.conftest import DEMO_CSV
from trainers.models import load_causal_lm, load_tokenizer, resolve_model

EVIL = "from pathlib import Path\nPath(__file__).with_name('EXECUTED').write_text('pwned')\n"


def _with_remote_code(tiny_model, tmp_path, model_type: str):
    folder = tmp_path / model_type
    shutil.copytree(tiny_model, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = model_type
    cfg["auto_map"] = {
        "AutoConfig": "evil.EvilConfig",
        "AutoModelForCausalLM": "evil.EvilModel",
        "AutoTokenizer": ["evil.EvilTokenizer", None],
    }
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "evil.py").write_text(EVIL)
    return folder


def test_remote_code_is_never_run_unless_asked(tiny_model, tmp_path):
    folder = _with_remote_code(tiny_model, tmp_path, "evil_llama")
    with pytest.raises(InputError, match="--trust-remote-code only if you trust"):
        load_causal_lm(folder)
    tok = load_tokenizer(folder)  # the tokenizer file alone needs no code: a library class
    assert type(tok).__module__.startswith("transformers.")
    assert not (folder / "EXECUTED").exists()


def test_a_known_architecture_with_remote_code_loads_the_library_class(tiny_model, tmp_path):
    folder = _with_remote_code(tiny_model, tmp_path, "llama")
    model = load_causal_lm(folder)
    assert type(model).__module__.startswith("transformers.models.llama")
    assert not (folder / "EXECUTED").exists()


def test_pickled_checkpoints_are_refused_before_anything_starts(tmp_path, runs_dir, capsys):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(InputError, match="pickled checkpoints can run code"):
        resolve_model(str(folder))
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "lora",
        "--data",
        str(DEMO_CSV),
        "--model",
        str(folder),
    ]
    assert main([*argv, "--no-probe", "--json"]) == 2
    err = capsys.readouterr().err
    assert "pytorch_model.bin" in err and "safe_serialization=True" in err


def test_the_app_listens_on_loopback_and_the_readme_says_how_to_expose_it():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"
    readme = (ROOT / "README.md").read_text()
    assert "--server.address 0.0.0.0" in readme
