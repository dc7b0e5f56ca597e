"""Keyed pseudonyms of what identifies a citizen (phone numbers, device MACs). Pure.

HMAC-SHA256 with the node's own key: stable on one node, so records can be joined, but the
value cannot be read back or matched against a list of guesses without the key (UU 27/2022).
"""

from __future__ import annotations

import hashlib
import hmac


def keyed(secret: bytes, value: str, length: int = 20) -> str:
    """The first `length` hex digits of HMAC-SHA256(secret, value)."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:length]


def device(secret: bytes, mac: str) -> str:
    """How a device appears in logs and reports: 'dev-' and 12 hex digits."""
    return "dev-" + keyed(secret, mac.lower(), 12)
