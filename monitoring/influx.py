"""Sending spooled points to an InfluxDB v2 API server (InfluxDB 2.x/3.x, VictoriaMetrics).

`InfluxSender.write` posts one batch of line-protocol lines (gzip, synchronous, no retries of its
own) and turns every failure into one `ExportError` with a message for the admin and a `retry`
flag. `drain` empties the spool into a sender oldest first, acking a batch only once the server
took it. `backoff_s` spaces the daemon's attempts while the link or the server is down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from monitoring.spool import REJECTED, Spool
from simpul.config.model import InfluxExport

Kind = Literal["unreachable", "unauthorized", "rejected", "server", "http", "config"]
DETAIL_CHARS = 300  # of a server's error message kept in ours


class ExportError(Exception):
    """A failed export: what kind, a message for the admin, and whether trying the same batch
    again later can succeed (`retry`); a batch that is not retried is dropped and counted."""

    def __init__(self, kind: Kind, message: str, retry: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry = retry
        self.status = status


def read_token(settings: InfluxExport) -> str:
    """The API token: `token`, or the stripped contents of `token_file` ('' for none)."""
    if settings.token_file is None:
        return settings.token
    try:
        return Path(settings.token_file).read_text().strip()
    except OSError as error:
        raise ExportError(
            "config", f"cannot read token_file {settings.token_file}: {error.strerror}", True
        ) from error


def _detail(error: ApiException) -> str:
    text = str(getattr(error, "message", "") or "").strip() or str(error.reason or "")
    return " ".join(text.split())[:DETAIL_CHARS]


def classify(error: ApiException | HTTPError | OSError, url: str, timeout_s: float) -> ExportError:
    """The `ExportError` for what influxdb-client or urllib3 raised while writing to `url`."""
    if isinstance(error, ApiException):
        status, detail = error.status or 0, _detail(error)
        if status in (401, 403):
            return ExportError(
                "unauthorized",
                f"{url} refused the write (HTTP {status}, {detail}): check the token "
                "(export.influx.token or token_file) and its write permission on the bucket",
                True,
                status,
            )
        if status in (400, 422):
            return ExportError(
                "rejected", f"{url} rejected the batch (HTTP {status}): {detail}", False, status
            )
        if status >= 500:
            return ExportError(
                "server", f"{url} failed (HTTP {status}): {detail}; will retry", True, status
            )
        if status == 404:
            return ExportError(
                "http",
                f"{url}: not found (HTTP 404, {detail}): check the url, org and bucket",
                True,
                status,
            )
        if status == 413:
            return ExportError(
                "http",
                f"{url}: batch too large (HTTP 413): lower export.influx.batch_size",
                True,
                status,
            )
        if status == 0:  # influxdb-client's way of reporting a TLS failure
            return ExportError("unreachable", f"{url}: TLS error: {detail}", True)
        return ExportError("http", f"{url} answered HTTP {status}: {detail}", True, status)
    # NewConnectionError (and NameResolutionError, one of them) is also a ConnectTimeoutError.
    if isinstance(error, NameResolutionError):
        return ExportError("unreachable", f"{url}: cannot resolve the host name", True)
    if isinstance(error, NewConnectionError):
        reason = str(error).split(": ", 1)[-1]
        return ExportError("unreachable", f"{url}: cannot connect ({reason})", True)
    if isinstance(error, ConnectTimeoutError):
        return ExportError("unreachable", f"{url}: cannot connect within {timeout_s:g} s", True)
    if isinstance(error, ReadTimeoutError):
        return ExportError("unreachable", f"{url}: no answer within {timeout_s:g} s", True)
    return ExportError("unreachable", f"{url}: connection failed ({error})", True)


class Sender(Protocol):
    """Anything that writes one batch of line-protocol lines or raises `ExportError`."""

    def write(self, lines: Sequence[bytes]) -> None:
        """Write the batch."""


class InfluxSender:
    """Writes batches of line-protocol lines to the InfluxDB v2 API of the configuration."""

    def __init__(self, settings: InfluxExport) -> None:
        self.url = str(settings.url).rstrip("/")
        self.org = settings.org
        self.bucket = settings.bucket
        self.timeout_s = settings.timeout_s
        self.client = InfluxDBClient(
            url=self.url,
            token=read_token(settings),
            org=settings.org,
            timeout=settings.timeout_s * 1000,  # milliseconds
            enable_gzip=True,
        )
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)

    def __enter__(self) -> InfluxSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, lines: Sequence[bytes]) -> None:
        """POST the lines (nanosecond timestamps) as one gzip'd request; `ExportError` if the
        server did not take them."""
        try:
            self.write_api.write(
                bucket=self.bucket,
                org=self.org,
                record=b"\n".join(lines),
                write_precision=WritePrecision.NS,
            )
        except (ApiException, HTTPError, OSError) as error:
            raise classify(error, self.url, self.timeout_s) from error

    def close(self) -> None:
        """Close the connections."""
        self.write_api.close()
        self.client.close()


@dataclass(frozen=True)
class DrainReport:
    """What one `drain` did: points the server took, in how many batches, points dropped as
    rejected, and the last error (a retryable one stopped the drain)."""

    sent: int = 0
    batches: int = 0
    rejected: int = 0
    error: ExportError | None = None


def drain(
    spool: Spool, sender: Sender, batch_size: int, max_batches: int | None = None
) -> DrainReport:
    """Send the spool's points oldest first, `batch_size` at a time, until it is empty, a
    retryable error stops it, or `max_batches` batches were tried. A batch is acked only after
    the server took it; a rejected batch is dropped and counted with the server's message (with
    InfluxDB's partial writes, its good lines may have been stored all the same). A batch whose
    ack fails (`SpoolError`, raised) is sent again by a later drain."""
    sent = batches = rejected = tried = 0
    error: ExportError | None = None
    while max_batches is None or tried < max_batches:
        items = spool.peek(batch_size)
        if not items:
            break
        tried += 1
        ids = [item.id for item in items]
        try:
            sender.write([item.line for item in items])
        except ExportError as failure:
            error = failure
            if failure.retry:
                break
            rejected += spool.drop(ids, REJECTED, str(failure))
            continue
        spool.ack(ids)
        sent += len(items)
        batches += 1
    return DrainReport(sent, batches, rejected, error)


def backoff_s(failures: int, base_s: float = 10.0, cap_s: float = 600.0) -> float:
    """Seconds to wait after `failures` failed attempts in a row: none after none, then `base_s`
    doubling up to `cap_s`."""
    if failures <= 0:
        return 0.0
    return min(cap_s, base_s * 2 ** min(failures - 1, 32))
