"""The library's shape, checked from the source: the packages import downward with no
cycle, nothing below trainers/ imports it, and trainers/ keeps modules and functions a
reader can hold in mind."""

import ast

from tests.conftest import ROOT

PACKAGES = ("core", "advisor", "costmodels", "rag", "trainers", "reports")
BELOW_TRAINERS = ("core", "advisor", "costmodels", "rag")
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60
LONGER_ALLOWED = {("trainers/loop.py", "fit")}  # the training loop reads best in one piece


def _modules() -> dict[str, object]:
    """Dotted module name -> path, for every module of the library's packages."""
    out = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def _top_level(tree: ast.Module):
    """Statements run when the module is imported: the top level, and inside top-level
    if/try blocks, but not under `if TYPE_CHECKING:`."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If):
            if "TYPE_CHECKING" in ast.unparse(node.test):
                stack += node.orelse
                continue
            stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody
            stack += [s for h in node.handlers for s in h.body]
        else:
            yield node


def _imported(node, known: set[str]) -> set[str]:
    """The library modules an import statement loads (a submodule loads its packages)."""
    names = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    out = set()
    for name in names:
        parts = name.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & known
    return out


def _graph(module_level_only: bool) -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = _top_level(tree) if module_level_only else ast.walk(tree)
        deps = set().union(*(_imported(n, known) for n in nodes))
        # a module's own enclosing packages are loaded before it, never by it
        graph[name] = {d for d in deps if not f"{name}.".startswith(f"{d}.")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_module_level_imports_have_no_cycle():
    graph = _graph(module_level_only=True)
    assert len(graph) > 70
    assert _cycles(graph) == []


def test_no_cycle_even_through_imports_inside_functions():
    """Imports inside functions are for start-up speed (torch, transformers), never to
    hide a cycle between the library's own modules."""
    assert _cycles(_graph(module_level_only=False)) == []


def test_nothing_below_trainers_imports_it():
    graph = _graph(module_level_only=False)
    offenders = {
        m: sorted(d for d in deps if d.split(".")[0] == "trainers")
        for m, deps in graph.items()
        if m.split(".")[0] in BELOW_TRAINERS
    }
    assert {m: d for m, d in offenders.items() if d} == {}


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_trainers_modules_and_functions_stay_small():
    long_modules, long_functions = {}, {}
    for p in (ROOT / "trainers").rglob("*.py"):
        rel = str(p.relative_to(ROOT))
        text = p.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules[rel] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and (rel, node.name) not in LONGER_ALLOWED:
                    long_functions[f"{rel}:{node.name}"] = lines
    assert (long_modules, long_functions) == ({}, {})


def test_the_launch_path_and_the_preflight_estimate_load_without_torch():
    """The CLI's preflight and the Pilot page import the launch path on every start: the
    estimator reads no model, so torch (about 1.5 s to import) waits for the run."""
    import subprocess
    import sys

    code = "import sys, trainers.launch, trainers.preflight; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_the_longest_first_files_exist():
    """tests/conftest.py schedules these first; a renamed one would silently go last."""
    from tests.conftest import LONGEST_FIRST, ROOT

    assert [name for name in LONGEST_FIRST if not (ROOT / name).is_file()] == []
