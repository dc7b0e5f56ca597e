"""The captive-probe table and the answers real servers give (pure)."""

from __future__ import annotations

import pytest

from portal.captive.probes import ONLINE_ANSWERS, PROBES, find_probe

APPLE = b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
FIREFOX = (
    b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>'
)

# (system, host, path, status, content type, body): written out independently of the module.
TABLE = [
    ("android", "connectivitycheck.gstatic.com", "/generate_204", 204, None, b""),
    ("android", "clients3.google.com", "/generate_204", 204, None, b""),
    ("android", "connectivitycheck.android.com", "/generate_204", 204, None, b""),
    ("android", "www.google.com", "/generate_204", 204, None, b""),
    ("android", "www.google.com", "/gen_204", 204, None, b""),
    ("apple", "captive.apple.com", "/hotspot-detect.html", 200, "text/html", APPLE),
    ("apple", "www.apple.com", "/hotspot-detect.html", 200, "text/html", APPLE),
    ("apple", "www.apple.com", "/library/test/success.html", 200, "text/html", APPLE),
    ("apple", "captive.apple.com", "/library/test/success.html", 200, "text/html", APPLE),
    (
        "windows",
        "www.msftconnecttest.com",
        "/connecttest.txt",
        200,
        "text/plain",
        b"Microsoft Connect Test",
    ),
    ("windows", "www.msftncsi.com", "/ncsi.txt", 200, "text/plain", b"Microsoft NCSI"),
    ("firefox", "detectportal.firefox.com", "/canonical.html", 200, "text/html", FIREFOX),
    ("firefox", "detectportal.firefox.com", "/success.txt", 200, "text/plain", b"success\n"),
]


@pytest.mark.parametrize(("system", "host", "path", "status", "ctype", "body"), TABLE)
def test_every_probe_is_recognized_with_the_real_answer(
    system: str, host: str, path: str, status: int, ctype: str | None, body: bytes
) -> None:
    probe = find_probe(host, path)
    assert probe is not None
    assert probe.system == system
    answer = ONLINE_ANSWERS[path]
    assert (answer.status, answer.content_type, answer.body) == (status, ctype, body)


def test_android_vendor_hosts_are_probes_too() -> None:
    probe = find_probe("connect.rom.miui.com", "/generate_204")
    assert probe is not None
    assert probe.system == "android"


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("evil.example", "/hotspot-detect.html"),
        ("evil.example", "/connecttest.txt"),
        ("evil.example", "/success.txt"),
        ("captive.apple.com", "/"),
        ("captive.apple.com", "/generate_204x"),
        ("www.msftconnecttest.com", "/redirect"),
        ("detectportal.firefox.com", "/canonical.htm"),
        ("www.google.com", "/"),
    ],
)
def test_other_urls_are_not_probes(host: str, path: str) -> None:
    assert find_probe(host, path) is None


def test_every_probe_path_has_an_answer() -> None:
    for probe in PROBES:
        assert probe.paths <= ONLINE_ANSWERS.keys()


def test_a_path_that_is_no_probe_has_no_answer() -> None:
    assert "/index.html" not in ONLINE_ANSWERS
