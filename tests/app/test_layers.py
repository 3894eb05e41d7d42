"""The layers import downward: nothing below the UI imports streamlit or app_pages, the
CLI never imports the UI package, and the Decide and Costs pages load without torch."""

import ast
import subprocess
import sys

from tests.conftest import ROOT


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_library_module_imports_the_ui():
    files = [
        p
        for pkg in ("core", "advisor", "costmodels", "trainers", "reports")
        for p in (ROOT / pkg).rglob("*.py")
    ]
    assert len(files) > 40
    offenders = {str(p.relative_to(ROOT)): _imports(p) & {"streamlit", "app_pages"} for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert "app_pages" not in _imports(ROOT / "cli.py")


def test_core_imports_nothing_above_it():
    for p in (ROOT / "core").rglob("*.py"):
        assert not _imports(p) & {"advisor", "costmodels", "trainers", "reports", "torch"}, p
    for p in (ROOT / "costmodels").rglob("*.py"):
        assert "advisor" not in _imports(p), p


def test_decide_and_costs_load_without_torch(tmp_path):
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / "streamlit_app.py")!r}, default_timeout=60).run()
assert not at.exception, at.exception
at.switch_page("app_pages/costs.py").run()
assert not at.exception, at.exception
at.switch_page("app_pages/export.py").run()
assert not at.exception, at.exception
print("torch" in sys.modules)
"""
    env_runs = {"ADAPT_RUNS": str(tmp_path / "runs")}
    import os

    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env_runs},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
