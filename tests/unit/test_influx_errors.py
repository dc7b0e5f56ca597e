"""The InfluxDB sender against a tiny HTTP server on 127.0.0.1 (what it sends, how each failure is
classified), `drain` with a fake sender, and the backoff."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from monitoring.influx import ExportError, InfluxSender, backoff_s, drain
from monitoring.points import point
from monitoring.spool import REJECTED, Spool
from simpul.config.model import InfluxExport
from tests.unit.http_stub import QuietHandler, free_port, serving

LINES = [
    b"acct,site=rtm-lam bytes=1i 1795000000000000000",
    b"acct,site=x bytes=2i 1795000000001000000",
]


@dataclass
class Server:
    """What the server answers next, and what it was sent."""

    url: str
    status: int = 204
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    state: Server

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = gzip.decompress(raw) if self.headers["Content-Encoding"] == "gzip" else raw
            split = urlsplit(self.path)
            state.requests.append(
                {"path": split.path, "query": parse_qs(split.query), "headers": dict(self.headers),
                 "body": body}
            )  # fmt: skip
            self.reply(state.status, state.body, state.content_type)

    with serving(Handler) as port:
        state = Server(f"http://127.0.0.1:{port}")
        yield state


def settings(url: str, **extra: Any) -> InfluxExport:
    return InfluxExport(url=url, org="diskominfo", bucket="simpul", **{"token": "s3cret", **extra})


def write(url: str, **extra: Any) -> ExportError | None:
    with InfluxSender(settings(url, **extra)) as sender:
        try:
            sender.write(LINES)
        except ExportError as error:
            return error
    return None


def test_a_write_is_one_gzipped_post_with_the_token(server: Server) -> None:
    assert write(server.url + "/") is None
    (req,) = server.requests
    assert req["path"] == "/api/v2/write"
    assert req["query"] == {"org": ["diskominfo"], "bucket": ["simpul"], "precision": ["ns"]}
    assert req["headers"]["Content-Encoding"] == "gzip"
    assert req["headers"]["Authorization"] == "Token s3cret"
    assert req["body"] == b"\n".join(LINES)


def test_token_from_a_file(server: Server, tmp_path: Path) -> None:
    token_file = tmp_path / "influx.token"
    token_file.write_text("from-file\n")
    assert write(server.url, token="", token_file=str(token_file)) is None
    assert server.requests[0]["headers"]["Authorization"] == "Token from-file"


def test_an_unreadable_token_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"cannot read token_file .*No such file") as caught:
        InfluxSender(settings("http://127.0.0.1:1", token="", token_file=str(tmp_path / "no")))
    assert caught.value.kind == "config"


@pytest.mark.parametrize("status", [401, 403])
def test_unauthorized(server: Server, status: int) -> None:
    server.status = status
    server.content_type = "application/json"
    server.body = json.dumps({"code": "unauthorized", "message": "unauthorized access"}).encode()
    error = write(server.url)
    assert error is not None
    assert (error.kind, error.retry, error.status) == ("unauthorized", True, status)
    assert f"(HTTP {status}, unauthorized access): check the token" in str(error)


@pytest.mark.parametrize("status", [400, 422])
def test_rejected(server: Server, status: int) -> None:
    server.status = status
    server.content_type = "application/json"
    server.body = json.dumps(
        {"code": "invalid", "message": "partial write: field type conflict dropped=1"}
    ).encode()
    error = write(server.url)
    assert error is not None
    assert (error.kind, error.retry, error.status) == ("rejected", False, status)
    assert str(error) == (
        f"{server.url} rejected the batch (HTTP {status}): "
        "partial write: field type conflict dropped=1"
    )


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error(server: Server, status: int) -> None:
    server.status = status
    server.body = b"storage is read-only\n"
    error = write(server.url)
    assert error is not None
    assert (error.kind, error.retry, error.status) == ("server", True, status)
    assert "storage is read-only; will retry" in str(error)


@pytest.mark.parametrize(
    ("status", "hint"),
    [(404, "check the url, org and bucket"), (413, "lower export.influx.batch_size"),
     (429, "answered HTTP 429")],
)  # fmt: skip
def test_other_statuses_keep_the_batch(server: Server, status: int, hint: str) -> None:
    server.status = status
    error = write(server.url)
    assert error is not None
    assert (error.kind, error.retry) == ("http", True)
    assert hint in str(error)


def test_closed_port_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    error = write(url)
    assert error is not None
    assert (error.kind, error.retry, error.status) == ("unreachable", True, None)
    assert str(error).startswith(f"{url}: cannot connect (")
    assert "Connection refused" in str(error)


def test_silent_server_times_out() -> None:
    with socket.socket() as silent:  # accepts (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        error = write(url, timeout_s=0.3)
    assert error is not None
    assert (error.kind, error.retry) == ("unreachable", True)
    assert str(error) == f"{url}: no answer within 0.3 s"


# -- drain --------------------------------------------------------------------------------------


class FakeSender:
    """Takes batches, or fails with the next error queued in `errors`."""

    def __init__(self, errors: Sequence[ExportError | None] = ()) -> None:
        self.errors = list(errors)
        self.batches: list[list[bytes]] = []

    def write(self, lines: Sequence[bytes]) -> None:
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        self.batches.append(list(lines))


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(str(tmp_path / "spool.db"), 2**20) as s:
        s.put(point("m", {"k": "v"}, {"seq": i}, i) for i in range(25))
        yield s


def test_drain_sends_everything_oldest_first_and_acks(spool: Spool) -> None:
    sender = FakeSender()
    report = drain(spool, sender, batch_size=10)
    assert (report.sent, report.batches, report.rejected, report.error) == (25, 3, 0, None)
    assert [len(b) for b in sender.batches] == [10, 10, 5]
    sent = [line for batch in sender.batches for line in batch]
    assert sent == [f"m,k=v seq={i}i {i}".encode() for i in range(25)]
    assert spool.stats().waiting == 0 and spool.stats().acked == 25


def test_drain_stops_at_a_retryable_error_and_keeps_the_batch(spool: Spool) -> None:
    down = ExportError("unreachable", "http://x: cannot connect", True)
    sender = FakeSender([None, down])
    report = drain(spool, sender, batch_size=10)
    assert (report.sent, report.batches, report.error) == (10, 1, down)
    assert spool.stats().waiting == 15, "the failed batch is still spooled"
    report = drain(spool, sender, batch_size=10)
    assert (report.sent, report.error) == (15, None)
    sent = [line for batch in sender.batches for line in batch]
    assert [int(line.split(b"seq=")[1].split(b"i")[0]) for line in sent] == list(range(25))


def test_drain_drops_and_counts_a_rejected_batch(spool: Spool) -> None:
    bad = ExportError("rejected", "http://x rejected the batch (HTTP 400): bad line", False, 400)
    report = drain(spool, FakeSender([None, bad]), batch_size=10)
    assert (report.sent, report.batches, report.rejected, report.error) == (15, 2, 10, bad)
    (loss,) = spool.stats().dropped
    assert (loss.reason, loss.points, loss.message) == (REJECTED, 10, str(bad))
    assert (loss.first_time_ns, loss.last_time_ns) == (10, 19)


def test_drain_max_batches(spool: Spool) -> None:
    report = drain(spool, FakeSender(), batch_size=10, max_batches=2)
    assert (report.sent, report.batches) == (20, 2)
    assert spool.stats().waiting == 5


def test_drain_of_an_empty_spool(tmp_path: Path) -> None:
    with Spool(str(tmp_path / "empty.db"), 2**20) as empty:
        assert drain(empty, FakeSender(), 10) == drain(empty, FakeSender(), 10)
        assert drain(empty, FakeSender(), 10).sent == 0


def test_backoff() -> None:
    assert [backoff_s(n) for n in range(9)] == [0, 10, 20, 40, 80, 160, 320, 600, 600]
    assert backoff_s(10_000) == 600
    assert backoff_s(3, base_s=1, cap_s=30) == 4
