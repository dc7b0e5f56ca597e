"""The lab's "internet": one web server, in the lab's ``sp-inet`` namespace, for every outside site.

Run as ``python -m simpul.lab.inet --listen 0.0.0.0 --port 80 --sites SITES.json``. It answers by
Host header with a small page per lab site, and on every host:

* ``/bytes/N`` — exactly N bytes (0 to 2 GiB) of deterministic content (byte i is ``i % 256``),
  streamed in 64 KiB chunks, for throughput and accounting tests;
* the captive-portal probes of Android, Apple, Windows and Firefox — the exact answers the real
  servers give (`portal.captive.probes.ONLINE_ANSWERS`), so an authorized client reads online;
* ``/health`` — ``ok``.

The content logic is the pure function `respond`; the handler only writes what it returns.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from portal.captive.probes import ONLINE_ANSWERS

CHUNK = 64 * 1024
MAX_BYTES = 2 * 1024**3
_BLOCK = bytes(range(256)) * (CHUNK // 256)  # one chunk of the repeating pattern
_BYTES_PATH = re.compile(r"^/bytes/(.*)$")
_SIZE = re.compile(r"^\d{1,10}$")


@dataclass(frozen=True)
class Site:
    """A lab web site: its page title and body (an HTML fragment from the lab's own data)."""

    title: str
    body: str


DEFAULT_SITES: dict[str, Site] = {
    "merantikab.go.id": Site(
        "Portal Berita Kabupaten Kepulauan Meranti",
        "<p>Berita terkini dari Kabupaten Kepulauan Meranti, Provinsi Riau.</p>",
    ),
    "www.youtube.com": Site(
        "YouTube (lab)",
        '<p>Video palsu untuk lab: <a href="/bytes/10485760">unduh 10 MiB</a>.</p>',
    ),
    "viu.com": Site("Viu (lab)", "<p>Drama Korea dan Asia, tiruan untuk lab.</p>"),
    "example.org": Site("Example Domain", "<p>This domain is for use in lab examples.</p>"),
}


class Response(NamedTuple):
    """What to answer: status, headers, and the body or, as an int, a `/bytes/N` stream size."""

    status: int
    headers: dict[str, str]
    body: bytes | int


def pattern_chunks(size: int) -> Iterator[bytes]:
    """`size` bytes of the deterministic pattern (byte i is ``i % 256``) in 64 KiB pieces."""
    for _ in range(size // CHUNK):
        yield _BLOCK
    if size % CHUNK:
        yield _BLOCK[: size % CHUNK]


def _text(status: int, text: str) -> Response:
    body = text.encode()
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
    }
    return Response(status, headers, body)


def page(host: str, site: Site | None) -> bytes:
    """The HTML page of `site` (or the plain page of an unknown `host`)."""
    if site is None:
        site = Site(host or "Lab site", "<p>A plain site on the lab's internet.</p>")
    title = html.escape(site.title)
    return (
        '<!doctype html>\n<html lang="id">\n<head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{site.body}\n"
        f'<p class="lab-host">{html.escape(host)}</p>\n</body>\n</html>\n'
    ).encode()


def normal_host(host: str) -> str:
    """The Host header's name: lowercase, without the port or a trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].rstrip(".")


def respond(host: str, path: str, sites: Mapping[str, Site] = DEFAULT_SITES) -> Response:
    """The answer to a GET of `path` (query string allowed) with Host header `host`."""
    path = urlsplit(path).path or "/"
    name = normal_host(host)
    if path == "/health":
        return _text(200, "ok")
    if path in ONLINE_ANSWERS:
        answer = ONLINE_ANSWERS[path]
        headers = {"Cache-Control": "no-store"}
        if answer.content_type is not None:
            headers |= {
                "Content-Type": answer.content_type,
                "Content-Length": str(len(answer.body)),
            }
        return Response(answer.status, headers, answer.body)
    match = _BYTES_PATH.match(path)
    if match:
        raw = match.group(1)
        size = int(raw) if _SIZE.match(raw) else -1
        if not 0 <= size <= MAX_BYTES:
            return _text(
                400,
                f"bad size {raw!r}: use /bytes/N with N a whole number of bytes "
                f"from 0 to {MAX_BYTES} (2 GiB)\n",
            )
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            "Cache-Control": "no-store",
        }
        return Response(200, headers, size)
    body = page(name, sites.get(name))
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body))}
    return Response(200, headers, body)


def parse_sites(data: Any) -> dict[str, Site]:
    """Sites from decoded JSON ``{host: {"title": ..., "body": ...}}``; ValueError if malformed."""
    if not isinstance(data, dict):
        raise ValueError('the sites file must be a JSON object {"host": {"title", "body"}}')
    sites = {}
    for host, entry in data.items():
        if not (
            isinstance(entry, dict)
            and set(entry) == {"title", "body"}
            and all(isinstance(v, str) for v in entry.values())
        ):
            raise ValueError(f'site {host!r} must be {{"title": "...", "body": "..."}}')
        sites[normal_host(host)] = Site(entry["title"], entry["body"])
    return sites


def load_sites(path: str) -> dict[str, Site]:
    """Read and check a sites JSON file."""
    with open(path, encoding="utf-8") as handle:
        return parse_sites(json.load(handle))


class InetServer(ThreadingHTTPServer):
    """The threaded server; `sites` is what the handler serves by Host header."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sites: Mapping[str, Site]) -> None:
        self.sites = sites
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    """Writes what `respond` decides; logs one line per request to stderr."""

    server: InetServer
    protocol_version = "HTTP/1.1"
    server_version = "SimpulLabInet/1"
    timeout = 60

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve(head=False)

    def do_HEAD(self) -> None:
        """Serve a HEAD: the GET's status and headers, no body."""
        self._serve(head=True)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence the standard log line; `_serve` logs once the body is written."""

    def _serve(self, *, head: bool) -> None:
        host = self.headers.get("Host", "")
        status, headers, body = respond(host, self.path, self.server.sites)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        chunks = [] if head else pattern_chunks(body) if isinstance(body, int) else [body]
        sent = 0
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError as exc:  # the client went away mid-body
            self.close_connection = True
            line = f'"{self.requestline}" {status} host={host} aborted after {sent} bytes: {exc}'
            self.log_message("%s", line)
            return
        self.log_message('"%s" %d host=%s %d bytes', self.requestline, status, host, sent)


def make_server(listen: str, port: int, sites: Mapping[str, Site] = DEFAULT_SITES) -> InetServer:
    """A bound server (port 0 picks a free port: see ``server.server_address``)."""
    return InetServer((listen, port), sites)


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="simpul.lab.inet", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=80, help="TCP port (default 80)")
    parser.add_argument("--sites", help="JSON file {host: {title, body}} (default: built-in sites)")
    args = parser.parse_args(argv)
    try:
        sites = load_sites(args.sites) if args.sites else DEFAULT_SITES
    except (OSError, ValueError) as exc:
        print(f"simpul.lab.inet: {args.sites}: {exc}", file=sys.stderr)
        return 2
    server = make_server(args.listen, args.port, sites)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this (main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print(f"simpul.lab.inet: serving {len(sites)} sites on {host}:{port}", file=sys.stderr)
    with server:
        server.serve_forever()
    print("simpul.lab.inet: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
