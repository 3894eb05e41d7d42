"""Issue 27: extraction data and its schema, field-level scoring, and the span tagger."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from cli import main
from core.scenario import InputError
from tests.conftest import EXAMPLES
from trainers import fields as fieldmod
from trainers.data import DataError, load_dataset
from trainers.eval.fields import paired, score_outputs
from trainers.eval.gazetteer import gazetteer, look_up
from trainers.tagger import find_spans, spans_to_fields, tag_names, viterbi

FIELDS = EXAMPLES / "data" / "invoice_fields.jsonl"
SCHEMA = EXAMPLES / "data" / "invoice_fields.schema.json"
OPEN = {"type": "object"}  # any object validates


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_fields_jsonl_and_chat_json_answers_read_as_extraction(tmp_path):
    ds = load_dataset(FIELDS)
    assert ds.task == "extract" and ds.format == "fields"
    assert ds.fields == ("amount", "currency", "due_date", "invoice_number", "item", "vendor")
    first = ds.examples[0]
    assert "Fields: amount, currency" in first.messages[0].content
    assert json.loads(first.target) == {k: v for k, v in first.fields.items()}
    listed = next(e for e in ds.examples if isinstance(e.fields.get("item"), tuple))
    assert isinstance(json.loads(listed.target)["item"], list)  # a repeated field is a list

    def chat(answer):
        return {
            "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": answer}]
        }

    both = _write(tmp_path / "chat.jsonl", [chat('{"city": "Oslo"}'), chat("{}")])
    ds = load_dataset(both)
    assert ds.task == "extract" and ds.fields == ("city",) and ds.examples[1].fields == {}
    free = _write(tmp_path / "free.jsonl", [chat('{"city": "Oslo"}'), chat("Oslo, I think")])
    assert load_dataset(free).task == "generate"  # one free-text answer: not extraction


@pytest.mark.parametrize(
    "row, message",
    [
        ({"text": "a", "fields": ["x"]}, "line 2: 'fields' must be a JSON object, got list"),
        (
            {"text": "a", "fields": {"x": {"y": 1}}},
            "line 2: 'fields'['x'] has a value of the wrong type",
        ),
        ({"text": "a", "fields": {"x": []}}, "line 2: 'fields'['x'] is an empty list"),
        ({"text": " ", "fields": {}}, "line 2: 'text' is empty"),
    ],
)
def test_bad_fields_rows_are_named(tmp_path, row, message):
    path = _write(tmp_path / "bad.jsonl", [{"text": "ok", "fields": {"x": "ok"}}, row])
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_dataset(path)


def test_schemas_are_checked_given_or_inferred(tmp_path):
    rows = [e.fields for e in load_dataset(FIELDS).examples]
    inferred = fieldmod.infer_schema(rows)
    assert fieldmod.check_against(inferred, rows, "x") == 0
    assert fieldmod.check_against(fieldmod.load_schema(SCHEMA), rows, "x") == 0
    (tmp_path / "broken.json").write_text('{"type": "object",\n "properties": }')
    with pytest.raises(InputError, match="broken.json: line 2: the schema is not valid JSON"):
        fieldmod.load_schema(tmp_path / "broken.json")
    (tmp_path / "bad.json").write_text('{"type": "object", "properties": {"a": {"type": 5}}}')
    with pytest.raises(InputError, match="not a valid JSON Schema at properties/a/type"):
        fieldmod.load_schema(tmp_path / "bad.json")
    strict = {"type": "object", "required": ["po_number"], "properties": {}}
    with pytest.raises(InputError, match="no training row satisfies the schema"):
        fieldmod.check_against(strict, rows, "s.json")


def test_field_scores_match_hand_counts():
    golds = [{"a": "x", "b": ("y", "z")}, {}, {"a": "q"}, {"c": "Big  Apple"}]
    outputs = [
        '{"a": "X", "b": ["y"]}',  # tp 2 (case), fn 1
        "{}",  # exact: nothing expected, nothing given
        "not json",  # fn 1, no parse
        {"c": "big apple", "d": "extra"},  # tp 1 (whitespace), fp 1
    ]
    schema = {"type": "object", "properties": {"d": {"type": "number"}}}
    s = score_outputs(outputs, golds, schema)
    tp, fp, fn = 3, 1, 2
    assert s.scores.precision == pytest.approx(tp / (tp + fp))
    assert s.scores.recall == pytest.approx(tp / (tp + fn))
    assert s.scores.f1.value == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert s.exact == "0100" and s.scores.exact.value == 0.25
    assert s.scores.parsed.value == 0.75  # three objects parse
    assert s.scores.valid.value == 0.5  # the tagger-built one breaks d: number
    per = {f.field: f for f in s.scores.per_field}
    assert per["b"].recall == 0.5 and per["b"].support == 2 and per["d"].precision == 0.0
    assert s.scores.f1.ci_low <= s.scores.f1.value <= s.scores.f1.ci_high


def test_paired_f1_is_zero_for_one_method_and_sided_for_a_better_one():
    rng = np.random.default_rng(0)
    golds = [{"f": str(i)} for i in range(200)]
    good = [{"f": str(i)} if rng.random() < 0.9 else {} for i in range(200)]
    bad = [g if rng.random() < 0.5 else {} for g in good]
    a, b = score_outputs(good, golds, OPEN), score_outputs(bad, golds, OPEN)
    same = paired("a", a, "a", a)
    assert same.f1_delta == 0 and same.p_value == 1.0 and same.exact_p_value == 1.0
    better = paired("good", a, "bad", b)
    assert better.f1_delta > 0.2 and better.ci_low > 0 and better.p_value < 0.01


def test_spans_bio_decoding_and_the_gazetteer():
    text = "Pay Acme Tools 12.50 EUR"
    spans, missed = find_spans(text, {"vendor": "acme tools", "amount": "12.50", "po": "77"})
    assert sorted(spans) == [(4, 14, "vendor"), (15, 20, "amount")] and missed == 1
    tags = tag_names(("amount", "vendor"))  # O, B-amount, I-amount, B-vendor, I-vendor
    offsets = [(0, 0), (0, 3), (4, 8), (9, 14), (15, 20), (21, 24), (0, 0)]
    # the argmax would start a span with I-vendor; the BIO rule makes it B or O
    logp = np.full((7, 5), -5.0)
    for t, k in enumerate([0, 0, 4, 4, 1, 0, 0]):
        logp[t, k] = 0.0
    logp[2, 3] = -0.5  # B-vendor nearly as likely as I-vendor at "Acme"
    import torch

    from trainers.tagger import SpanTagger

    allow, start = SpanTagger.transitions(type("T", (), {"tags": tags})())
    path = viterbi(torch.tensor(logp), allow, start)
    assert tags[path[2]] == "B-vendor"
    assert spans_to_fields(text, offsets, path, tags) == {"vendor": "Acme Tools", "amount": "12.50"}
    table = gazetteer([{"vendor": "Acme Tools"}, {"vendor": "acme"}, {"item": "a"}])
    assert look_up(table, "order from ACME tools and acme") == {"vendor": ("ACME tools", "acme")}


@pytest.mark.slow
def test_the_tagger_pilot_scores_saves_and_serves(tmp_path, runs_dir, capsys):
    from trainers.tagger import load_tagger, predict

    argv = [
        "pilot",
        "--foreground",
        "--method",
        "tagger",
        "--data",
        str(FIELDS),
        "--schema",
        str(SCHEMA),
    ]
    assert main([*argv, "--epochs", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m, run_dir = out["measurement"], tmp_path / "runs"
    e = m["extract"]
    tagger, gaz = e["methods"]["tagger"], e["methods"]["gazetteer"]
    assert m["quality"] == tagger["f1"] and m["holdout_examples"] == 24
    assert tagger["valid"]["value"] == 1.0 and tagger["parsed"]["value"] == 1.0
    # the held-out invoice numbers and amounts are new values: a gazetteer cannot know them
    assert tagger["f1"]["value"] > 0.8 > gaz["f1"]["value"]
    assert e["paired"][0]["b"] == "gazetteer" and e["paired"][0]["p_value"] < 0.05
    assert e["out_of_reach"] == 0 and e["schema_source"] == str(SCHEMA)
    assert {f["field"] for f in tagger["per_field"]} <= set(load_dataset(FIELDS).fields)
    assert m["serving"]["requests_per_second"] > 0
    (run,) = [p for p in run_dir.iterdir() if p.is_dir()]
    assert json.loads((run / "schema.json").read_text()) == fieldmod.load_schema(SCHEMA)
    assert set(out["correct"]) == {"tagger", "gazetteer"}
    model, tok = load_tagger(run / "tagger")
    hold = json.loads((run / "holdout.json").read_text())["examples"][:5]
    texts = [h["messages"][-1]["content"] for h in hold]
    again = [json.loads(json.dumps(p)) for p in predict(model, tok, texts)]  # tuples: lists
    samples = json.loads((run / "metrics.json").read_text())["samples"][:5]
    assert again == [json.loads(s["predicted"]) for s in samples]
    # the advice quotes the run: its F1, validity and what it costs to serve on CPU cores
    scenario = EXAMPLES / "invoice_json_constrained.yaml"
    assert main(["recommend", str(scenario), "--runs", str(run)]) == 0
    advice = capsys.readouterr().out
    assert f"{tagger['f1']['value']:.1%}" in advice and "schema-valid 100.0%" in advice
    assert "per million requests" in advice and "Serving: the span tagger pilot" in advice
    # and the one-file report shows the fields, the scores per field and the worst rows
    from advisor import load_scenario, recommend
    from costmodels import estimate
    from reports.html import build_report
    from trainers.metrics import PilotMetrics

    s = load_scenario(scenario)
    metrics = PilotMetrics.model_validate_json((run / "metrics.json").read_text())
    page = build_report(s, recommend(s, estimate(s)), estimate(s), None, [metrics])
    assert "extraction</h3>" in page and "F1 per field" in page and "The worst rows" in page
    assert "Schema-valid" in page and "Span tagger - Gazetteer" in page


def test_bad_extraction_input_is_one_line_and_exit_2(tmp_path, runs_dir, capsys):
    bad = _write(tmp_path / "bad.jsonl", [{"text": "a b", "fields": "b"}])
    base = ["pilot", "--foreground", "--method", "tagger", "--no-probe", "--data"]
    assert main([*base, str(bad)]) == 2
    assert "line 1: 'fields' must be a JSON object" in capsys.readouterr().err
    (tmp_path / "s.json").write_text('{"type": "object", "required": ["po"]}')
    assert main([*base, str(FIELDS), "--schema", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err
    assert "no training row satisfies the schema" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "t.json").write_text('{"type": "object", "properties": {"a": {"type": "text"}}}')
    assert main([*base, str(FIELDS), "--schema", str(tmp_path / "t.json")]) == 2
    err = capsys.readouterr().err
    assert (
        "not a valid JSON Schema at properties/a/type" in err and len(err.strip().splitlines()) == 1
    )
    assert main([*base, str(EXAMPLES / "data" / "support_intents.csv")]) == 2
    assert "the tagger method needs extraction data" in capsys.readouterr().err
    csv_schema = [*base, str(EXAMPLES / "data" / "support_intents.csv")]
    csv_schema[3] = "classifier"
    assert main([*csv_schema, "--schema", str(SCHEMA)]) == 2
    assert "a schema applies to extraction data" in capsys.readouterr().err


@pytest.mark.slow
def test_the_pilot_page_shows_the_schema_then_the_extraction_results(runs_dir):
    import time
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from trainers import runs

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    demo = next(o for o in at.selectbox(key="demo_choice").options if "invoice fields" in o)
    at.selectbox(key="demo_choice").set_value(demo).run()
    at.selectbox(key="method").set_value("tagger").run()
    assert at.radio(key="schema_source").value == "the demo set's schema"
    assert any("120 of 120 training rows satisfy it" in c.value for c in at.caption)
    at.radio(key="schema_source").set_value("inferred from the data").run()
    assert any("The run saves it as schema.json" in c.value for c in at.caption)
    at.radio(key="schema_source").set_value("the demo set's schema").run()
    at.text_input(key="max_steps").set_value("12").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="launch").click().run()
    (row,) = runs.index_list()
    run_dir = Path(row["run_dir"])
    deadline = time.time() + 240
    while runs.status(run_dir) in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert runs.status(run_dir) == "done", (run_dir / "log.txt").read_text()[-2000:]
    assert (run_dir / "config.yaml").read_text().count("invoice_fields.schema.json") == 1
    at.run()
    assert not at.exception
    assert "Extraction: fields, format and validity" in [h.value for h in at.subheader]
    methods = next(d.value for d in at.table if "Schema-valid" in d.value.columns)
    assert list(methods.index) == ["Gazetteer", "Span tagger (result)"]
    assert any("F1 per field" in e.label for e in at.expander)


class _Fields(BaseHTTPRequestHandler):
    """A loopback chat server that answers every request with one fields object; with
    `refuse` set it refuses any request carrying a response_format (as servers without
    structured outputs do), and it records what each request carried."""

    refuse = False
    formats: list = []
    systems: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Fields.formats.append(body.get("response_format"))
        first = body["messages"][0]
        if first["role"] == "system" and "response_format" not in body:
            _Fields.systems.append(first["content"])
        if _Fields.refuse and "response_format" in body:
            return self._send(400, {"error": {"message": "response_format is not supported"}})
        text = body["messages"][-1]["content"]
        answer = json.dumps({"vendor": "Acme Tools"}) if "Acme" in text else "{}"
        return self._send(
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer},
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58},
            },
        )

    def _send(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("refuse", [False, True])
def test_an_endpoint_gets_the_schema_as_response_format_or_in_the_instruction(
    refuse, runs_dir, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("ADAPT_RESPONSE_CACHE", str(tmp_path / "cache.sqlite"))
    _Fields.refuse, _Fields.formats, _Fields.systems = refuse, [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fields)
    # polled every 20 ms: shutdown() waits up to one poll, 0.5 s by default
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "prompt",
        "--data",
        str(FIELDS),
        "--schema",
        str(SCHEMA),
    ]
    argv += ["--endpoint-url", url, "--endpoint-model", "m", "--no-probe", "--json"]
    try:
        assert main(argv) == 0
    finally:
        server.shutdown()
    e = json.loads(capsys.readouterr().out)["measurement"]["extract"]
    assert e["schema_sent_as"] == ("instruction" if refuse else "response_format")
    assert set(e["methods"]) == {"zero_shot", "few_shot"} and e["result"] == "few_shot"
    assert e["methods"]["few_shot"]["valid"]["value"] == 1.0  # measured either way
    sent = [f for f in _Fields.formats if f]
    if refuse:  # one refused probe, then the schema rides in every system prompt
        assert len(sent) == 1 and _Fields.systems
        assert all("validates against this JSON Schema" in s for s in _Fields.systems)
    else:
        assert len(sent) == len(_Fields.formats) and sent[0]["json_schema"][
            "schema"
        ] == fieldmod.load_schema(SCHEMA)


def test_answers_are_written_in_the_schema_order_that_constrained_decoding_keeps():
    """llguidance writes an object's properties in the schema's order; a model trained on
    another order would be forced off what it learned."""
    import llguidance
    import llguidance.hf
    from transformers import AutoTokenizer

    from trainers.eval.schema_decode import SEPARATORS
    from trainers.models import DEFAULT_MODEL, resolve_model

    schema = fieldmod.load_schema(SCHEMA)  # invoice_number, vendor, amount, ...
    fields = {"amount": "1.00", "vendor": "Acme Tools"}
    assert fieldmod.as_json(fields) == '{"amount": "1.00", "vendor": "Acme Tools"}'
    ordered = fieldmod.as_json(fields, fieldmod.schema_order(schema))
    assert ordered == '{"vendor": "Acme Tools", "amount": "1.00"}'
    tok = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    lltok = llguidance.hf.from_tokenizer(tok, n_vocab=len(tok), eos_token=tok.eos_token_id)
    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=SEPARATORS)
    for text, ok in ((ordered, True), (fieldmod.as_json(fields), False)):
        m = llguidance.LLMatcher(lltok, grammar)
        m.consume_tokens(tok(text, add_special_tokens=False)["input_ids"])
        assert m.is_accepting() is ok
