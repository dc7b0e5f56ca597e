"""Indonesian mobile numbers as citizens type them, and their pseudonyms. Pure.

Only a keyed hash of a number is stored (UU 27/2022: the least personal data), so logs, sessions
and reports never hold the number itself.
"""

from __future__ import annotations

import re

from simpul.pseudonyms import keyed

_DIGITS = re.compile(r"[\s().-]")


class PhoneError(ValueError):
    """Not an Indonesian mobile number; the message says why."""


def normalize(text: str) -> str:
    """E.164 form (+628…) of a number typed as 0812…, 62812…, +62 812-… ."""
    raw = _DIGITS.sub("", str(text))
    if raw.startswith("+"):
        raw = raw[1:]
    if not raw.isdigit():
        raise PhoneError("a phone number has only digits")
    if raw.startswith("0"):
        raw = "62" + raw[1:]
    if not raw.startswith("628"):
        raise PhoneError("use an Indonesian mobile number, e.g. 0812 3456 7890")
    if not 10 <= len(raw) - 2 <= 13:
        raise PhoneError("an Indonesian mobile number has 10 to 13 digits after 0")
    return "+" + raw


def pseudonym(secret: bytes, e164: str) -> str:
    """A stable, keyed pseudonym of a number (the number cannot be read back from it)."""
    return keyed(secret, e164)


def masked(e164: str) -> str:
    """A number as shown back to its owner: +62812****7890."""
    return e164[:6] + "*" * (len(e164) - 10) + e164[-4:]
