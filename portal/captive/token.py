"""Stateless "this client started the video at T" tokens (pure: no clock, no I/O).

A token is `base64url(payload) "." base64url(HMAC-SHA256(secret, base64url(payload)))`; the payload
is compact JSON `{"ip": …, "v": video file, "t": issued-at}`. The iOS captive browser keeps no
cookies, so the token travels in the page's form; binding it to the client's IP and to the time the
server issued it lets the server, not the browser, decide that enough of the video has played.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from enum import StrEnum

MAX_AGE_SECONDS = 3600.0
FUTURE_SKEW_SECONDS = 5.0
MAX_TOKEN_CHARS = 1024


class Outcome(StrEnum):
    """What `verify` concluded."""

    OK = "ok"
    TOO_EARLY = "too_early"
    INVALID = "invalid"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Verdict:
    """A token's verdict; `seconds_left` is set when it is too early, `video` when it is genuine."""

    outcome: Outcome
    seconds_left: int = 0
    video: str | None = None

    @property
    def ok(self) -> bool:
        """The client may be let through."""
        return self.outcome is Outcome.OK


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: str) -> str:
    return _b64encode(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def issue(secret: bytes, ip: str, video: str, now: float) -> str:
    """A token saying that the client at `ip` started playing `video` at `now`."""
    payload = json.dumps(
        {"ip": ip, "v": video, "t": round(now, 3)}, separators=(",", ":"), sort_keys=True
    )
    encoded = _b64encode(payload.encode("utf-8"))
    return f"{encoded}.{_signature(secret, encoded)}"


def verify(secret: bytes, token: str, ip: str, now: float, min_seconds: float) -> Verdict:
    """Whether `token` lets the client at `ip` through at `now`, `min_seconds` after its issue.

    Invalid: malformed, tampered with, issued to another IP or more than 5 s in the future.
    Expired: issued more than an hour ago. Too early: fewer than `min_seconds` have passed.
    """
    invalid = Verdict(Outcome.INVALID)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        return invalid
    encoded, signature = token.split(".")
    if not encoded.isascii():
        return invalid
    expected = _signature(secret, encoded).encode("ascii")
    if not hmac.compare_digest(expected, signature.encode("utf-8", "ignore")):
        return invalid
    try:
        payload = json.loads(_b64decode(encoded))
    except (binascii.Error, ValueError):
        return invalid
    if not isinstance(payload, dict):
        return invalid
    issued_at, video = payload.get("t"), payload.get("v")
    if (
        payload.get("ip") != ip
        or not isinstance(video, str)
        or isinstance(issued_at, bool)
        or not isinstance(issued_at, int | float)
        or not math.isfinite(issued_at)
    ):
        return invalid
    if issued_at > now + FUTURE_SKEW_SECONDS:
        return invalid
    elapsed = now - issued_at
    if elapsed > MAX_AGE_SECONDS:
        return Verdict(Outcome.EXPIRED)
    if elapsed < min_seconds:
        return Verdict(Outcome.TOO_EARLY, seconds_left=max(1, math.ceil(min_seconds - elapsed)))
    return Verdict(Outcome.OK, video=video)
