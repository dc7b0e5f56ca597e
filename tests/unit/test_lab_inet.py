"""The lab's internet web server: the pure `respond`, and the real server on an ephemeral port."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.client import HTTPConnection
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from urllib.error import HTTPError

import pytest

from portal.captive.probes import ONLINE_ANSWERS
from simpul.lab.inet import (
    CHUNK,
    DEFAULT_SITES,
    MAX_BYTES,
    InetServer,
    Site,
    load_sites,
    make_server,
    normal_host,
    parse_sites,
    pattern_chunks,
    respond,
)
from simpul.lab.topology import LAB_DNS, LAB_SITES

SITES = {
    "merantikab.go.id": Site("Portal Berita Kabupaten Kepulauan Meranti", "<p>Berita</p>"),
    "www.youtube.com": Site("YouTube (lab)", "<video></video>"),
}


SUCCESS_HTML = b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
FIREFOX_CANONICAL = (
    b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>'
)
# The captive-portal probes clients make, and what the real servers answer: status, type, body.
PROBE_ANSWERS = [
    ("connectivitycheck.gstatic.com", "/generate_204", 204, None, b""),
    ("clients3.google.com", "/generate_204", 204, None, b""),
    ("captive.apple.com", "/hotspot-detect.html", 200, "text/html", SUCCESS_HTML),
    ("captive.apple.com", "/library/test/success.html", 200, "text/html", SUCCESS_HTML),
    ("www.msftconnecttest.com", "/connecttest.txt", 200, "text/plain", b"Microsoft Connect Test"),
    ("www.msftncsi.com", "/ncsi.txt", 200, "text/plain", b"Microsoft NCSI"),
    ("detectportal.firefox.com", "/canonical.html", 200, "text/html", FIREFOX_CANONICAL),
    ("detectportal.firefox.com", "/success.txt", 200, "text/plain", b"success\n"),
]


def expected_bytes(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


# -- pure ----------------------------------------------------------------------------------------


def test_site_page_by_host_header() -> None:
    status, headers, body = respond("merantikab.go.id", "/", SITES)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert isinstance(body, bytes)
    assert headers["Content-Length"] == str(len(body))
    assert b"<title>Portal Berita Kabupaten Kepulauan Meranti</title>" in body
    assert b"<p>Berita</p>" in body


@pytest.mark.parametrize("host", ["MerantiKab.go.id:80", "merantikab.go.id.", " merantikab.go.id"])
def test_host_header_is_normalised(host: str) -> None:
    assert respond(host, "/index.html?x=1", SITES) == respond("merantikab.go.id", "/", SITES)


def test_normal_host_keeps_ipv6_literals() -> None:
    assert normal_host("[2001:DB8::1]:8080") == "[2001:db8::1]"
    assert normal_host("192.0.2.1:80") == "192.0.2.1"


def test_unknown_host_gets_the_plain_page() -> None:
    status, _, body = respond("nowhere.example", "/", SITES)
    assert status == 200
    assert isinstance(body, bytes)
    assert b"<title>nowhere.example</title>" in body
    assert b"Portal Berita" not in body


def test_titles_are_escaped() -> None:
    _, _, body = respond("x.test", "/", {"x.test": Site("<Tom & Jerry>", "")})
    assert isinstance(body, bytes)
    assert b"<title>&lt;Tom &amp; Jerry&gt;</title>" in body


def test_default_sites_cover_the_lab() -> None:
    assert set(DEFAULT_SITES) == {"merantikab.go.id", "www.youtube.com", "viu.com", "example.org"}
    body = respond("merantikab.go.id", "/")[2]
    assert isinstance(body, bytes)
    assert b"Portal Berita Kabupaten Kepulauan Meranti" in body


def test_health_and_generate_204_on_any_host() -> None:
    assert respond("viu.com", "/health", SITES) == (
        200,
        {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Length": "2",
            "Cache-Control": "no-store",
        },
        b"ok",
    )
    status, headers, body = respond("connectivitycheck.gstatic.com", "/generate_204", SITES)
    assert (status, body) == (204, b"")
    assert "Content-Length" not in headers


@pytest.mark.parametrize(("host", "path", "status", "content_type", "body"), PROBE_ANSWERS)
@pytest.mark.parametrize("on", ["probe host", "other host"])
def test_captive_portal_probes_get_the_real_answers(
    host: str, path: str, status: int, content_type: str | None, body: bytes, on: str
) -> None:
    if on == "other host":  # the answers do not depend on the Host header
        host = "merantikab.go.id"
    want = {"Content-Type": content_type, "Content-Length": str(len(body))} if content_type else {}
    answer = respond(host, f"{path}?t=1", SITES)
    assert answer == (status, {**want, "Cache-Control": "no-store"}, body)


def test_every_probe_path_is_in_the_table() -> None:
    assert set(ONLINE_ANSWERS) - {"/gen_204"} <= {path for _, path, *_ in PROBE_ANSWERS}


@pytest.mark.parametrize("host", sorted({host for host, *_ in PROBE_ANSWERS}))
def test_probe_hosts_are_on_the_lab_internet(host: str) -> None:
    addr = LAB_SITES[host][0]
    assert IPv4Address(addr) in IPv4Network("198.51.100.0/24")
    others = [a for name, (a, _) in LAB_SITES.items() if name != host] + [LAB_DNS]
    assert addr not in others


@pytest.mark.parametrize("size", [0, 1, 1000, CHUNK, CHUNK + 1, MAX_BYTES])
def test_bytes_answers_a_size(size: int) -> None:
    status, headers, body = respond("example.org", f"/bytes/{size}?nocache=1", SITES)
    assert (status, body) == (200, size)
    assert headers["Content-Length"] == str(size)
    assert headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "raw", ["", "-1", "+5", "1e3", "12abc", " 5", str(MAX_BYTES + 1), "9" * 30]
)
def test_bytes_refuses_a_bad_size(raw: str) -> None:
    status, headers, body = respond("example.org", f"/bytes/{raw}", SITES)
    assert status == 400
    assert isinstance(body, bytes)
    assert headers["Content-Length"] == str(len(body))
    assert body.startswith(f"bad size {raw!r}".encode())
    assert b"from 0 to 2147483648" in body


@pytest.mark.parametrize("size", [0, 5, 256, CHUNK - 1, CHUNK, 3 * CHUNK + 17])
def test_pattern_chunks(size: int) -> None:
    chunks = list(pattern_chunks(size))
    assert all(len(c) <= CHUNK for c in chunks)
    assert b"".join(chunks) == expected_bytes(size)


def test_parse_sites() -> None:
    sites = parse_sites({"Viu.com": {"title": "Viu", "body": "<p>drama</p>"}})
    assert sites == {"viu.com": Site("Viu", "<p>drama</p>")}
    for bad in (
        [],
        {"viu.com": "Viu"},
        {"viu.com": {"title": "Viu"}},
        {"a": {"title": 1, "body": ""}},
    ):
        with pytest.raises(ValueError, match="must be"):
            parse_sites(bad)


def test_load_sites(tmp_path: Path) -> None:
    path = tmp_path / "sites.json"
    path.write_text(json.dumps({"example.org": {"title": "Example", "body": "<p>hi</p>"}}))
    assert load_sites(str(path)) == {"example.org": Site("Example", "<p>hi</p>")}


# -- the real server -----------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[InetServer]:
    srv = make_server("127.0.0.1", 0, SITES)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        thread.join(5)
        srv.server_close()


def url(srv: InetServer, path: str) -> str:
    host, port = srv.server_address[:2]
    return f"http://{host}:{port}{path}"


def test_serves_bytes_exactly(server: InetServer) -> None:
    with urllib.request.urlopen(url(server, "/bytes/1000000"), timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == "1000000"
        data = resp.read()
    assert len(data) == 1_000_000
    assert data == expected_bytes(1_000_000)


def test_head_sends_headers_only(server: InetServer) -> None:
    request = urllib.request.Request(url(server, "/bytes/1000000"), method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == "1000000"
        assert resp.read() == b""


def test_bad_size_is_400(server: InetServer) -> None:
    with pytest.raises(HTTPError) as caught:
        urllib.request.urlopen(url(server, "/bytes/lots"), timeout=10)
    with caught.value as error:
        assert error.code == 400
        assert error.read().startswith(b"bad size 'lots'")


def test_site_by_host_header_and_keep_alive(server: InetServer) -> None:
    host, port = server.server_address[:2]
    conn = HTTPConnection(str(host), int(port), timeout=10)
    try:
        answers = [
            ("/", 200, b"Portal Berita"),
            ("/generate_204", 204, b""),
            ("/health", 200, b"ok"),
        ]
        for path, status, want in answers:  # one connection: HTTP/1.1 keep-alive
            conn.request("GET", path, headers={"Host": "merantikab.go.id"})
            resp = conn.getresponse()
            assert resp.status == status
            assert want in resp.read()
    finally:
        conn.close()


def test_serves_the_probe_answers(server: InetServer) -> None:
    host, port = server.server_address[:2]
    conn = HTTPConnection(str(host), int(port), timeout=10)
    try:
        for probe_host, path, status, content_type, body in PROBE_ANSWERS:
            conn.request("GET", path, headers={"Host": probe_host})
            resp = conn.getresponse()
            assert (resp.status, resp.getheader("Content-Type"), resp.read()) == (
                status,
                content_type,
                body,
            )
    finally:
        conn.close()


def test_runs_as_a_module_and_stops_on_sigterm(tmp_path: Path) -> None:
    sites = tmp_path / "sites.json"
    sites.write_text(json.dumps({"viu.com": {"title": "Viu (lab)", "body": "<p>drama</p>"}}))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simpul.lab.inet",
            "--listen",
            "127.0.0.1",
            "--port",
            "0",
            "--sites",
            str(sites),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        assert "serving 1 sites on 127.0.0.1:" in banner
        port = int(banner.rsplit(":", 1)[1])
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "viu.com"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert b"<title>Viu (lab)</title>" in resp.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        log = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert '"GET / HTTP/1.1" 200 host=viu.com' in log
    assert "stopped" in log


def test_bad_sites_file_exits_2(tmp_path: Path) -> None:
    sites = tmp_path / "sites.json"
    sites.write_text("[]")
    result = subprocess.run(
        [sys.executable, "-m", "simpul.lab.inet", "--port", "0", "--sites", str(sites)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "must be a JSON object" in result.stderr
