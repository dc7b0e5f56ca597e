"""Rollup levels and their buckets in the node's time zone. Pure.

Days and months start at local midnight (WIB, WITA or WIT: Indonesia has no daylight saving, but
any IANA zone works); 5-minute and hourly buckets follow the local clock too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LEVELS = ("5m", "1h", "1d", "1mo")
LEVEL_NAMES = {"5m": "5 minutes", "1h": "hour", "1d": "day", "1mo": "month"}
# Per-device rows are kept by the day only: finer series per phone are the cardinality trap
# (ntopng's per-host series) and tell when a person was where (UU 27/2022: collect the minimum);
# a month is the sum of its days (device rows are kept `client_days`, 62 by default). Sites,
# OPDs and uplinks get every level.
CLIENT_LEVELS = ("1d",)


def _local(t: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, tz)


def bucket_start(level: str, t: float, tz: ZoneInfo) -> int:
    """The start (unix seconds) of the `level` bucket holding moment `t`."""
    local = _local(t, tz)
    if level == "5m":
        start = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    elif level == "1h":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif level == "1d":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif level == "1mo":
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        raise ValueError(f"unknown level {level!r}: one of {', '.join(LEVELS)}")
    return int(start.timestamp())


def next_start(level: str, start: int, tz: ZoneInfo) -> int:
    """The start of the bucket after the one starting at `start`."""
    local = _local(start, tz)
    if level == "5m":
        return start + 300
    if level == "1h":
        return start + 3600
    if level == "1d":
        day = (local + timedelta(days=1)).date()
        return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
    if level == "1mo":
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return int(datetime(year, month, 1, tzinfo=tz).timestamp())
    raise ValueError(f"unknown level {level!r}: one of {', '.join(LEVELS)}")


def aligned(level: str, t: float, tz: ZoneInfo) -> bool:
    """Whether `t` is a bucket boundary of `level`."""
    return bucket_start(level, t, tz) == t


def tiling_level(start: float, end: float, tz: ZoneInfo) -> str:
    """The coarsest level whose buckets tile [start, end) exactly (fewest rows to read)."""
    for level in reversed(LEVELS):
        if aligned(level, start, tz) and aligned(level, end, tz):
            return level
    return "5m"
