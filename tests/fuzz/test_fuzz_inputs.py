"""Bad input, fuzzed (issue 7): scenario files, cost assumptions and every dataset format.

Random types, missing and extra fields, huge numbers, NaN and infinity, empty files,
non-UTF-8 bytes, mixed formats, duplicated and contradictory rows. Every input must end
in exit code 0 or in exit code 2 with one clear line naming the field, the line or the
file; never a traceback, never a hang. Each test counts the inputs it tried and prints
the count (pytest -s shows it; the issue note quotes it).

The suite tries 100 inputs per CLI test and 20 per app test (hypothesis's own default
budget; derandomized, so every run tries the same ones). ADAPT_FUZZ_EXAMPLES=1000 tries
more, for a change to the readers or the validation."""

import contextlib
import io
import json
import os
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from core.scenario import Scenario, read_document
from costmodels.assumptions import CostAssumptions
from tests.conftest import EXAMPLES

EXAMPLES_PER_TEST = int(os.environ.get("ADAPT_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES_PER_TEST,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same inputs on every run: a failure reproduces
)
BASE = read_document(EXAMPLES / "support_intents_routing.yaml")
MODULE_START = time.time()
TRIED: dict[str, int] = {}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-320, 0, -0.0, "1e400", "NaN", "inf", ""]),
    st.text(max_size=40),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


def _cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def _check(kind: str, code: int, err: str, must_name: tuple[str, ...]) -> None:
    TRIED[kind] = TRIED.get(kind, 0) + 1
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [x for x in err.strip().splitlines() if x.startswith("adapt ")]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert any(word in lines[0] for word in must_name), lines[0]


def _write(path: Path, doc, as_json: bool) -> None:
    text = json.dumps(doc) if as_json else yaml.safe_dump(doc, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


@st.composite
def mutated(draw, base: dict, fields: list[str]):
    doc = dict(base)
    for name in draw(st.sets(st.sampled_from(fields), max_size=3)):
        doc.pop(name, None)
    keys = st.one_of(st.sampled_from(fields), st.text(min_size=1, max_size=12))
    doc.update(draw(st.dictionaries(keys, junk, max_size=4)))
    return doc


@FUZZ
@given(doc=mutated(BASE, list(Scenario.model_fields)), as_json=st.booleans())
def test_scenario_files(tmp_path, doc, as_json):
    path = tmp_path / ("s.json" if as_json else "s.yaml")
    _write(path, doc, as_json)
    code, err = _cli(["recommend", str(path)])
    _check("scenario", code, err, ("field '", str(path), "unknown field"))


@FUZZ
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".yaml", ".json"]))
def test_scenario_files_as_raw_bytes(tmp_path, raw, suffix):
    path = tmp_path / f"s{suffix}"
    path.write_bytes(raw)
    code, err = _cli(["recommend", str(path)])
    _check("scenario bytes", code, err, ("field '", str(path)))


@FUZZ
@given(costs=mutated(CostAssumptions().model_dump(mode="json"), list(CostAssumptions.model_fields)))
def test_cost_assumptions(tmp_path, costs):
    path = tmp_path / "s.yaml"
    _write(path, BASE | {"costs": costs}, as_json=False)
    code, err = _cli(["estimate", str(path), "--draws", "100"])
    _check("assumptions", code, err, ("field '", "costs", str(path)))


record = st.one_of(
    st.fixed_dictionaries(
        {"messages": st.lists(st.fixed_dictionaries({"role": junk, "content": junk}), max_size=3)}
    ),
    st.fixed_dictionaries(
        {
            "messages": st.just(
                [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
            )
        }
    ),
    st.fixed_dictionaries({"prompt": junk, "completion": junk}),
    st.fixed_dictionaries({"prompt": st.text(max_size=20), "completion": st.text(max_size=20)}),
    st.fixed_dictionaries({"instruction": junk, "output": junk}, optional={"input": junk}),
    st.dictionaries(st.text(max_size=8), junk, max_size=3),
    junk,
)


@FUZZ
@given(
    records=st.lists(record, max_size=12),
    broken=st.lists(st.binary(max_size=20), max_size=2),
    as_list=st.booleans(),
)
def test_json_datasets(tmp_path, records, broken, as_list):
    path = tmp_path / ("d.json" if as_list else "d.jsonl")
    if as_list:
        text = json.dumps(records).encode()
    else:
        lines = [json.dumps(r).encode() for r in records] + broken  # raw lines mixed in
        text = b"\n".join(lines)
    path.write_bytes(text)
    code, err = _cli(
        ["pilot", "--method", "prompt", "--data", str(path), "--preflight", "--no-probe", "--json"]
    )
    _check("json dataset", code, err, ("line ", str(path)))


cell = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "a,b", '"q"', "x\ny", "é"]))


@FUZZ
@given(
    rows=st.lists(st.lists(cell, min_size=0, max_size=3), max_size=15),
    dup=st.booleans(),
    header=st.sampled_from(["text,label", "label,text", "", "text", "TEXT, Label"]),
)
def test_csv_datasets(tmp_path, rows, dup, header):
    buf = io.StringIO()
    import csv

    w = csv.writer(buf)
    if header:
        buf.write(header + "\n")
    for r in rows + (rows[:2] if dup else []):  # duplicated rows
        w.writerow(r)
    path = tmp_path / "d.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    code, err = _cli(
        ["pilot", "--method", "prompt", "--data", str(path), "--preflight", "--no-probe", "--json"]
    )
    _check("csv dataset", code, err, ("line ", str(path)))


def test_fixed_hostile_files(tmp_path):
    """The cases a random search rarely draws: a 1 GB line, a huge empty file, a BOM,
    contradictory labels, NaN in JSON, a YAML alias bomb."""
    cases = {}
    big = tmp_path / "huge.jsonl"
    with open(big, "wb") as f:  # one 1 GiB line (sparse: no disk is used)
        f.truncate(2**30)
    cases["1 GiB line"] = [
        "pilot",
        "--method",
        "prompt",
        "--data",
        str(big),
        "--preflight",
        "--no-probe",
    ]
    contra = tmp_path / "contra.csv"
    contra.write_text("text,label\nrefund please,refund\nrefund please,shipping\nhi,greet\n")
    cases["contradictory rows"] = [
        "pilot",
        "--method",
        "prompt",
        "--data",
        str(contra),
        "--preflight",
        "--no-probe",
    ]
    nan = tmp_path / "nan.json"
    nan.write_text('{"requests_per_month": NaN}')
    cases["NaN scenario"] = ["recommend", str(nan)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "gaps: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    )
    cases["YAML alias bomb"] = ["recommend", str(bomb)]
    huge_scn = tmp_path / "huge.yaml"
    with open(huge_scn, "wb") as f:
        f.truncate(2**30)
    cases["1 GiB scenario"] = ["recommend", str(huge_scn)]
    for name, argv in cases.items():
        code, err = _cli(argv)
        assert code == 2, (name, err)
        _check("hostile", code, err, ("line ", "field '", "MiB", str(tmp_path)))
    assert "line 3" in _cli(cases["contradictory rows"])[1]


APP_FUZZ = settings(FUZZ, max_examples=max(10, EXAMPLES_PER_TEST // 5))  # a page run each


@APP_FUZZ
@given(
    doc=mutated(BASE, list(Scenario.model_fields)),
    raw=st.binary(max_size=80),
    use_raw=st.booleans(),
)
def test_app_scenario_upload(tmp_path, monkeypatch, doc, raw, use_raw):
    """The Decide page: a bad upload is an error box, the answers stay, no traceback."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.text_input(key="requests_per_month").set_value("123457").run()
    body = raw if use_raw else yaml.safe_dump(doc).encode()
    at.get("file_uploader")[0].set_value(("s.yaml", body, "application/x-yaml")).run()
    TRIED["app scenario"] = TRIED.get("app scenario", 0) + 1
    assert not at.exception, at.exception
    if at.error:
        assert at.text_input(key="requests_per_month").value == "123457"  # nothing lost


@APP_FUZZ
@given(records=st.lists(record, max_size=8))
def test_app_dataset_upload(tmp_path, monkeypatch, records):
    """The Pilot page: a bad dataset is an error box naming the rows, no traceback."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.setenv("ADAPT_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    at.radio(key="data_source").set_value("upload").run()
    body = "\n".join(json.dumps(r) for r in records).encode()
    at.get("file_uploader")[0].set_value(("d.jsonl", body, "application/jsonl")).run()
    TRIED["app dataset"] = TRIED.get("app dataset", 0) + 1
    assert not at.exception, at.exception
    assert at.error or at.success


def test_zz_report_counts():
    """Runs last in this module: prints how many inputs each fuzz test tried, and checks
    that none of them wrote a run index into the working directory."""
    index = Path.cwd() / "runs" / "index.sqlite"
    assert not index.exists() or index.stat().st_mtime < MODULE_START
    total = sum(TRIED.values())
    print(f"\nfuzzed inputs tried: {TRIED} (total {total})")
    fuzzed = {k: v for k, v in TRIED.items() if k != "hostile"}
    if len(fuzzed) == 7:  # when the whole module ran: every test tried its full budget
        assert all(n == FUZZ.max_examples for k, n in fuzzed.items() if not k.startswith("app"))
        assert all(n == APP_FUZZ.max_examples for k, n in fuzzed.items() if k.startswith("app"))
