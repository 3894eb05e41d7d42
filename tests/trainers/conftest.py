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

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        _Teacher.seen_keys.append(self.headers.get("Authorization", ""))
        body = json.dumps({"choices": [{"message": {"content": "refund_request"}}]}).encode()
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
    _Teacher.seen_keys = []
    server = HTTPServer(("127.0.0.1", 0), _Teacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1", _Teacher.seen_keys
    server.shutdown()
