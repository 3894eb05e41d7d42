import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.conftest import EXAMPLES

DEMO_CSV = EXAMPLES / "data" / "support_intents.csv"
DEMO_CHAT = EXAMPLES / "data" / "support_summaries.jsonl"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("ADAPT_RUNS", str(root))
    return root


class _Teacher(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint on loopback that answers every request with a valid
    label of the demo data, and records the Authorization header it was sent."""

    seen_keys: list = []
    reply = "refund_request"  # a test may set another answer (one that is no label)

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        _Teacher.seen_keys.append(self.headers.get("Authorization", ""))
        body = json.dumps({"choices": [{"message": {"content": _Teacher.reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback_teacher():
    """(base URL, the list of Authorization headers received)."""
    _Teacher.seen_keys, _Teacher.reply = [], "refund_request"
    server = HTTPServer(("127.0.0.1", 0), _Teacher)
    # polled every 20 ms: shutdown() waits up to one poll, 0.5 s by default
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1", _Teacher.seen_keys
    server.shutdown()


@pytest.fixture
def unhelpful_teacher(loopback_teacher):
    """The loopback teacher, answering every request with no label at all."""
    _Teacher.reply = "I am not sure, sorry."
    return loopback_teacher[0]
