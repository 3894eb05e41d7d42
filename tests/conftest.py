from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES


def pytest_configure(config):
    """Every run directory and the run index go to a temporary folder unless a test sets
    ADAPT_RUNS itself: the suite never writes runs/ into the working tree."""
    import os
    import tempfile

    if "ADAPT_RUNS" not in os.environ:
        os.environ["ADAPT_RUNS"] = tempfile.mkdtemp(prefix="adapt-test-runs-")
