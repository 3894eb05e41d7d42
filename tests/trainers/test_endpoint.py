"""Issue 15 (first part): the prompt and retrieval pilots through an OpenAI-compatible
endpoint, against transformers' own server and a faulty loopback server."""

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli import main
from tests.trainers.conftest import DEMO_CSV
from trainers.data import load_dataset

LABELS = load_dataset(DEMO_CSV).labels
SECRET = "sk-test-never-written-3f9a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Faulty(BaseHTTPRequestHandler):
    """Answers chat completions with a valid label and usage, except that the n-th request
    fails as `plan[n % len(plan)]` says: 429 with Retry-After, 500, malformed JSON, a
    body cut short, or no answer before the client's timeout. Counts the answered requests
    per prompt."""

    plan: list[str] = ["ok"]
    prompt_tokens: int | None = 100  # None: a word count, 3 more per message
    delay_s = 0.0
    seen: Counter = Counter()
    auth: list[str] = []
    n = 0

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Faulty.auth.append(self.headers.get("Authorization", ""))
        kind = Faulty.plan[Faulty.n % len(Faulty.plan)]
        Faulty.n += 1
        if kind == "429":
            return self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"})
        if kind == "500":
            return self._send(500, b'{"error": {"message": "boom"}}')
        if kind == "400":  # refused at once, never retried
            return self._send(400, b'{"error": {"message": "bad request"}}')
        if kind == "slow":  # past the client's timeout: it gives up and retries
            time.sleep(1.5)
            return None
        if kind == "malformed":
            return self._send(200, b'{"choices": [')
        if kind == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "500")
            self.end_headers()
            self.wfile.write(b'{"choices": [{"message"')
            return None
        time.sleep(Faulty.delay_s)
        Faulty.seen[json.dumps(body["messages"])] += 1  # one prompt, one key
        words = sum(len(m["content"].split()) + 3 for m in body["messages"])
        tokens = words if Faulty.prompt_tokens is None else Faulty.prompt_tokens
        answer = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": LABELS[0]},
                }
            ],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 3, "total_tokens": tokens + 3},
        }
        return self._send(200, json.dumps(answer).encode())

    def _send(self, code, data: bytes, headers=None):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def faulty(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAPT_CACHE", str(tmp_path / "cache"))
    Faulty.plan, Faulty.seen, Faulty.auth, Faulty.n = ["ok"], Counter(), [], 0
    Faulty.prompt_tokens, Faulty.delay_s = 100, 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    # polled every 20 ms: shutdown() waits up to one poll, 0.5 s by default
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def rows_seen() -> Counter:
    """The holdout rows' prompts, without the instruction's two token-count probes."""
    return Counter({k: v for k, v in Faulty.seen.items() if json.loads(k)[-1]["content"] != "Hi"})


def _pilot(capsys, url, *extra) -> dict:
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "prompt",
        "--data",
        str(DEMO_CSV),
        "--endpoint-url",
        url,
    ]
    argv += ["--endpoint-model", "gpt-4o", "--holdout-max", "24", "--json", *extra]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_faults_end_with_every_row_scored_or_listed_and_nothing_sent_twice(
    faulty, runs_dir, capsys
):
    Faulty.plan = ["ok", "429", "ok", "500", "ok", "malformed", "ok", "truncated", "ok", "slow"]
    out = _pilot(capsys, faulty, "--concurrency", "2", "--endpoint-timeout-s", "0.5")
    e, failed = out["measurement"]["endpoint"], out["failed_rows"]
    assert e["requests"] == 24 and e["model"] == "gpt-4o"
    scored = out["measurement"]["quality"]["n"]
    assert scored + sum(f["variant"] == "few_shot" for f in failed) == 24
    assert all(f["reason"] for f in failed)  # each unanswered row says why
    assert e["input_tokens_per_request"] == 100 and e["output_tokens_per_request"] == 3
    assert e["usd_per_request"] == pytest.approx((100 * 2.5 + 3 * 10) / 1e6)  # catalog gpt-4o
    # the same pilot again: answered rows come from the cache, only failed ones are re-sent
    before = sum(rows_seen().values())
    Faulty.plan = ["ok"]
    again = _pilot(capsys, faulty)
    assert again["measurement"]["endpoint"]["errors"] == 0
    assert sum(rows_seen().values()) - before == len(out["failed_rows"])
    assert max(Faulty.seen.values()) == 1  # no answered row was ever sent twice


def test_the_spend_cap_stops_the_run_with_what_was_spent(faulty, runs_dir, capsys):
    """The preflight predicts about $70 from the prompts' characters; the server bills
    1,000 tokens a request ($10), so the run itself must stop at the $100 cap."""
    Faulty.prompt_tokens = 1000
    price = ["--usd-per-1m-input", "10000", "--usd-per-1m-output", "0"]
    out = _pilot(capsys, faulty, *price, "--max-usd", "100", "--concurrency", "1")
    assert sum(Faulty.seen.values()) == 10  # the tenth request reached the cap
    assert all("spend cap" in f["reason"] for f in out["failed_rows"])
    assert len(out["failed_rows"]) == 48 - sum(rows_seen().values())  # 2 counted the instruction


def test_the_key_is_sent_and_written_nowhere(faulty, runs_dir, capsys, monkeypatch):
    monkeypatch.setenv("ENDPOINT_KEY", SECRET)
    out = _pilot(capsys, faulty, "--endpoint-key-env", "ENDPOINT_KEY")
    assert Faulty.auth and all(a == f"Bearer {SECRET}" for a in Faulty.auth)
    run_dir = Path(out["run_dir"])
    scenario = Path(__file__).parents[2] / "examples" / "support_intents_routing.yaml"
    for fmt in ("csv", "json", "xlsx", "html"):  # the exports that quote the run
        dest = runs_dir / f"report.{fmt}"
        argv = ["export", str(scenario), "--runs", run_dir.name, "--format", fmt]
        assert main([*argv, "--out", str(dest)]) == 0 and dest.stat().st_size > 0
    assert main(["recommend", str(scenario), "--runs", run_dir.name]) == 0
    assert SECRET not in capsys.readouterr().out
    for path in [*run_dir.rglob("*"), *runs_dir.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert "ENDPOINT_KEY" in (run_dir / "config.yaml").read_text()  # the name, not the key


def test_the_instruction_lists_every_label_with_its_description_and_is_counted(
    faulty, runs_dir, capsys, tmp_path
):
    from trainers.instruction import classify_instruction

    described = {LABELS[0]: "the customer cannot get into their account", LABELS[1]: ""}
    csv = tmp_path / "labels.csv"
    csv.write_text("label,description\n" + "".join(f"{k},{v}\n" for k, v in described.items()))
    Faulty.prompt_tokens = None  # the server counts words
    out = _pilot(capsys, faulty, "--label-descriptions", str(csv))
    instruction = classify_instruction(tuple(sorted(LABELS)), described)
    systems = {json.loads(k)[0]["content"] for k in rows_seen()}
    assert systems == {instruction} and f"- {LABELS[0]}: the customer" in instruction
    assert all(f"- {b}" in instruction for b in LABELS)
    e = out["measurement"]["endpoint"]
    assert e["instruction_tokens"] == len(instruction.split()) + 3
    assert e["input_tokens_per_request"] > e["instruction_tokens"]


def test_a_bad_label_descriptions_file_names_its_line(faulty, runs_dir, capsys, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text(f"label,description\n{LABELS[0]},fine\nno_such_label,what\n")
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "prompt",
        "--data",
        str(DEMO_CSV),
        "--endpoint-url",
        faulty,
    ]
    assert main([*argv, "--endpoint-model", "m", "--label-descriptions", str(csv)]) == 2
    assert "labels.csv line 3: label 'no_such_label' is not in the data" in capsys.readouterr().err
    assert not Faulty.seen


@pytest.fixture(scope="module")
def transformers_server():
    """transformers' own OpenAI-compatible server on loopback, serving the default model."""
    from trainers.models import convert_default_model

    folder = convert_default_model()
    port = _free_port()
    exe = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen(
        [str(exe), "serve", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/models", timeout=1)  # noqa: S310 (loopback)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("transformers serve did not start in 60 s")
    yield url, str(folder)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["prompt", "retrieval"])
def test_a_real_local_server_answers_the_pilot(transformers_server, method, runs_dir, capsys):
    url, model = transformers_server
    argv = [
        "pilot",
        "--foreground",
        "--method",
        method,
        "--data",
        str(DEMO_CSV),
        "--endpoint-url",
        url,
    ]
    argv += ["--endpoint-model", model, "--holdout-max", "8", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    e = out["measurement"]["endpoint"]
    keys = {"model", "requests", "input_tokens_per_request", "output_tokens_per_request"}
    keys |= {"latency_ms_p50", "latency_ms_p95", "usd_per_request", "errors"}
    assert keys <= set(e) and e["requests"] == 8 and e["errors"] == 0
    assert e["tokens_counted"] and e["input_tokens_per_request"] > 20
    assert 0 < e["latency_ms_p50"] <= e["latency_ms_p95"]
    assert e["usd_per_request"] == 0.0  # a model you host: no catalog price, none given
    assert out["measurement"]["quality"]["n"] == 8
    if method == "retrieval":
        assert {"nearest_neighbour_label", "linear_probe"} <= set(out["measurement"]["baselines"])


def test_the_preflight_refuses_a_pilot_predicted_over_the_cap(faulty, runs_dir, capsys):
    price = ["--usd-per-1m-input", "10000", "--usd-per-1m-output", "0"]
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "prompt",
        "--data",
        str(DEMO_CSV),
        "--endpoint-url",
        faulty,
    ]
    argv += ["--endpoint-model", "m", "--max-usd", "1", *price]
    assert main(argv) == 2
    assert "over --max-usd $1" in capsys.readouterr().err
    assert sum(Faulty.seen.values()) == 0  # nothing was sent


@pytest.mark.slow
@pytest.mark.parametrize("method", ["prompt", "retrieval"])
def test_the_pilot_page_runs_an_endpoint_pilot_and_writes_the_key_nowhere(faulty, runs_dir, method):
    import os

    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from trainers import runs

    key = "sk-app-" + os.urandom(8).hex()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.switch_page("app_pages/pilot.py").run()
    at.selectbox(key="method").set_value(method).run()
    at.text_input(key="holdout_max").set_value("8").run()
    at.text_input(key="endpoint_url").set_value(faulty).run()
    at.text_input(key="endpoint_model").set_value("gpt-4o")
    at.text_input(key="api_key").set_value(key).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="launch").click().run()
    (row,) = runs.index_list()
    run_dir = Path(row["run_dir"])
    deadline = time.time() + 180
    while runs.status(run_dir) in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert runs.status(run_dir) == "done", (run_dir / "log.txt").read_text()[-2000:]
    assert Faulty.auth and all(a == f"Bearer {key}" for a in Faulty.auth)
    files = [p for p in runs_dir.rglob("*") if p.is_file()]
    assert [p for p in files if key.encode() in p.read_bytes()] == []
    at.run()
    shown = {m.label: m.value for m in at.metric}
    assert shown["requests"] == "8" and shown["cost per request"].startswith("$0.000")


@pytest.mark.slow
def test_killed_with_kill_9_and_resumed_no_row_is_sent_twice(faulty, runs_dir, capsys):
    import os
    import signal

    from trainers import runs

    Faulty.delay_s = 0.1
    argv = ["pilot", "--method", "prompt", "--data", str(DEMO_CSV), "--endpoint-url", faulty]
    argv += ["--endpoint-model", "m", "--holdout-max", "40", "--concurrency", "2"]
    assert main([*argv, "--detach", "--json"]) == 0
    run_dir = Path(json.loads(capsys.readouterr().out)["run_dir"])
    deadline = time.time() + 120
    while sum(Faulty.seen.values()) < 30 and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(int((run_dir / "pid").read_text()), signal.SIGKILL)
    while runs.status(run_dir) in ("running", "queued") and time.time() < deadline:
        time.sleep(0.1)
    sent_before = sum(Faulty.seen.values())
    assert 30 <= sent_before < 80 and not (run_dir / "metrics.json").exists()
    assert main(["pilot", "--resume", run_dir.name, "--foreground", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "done" and out["measurement"]["endpoint"]["errors"] == 0
    seen = rows_seen()
    assert len(seen) == 80 and max(seen.values()) <= 2
    # at most the requests in flight at the kill (concurrency 2) were sent a second time:
    # their answers never reached the client; every answered row came from the cache
    assert sum(seen.values()) - 80 <= 2


@pytest.mark.slow
def test_a_real_local_server_teaches_a_classifier_student(
    transformers_server, runs_dir, capsys, tmp_path
):
    """The endpoint teacher's mechanics end to end (the 135M model is a weak teacher: the
    test checks what is recorded, not its quality): its answers are filtered and counted,
    its measured tokens and price per call are kept, and the cost model prices them."""
    url, model = transformers_server
    import csv

    facts = [
        ("Is fire hot?", "yes"), ("Is ice hot?", "no"), ("Is the sky blue?", "yes"),
        ("Is grass purple?", "no"), ("Do fish swim?", "yes"), ("Can a stone sing?", "no"),
        ("Is water wet?", "yes"), ("Is the sun cold?", "no"), ("Do birds fly?", "yes"),
        ("Is snow black?", "no"), ("Do dogs bark?", "yes"), ("Can a cat drive a car?", "no"),
    ]  # fmt: skip
    qs = [(f"Answer yes or no. {q}", a) for q, a in facts]
    qs += [(f"Answer yes or no, please. {q}", a) for q, a in facts]
    inputs, hold = tmp_path / "inputs.csv", tmp_path / "holdout.csv"
    with inputs.open("w", newline="") as f:
        csv.writer(f).writerows([["text"], *[[t] for t, _ in qs[:16]]])
    with hold.open("w", newline="") as f:
        csv.writer(f).writerows([["text", "label"], *qs[16:]])
    argv = ["pilot", "--foreground", "--method", "distill_classifier", "--inputs", str(inputs)]
    argv += ["--holdout-data", str(hold), "--teacher-url", url, "--teacher-model", model]
    argv += ["--usd-per-1m-input", "0.15", "--usd-per-1m-output", "0.6", "--max-usd", "1"]
    argv += ["--no-abstain", "--no-soft-targets", "--epochs", "1", "--no-probe", "--json"]
    code = main(argv)
    err = capsys.readouterr()
    assert code == 0, err.err
    d = json.loads(err.out)["measurement"]["distill"]
    assert d["teacher_kind"] == "endpoint" and d["inputs_labelled"] == 16
    assert d["kept"] + sum(d["dropped"].values()) == 16 and d["kept"] >= 1
    assert d["teacher_input_tokens_per_request"] > 20 and d["teacher_usd_per_request"] > 0
