"""Read the usage database: what the CLI, the admin console and the reports show. Each function
takes a connection (`simpul.usage.db.connect(path, readonly=True)`) and returns plain rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from simpul.usage.buckets import CLIENT_LEVELS, LEVELS, bucket_start, next_start, tiling_level

SCOPES = ("client", "site", "opd", "uplink", "remote", "zone")


@dataclass(frozen=True)
class UsageRow:
    """Bytes and packets of one scope/key in one bucket (or summed over a range)."""

    start: int
    level: str
    scope: str
    key: str
    site: str
    up_bytes: int
    down_bytes: int
    up_packets: int
    down_packets: int
    sessions: int

    @property
    def total_bytes(self) -> int:
        """Both directions."""
        return self.up_bytes + self.down_bytes


def level_for(start: float, end: float, tz: ZoneInfo, scope: str | None = None) -> str:
    """The coarsest level whose buckets tile [start, end); for devices, always days (a day
    that straddles the range counts whole)."""
    return CLIENT_LEVELS[0] if scope == "client" else tiling_level(start, end, tz)


def _where(
    level: str, start: float, end: float, tz: ZoneInfo, scope: str | None,
    key: str | None, site: str | None,
) -> tuple[str, list[object]]:  # fmt: skip
    clauses = ["level = ?", "start >= ?", "start < ?"]
    args: list[object] = [level, bucket_start(level, start, tz), end]
    for column, value in (("scope", scope), ("key", key), ("site", site)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    return " AND ".join(clauses), args


def busiest(
    db: sqlite3.Connection, tz: ZoneInfo, start: float, end: float, *, level: str, scope: str
) -> dict[str, tuple[int, int]]:
    """key -> (bucket start, bytes both ways) of its busiest `level` bucket in [start, end), the
    earliest of equals (found in SQL: a month of hours of 100 sites is 74,400 rows)."""
    where, args = _where(level, start, end, tz, scope, None, None)
    rows = db.execute(
        "SELECT key, MIN(start), total FROM (SELECT key, start, up_bytes + down_bytes AS total, "
        "MAX(up_bytes + down_bytes) OVER (PARTITION BY key) AS top FROM usage "
        f"WHERE {where}) WHERE total = top GROUP BY key",
        args,
    )
    return {key: (int(at), int(total)) for key, at, total in rows}


def series(
    db: sqlite3.Connection,
    tz: ZoneInfo,
    start: float,
    end: float,
    *,
    level: str | None = None,
    scope: str | None = None,
    key: str | None = None,
    site: str | None = None,
) -> list[UsageRow]:
    """Rows per bucket of `level` (default: the coarsest that tiles the range) in
    [start, end), oldest first; a bucket that straddles `start` counts whole."""
    level = level or level_for(start, end, tz, scope)
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: one of {', '.join(LEVELS)}")
    if scope == "client" and level == "1mo":  # devices' months are the sums of their days
        return _months(series(db, tz, start, end, level="1d", scope=scope, key=key, site=site), tz)
    where, args = _where(level, start, end, tz, scope, key, site)
    rows = db.execute(
        "SELECT start, level, scope, key, site, up_bytes, down_bytes, up_packets, "
        f"down_packets, sessions FROM usage WHERE {where} ORDER BY start, scope, key, site",
        args,
    )
    return [UsageRow(*row) for row in rows]


def _months(days: list[UsageRow], tz: ZoneInfo) -> list[UsageRow]:
    sums: dict[tuple[int, str, str, str], list[int]] = {}
    for r in days:
        row = sums.setdefault((bucket_start("1mo", r.start, tz), r.scope, r.key, r.site), [0] * 5)
        for i, value in enumerate((r.up_bytes, r.down_bytes, r.up_packets, r.down_packets,
                                   r.sessions)):  # fmt: skip
            row[i] += value
    return [UsageRow(start, "1mo", scope, key, site, *values)
            for (start, scope, key, site), values in sorted(sums.items())]  # fmt: skip


def totals(
    db: sqlite3.Connection,
    tz: ZoneInfo,
    start: float,
    end: float,
    *,
    scope: str | None = None,
    key: str | None = None,
    site: str | None = None,
    level: str | None = None,
) -> list[UsageRow]:
    """One row per scope/key/site summed over [start, end), biggest first."""
    level = level or level_for(start, end, tz, scope)
    where, args = _where(level, start, end, tz, scope, key, site)
    rows = db.execute(
        f"SELECT MIN(start), level, scope, key, site, SUM(up_bytes), SUM(down_bytes), "
        f"SUM(up_packets), SUM(down_packets), SUM(sessions) FROM usage WHERE {where} "
        "GROUP BY scope, key, site ORDER BY SUM(up_bytes + down_bytes) DESC, scope, key",
        args,
    )
    return [UsageRow(*row) for row in rows]


def unique_clients(
    db: sqlite3.Connection, tz: ZoneInfo, start: float, end: float, site: str | None = None
) -> dict[str, int]:
    """Devices that used the network per site in [start, end)."""
    level = level_for(start, end, tz, "client")
    where, args = _where(level, start, end, tz, "client", None, site)
    # DISTINCT (site, key) first: it walks the primary key rather than sorting for each site.
    rows = db.execute(
        f"SELECT site, COUNT(*) FROM (SELECT DISTINCT site, key FROM usage WHERE {where}) "
        "GROUP BY site",
        args,
    )
    return {s: n for s, n in rows if s}


def unique_clients_per_day(
    db: sqlite3.Connection, tz: ZoneInfo, start: float, end: float, site: str | None = None
) -> list[tuple[int, str, int]]:
    """(day start, site, devices) for every day in [start, end)."""
    where, args = _where("1d", start, end, tz, "client", None, site)
    rows = db.execute(
        f"SELECT start, site, COUNT(DISTINCT key) FROM usage WHERE {where} "
        "GROUP BY start, site ORDER BY start, site",
        args,
    )
    return [(int(a), str(b), int(c)) for a, b, c in rows]


def peak_clients(
    db: sqlite3.Connection,
    tz: ZoneInfo,
    start: float,
    end: float,
    *,
    level: str = "1d",
    site: str | None = None,
) -> list[tuple[int, str, int]]:
    """(bucket start, site, most clients online at once) per bucket of `level`."""
    where, args = _where(level, start, end, tz, None, None, site)
    rows = db.execute(
        f"SELECT start, site, clients FROM peak WHERE {where} ORDER BY start, site", args
    )
    return [(int(a), str(b), int(c)) for a, b, c in rows]


def site_figures(
    db: sqlite3.Connection, tz: ZoneInfo, start: float, end: float
) -> dict[str, tuple[int, int]]:
    """Per site seen in [start, end): (devices that used it, most clients online at once)."""
    out = {site: (n, 0) for site, n in unique_clients(db, tz, start, end).items()}
    for _at, site, clients in peak_clients(db, tz, start, end, level=level_for(start, end, tz)):
        devices, peak = out.get(site, (0, 0))
        out[site] = (devices, max(peak, clients))
    return out


def top_talkers(
    db: sqlite3.Connection,
    tz: ZoneInfo,
    start: float,
    end: float,
    pseudonymize: Callable[[str], str],
    *,
    site: str | None = None,
    limit: int = 10,
) -> list[UsageRow]:
    """The devices that moved the most bytes, named by their pseudonym (UU 27/2022)."""
    rows = totals(db, tz, start, end, scope="client", site=site)[:limit]
    return [
        UsageRow(r.start, r.level, r.scope, pseudonymize(r.key), r.site, r.up_bytes,
                 r.down_bytes, r.up_packets, r.down_packets, r.sessions)
        for r in rows
    ]  # fmt: skip


def buckets(level: str, start: float, end: float, tz: ZoneInfo) -> list[int]:
    """Every bucket start of `level` in [start, end) (for charts with empty buckets)."""
    out = []
    at = bucket_start(level, start, tz)
    while at < end:
        out.append(at)
        at = next_start(level, at, tz)
    return out
