"""The portal's small pure helpers: hosts, strings, numbers, rate limit, cache, media, rotation."""

from __future__ import annotations

import pytest

from netctl.protocol import ApiError
from portal.captive.formatting import hours_minutes, megabytes
from portal.captive.hosts import bare_host, is_portal_host, start_url, user_portal_url
from portal.captive.i18n import CATALOG, DEFAULT_LANG, LANGS, lang_from, t
from portal.captive.media import is_video, media_type
from portal.captive.ratelimit import Decision, TokenBucket
from portal.captive.rotation import pick_video
from portal.captive.ttl_cache import TtlCache


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("portal.wifi.local", "portal.wifi.local"),
        ("Portal.WiFi.Local:80", "portal.wifi.local"),
        ("portal.wifi.local.", "portal.wifi.local"),
        ("10.40.1.1:8080", "10.40.1.1"),
        ("[fe80::1]:80", "fe80::1"),
        ("", ""),
        ("evil.example:80@portal.wifi.local", "evil.example:80@portal.wifi.local"),
    ],
)
def test_bare_host(header: str, host: str) -> None:
    assert bare_host(header) == host


@pytest.mark.parametrize(
    ("header", "ours"),
    [
        ("portal.wifi.local", True),
        ("PORTAL.wifi.local:443", True),
        ("10.40.1.1", True),
        ("portal.wifi.local.evil.example", False),
        ("evil.example", False),
        ("10.40.1.10", False),
        ("", False),
    ],
)
def test_is_portal_host(header: str, ours: bool) -> None:
    assert is_portal_host(header, "portal.wifi.local", "10.40.1.1") is ours


def test_no_address_means_only_the_hostname() -> None:
    assert not is_portal_host("10.40.1.1", "portal.wifi.local", None)


def test_portal_urls() -> None:
    assert start_url("portal.wifi.local", 80) == "http://portal.wifi.local/"
    assert start_url("portal.wifi.local", 80, "en") == "http://portal.wifi.local/?lang=en"
    assert start_url("portal.wifi.local", 80, "xx") == "http://portal.wifi.local/"
    assert start_url("portal.wifi.local", 8080, "id") == "http://portal.wifi.local:8080/"
    assert user_portal_url("portal.wifi.local", 443) == "https://portal.wifi.local/"
    assert user_portal_url("portal.wifi.local", 8443) == "https://portal.wifi.local:8443/"


def test_every_string_exists_in_every_language() -> None:
    assert DEFAULT_LANG == "id"
    for key, entry in CATALOG.items():
        assert set(entry) == set(LANGS), key
        assert all(text.strip() for text in entry.values()), key


def test_lang_and_translation() -> None:
    assert lang_from("en") == "en"
    assert lang_from(None) == "id"
    assert lang_from("fr") == "id"
    assert t("unlock_in", "id", n=30) == "Tombol aktif dalam 30 detik"
    assert t("unlock_in", "en", n=5) == "The button unlocks in 5 seconds"
    assert t("continue", "fr") == "Lanjutkan"


def test_numbers() -> None:
    assert hours_minutes(0) == "0:00"
    assert hours_minutes(59) == "0:00"
    assert hours_minutes(3900) == "1:05"
    assert hours_minutes(-5) == "0:00"
    assert megabytes(12_345_678, "id") == "12,3"
    assert megabytes(12_345_678, "en") == "12.3"
    assert megabytes(0, "id") == "0,0"


def test_token_bucket_refills_with_time() -> None:
    clock = Clock()
    bucket = TokenBucket(2, 0.5, clock)
    assert bucket.take("a") == Decision(True)
    assert bucket.take("a") == Decision(True)
    assert bucket.take("a") == Decision(False, 2)
    assert bucket.take("b").allowed
    clock.now += 1
    assert bucket.take("a") == Decision(False, 1)
    clock.now += 1
    assert bucket.take("a").allowed


def test_token_bucket_forgets_idle_clients_when_full() -> None:
    clock = Clock()
    bucket = TokenBucket(1, 1, clock, max_keys=3)
    for key in "abc":
        bucket.take(key)
    clock.now += 10
    assert bucket.take("d").allowed
    assert len(bucket._buckets) == 1


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1, Clock())


def test_ttl_cache_reloads_after_the_ttl_and_serves_stale_on_error() -> None:
    clock = Clock()
    cache: TtlCache[int] = TtlCache(10, clock, stale_on=(ApiError,), retry=2)
    loads = iter([1, 2])
    assert cache.get(lambda: next(loads)) == 1
    clock.now += 5
    assert cache.get(lambda: next(loads)) == 1
    clock.now += 6
    assert cache.get(lambda: next(loads)) == 2

    def broken() -> int:
        raise ApiError("unavailable", "down")

    clock.now += 11
    assert cache.get(broken) == 2
    clock.now += 1
    assert cache.get(lambda: 3) == 2
    clock.now += 2
    assert cache.get(lambda: 3) == 3


def test_ttl_cache_without_a_value_raises() -> None:
    cache: TtlCache[int] = TtlCache(10, Clock(), stale_on=(ApiError,))

    def broken() -> int:
        raise ApiError("unavailable", "down")

    with pytest.raises(ApiError):
        cache.get(broken)


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("intro.mp4", "video/mp4"),
        ("intro-2024_v2.webm", "video/webm"),
        ("poster.jpg", "image/jpeg"),
        ("poster.JPEG", None),
        ("poster.webp", "image/webp"),
        ("p.png", "image/png"),
        ("../etc/passwd.mp4", None),
        (".hidden.mp4", None),
        ("a/b.mp4", None),
        ("intro.mp4\n", None),
        ("x" * 100 + ".mp4", "video/mp4"),
        ("x" * 101 + ".mp4", None),
        ("secret.txt", None),
    ],
)
def test_media_names(name: str, mime: str | None) -> None:
    assert media_type(name) == mime


def test_is_video() -> None:
    assert is_video("a.webm")
    assert not is_video("a.jpg")
    assert not is_video("a.txt")


def test_rotation_plays_the_latest_first_then_the_next() -> None:
    videos = ["new", "old"]
    assert [pick_video(videos, n) for n in range(3)] == ["new", "old", "new"]
    assert pick_video([], 5) is None
