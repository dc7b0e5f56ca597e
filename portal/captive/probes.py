"""The operating systems' captive-portal probes and the answers real servers give (pure).

A captive client's probe is redirected to the portal, which answers `302 Found`: any answer but
the expected one makes the OS open its login UI, and a redirect in particular makes Android post
its "sign in to network" notification and Windows open the browser. Once let through, the client
reaches the real servers, whose exact answers (`ONLINE_ANSWERS`) the lab's internet gives too.
"""

from __future__ import annotations

from dataclasses import dataclass

APPLE_SUCCESS = b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
FIREFOX_CANONICAL = (
    b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>'
)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, Content-Type (None: no such header) and body."""

    status: int
    content_type: str | None
    body: bytes


@dataclass(frozen=True)
class Probe:
    """One probe URL family: the paths an OS fetches on the hosts it uses."""

    system: str
    hosts: frozenset[str]
    paths: frozenset[str]
    # Android vendors (Xiaomi, Huawei, Oppo, Chinese ROMs…) probe `/generate_204` on their own
    # hosts; a 204 is the right online answer whoever asked.
    any_host: bool = False


NO_CONTENT = Answer(204, None, b"")

ONLINE_ANSWERS: dict[str, Answer] = {
    "/generate_204": NO_CONTENT,
    "/gen_204": NO_CONTENT,
    "/hotspot-detect.html": Answer(200, "text/html", APPLE_SUCCESS),
    "/library/test/success.html": Answer(200, "text/html", APPLE_SUCCESS),
    "/connecttest.txt": Answer(200, "text/plain", b"Microsoft Connect Test"),
    "/ncsi.txt": Answer(200, "text/plain", b"Microsoft NCSI"),
    "/canonical.html": Answer(200, "text/html", FIREFOX_CANONICAL),
    "/success.txt": Answer(200, "text/plain", b"success\n"),
}

PROBES: tuple[Probe, ...] = (
    Probe(
        "android",
        frozenset(
            {
                "connectivitycheck.gstatic.com",
                "clients3.google.com",
                "connectivitycheck.android.com",
                "www.google.com",
                "play.googleapis.com",
            }
        ),
        frozenset({"/generate_204"}),
        any_host=True,
    ),
    Probe("android", frozenset({"www.google.com"}), frozenset({"/gen_204"})),
    Probe(
        "apple",
        frozenset({"captive.apple.com", "www.apple.com"}),
        frozenset({"/hotspot-detect.html", "/library/test/success.html"}),
    ),
    Probe("windows", frozenset({"www.msftconnecttest.com"}), frozenset({"/connecttest.txt"})),
    Probe("windows", frozenset({"www.msftncsi.com"}), frozenset({"/ncsi.txt"})),
    Probe(
        "firefox",
        frozenset({"detectportal.firefox.com"}),
        frozenset({"/canonical.html", "/success.txt"}),
    ),
)


def find_probe(host: str, path: str) -> Probe | None:
    """The probe that `host` (bare, lowercase) and `path` (no query) belong to, if any."""
    for probe in PROBES:
        if path in probe.paths and (probe.any_host or host in probe.hosts):
            return probe
    return None
