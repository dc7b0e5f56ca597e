"""The lab's SMS/WhatsApp gateway: records every message it is asked to deliver.

    python -m simpul.lab.sms_gateway --listen 198.51.100.70 --port 8025 --token lab-token

POST /send (JSON {"to", "message", "channel"}, `Authorization: Bearer <token>`) → 202 and the
message is kept; GET /messages → the kept messages as JSON (what a phone would have received).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 4096


class Outbox:
    """Messages received, in order (thread-safe)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, message: dict[str, Any]) -> None:
        """Keep one message."""
        with self.lock:
            self.messages.append(message)


def make_server(listen: str, port: int, token: str) -> ThreadingHTTPServer:
    """A gateway server that checks the bearer token and keeps what it is sent."""
    outbox = Outbox()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != "/messages":
                self._reply(404, {"error": "not found"})
                return
            with outbox.lock:
                self._reply(200, list(outbox.messages))

        def do_POST(self) -> None:
            if self.path != "/send":
                self._reply(404, {"error": "not found"})
                return
            if self.headers.get("Authorization") != f"Bearer {token}":
                self._reply(401, {"error": "bad token"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._reply(400, {"error": "body must be 1-4096 bytes of JSON"})
                return
            try:
                message = json.loads(self.rfile.read(length))
                assert isinstance(message, dict) and {"to", "message"} <= message.keys()
            except (ValueError, AssertionError):
                self._reply(400, {"error": "JSON with 'to' and 'message' expected"})
                return
            outbox.add(message)
            self._reply(202, {"queued": True})

        def log_message(self, fmt: str, *args: Any) -> None:
            pass  # the numbers are personal data: no access log

    server = ThreadingHTTPServer((listen, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="simpul-lab-sms-gateway")
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--token", default="lab-token")
    args = parser.parse_args(argv)
    server = make_server(args.listen, args.port, args.token)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
