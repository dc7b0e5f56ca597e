"""netd's local API: one JSON object per line over a Unix stream socket.

Request:  {"id": 1, "method": "authorize", "params": {"mac": "…", "ip": "…"}}
Response: {"id": 1, "ok": true, "result": …} or {"id": 1, "ok": false, "error": {"code", "message"}}
"""

from __future__ import annotations

import json
import socket
from typing import Any

DEFAULT_SOCKET = "/run/simpul/netd.sock"
MAX_LINE = 1 << 20


class ApiError(Exception):
    """An error reported by netd (or by the transport), with a machine-readable code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def encode(obj: dict[str, Any]) -> bytes:
    """One protocol line."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class NetdClient:
    """A blocking client of netd's (or the DNS front end's) socket: one connection, requests
    in turn."""

    def __init__(
        self, path: str = DEFAULT_SOCKET, timeout_s: float = 30.0, service: str = "netd"
    ) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.service = service
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._next_id = 0

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout_s)
            try:
                sock.connect(self.path)
            except FileNotFoundError:
                sock.close()
                raise ApiError(
                    "unavailable", f"{self.service} is not running (no socket at {self.path})"
                ) from None
            except PermissionError:
                sock.close()
                raise ApiError(
                    "forbidden",
                    f"no permission to use {self.path}: join {self.service}'s socket group",
                ) from None
            except OSError as exc:
                sock.close()
                raise ApiError(
                    "unavailable", f"cannot reach {self.service} at {self.path}: {exc}"
                ) from None
            self._sock = sock
        return self._sock

    def close(self) -> None:
        """Close the connection."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> NetdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, api_method: str, **params: Any) -> Any:
        """Call one method; returns its result or raises `ApiError`."""
        sock = self._connect()
        self._next_id += 1
        try:
            sock.sendall(encode({"id": self._next_id, "method": api_method, "params": params}))
            while b"\n" not in self._buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ApiError("unavailable", f"{self.service} closed the connection")
                self._buffer += chunk
        except OSError as exc:
            self.close()
            raise ApiError("unavailable", f"{self.service} connection failed: {exc}") from None
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            error = reply.get("error", {})
            raise ApiError(error.get("code", "error"), error.get("message", "unknown error"))
        return reply.get("result")
