import pytest

from tests.conftest import EXAMPLES

DEMO_CSV = EXAMPLES / "data" / "support_intents.csv"
DEMO_CHAT = EXAMPLES / "data" / "support_summaries.jsonl"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny random LLaMA-style model whose word-level vocabulary covers the demo data."""
    from trainers.models import tiny_model_dir

    text = DEMO_CSV.read_text() + DEMO_CHAT.read_text()
    for ch in ",.?!\"{}[]:#()'":
        text = text.replace(ch, f" {ch} ")
    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny", text)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("ADAPT_RUNS", str(root))
    return root
