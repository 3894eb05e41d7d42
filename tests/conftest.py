from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared" / "data"  # benchmark data beside the checkout (not shipped)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny random LLaMA-style model whose word-level vocabulary covers the demo data."""
    from trainers.models import tiny_model_dir

    data = EXAMPLES / "data"
    text = (data / "support_intents.csv").read_text() + (
        data / "support_summaries.jsonl"
    ).read_text()
    for ch in ",.?!\"{}[]:#()'":
        text = text.replace(ch, f" {ch} ")
    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny", text)


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES


# The files that take half a minute or more of a worker, longest first (--durations on a
# 2-core machine). `--dist loadfile` hands out whole files in collection order; one of
# these handed out last keeps one worker busy while the other sits idle.
LONGEST_FIRST = (
    "tests/trainers/test_pilot_default_model.py",
    "tests/trainers/test_endpoint.py",
    "tests/trainers/test_rag_pilot.py",
    "tests/trainers/test_warm.py",
    "tests/trainers/test_production.py",
    "tests/trainers/test_kill.py",
    "tests/trainers/test_extract.py",
    "tests/trainers/test_distill_pilot.py",
    "tests/trainers/test_engine.py",
    "tests/trainers/test_classifier.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable


def pytest_configure(config):
    """Every run directory and the run index go to a temporary folder unless a test sets
    ADAPT_RUNS itself: the suite never writes runs/ into the working tree."""
    import os
    import tempfile

    if "ADAPT_RUNS" not in os.environ:
        os.environ["ADAPT_RUNS"] = tempfile.mkdtemp(prefix="adapt-test-runs-")
    if "ADAPT_STATE" not in os.environ:  # subprocesses too (the browser tests' server)
        os.environ["ADAPT_STATE"] = os.path.join(tempfile.mkdtemp(prefix="adapt-state-"), "s.json")
    if "ADAPT_RESPONSE_CACHE" not in os.environ:  # never the answers of an earlier session
        where = tempfile.mkdtemp(prefix="adapt-answers-")
        os.environ["ADAPT_RESPONSE_CACHE"] = os.path.join(where, "endpoint_cache.sqlite")
    # A worker forks its detached pilots from one warm zygote, as the app's server does
    # (trainers/warm.py): about 10 s of imports saved per pilot. test_warm.py compares it
    # with a fresh start, which `adapt pilot` run as a command still makes.
    from trainers import warm

    warm.enable(start_now=False)


@pytest.fixture(autouse=True)
def _app_state_per_test(tmp_path, monkeypatch):
    """The app keeps its scenario in a file between reloads; each test gets its own, and its
    own cache of endpoint answers (a server on a reused port must not answer from another
    test's cache)."""
    monkeypatch.setenv("ADAPT_STATE", str(tmp_path / "app_state.json"))
    monkeypatch.setenv("ADAPT_RESPONSE_CACHE", str(tmp_path / "endpoint_cache.sqlite"))
