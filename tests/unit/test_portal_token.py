"""The portal's stateless watch tokens (pure: no Flask, no clock)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from portal.captive.token import (
    FUTURE_SKEW_SECONDS,
    MAX_AGE_SECONDS,
    MAX_TOKEN_CHARS,
    Outcome,
    Verdict,
    issue,
    verify,
)

SECRET = b"k" * 32
IP = "10.40.1.50"
T0 = 1_700_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: bytes, secret: bytes = SECRET) -> str:
    """A token with a valid signature over an arbitrary payload."""
    encoded = b64(payload)
    signature = hmac.new(secret, encoded.encode(), hashlib.sha256).digest()
    return f"{encoded}.{b64(signature)}"


def test_a_token_is_ok_once_the_video_time_has_passed() -> None:
    token = issue(SECRET, IP, "intro.webm", T0)
    assert verify(SECRET, token, IP, T0 + 30, 30) == Verdict(Outcome.OK, video="intro.webm")
    assert verify(SECRET, token, IP, T0 + 30, 30).ok


@pytest.mark.parametrize(("elapsed", "left"), [(0, 30), (0.2, 30), (10, 20), (29.5, 1), (29.99, 1)])
def test_too_early_says_how_many_whole_seconds_are_left(elapsed: float, left: int) -> None:
    token = issue(SECRET, IP, "intro.webm", T0)
    verdict = verify(SECRET, token, IP, T0 + elapsed, 30)
    assert verdict.outcome is Outcome.TOO_EARLY
    assert verdict.seconds_left == left
    assert not verdict.ok


def test_no_minimum_time_means_ok_at_once() -> None:
    assert verify(SECRET, issue(SECRET, IP, "", T0), IP, T0, 0).ok


def test_a_token_of_another_ip_is_invalid() -> None:
    token = issue(SECRET, IP, "intro.webm", T0)
    assert verify(SECRET, token, "10.40.1.51", T0 + 60, 30).outcome is Outcome.INVALID


def test_a_token_signed_with_another_key_is_invalid() -> None:
    token = issue(b"o" * 32, IP, "intro.webm", T0)
    assert verify(SECRET, token, IP, T0 + 60, 30).outcome is Outcome.INVALID


def test_a_tampered_payload_is_invalid() -> None:
    token = issue(SECRET, IP, "intro.webm", T0)
    _, signature = token.split(".")
    earlier = b64(json.dumps({"ip": IP, "t": T0 - 100, "v": "intro.webm"}).encode())
    assert verify(SECRET, f"{earlier}.{signature}", IP, T0, 30).outcome is Outcome.INVALID


def test_a_tampered_signature_is_invalid() -> None:
    token = issue(SECRET, IP, "intro.webm", T0)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert verify(SECRET, flipped, IP, T0 + 60, 30).outcome is Outcome.INVALID


def test_an_hour_old_token_is_expired() -> None:
    token = issue(SECRET, IP, "intro.webm", T0)
    assert verify(SECRET, token, IP, T0 + MAX_AGE_SECONDS, 30).ok
    assert verify(SECRET, token, IP, T0 + MAX_AGE_SECONDS + 1, 30).outcome is Outcome.EXPIRED


def test_a_token_from_the_future_is_invalid_beyond_the_skew() -> None:
    soon = issue(SECRET, IP, "intro.webm", T0 + FUTURE_SKEW_SECONDS)
    assert verify(SECRET, soon, IP, T0, 30) == Verdict(Outcome.TOO_EARLY, seconds_left=35)
    later = issue(SECRET, IP, "intro.webm", T0 + FUTURE_SKEW_SECONDS + 1)
    assert verify(SECRET, later, IP, T0, 30).outcome is Outcome.INVALID


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        "a.b.c",
        "é.é",
        "x" * (MAX_TOKEN_CHARS + 1),
        signed(b"not json"),
        signed(b"[1, 2]"),
        signed(json.dumps({"ip": IP, "v": "a.webm"}).encode()),
        signed(json.dumps({"ip": IP, "v": "a.webm", "t": True}).encode()),
        signed(json.dumps({"ip": IP, "v": "a.webm", "t": "1700000000"}).encode()),
        signed(json.dumps({"ip": IP, "v": 3, "t": T0}).encode()),
        signed(b'{"ip": "10.40.1.50", "v": "a.webm", "t": NaN}'),
    ],
)
def test_malformed_tokens_are_invalid(token: str) -> None:
    assert verify(SECRET, token, IP, T0 + 60, 30).outcome is Outcome.INVALID


def test_a_correctly_signed_payload_is_accepted() -> None:
    token = signed(json.dumps({"ip": IP, "v": "a.webm", "t": T0}).encode())
    assert verify(SECRET, token, IP, T0 + 30, 30).ok


def test_the_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify(SECRET, issue(SECRET, IP, "a.webm", T0), IP, T0 + 60, 30)
    assert len(seen) == 1
