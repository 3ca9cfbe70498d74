"""A webhook receiver on loopback (http.server in a thread) with scripted answers per path."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Hook:
    """A webhook receiver: what arrived per path, and scripted answers."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.content_types: list[str] = []
        self.failures_left = {"/flaky": 2}
        self.gate = threading.Event()
        self.lock = threading.Lock()

    def answer(self, path: str, body: bytes, content_type: str) -> int:
        with self.lock:
            self.received.setdefault(path, []).append(json.loads(body))
            self.content_types.append(content_type)
            if path == "/flaky" and self.failures_left["/flaky"] > 0:
                self.failures_left["/flaky"] -= 1
                return 500
        if path == "/down":
            return 503
        if path == "/wrong":
            return 400
        if path == "/slow":
            self.gate.wait(timeout=10)
        return 200


@contextlib.contextmanager
def serve_hook() -> Iterator[tuple[Hook, str]]:
    """A running receiver and its base URL; /flaky fails twice, /down always, /slow waits for the gate."""
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = state.answer(self.path, body, self.headers.get("content-type", ""))
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        state.gate.set()  # never leave a request hanging at shutdown
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
