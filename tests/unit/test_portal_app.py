"""The captive portal app through Flask's test client, with a fake netd and a fake clock.

No root, no sockets: `FakeNetd` answers netd's portal methods from a dict of authorized IPs,
records every call and raises `ApiError` for the methods told to fail. Every response the tests
see passes `Phone.check`: no cookie and the security headers.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from netctl.protocol import ApiError
from portal.app import create_captive_app
from portal.captive.media import is_video
from portal.settings import PortalStartupError

HOST = "portal.wifi.local"
ADDRESS = "10.40.1.1"
IP = "10.40.1.50"
OTHER_IP = "10.40.1.51"
NEWS = "https://merantikab.go.id/berita"
T0 = 1_700_000_000.0
START = f"http://{HOST}/"
START_EN = f"http://{HOST}/?lang=en"
VIDEO_BYTES = bytes(range(256)) * 40
POSTER_BYTES = b"\xff\xd8\xff\xe0" + bytes(40_000)

ANDROID_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/60.0.3112.32 Safari/537.36"
)
APPLE_UA = "CaptiveNetworkSupport-443.0.2 wispr"
WINDOWS_UA = "Microsoft NCSI"
FIREFOX_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
APPLE_SUCCESS = b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
FIREFOX_CANONICAL = (
    b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>'
)

# (User-Agent, Host, path, online status, online Content-Type, online body)
PROBES = [
    (ANDROID_UA, "connectivitycheck.gstatic.com", "/generate_204", 204, None, b""),
    (ANDROID_UA, "clients3.google.com", "/generate_204", 204, None, b""),
    (ANDROID_UA, "connectivitycheck.android.com", "/generate_204", 204, None, b""),
    (ANDROID_UA, "www.google.com", "/generate_204", 204, None, b""),
    (ANDROID_UA, "www.google.com", "/gen_204", 204, None, b""),
    (APPLE_UA, "captive.apple.com", "/hotspot-detect.html", 200, "text/html", APPLE_SUCCESS),
    (APPLE_UA, "www.apple.com", "/library/test/success.html", 200, "text/html", APPLE_SUCCESS),
    (
        WINDOWS_UA,
        "www.msftconnecttest.com",
        "/connecttest.txt",
        200,
        "text/plain",
        b"Microsoft Connect Test",
    ),
    (WINDOWS_UA, "www.msftncsi.com", "/ncsi.txt", 200, "text/plain", b"Microsoft NCSI"),
    (
        FIREFOX_UA,
        "detectportal.firefox.com",
        "/canonical.html",
        200,
        "text/html",
        FIREFOX_CANONICAL,
    ),
    (FIREFOX_UA, "detectportal.firefox.com", "/success.txt?ipv4", 200, "text/plain", b"success\n"),
]


class Clock:
    """An injectable clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def portal_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "regency": "Kabupaten Kepulauan Meranti",
        "hostname": HOST,
        "address": ADDRESS,
        "http_port": 80,
        "https_port": 443,
        "news_url": NEWS,
        "video_seconds": 30,
        "videos": [
            {"file": "intro.webm", "poster": "intro.jpg", "title": "Selamat datang di Meranti"},
            {"file": "older.mp4", "poster": None, "title": "Program desa"},
        ],
        "sites": {"taman-kota": {"name": "Taman Kota Selatpanjang", "kecamatan": "Tebing Tinggi"}},
    }
    config.update(changes)
    return config


class FakeNetd:
    """netd's portal methods over a dict of authorized IPs; records calls and opens/closes."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.config = portal_config()
        self.authorized: dict[str, float] = {}
        self.bytes = (2_345_678, 10_000_000)
        self.errors: dict[str, Exception] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.opened = 0
        self.closed = 0

    def client(self) -> FakeNetdClient:
        self.opened += 1
        return FakeNetdClient(self)

    def methods(self, name: str) -> list[dict[str, Any]]:
        return [params for method, params in self.calls if method == name]

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, params))
        if method in self.errors:
            raise self.errors[method]
        if method == "portal_config":
            return self.config
        ip = params["ip"]
        if method == "whois":
            expires = self.authorized.get(ip)
            session = None
            if expires is not None:
                session = {
                    "started_at": self.clock.now - 60,
                    "expires_at": expires,
                    "seconds_remaining": int(expires - self.clock.now),
                    "up_bytes": self.bytes[0],
                    "down_bytes": self.bytes[1],
                    "method": "video",
                }
            return {
                "ip": ip,
                "site": "taman-kota",
                "mac": "02:5e:00:01:01:01",
                "authorized": expires is not None,
                "session": session,
            }
        if method == "authorize":
            self.authorized[ip] = self.clock.now + 7200
            return {
                "mac": "02:5e:00:01:01:01",
                "ip": ip,
                "site": "taman-kota",
                "expires_at": self.authorized[ip],
            }
        if method == "logout":
            return {"ended": self.authorized.pop(ip, None) is not None}
        raise ApiError("unknown-method", method)


class FakeNetdClient:
    def __init__(self, netd: FakeNetd) -> None:
        self.netd = netd

    def call(self, api_method: str, **params: Any) -> Any:
        return self.netd.handle(api_method, params)

    def close(self) -> None:
        self.netd.closed += 1


class Phone:
    """A citizen's phone at `ip`; every response is checked for cookies and security headers."""

    def __init__(self, app: Flask, ip: str = IP) -> None:
        self.client = app.test_client()
        self.ip = ip
        self.responses: list[TestResponse] = []

    def request(
        self,
        method: str,
        path: str,
        host: str = HOST,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        if path.startswith("//"):
            # The test client would read `//x` as a network location: set the raw path instead.
            path_info, _, query = path.partition("?")
            kwargs["environ_overrides"] = {"PATH_INFO": path_info, "QUERY_STRING": query}
            path = "/"
        response = self.client.open(
            path,
            method=method,
            headers={"Host": host, **(headers or {})},
            environ_base={"REMOTE_ADDR": self.ip},
            **kwargs,
        )
        response.get_data()  # buffer the body, then release files the app opened (send_file)
        response.close()
        self.check(response)
        self.responses.append(response)
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    @staticmethod
    def check(response: TestResponse) -> None:
        assert "Set-Cookie" not in response.headers
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "media-src 'self'" in csp
        assert "img-src 'self' data:" in csp

    def watch(self, video: str = "intro.webm") -> str:
        response = self.post("/watch", data={"video": video})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json["token"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def netd(clock: Clock) -> FakeNetd:
    return FakeNetd(clock)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    directory = tmp_path / "media"
    directory.mkdir()
    (directory / "intro.webm").write_bytes(VIDEO_BYTES)
    (directory / "older.mp4").write_bytes(VIDEO_BYTES[:1000])
    (directory / "intro.jpg").write_bytes(POSTER_BYTES)
    (directory / "notes.txt").write_text("not media")
    return directory


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "portal.key"
    path.write_text("0123456789abcdef0123456789abcdef0123456789\n")
    return path


@pytest.fixture
def make_app(netd: FakeNetd, clock: Clock, media: Path, secret_file: Path) -> Callable[..., Flask]:
    def make(**config: Any) -> Flask:
        base: dict[str, Any] = {
            "TESTING": True,
            "NETD_FACTORY": netd.client,
            "CLOCK": clock,
            "PORTAL_SECRET_FILE": str(secret_file),
            "MEDIA_DIR": str(media),
            "NEXT_VISIT": lambda: 0,
        }
        return create_captive_app({**base, **config})

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def phone(app: Flask) -> Phone:
    return Phone(app)


def page(response: TestResponse) -> str:
    return response.get_data(as_text=True)


# -- probes and foreign hosts ---------------------------------------------------------------------


@pytest.mark.parametrize(("agent", "host", "path", "status", "ctype", "body"), PROBES)
def test_probes_before_authorization_are_redirected_to_the_portal(
    phone: Phone,
    netd: FakeNetd,
    agent: str,
    host: str,
    path: str,
    status: int,
    ctype: str | None,
    body: bytes,
) -> None:
    response = phone.get(path, host=host, headers={"User-Agent": agent})
    assert response.status == "302 Found"
    assert response.headers["Location"] == START
    assert response.data == b""  # a probe reads only the status and Location
    # Only captive clients are redirected here: a probe costs netd nothing.
    assert netd.methods("whois") == []
    assert netd.methods("authorize") == []


@pytest.mark.parametrize(
    ("host", "path", "location"),
    [
        ("evil.example", "/", START),
        ("evil.example", "//evil.example", START),
        ("evil.example", "//evil.example/?lang=en", START_EN),
        ("evil.example", "/\\evil", START),
        ("evil.example", "/\\\\evil.example/x", START),
        ("example.com", "/login?next=http://evil.example/", START),
        ("example.com", "/?lang=en&next=//evil.example", START_EN),
        ("example.com", "/?lang=xx", START),
        ("www.msftconnecttest.com", "/redirect", START),
        ("portal.wifi.local.evil.example", "/", START),
        ("10.40.1.10", "/status", START),
        ("", "/", START),
        ("evil.example", "/media/intro.webm", START),
        ("evil.example", "/static/captive/portal.js", START),
        ("evil.example", "/api/captive", START),
    ],
)
def test_foreign_hosts_are_sent_to_the_portal_only(
    phone: Phone, host: str, path: str, location: str
) -> None:
    response = phone.get(path, host=host)
    assert response.status == "302 Found"
    assert response.headers["Location"] == location


def test_foreign_posts_are_redirected_too(phone: Phone, netd: FakeNetd) -> None:
    response = phone.post("/grant", host="evil.example", data={"token": "x"})
    assert response.status_code == 302
    assert response.headers["Location"] == START
    assert netd.methods("authorize") == []


def test_the_portal_port_appears_in_redirects_when_not_80(phone: Phone, netd: FakeNetd) -> None:
    netd.config = portal_config(http_port=8080)
    assert phone.get("/", host="evil.example").headers["Location"] == f"http://{HOST}:8080/"


@pytest.mark.parametrize("host", [HOST, f"{HOST}:80", "PORTAL.WIFI.LOCAL.", ADDRESS])
def test_the_portal_answers_on_its_hostname_and_address(phone: Phone, host: str) -> None:
    assert phone.get("/", host=host).status_code == 200


def test_forwarded_for_headers_are_ignored(phone: Phone, netd: FakeNetd) -> None:
    phone.get("/status", headers={"X-Forwarded-For": "10.40.1.99", "X-Real-IP": "10.40.1.98"})
    assert netd.methods("whois") == [{"ip": IP}]


# -- welcome page ----------------------------------------------------------------------------------


def test_the_welcome_page_in_bahasa_indonesia(phone: Phone) -> None:
    response = phone.get("/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = page(response)
    assert '<html lang="id">' in html
    assert "WiFi Gratis Kabupaten Kepulauan Meranti" in html
    assert "Taman Kota Selatpanjang, Kecamatan Tebing Tinggi" in html
    assert "Tonton video singkat ini, lalu ketuk Lanjutkan" in html
    assert "Tombol aktif dalam 30 detik" in html
    assert ">Lanjutkan</button>" in html
    assert 'href="/?lang=en"' in html
    video = re.search(r"<video [^>]*>", html)
    assert video is not None
    for attribute in ("playsinline", "muted", "autoplay", 'preload="metadata"'):
        assert attribute in video.group(0)
    assert 'poster="/media/intro.jpg"' in video.group(0)
    assert 'src="/media/intro.webm"' in video.group(0)
    assert "Selamat datang di Meranti" in html
    assert '<input type="hidden" name="lang" value="id">' in html


def test_the_welcome_page_in_english(phone: Phone) -> None:
    html = page(phone.get("/?lang=en"))
    assert '<html lang="en">' in html
    assert "Free WiFi – Kabupaten Kepulauan Meranti" in html
    assert "Watch this short video, then tap Continue" in html
    assert "The button unlocks in 30 seconds" in html
    assert ">Continue</button>" in html
    assert 'href="/?lang=id"' in html
    assert '<input type="hidden" name="lang" value="en">' in html


def test_an_unknown_language_falls_back_to_bahasa_indonesia(phone: Phone) -> None:
    assert '<html lang="id">' in page(phone.get("/?lang=fr"))


def test_visits_rotate_through_the_videos_latest_first(make_app: Callable[..., Flask]) -> None:
    phone = Phone(make_app(NEXT_VISIT=itertools.count().__next__))
    sources = [re.search(r'src="(/media/[^"]+)"', page(phone.get("/"))) for _ in range(3)]
    assert [m.group(1) for m in sources if m] == [
        "/media/intro.webm",
        "/media/older.mp4",
        "/media/intro.webm",
    ]


def test_without_videos_the_page_shows_a_notice(phone: Phone, netd: FakeNetd) -> None:
    netd.config = portal_config(videos=[])
    html = page(phone.get("/"))
    assert "<video" not in html
    assert "Tunggu sebentar, lalu ketuk Lanjutkan." in html
    assert "Tombol aktif dalam 30 detik" in html
    response = phone.post("/watch", data={"video": ""})
    assert response.json["unlock_in"] == 30


def test_a_poster_too_heavy_for_the_page_is_left_out(
    make_app: Callable[..., Flask], media: Path
) -> None:
    phone = Phone(make_app(POSTER_MAX_BYTES=len(POSTER_BYTES) - 1))
    html = page(phone.get("/"))
    assert "poster=" not in html
    assert 'src="/media/intro.webm"' in html


def test_a_missing_poster_is_left_out(phone: Phone, media: Path) -> None:
    (media / "intro.jpg").unlink()
    assert "poster=" not in page(phone.get("/"))


def test_an_authorized_client_sees_its_status_at_the_start(phone: Phone, netd: FakeNetd) -> None:
    netd.authorized[IP] = T0 + 3900
    html = page(phone.get("/"))
    assert "<video" not in html
    assert "Sisa waktu" in html
    assert "1:05" in html


# -- watch and grant -------------------------------------------------------------------------------


def test_watch_returns_a_token_and_the_unlock_time(phone: Phone) -> None:
    response = phone.post("/watch", data={"video": "intro.webm"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json) == {"token", "unlock_in"}
    assert response.json["unlock_in"] == 30


def test_watch_accepts_json(phone: Phone) -> None:
    response = phone.post("/watch", json={"video": "older.mp4"})
    assert response.status_code == 200
    assert response.json["token"]


@pytest.mark.parametrize("video", ["unknown.webm", "", "../portal.key"])
def test_watch_refuses_videos_that_are_not_configured(phone: Phone, video: str) -> None:
    response = phone.post("/watch", data={"video": video})
    assert response.status_code == 400
    assert response.json["error"] == "unknown-video"


def test_grant_too_early_changes_nothing(phone: Phone, netd: FakeNetd, clock: Clock) -> None:
    token = phone.watch()
    clock.now += 10
    response = phone.post("/grant", data={"token": token, "lang": "id"})
    assert response.status_code == 403
    html = page(response)
    assert "Video belum selesai diputar" in html
    assert "Tunggu 20 detik lagi" in html
    assert token in html
    assert netd.methods("authorize") == []
    assert netd.authorized == {}


def test_grant_too_early_answers_json_when_asked(
    phone: Phone, netd: FakeNetd, clock: Clock
) -> None:
    token = phone.watch()
    clock.now += 25
    response = phone.post("/grant", data={"token": token}, headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.json["error"] == "too-early"
    assert response.json["seconds_left"] == 5
    assert netd.methods("authorize") == []


def test_grant_after_the_video_lets_the_client_through(
    phone: Phone, netd: FakeNetd, clock: Clock
) -> None:
    token = phone.watch()
    clock.now += 30
    response = phone.post("/grant", data={"token": token, "lang": "id"})
    assert response.status_code == 200
    assert netd.methods("authorize") == [{"ip": IP, "method": "video"}]
    html = page(response)
    assert "Anda sudah terhubung" in html
    assert f'href="{NEWS}"' in html
    assert "Baca berita Kabupaten Kepulauan Meranti" in html
    assert 'href="/status"' in html
    assert "120 menit" in html


def test_grant_in_english_keeps_the_language(phone: Phone, clock: Clock) -> None:
    token = phone.watch()
    clock.now += 31
    html = page(phone.post("/grant", data={"token": token, "lang": "en"}))
    assert "You are connected" in html
    assert 'href="/status?lang=en"' in html


def test_the_page_token_works_without_javascript(
    phone: Phone, netd: FakeNetd, clock: Clock
) -> None:
    html = page(phone.get("/"))
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token is not None
    clock.now += 30
    assert phone.post("/grant", data={"token": token.group(1)}).status_code == 200
    assert netd.methods("authorize") == [{"ip": IP, "method": "video"}]


def test_a_token_from_another_ip_is_rejected(
    app: Flask, phone: Phone, netd: FakeNetd, clock: Clock
) -> None:
    token = Phone(app, OTHER_IP).watch()
    clock.now += 60
    response = phone.post("/grant", data={"token": token})
    assert response.status_code == 400
    assert "Permintaan tidak sah" in page(response)
    assert netd.methods("authorize") == []


def test_a_tampered_token_is_rejected(phone: Phone, netd: FakeNetd, clock: Clock) -> None:
    token = phone.watch()
    clock.now += 60
    payload, signature = token.split(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert phone.post("/grant", data={"token": tampered}).status_code == 400
    assert phone.post("/grant", data={"token": ""}).status_code == 400
    assert phone.post("/grant", data={}).status_code == 400
    assert netd.methods("authorize") == []


def test_an_expired_token_is_rejected(phone: Phone, netd: FakeNetd, clock: Clock) -> None:
    token = phone.watch()
    clock.now += 3601
    response = phone.post("/grant", data={"token": token})
    assert response.status_code == 400
    assert "kedaluwarsa" in page(response)
    assert netd.methods("authorize") == []


def test_a_token_of_another_secret_is_rejected(
    make_app: Callable[..., Flask], tmp_path: Path, netd: FakeNetd, clock: Clock
) -> None:
    other_key = tmp_path / "other.key"
    other_key.write_bytes(b"z" * 40)
    token = Phone(make_app(PORTAL_SECRET_FILE=str(other_key))).watch()
    clock.now += 60
    assert Phone(make_app()).post("/grant", data={"token": token}).status_code == 400
    assert netd.methods("authorize") == []


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("unavailable", 503, "coba lagi"),
        ("kernel-refused", 503, "coba lagi"),
        ("unknown-client", 400, "Putuskan WiFi, sambungkan lagi"),
        ("invalid", 403, "hanya untuk perangkat yang tersambung ke WiFi Gratis"),
    ],
)
def test_netd_errors_on_grant(
    phone: Phone, netd: FakeNetd, clock: Clock, code: str, status: int, words: str
) -> None:
    token = phone.watch()
    clock.now += 30
    netd.errors["authorize"] = ApiError(code, "refused")
    response = phone.post("/grant", data={"token": token})
    assert response.status_code == status
    assert words in page(response)
    assert "Traceback" not in page(response)
    if status == 503:
        assert response.headers["Retry-After"] == "5"


# -- status, logout, API ---------------------------------------------------------------------------


def test_status_of_an_authorized_client(phone: Phone, netd: FakeNetd) -> None:
    netd.authorized[IP] = T0 + 3900
    html = page(phone.get("/status"))
    assert "Sisa waktu" in html
    assert '<span id="time-left">1:05</span>' in html
    assert '<span id="data-used">12,3</span> MB' in html
    assert 'action="/logout"' in html
    assert ">Keluar</button>" in html
    assert f'href="{NEWS}"' in html


def test_status_in_english(phone: Phone, netd: FakeNetd) -> None:
    netd.authorized[IP] = T0 + 3900
    html = page(phone.get("/status?lang=en"))
    assert "Time left" in html
    assert '<span id="data-used">12.3</span> MB' in html
    assert ">Log out</button>" in html


def test_status_of_a_client_not_yet_connected(phone: Phone) -> None:
    html = page(phone.get("/status"))
    assert "Anda belum terhubung." in html
    assert 'href="/"' in html
    assert "Keluar" not in html


def test_logout(phone: Phone, netd: FakeNetd) -> None:
    netd.authorized[IP] = T0 + 3900
    response = phone.post("/logout", data={"lang": "id"})
    assert response.status_code == 200
    assert netd.methods("logout") == [{"ip": IP}]
    html = page(response)
    assert "Anda telah keluar" in html
    assert "sudah dihentikan" in html
    assert 'href="/"' in html
    assert "Perangkat ini sedang tidak terhubung." in page(phone.post("/logout"))


def test_logout_needs_a_post(phone: Phone, netd: FakeNetd) -> None:
    response = phone.get("/logout")
    assert response.status_code == 405
    assert "Permintaan tidak didukung" in page(response)
    assert "POST" in response.headers["Allow"]
    assert netd.methods("logout") == []


def test_captive_api_before_authorization(phone: Phone) -> None:
    response = phone.get("/api/captive")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/captive+json"
    assert response.headers["Cache-Control"] == "private"
    assert response.get_json(force=True) == {
        "captive": True,
        "user-portal-url": f"https://{HOST}/",
        "venue-info-url": NEWS,
    }


def test_captive_api_after_authorization(phone: Phone, netd: FakeNetd) -> None:
    netd.authorized[IP] = T0 + 3900
    body = phone.get("/api/captive", base_url=f"https://{HOST}").get_json(force=True)
    assert body == {
        "captive": False,
        "user-portal-url": f"https://{HOST}/",
        "venue-info-url": NEWS,
        "seconds-remaining": 3900,
        "can-extend-session": True,
    }


def test_captive_api_names_a_non_default_https_port(phone: Phone, netd: FakeNetd) -> None:
    netd.config = portal_config(https_port=8443)
    body = phone.get("/api/captive").get_json(force=True)
    assert body["user-portal-url"] == f"https://{HOST}:8443/"


def test_captive_api_when_netd_is_down(phone: Phone, netd: FakeNetd) -> None:
    netd.errors["portal_config"] = ApiError("unavailable", "down")
    response = phone.get("/api/captive")
    assert response.status_code == 503
    assert response.json["error"] == "unavailable"


def test_healthz_needs_no_netd(phone: Phone, netd: FakeNetd) -> None:
    netd.errors["portal_config"] = ApiError("unavailable", "down")
    response = phone.get("/healthz", host="127.0.0.1")
    assert response.status_code == 200
    assert response.data == b"ok"
    assert netd.calls == []


# -- media -----------------------------------------------------------------------------------------


def test_media_is_served_whole_with_its_type(phone: Phone) -> None:
    response = phone.get("/media/intro.webm")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/webm"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.data == VIDEO_BYTES
    assert phone.get("/media/older.mp4").headers["Content-Type"] == "video/mp4"
    assert phone.get("/media/intro.jpg").headers["Content-Type"] == "image/jpeg"


def test_media_range_requests_get_206_and_the_right_bytes(phone: Phone) -> None:
    response = phone.get("/media/intro.webm", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(VIDEO_BYTES)}"
    assert response.data == VIDEO_BYTES[100:200]
    tail = phone.get("/media/intro.webm", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206
    assert tail.data == VIDEO_BYTES[-10:]
    outside = phone.get("/media/intro.webm", headers={"Range": f"bytes={len(VIDEO_BYTES)}-"})
    assert outside.status_code == 416


@pytest.mark.parametrize(
    "path",
    [
        "/media/../portal.key",
        "/media/..%2Fportal.key",
        "/media/%2e%2e%2fportal.key",
        "/media/..%2f..%2fetc%2fpasswd",
        "/media/.intro.webm",
        "/media/notes.txt",
        "/media/missing.webm",
        "/media/intro.webm%00.jpg",
        "/media/intro.webm/",
        "/media//etc/passwd",
        "/media/" + "a" * 101 + ".webm",
        "/media/",
    ],
)
def test_bad_media_names_are_404(phone: Phone, path: str) -> None:
    response = phone.get(path)
    assert response.status_code == 404
    assert "Halaman tidak ditemukan" in page(response)


# -- limits and errors -----------------------------------------------------------------------------


def test_an_oversize_post_is_413(phone: Phone, netd: FakeNetd) -> None:
    response = phone.post("/grant", data={"token": "x" * 5000})
    assert response.status_code == 413
    assert "Data yang dikirim terlalu besar" in page(response)
    assert netd.methods("authorize") == []
    assert phone.post("/watch", json={"video": "x" * 5000}).status_code == 413


def test_too_many_requests_get_a_429_page_in_bahasa(
    make_app: Callable[..., Flask], clock: Clock
) -> None:
    phone = Phone(make_app(RATE_LIMIT=(3, 0.5)))
    for _ in range(3):
        assert phone.post("/grant", data={"token": "x"}).status_code == 400
    response = phone.post("/grant", data={"token": "x"})
    assert response.status_code == 429
    assert "Terlalu banyak permintaan" in page(response)
    assert response.headers["Retry-After"] == "2"
    watch = phone.post("/watch", data={"video": "intro.webm"})
    assert watch.status_code == 429
    assert watch.json["message"] == "Tunggu sebentar, lalu coba lagi."
    clock.now += 2
    assert phone.post("/watch", data={"video": "intro.webm"}).status_code == 200


def test_the_rate_limit_is_per_client(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATE_LIMIT=(1, 0.01))
    assert Phone(app).post("/watch", data={"video": "intro.webm"}).status_code == 200
    assert Phone(app).post("/watch", data={"video": "intro.webm"}).status_code == 429
    assert Phone(app, OTHER_IP).post("/watch", data={"video": "intro.webm"}).status_code == 200


def test_netd_unavailable_gives_a_503_page_in_bahasa(phone: Phone, netd: FakeNetd) -> None:
    netd.errors["portal_config"] = ApiError("unavailable", "netd is not running")
    response = phone.get("/")
    assert response.status_code == 503
    html = page(response)
    assert "Layanan sedang tidak tersedia" in html
    assert "Silakan coba lagi" in html
    assert "netd" not in html


def test_the_last_configuration_serves_while_netd_restarts(
    phone: Phone, netd: FakeNetd, clock: Clock
) -> None:
    assert phone.get("/").status_code == 200
    netd.errors["portal_config"] = ApiError("unavailable", "down")
    clock.now += 60
    response = phone.get("/", host="evil.example")
    assert response.headers["Location"] == START


def test_the_configuration_is_cached_for_ten_seconds(
    phone: Phone, netd: FakeNetd, clock: Clock
) -> None:
    phone.get("/")
    phone.get("/status")
    clock.now += 9
    phone.get("/status")
    assert len(netd.methods("portal_config")) == 1
    clock.now += 2
    phone.get("/status")
    assert len(netd.methods("portal_config")) == 2


def test_each_request_closes_the_netd_client_it_opened(phone: Phone, netd: FakeNetd) -> None:
    phone.get("/")
    phone.get("/status")
    phone.get("/healthz")
    phone.get("/", host="evil.example")
    # Lazily: the configuration is cached and the foreign host needed no whois.
    assert netd.opened == netd.closed == 2


def test_not_found_and_method_not_allowed_pages(phone: Phone) -> None:
    missing = phone.get("/wp-admin")
    assert missing.status_code == 404
    assert "Halaman tidak ditemukan" in page(missing)
    assert "<title>WiFi Gratis Kabupaten Kepulauan Meranti</title>" not in page(missing)
    assert "<title>WiFi Gratis</title>" in page(missing)
    assert phone.get("/grant").status_code == 405
    # Werkzeug merges slashes; whatever it does, it stays on the portal.
    assert phone.get("//status").headers.get("Location", START).startswith(START)
    assert phone.get("//evil.example").status_code == 404


def test_an_unexpected_error_gives_a_friendly_500(
    make_app: Callable[..., Flask], netd: FakeNetd
) -> None:
    phone = Phone(make_app(TESTING=False, PROPAGATE_EXCEPTIONS=False))
    netd.errors["whois"] = RuntimeError("boom")
    response = phone.get("/status")
    assert response.status_code == 500
    html = page(response)
    assert "Maaf, ada masalah di portal" in html
    assert "boom" not in html
    assert "Traceback" not in html


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "does not exist"), ("", "is empty"), ("short", "fewer than 32")],
)
def test_the_portal_refuses_to_start_without_a_usable_secret(
    tmp_path: Path, netd: FakeNetd, content: str | None, words: str
) -> None:
    path = tmp_path / "portal.key"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PortalStartupError, match=words) as caught:
        create_captive_app({"PORTAL_SECRET_FILE": str(path), "NETD_FACTORY": netd.client})
    assert "SIMPUL_PORTAL_SECRET_FILE" in str(caught.value)


def test_the_secret_file_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, secret_file: Path, tmp_path: Path
) -> None:
    monkeypatch.delenv("SIMPUL_PORTAL_SECRET_FILE", raising=False)
    with pytest.raises(PortalStartupError, match="is not set"):
        create_captive_app()
    monkeypatch.setenv("SIMPUL_PORTAL_SECRET_FILE", str(secret_file))
    monkeypatch.setenv("SIMPUL_MEDIA_DIR", str(tmp_path))
    monkeypatch.setenv("SIMPUL_NETD_SOCKET", str(tmp_path / "absent.sock"))
    app = create_captive_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    # The real NetdClient: no socket → netd unavailable → a 503 page, not a traceback.
    response = Phone(app).get("/")
    assert response.status_code == 503


# -- weight, origins, headers ----------------------------------------------------------------------

LOCAL_REFERENCE = re.compile(r'(?:src|href|poster)="(/(?!/)[^"]*)"')
URL = re.compile(r"https?://[^\s\"'<>)]*")


def test_the_page_weighs_under_100_kb_before_the_video(phone: Phone) -> None:
    response = phone.get("/")
    html = response.data
    references = set(LOCAL_REFERENCE.findall(page(response)))
    fetched = [ref for ref in references if not is_video(ref.split("?")[0].rsplit("/", 1)[-1])]
    assert any(ref.endswith(".css") or ".css?" in ref for ref in fetched)
    assert any(".js" in ref for ref in fetched)
    assert "/media/intro.jpg" in fetched
    total = len(html)
    for ref in fetched:
        resource = phone.get(ref.replace("&amp;", "&"))
        if ref.startswith("/?") or ref.startswith("/status"):
            continue  # links to pages, not resources of this page
        assert resource.status_code == 200, ref
        total += len(resource.data)
    assert total < 100_000, total


def collect_pages(phone: Phone, netd: FakeNetd, clock: Clock) -> list[TestResponse]:
    """Every kind of page and resource the portal serves."""
    responses = [
        phone.get("/"),
        phone.get("/?lang=en"),
        phone.get("/status"),
        phone.get("/wp-login.php"),
        phone.get("/grant"),
        phone.post("/grant", data={"token": "forged"}),
        phone.post("/grant", data={"token": "x" * 5000}),
        phone.get("/static/captive/portal.css"),
        phone.get("/static/captive/portal.js"),
    ]
    token = phone.watch()
    responses.append(phone.post("/grant", data={"token": token}))
    clock.now += 30
    responses.append(phone.post("/grant", data={"token": token}))
    responses.append(phone.get("/status?lang=en"))
    responses.append(phone.post("/logout"))
    netd.config = portal_config(videos=[])
    clock.now += 60
    responses.append(phone.get("/"))
    netd.errors["whois"] = ApiError("unavailable", "down")
    responses.append(phone.get("/status"))
    return responses


def test_no_page_refers_to_the_internet_but_the_news_site(
    phone: Phone, netd: FakeNetd, clock: Clock
) -> None:
    responses = collect_pages(phone, netd, clock)
    assert {r.status_code for r in responses} >= {200, 400, 403, 404, 405, 413, 503}
    for response in responses:
        for url in URL.findall(response.get_data(as_text=True)):
            assert url == NEWS, (response.request.path, url)


def test_no_response_sets_a_cookie(phone: Phone, netd: FakeNetd, clock: Clock) -> None:
    collect_pages(phone, netd, clock)
    phone.get("/media/intro.webm", headers={"Range": "bytes=0-9"})
    phone.get("/api/captive")
    phone.get("/generate_204", host="connectivitycheck.gstatic.com")
    assert len(phone.responses) > 15
    assert all("Set-Cookie" not in r.headers for r in phone.responses)


def test_dynamic_pages_are_not_stored_but_static_files_are_cached(phone: Phone) -> None:
    assert phone.get("/").headers["Cache-Control"] == "no-store"
    assert phone.get("/wp-login.php").headers["Cache-Control"] == "no-store"
    assert phone.get("/", host="evil.example").headers["Cache-Control"] == "no-store"
    static = phone.get("/static/captive/portal.js")
    assert "max-age=3600" in static.headers["Cache-Control"]
    assert "max-age=3600" in phone.get("/media/intro.webm").headers["Cache-Control"]


def test_the_script_starts_the_token_on_playing_and_on_error(phone: Phone) -> None:
    script = page(phone.get("/static/captive/portal.js"))
    assert 'addEventListener("playing", start)' in script
    assert 'addEventListener("error", start)' in script
    assert '"/watch"' in script
    assert "import " not in script
    assert "await " not in script


def test_a_used_daily_allowance_is_explained_in_bahasa(
    phone: Phone, netd: FakeNetd, clock: Clock
) -> None:
    """netd refuses a device whose daily minutes are used: the citizen is told, politely."""
    netd.errors["authorize"] = ApiError("allowance-used", "used its 120 minutes for today")
    token = phone.watch()
    clock.now += 30
    response = phone.post("/grant", data={"token": token, "lang": "id"})
    assert response.status_code == 403
    assert "sudah habis" in page(response)


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("connectivitycheck.gstatic.com", "/generate_204"),
        ("captive.apple.com", "/hotspot-detect.html"),
        ("evil.example", "//evil.example/?lang=en"),
        ("example.com", "/?lang=en&next=//evil.example"),
        ("evil.example", "/\\\\evil.example/x"),
        ("", "/"),
    ],
)
def test_foreign_requests_are_answered_before_flask_once_the_config_is_cached(
    app: Flask, phone: Phone, host: str, path: str
) -> None:
    """The busiest path on a hotspot skips Flask, with the very same answer."""
    reached_flask: list[str] = []
    inner = app.wsgi_app.app  # type: ignore[attr-defined]

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        reached_flask.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app.app = counting  # type: ignore[attr-defined]
    first = phone.get(path, host=host)  # loads the portal's configuration through Flask
    second = phone.get(path, host=host)
    assert len(reached_flask) == 1
    assert (second.status, second.data) == (first.status, first.data)
    assert {k: v for k, v in second.headers if k != "Date"} == {
        k: v for k, v in first.headers if k != "Date"
    }


def test_the_portal_and_opd_clients_still_reach_flask(app: Flask, phone: Phone) -> None:
    phone.get("/generate_204", host="connectivitycheck.gstatic.com")  # cache the config
    reached: list[str] = []
    inner = app.wsgi_app.app  # type: ignore[attr-defined]
    app.wsgi_app.app = lambda e, s: reached.append(e["HTTP_HOST"]) or inner(e, s)  # type: ignore[attr-defined]
    assert phone.get("/", host=HOST).status_code == 200
    assert reached == [HOST]
