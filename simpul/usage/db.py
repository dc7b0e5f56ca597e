"""The usage database (SQLite, WAL): rollups at every level, the meters of the last readings,
peak concurrent clients, and a log of accounting cycles.

A file of its own beside the node's store: a cycle's transaction (tens of milliseconds with
thousands of clients) then never holds up a login, whose session is written to the store.
netd writes; the CLI, the admin console and the reports read (`simpul.usage.queries`).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from simpul.config.model import Retention
from simpul.sqlite import open_db, transaction
from simpul.usage.booking import DOWN, Booking, Meter
from simpul.usage.buckets import CLIENT_LEVELS, LEVELS, bucket_start

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    level TEXT NOT NULL,
    start INTEGER NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    site TEXT NOT NULL DEFAULT '',
    up_bytes INTEGER NOT NULL DEFAULT 0,
    down_bytes INTEGER NOT NULL DEFAULT 0,
    up_packets INTEGER NOT NULL DEFAULT 0,
    down_packets INTEGER NOT NULL DEFAULT 0,
    sessions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (level, scope, key, site, start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_time ON usage (level, start);
CREATE TABLE IF NOT EXISTS peak (
    level TEXT NOT NULL,
    start INTEGER NOT NULL,
    site TEXT NOT NULL,
    clients INTEGER NOT NULL,
    PRIMARY KEY (level, site, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meter (
    source TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    packets INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cycle (
    at REAL PRIMARY KEY,
    duration_ms REAL NOT NULL,
    readings INTEGER NOT NULL,
    resets INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
"""
CYCLES_KEPT = 2880  # a day of 30-second cycles
USAGE_DB = "usage.db"  # beside the store

_UPSERT = """
INSERT INTO usage (level, start, scope, key, site, up_bytes, down_bytes, up_packets,
                   down_packets, sessions)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET
    up_bytes = up_bytes + excluded.up_bytes,
    down_bytes = down_bytes + excluded.down_bytes,
    up_packets = up_packets + excluded.up_packets,
    down_packets = down_packets + excluded.down_packets,
    sessions = sessions + excluded.sessions
"""
_PEAK = """
INSERT INTO peak (level, start, site, clients) VALUES (?, ?, ?, ?)
ON CONFLICT DO UPDATE SET clients = max(clients, excluded.clients)
"""


@dataclass(frozen=True)
class CycleRecord:
    """What one accounting cycle did, for `status` and the admin console."""

    at: float
    duration_ms: float
    readings: int
    resets: int
    bytes: int


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection to the usage database at `path` (made, with its schema, unless `readonly`).

    NORMAL synchronization: in WAL mode a crash of netd (kill -9) loses nothing committed; a
    power cut may lose the last commits, but the counters they booked are lost with the kernel
    anyway, and meters and deltas stay consistent (one transaction). Saves an fsync per cycle."""
    return open_db(path, SCHEMA, readonly=readonly, missing=" (has netd run yet?)")


class UsageDb:
    """netd's writer of the usage database. One thread at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = connect(path)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db)

    def meters(self) -> dict[str, Meter]:
        """The last raw value booked for every counter."""
        rows = self.db.execute("SELECT source, instance, packets, bytes FROM meter").fetchall()
        return {r["source"]: Meter(r["instance"], r["packets"], r["bytes"]) for r in rows}

    def five_minute_page(self, after: int, last: int, buckets: int) -> dict[str, Any]:
        """5-minute rows (not devices') and site peaks of the buckets starting in
        (after, last], at most `buckets` of them; `next`: the start of the last one given."""
        starts = [
            row[0]
            for row in self.db.execute(
                "SELECT DISTINCT start FROM usage WHERE level = '5m' AND start > ? AND start <= ? "
                "ORDER BY start LIMIT ?",
                (after, last, buckets),
            )
        ]
        if not starts:
            return {"rows": [], "peaks": [], "next": max(after, 0)}
        span = (starts[0], starts[-1])
        rows = self.db.execute(
            "SELECT start, scope, key, up_bytes, down_bytes, up_packets, down_packets, sessions "
            "FROM usage WHERE level = '5m' AND start BETWEEN ? AND ? ORDER BY start, scope, key",
            span,
        ).fetchall()
        peaks = self.db.execute(
            "SELECT start, site, clients FROM peak WHERE level = '5m' AND start BETWEEN ? AND ? "
            "ORDER BY start, site",
            span,
        ).fetchall()
        return {"rows": [list(r) for r in rows], "peaks": [list(p) for p in peaks],
                "next": starts[-1]}  # fmt: skip

    def forget_meters(self, sources: Iterable[str]) -> None:
        """Forget the meters of counters the kernel no longer has."""
        with self._transaction() as db:
            db.executemany("DELETE FROM meter WHERE source = ?", [(s,) for s in sources])

    def forget_kernel_meters(self) -> int:
        """Forget the meters of nftables counters (not of interfaces, which have their own
        instance); returns how many."""
        with self._transaction() as db:
            return db.execute("DELETE FROM meter WHERE source NOT LIKE 'uplink/%'").rowcount

    def last_cycle(self) -> CycleRecord | None:
        """The latest committed cycle."""
        row = self.db.execute("SELECT * FROM cycle ORDER BY at DESC LIMIT 1").fetchone()
        return CycleRecord(**dict(row)) if row else None

    def commit(
        self,
        booking: Booking,
        at: float,
        tz: ZoneInfo,
        *,
        forget: Iterable[str] = (),
        peaks: Mapping[str, int] | None = None,
        sessions: Mapping[str, int] | None = None,
        duration_ms: float = 0.0,
        readings: int | None = None,
    ) -> None:
        """Add `booking`'s deltas at moment `at` to every level (buckets in zone `tz`), keep its
        meters and forget the meters of counters that are gone, all in one transaction. `peaks`
        are clients online per site now; `sessions` are sessions started per site since the
        last cycle; `readings` (a whole cycle's count) logs the commit as a cycle."""
        rows: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for d in booking.deltas:
            row = rows[(d.scope, d.key, d.site)]
            if d.direction == DOWN:
                row[1] += d.bytes
                row[3] += d.packets
            else:
                row[0] += d.bytes
                row[2] += d.packets
        for site, count in (sessions or {}).items():
            rows[("site", site, "")][4] += count
        starts = {level: bucket_start(level, at, tz) for level in LEVELS}
        values = [
            (level, starts[level], scope, key, site, *sums)
            for (scope, key, site), sums in rows.items()
            for level in (CLIENT_LEVELS if scope == "client" else LEVELS)
        ]
        gone = set(forget)
        with self._transaction() as db:
            db.executemany(_UPSERT, values)
            db.executemany(
                "INSERT INTO meter (source, instance, packets, bytes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET instance = excluded.instance, "
                "packets = excluded.packets, bytes = excluded.bytes",
                [(s, m.instance, m.packets, m.bytes) for s, m in booking.meters.items()],
            )
            db.executemany("DELETE FROM meter WHERE source = ?", [(s,) for s in sorted(gone)])
            db.executemany(
                _PEAK,
                [
                    (level, starts[level], site, count)
                    for site, count in (peaks or {}).items()
                    for level in LEVELS
                ],
            )
            if readings is not None:
                db.execute(
                    "INSERT OR REPLACE INTO cycle (at, duration_ms, readings, resets, bytes) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (at, duration_ms, readings, len(booking.resets),
                     sum(d.bytes for d in booking.deltas)),
                )  # fmt: skip

    def purge(self, retention: Retention, now: float) -> dict[str, int]:
        """Delete rows older than each level's retention, and device rows older than
        `client_days`; returns rows deleted per level."""
        days = {
            "5m": retention.five_minute_days,
            "1h": retention.hourly_days,
            "1d": retention.daily_days,
            "1mo": retention.monthly_days,
        }
        deleted = {}
        with self._transaction() as db:
            for level, keep in days.items():
                cutoff = now - keep * 86400
                n = db.execute(
                    "DELETE FROM usage WHERE level = ? AND start < ?", (level, cutoff)
                ).rowcount
                db.execute("DELETE FROM peak WHERE level = ? AND start < ?", (level, cutoff))
                deleted[level] = n
            deleted["client"] = db.execute(
                "DELETE FROM usage WHERE scope = 'client' AND start < ?",
                (now - retention.client_days * 86400,),
            ).rowcount
            oldest = db.execute(
                "SELECT at FROM cycle ORDER BY at DESC LIMIT 1 OFFSET ?", (CYCLES_KEPT,)
            ).fetchone()
            if oldest:
                db.execute("DELETE FROM cycle WHERE at <= ?", (oldest[0],))
        return deleted
