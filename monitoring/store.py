"""The monitor's database (SQLite, WAL, a file of its own): every cycle's sample per target,
interface rates, hourly and daily rollups, alert states, the outage ledger and notifications
sent. The monitor writes; `simpul monitor` and the admin console read."""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitoring.ledger import Cause, Outage
from simpul.sqlite import open_db, transaction
from simpul.usage.buckets import bucket_start

SCHEMA = """
CREATE TABLE IF NOT EXISTS sample (
    target TEXT NOT NULL,
    at REAL NOT NULL,
    severity TEXT NOT NULL,
    rtt_ms REAL,
    loss_percent REAL,
    jitter_ms REAL,
    uptime_s REAL,
    error TEXT,
    reasons TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (target, at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS interface_rate (
    target TEXT NOT NULL,
    at REAL NOT NULL,
    interface TEXT NOT NULL,
    rx_bps REAL,
    tx_bps REAL,
    reason TEXT,
    PRIMARY KEY (target, at, interface)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup (
    level TEXT NOT NULL,
    start INTEGER NOT NULL,
    target TEXT NOT NULL,
    samples INTEGER NOT NULL,
    down INTEGER NOT NULL,
    rtt_sum REAL NOT NULL,
    rtt_count INTEGER NOT NULL,
    rtt_max REAL,
    loss_sum REAL NOT NULL,
    PRIMARY KEY (level, target, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_state (target TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outage (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    site TEXT,
    start REAL NOT NULL,
    end REAL,
    cause TEXT NOT NULL,
    in_maintenance INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outage_time ON outage (start);
CREATE TABLE IF NOT EXISTS ack (
    target TEXT PRIMARY KEY,
    who TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS delivery (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    channel TEXT NOT NULL,
    ok INTEGER NOT NULL,
    message TEXT NOT NULL
);
"""
SAMPLE_DAYS = 8  # a week's baseline and a day's slack
ROLLUP_LEVELS = ("1h", "1d")
MONITOR_DB = "monitor.db"


@dataclass(frozen=True)
class Sample:
    """One cycle's figures for one target."""

    target: str
    at: float
    severity: str
    rtt_ms: float | None
    loss_percent: float | None
    jitter_ms: float | None
    uptime_s: float | None
    error: str | None
    reasons: tuple[str, ...] = ()


@dataclass
class LedgerChanges:
    """What a cycle does to the ledger: outages opened (target, site, start, in maintenance),
    closed (row id, end, cause), and targets no longer monitored whose state is dropped."""

    opened: list[tuple[str, str | None, float, bool]] = field(default_factory=list)
    closed: list[tuple[int, float, str]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoredOutage:
    """A ledger row."""

    id: int
    target: str
    site: str | None
    start: float
    end: float | None
    cause: str
    in_maintenance: bool

    def outage(self) -> Outage:
        """The row as the ledger's `Outage` (times in UTC)."""
        start = datetime.fromtimestamp(self.start, UTC)
        end = datetime.fromtimestamp(self.end, UTC) if self.end else None
        cause: Cause = self.cause  # type: ignore[assignment]  # the ledger wrote one
        return Outage(self.target, self.site, start, end, cause, self.in_maintenance)


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection to the monitor database (made, with its schema, unless `readonly`)."""
    return open_db(path, SCHEMA, readonly=readonly, missing=" (has the monitor run yet?)")


class MonitorDb:
    """The monitor's writer. One thread at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = connect(path)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error)."""
        return transaction(self.db)

    def record(
        self,
        samples: Iterable[Sample],
        rates: Iterable[tuple[str, float, str, float | None, float | None, str | None]],
        states: dict[str, dict[str, Any]],
        tz: ZoneInfo,
        ledger: LedgerChanges | None = None,
    ) -> None:
        """One cycle in one transaction: samples, interface rates (target, at, interface, rx,
        tx, reason), rollups, the alert states and the ledger's changes (so a crash cannot
        leave a state without its outage row, or the other way round)."""
        samples = list(samples)
        ledger = ledger or LedgerChanges()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO outage (target, site, start, end, cause, in_maintenance) "
                "VALUES (?, ?, ?, NULL, 'unknown', ?)",
                [(t, site, start, int(m)) for t, site, start, m in ledger.opened],
            )
            db.executemany("UPDATE outage SET end = ?, cause = ? WHERE id = ?",
                           [(end, cause, i) for i, end, cause in ledger.closed])  # fmt: skip
            db.executemany("DELETE FROM alert_state WHERE target = ?",
                           [(t,) for t in ledger.forgotten])  # fmt: skip
            db.executemany(
                "INSERT OR REPLACE INTO sample VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(s.target, s.at, s.severity, s.rtt_ms, s.loss_percent, s.jitter_ms,
                  s.uptime_s, s.error, "\n".join(s.reasons)) for s in samples],
            )  # fmt: skip
            db.executemany("INSERT OR REPLACE INTO interface_rate VALUES (?, ?, ?, ?, ?, ?)",
                           list(rates))  # fmt: skip
            db.executemany(
                "INSERT INTO rollup VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "samples = samples + 1, down = down + excluded.down, "
                "rtt_sum = rtt_sum + excluded.rtt_sum, rtt_count = rtt_count + excluded.rtt_count, "
                "rtt_max = max(coalesce(rtt_max, excluded.rtt_max), "
                "coalesce(excluded.rtt_max, rtt_max)), loss_sum = loss_sum + excluded.loss_sum",
                [(level, bucket_start(level, s.at, tz), s.target, int(s.severity == "down"),
                  s.rtt_ms or 0.0, int(s.rtt_ms is not None), s.rtt_ms, s.loss_percent or 0.0)
                 for s in samples for level in ROLLUP_LEVELS],
            )  # fmt: skip
            db.executemany(
                "INSERT OR REPLACE INTO alert_state VALUES (?, ?)",
                [(t, json.dumps(data)) for t, data in states.items()],
            )

    def states(self) -> dict[str, dict[str, Any]]:
        """Every target's stored alert state (as saved)."""
        return alert_states(self.db)

    def baseline_rtt(self, target: str, since: float) -> float | None:
        """The median RTT of `target`'s samples since `since` (its normal), None if none."""
        rows = self.db.execute(
            "SELECT rtt_ms FROM sample WHERE target = ? AND at >= ? AND rtt_ms IS NOT NULL",
            (target, since),
        ).fetchall()
        return statistics.median(r[0] for r in rows) if rows else None

    def open_outages(self) -> dict[str, StoredOutage]:
        """Open ledger rows by target."""
        rows = self.db.execute("SELECT * FROM outage WHERE end IS NULL ORDER BY start")
        return {r["target"]: _outage(r) for r in rows}

    def take_acks(self) -> list[tuple[str, str, float]]:
        """Acknowledgements asked for since the last cycle (target, who, when), removed."""
        with self.transaction() as db:
            rows = db.execute("SELECT target, who, at FROM ack").fetchall()
            db.execute("DELETE FROM ack")
        return [(r["target"], r["who"], r["at"]) for r in rows]

    def delivered(self, rows: Iterable[tuple[float, str, str, str, str, bool, str]]) -> None:
        """Log notifications: (at, target, kind, severity, channel, ok, message)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO delivery (at, target, kind, severity, channel, ok, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                list(rows),
            )

    def purge(self, now: float, rollup_days: dict[str, int]) -> None:
        """Samples older than SAMPLE_DAYS, rollups older than their level's days."""
        with self.transaction() as db:
            db.execute("DELETE FROM sample WHERE at < ?", (now - SAMPLE_DAYS * 86400,))
            db.execute("DELETE FROM interface_rate WHERE at < ?", (now - SAMPLE_DAYS * 86400,))
            for level, days in rollup_days.items():
                db.execute(
                    "DELETE FROM rollup WHERE level = ? AND start < ?", (level, now - days * 86400)
                )


def _outage(row: sqlite3.Row) -> StoredOutage:
    return StoredOutage(row["id"], row["target"], row["site"], row["start"], row["end"],
                        row["cause"], bool(row["in_maintenance"]))  # fmt: skip


def outages(db: sqlite3.Connection, start: float, end: float) -> list[StoredOutage]:
    """Ledger rows that overlap [start, end), oldest first."""
    rows = db.execute(
        "SELECT * FROM outage WHERE start < ? AND (end IS NULL OR end > ?) ORDER BY start",
        (end, start),
    )
    return [_outage(r) for r in rows]


def latest(db: sqlite3.Connection) -> list[sqlite3.Row]:
    """Each target's latest sample: a primary-key seek per target (skipping from one target to
    the next), not a scan of the week of samples."""
    return db.execute(
        "WITH RECURSIVE t(target) AS (SELECT MIN(target) FROM sample UNION ALL "
        "SELECT (SELECT MIN(target) FROM sample WHERE target > t.target) FROM t "
        "WHERE t.target IS NOT NULL) "
        "SELECT s.* FROM t JOIN sample s ON s.target = t.target AND s.at = "
        "(SELECT MAX(at) FROM sample WHERE target = t.target) ORDER BY s.target"
    ).fetchall()


def alert_states(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Every target's stored alert state (as `alerts.AlertState.to_dict` saved it)."""
    rows = db.execute("SELECT target, data FROM alert_state")
    return {r["target"]: json.loads(r["data"]) for r in rows}


def acknowledge(db: sqlite3.Connection, target: str, who: str, at: float) -> None:
    """Ask the monitor to mark `target`'s trouble as taken on by `who` (applied, and the row
    removed, at its next cycle; a later request for the same target replaces an earlier one)."""
    with transaction(db) as conn:
        conn.execute("INSERT OR REPLACE INTO ack VALUES (?, ?, ?)", (target, who.strip(), at))


def pending_acks(db: sqlite3.Connection) -> dict[str, tuple[str, float]]:
    """Acknowledgements the monitor has not applied yet: target -> (who, when)."""
    return {r["target"]: (r["who"], r["at"]) for r in db.execute("SELECT * FROM ack")}
