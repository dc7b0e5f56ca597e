"""Headers every portal response carries."""

from __future__ import annotations

from flask import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def security_header_items(cache_control: str = "no-store") -> list[tuple[str, str]]:
    """The headers every response carries, as (name, value) pairs."""
    return [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", cache_control),
    ]


def apply_security_headers(response: Response) -> Response:
    """Add CSP, framing, referrer and sniffing headers; `no-store` unless caching was chosen.

    Static files and media set their own `Cache-Control` (via `max_age`), the RFC 8908 API sets
    `private`; everything else is a page about one client's state and must not be stored.
    """
    headers = response.headers
    for name, value in security_header_items(headers.get("Cache-Control", "no-store")):
        headers[name] = value
    return response
