"""Numbers and times as the console shows them (pure): Indonesian uses a decimal comma and a
dot between thousands; times are in the node's zone (WIB, WITA or WIT)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from simpul.config.model import TIMEZONE_ALIASES

UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
MONTHS_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def number(value: float, lang: str, decimals: int = 0) -> str:
    """`value` with thousands separated, in the language's way."""
    text = f"{value:,.{decimals}f}"
    if lang == "id":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def size(count: float, lang: str) -> str:
    """Bytes in decimal units (1 GB = 10^9 B), three significant figures."""
    value, unit = float(f"{max(0, count):.3g}"), 0  # rounded first: 999,999 B is 1,00 MB
    while value >= 1000 and unit < len(UNITS) - 1:
        value, unit = value / 1000, unit + 1
    decimals = 0 if unit == 0 or value >= 100 else (1 if value >= 10 else 2)
    return f"{number(value, lang, decimals)} {UNITS[unit]}"


def rate(bits_per_s: float, lang: str) -> str:
    """A bit rate in Mbit/s (kbit/s below one megabit, once rounded)."""
    if round(bits_per_s / 1e3) < 1000:
        return f"{number(bits_per_s / 1e3, lang, 0)} kbit/s"
    return f"{number(bits_per_s / 1e6, lang, 1)} Mbit/s"


def zone(timezone: str) -> ZoneInfo:
    """The zone a node's `timezone` names (WIB, WITA, WIT or an IANA name)."""
    return ZoneInfo(TIMEZONE_ALIASES.get(timezone, timezone))


def when(epoch: float | None, timezone: str, lang: str) -> str:
    """`26 Nov 2026 09:12 WIB` (Indonesian month names in Indonesian); '–' for no time."""
    if epoch is None:
        return "–"
    moment = datetime.fromtimestamp(epoch, zone(timezone))
    month = MONTHS_ID[moment.month - 1] if lang == "id" else moment.strftime("%b")
    label = timezone if timezone in TIMEZONE_ALIASES else moment.tzname()
    return f"{moment.day} {month} {moment.year} {moment:%H:%M} {label}"


def duration(seconds: float, lang: str) -> str:
    """`2 j 05 m` / `2 h 05 m`; minutes only under an hour; seconds under a minute."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} {'dtk' if lang == 'id' else 's'}"
    hours, minutes = divmod(seconds // 60, 60)
    if hours == 0:
        return f"{minutes} m"
    return f"{hours} {'j' if lang == 'id' else 'h'} {minutes:02d} m"
