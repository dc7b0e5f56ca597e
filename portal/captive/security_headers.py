"""Headers every portal response carries."""

from __future__ import annotations

from flask import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def apply_security_headers(response: Response) -> Response:
    """Add CSP, framing, referrer and sniffing headers; `no-store` unless caching was chosen.

    Static files and media set their own `Cache-Control` (via `max_age`), the RFC 8908 API sets
    `private`; everything else is a page about one client's state and must not be stored.
    """
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Content-Type-Options"] = "nosniff"
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response
