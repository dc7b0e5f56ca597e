"""The export spool: points waiting for the InfluxDB server, in an SQLite file of their own.

Points go in encoded (one line-protocol line each) and in order; the sender peeks the oldest and
acks them once the server took them, so a V-Sat or server outage of a day only makes the queue
longer. The spool is bounded: when a put passes the bound, the oldest points are dropped and
counted (why, how many, their time range), never silently. Counters live in the same file and
survive restarts. A damaged file is moved aside (`NAME.corrupt-<UTC time>`) and a fresh spool
started; a full disk fails the put with `SpoolError` and leaves what is spooled untouched.

The bound counts each point's line plus `ROW_OVERHEAD` bytes (SQLite's cell header, rowid and
time: measured at ~22 bytes a row, 32 leaves room for partly filled pages), so the file stays
close to the bound; SQLite reuses freed pages, and the file does not shrink.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from monitoring.points import Point, encode

log = logging.getLogger("simpul.export")

SPOOL_FILE = "export-spool.db"  # in the exporter's directory (the monitor puts link figures too)
ROW_OVERHEAD = 32
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 11, 13, 26
SPOOL_FULL, REJECTED, DISK_FULL = "spool full", "rejected", "disk full"
EVENTS_KEPT = 20  # the newest events `stats()` reports

SCHEMA = """
CREATE TABLE IF NOT EXISTS point (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns INTEGER NOT NULL,
    line BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES
    ('waiting', 0), ('waiting_bytes', 0), ('spooled', 0), ('acked', 0);
CREATE TABLE IF NOT EXISTS dropped (
    reason TEXT PRIMARY KEY,
    message TEXT NOT NULL,
    points INTEGER NOT NULL,
    first_ns INTEGER NOT NULL,
    last_ns INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event (id INTEGER PRIMARY KEY, at REAL NOT NULL, message TEXT NOT NULL);
"""

T = TypeVar("T")


class SpoolError(Exception):
    """The spool could not do what was asked (disk full, I/O error); nothing spooled is lost."""

    def __init__(self, message: str, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


class _Corrupt(Exception):
    """The spool file is damaged."""


@dataclass(frozen=True, slots=True)
class Spooled:
    """A point waiting in the spool: its id (for `ack`), its time and its encoded line."""

    id: int
    time_ns: int
    line: bytes


@dataclass(frozen=True)
class Dropped:
    """Points lost for one reason: how many, the span of their timestamps, the latest message and
    when the latest loss happened (epoch seconds)."""

    reason: str
    message: str
    points: int
    first_time_ns: int
    last_time_ns: int
    at: float


@dataclass(frozen=True)
class Event:
    """Something the spool did about its file (e.g. moved a corrupt one aside)."""

    at: float
    message: str


@dataclass(frozen=True)
class SpoolStats:
    """What waits, what was sent and what was lost, since the spool file was made."""

    waiting: int
    waiting_bytes: int
    bound_bytes: int
    oldest_time_ns: int | None  # time of the next point to send
    spooled: int
    acked: int
    dropped: tuple[Dropped, ...]
    events: tuple[Event, ...]  # the newest EVENTS_KEPT, oldest first

    @property
    def dropped_points(self) -> int:
        """Points lost for any reason."""
        return sum(d.points for d in self.dropped)


def size_text(n: int) -> str:
    """A byte count for people: '256 MB', '20 KB', '512 bytes' (binary units)."""
    if n >= 2**20:
        return f"{n / 2**20:.4g} MB"
    if n >= 2**10:
        return f"{n / 2**10:.4g} KB"
    return f"{n} bytes"


def _code(error: sqlite3.Error) -> int:
    return getattr(error, "sqlite_errorcode", 0) & 0xFF


def _corrupt(error: sqlite3.Error) -> bool:
    return _code(error) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def _truncated_to_nothing(path: str) -> bool:
    # SQLite takes an empty file for a new database; the spool writes its schema as soon as it
    # opens a file, so an empty one with no WAL beside it was cut short.
    wal = f"{path}-wal"
    return (
        os.path.exists(path)
        and os.path.getsize(path) == 0
        and (not os.path.exists(wal) or os.path.getsize(wal) == 0)
    )


def _merge(a: Dropped, b: Dropped) -> Dropped:
    latest = b if b.at >= a.at else a
    return Dropped(
        a.reason,
        latest.message,
        a.points + b.points,
        min(a.first_time_ns, b.first_time_ns),
        max(a.last_time_ns, b.last_time_ns),
        latest.at,
    )


def _stats(db: sqlite3.Connection, max_bytes: int, pending: Sequence[Dropped]) -> SpoolStats:
    counters = dict(db.execute("SELECT name, value FROM counter"))
    head = db.execute("SELECT time_ns FROM point ORDER BY id LIMIT 1").fetchone()
    dropped = {
        row[0]: Dropped(*row)
        for row in db.execute("SELECT reason, message, points, first_ns, last_ns, at FROM dropped")
    }
    for d in pending:
        dropped[d.reason] = _merge(dropped[d.reason], d) if d.reason in dropped else d
    events = db.execute(
        "SELECT at, message FROM event ORDER BY id DESC LIMIT ?", (EVENTS_KEPT,)
    ).fetchall()
    return SpoolStats(
        waiting=counters["waiting"],
        waiting_bytes=counters["waiting_bytes"],
        bound_bytes=max_bytes,
        oldest_time_ns=head[0] if head else None,
        spooled=counters["spooled"],
        acked=counters["acked"],
        dropped=tuple(sorted(dropped.values(), key=lambda d: d.reason)),
        events=tuple(Event(*row) for row in reversed(events)),
    )


def read_stats(path: str) -> SpoolStats | None:
    """The stats of the spool at `path`, read only (for /metrics: never repairs, never moves
    the file a writer holds); None when it cannot be read (missing, being made, damaged)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        return _stats(db, 0, ())
    except (sqlite3.Error, KeyError):
        return None
    finally:
        db.close()


class Spool:
    """A bounded, ordered, on-disk queue of encoded points (safe to share between threads)."""

    def __init__(self, path: str, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        if max_bytes <= 0:
            raise ValueError(f"spool bound must be positive, not {max_bytes}")
        self.path = path
        self.max_bytes = max_bytes
        self.clock = clock
        self._lock = threading.Lock()
        # Losses that could not be written (the disk was full), recorded with the next write.
        self._pending: list[Dropped] = []
        # The highest id `peek` handed out: a fresh file's ids start above it, so a late ack of
        # a batch from a file that was since replaced cannot remove a fresh point.
        self._max_id = 0
        try:
            self.db = self._connect()
        except _Corrupt as error:
            self._recover(str(error))

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self.db.close()

    # -- the queue --------------------------------------------------------------------------------

    def put(self, points: Iterable[Point]) -> int:
        """Spool `points` in one transaction, after everything already waiting. Returns how many
        of the oldest points were dropped to stay within the bound (mostly 0). Raises `SpoolError`
        when the disk is full: these points are not spooled, and counted as lost."""
        rows = [(p.time_ns, encode(p).encode()) for p in points]
        if not rows:
            return 0
        try:
            return self._write("put", lambda: self._put(rows))
        except SpoolError as error:
            if error.disk_full:
                times = [t for t, _ in rows]
                message = f"disk full: new points could not be spooled ({error.__cause__})"
                lost = Dropped(DISK_FULL, message, len(rows), min(times), max(times), self.clock())
                with self._lock:
                    self._pending.append(lost)
            raise

    def peek(self, n: int) -> list[Spooled]:
        """The `n` oldest points waiting, oldest first (they stay until acked)."""

        def read() -> list[Spooled]:
            rows = self.db.execute(
                "SELECT id, time_ns, line FROM point ORDER BY id LIMIT ?", (n,)
            ).fetchall()
            if rows:
                self._max_id = max(self._max_id, rows[-1][0])
            return [Spooled(*row) for row in rows]

        return self._read("peek", read, list)

    def ack(self, ids: Sequence[int]) -> int:
        """Remove points the server has taken. Ids no longer spooled (dropped meanwhile) are
        skipped; returns how many were removed."""
        if not ids:
            return 0

        def remove() -> int:
            removed = len(self._remove(ids))
            self._add(acked=removed)
            return removed

        return self._write("ack", remove)

    def drop(self, ids: Sequence[int], reason: str, message: str) -> int:
        """Remove points that will never be sent (e.g. the server rejected them) and count them
        as lost for `reason`; returns how many were removed."""
        if not ids:
            return 0

        def remove() -> int:
            times = self._remove(ids)
            if times:
                self._record(
                    Dropped(reason, message, len(times), min(times), max(times), self.clock())
                )
            return len(times)

        return self._write("drop", remove)

    def stats(self) -> SpoolStats:
        """What waits, what was sent and what was lost (also losses not yet written to disk)."""

        def read() -> SpoolStats:
            return _stats(self.db, self.max_bytes, self._pending)

        return self._read("stats", read, read)

    # -- inside a transaction ---------------------------------------------------------------------

    def _put(self, rows: list[tuple[int, bytes]]) -> int:
        self.db.executemany("INSERT INTO point (time_ns, line) VALUES (?, ?)", rows)
        size = sum(len(line) for _, line in rows) + ROW_OVERHEAD * len(rows)
        self._add(waiting=len(rows), waiting_bytes=size, spooled=len(rows))
        (waiting_bytes,) = self.db.execute(
            "SELECT value FROM counter WHERE name = 'waiting_bytes'"
        ).fetchone()
        excess = waiting_bytes - self.max_bytes
        if excess <= 0:
            return 0
        freed, times, last_id = 0, [], 0
        cursor = self.db.execute("SELECT id, time_ns, length(line) FROM point ORDER BY id")
        for row_id, t, length in cursor:
            freed += length + ROW_OVERHEAD
            times.append(t)
            last_id = row_id
            if freed >= excess:
                break
        cursor.close()
        self.db.execute("DELETE FROM point WHERE id <= ?", (last_id,))
        self._add(waiting=-len(times), waiting_bytes=-freed)
        message = f"spool full: bound {size_text(self.max_bytes)} reached; oldest points dropped"
        self._record(Dropped(SPOOL_FULL, message, len(times), min(times), max(times), self.clock()))
        return len(times)

    def _remove(self, ids: Sequence[int]) -> list[int]:
        """Delete the points of `ids`; the time of each one that was there."""
        removed = self.db.execute(
            "DELETE FROM point WHERE id IN (SELECT value FROM json_each(?)) "
            "RETURNING time_ns, length(line)",
            (json.dumps(list(ids)),),
        ).fetchall()
        size = sum(length for _, length in removed) + ROW_OVERHEAD * len(removed)
        self._add(waiting=-len(removed), waiting_bytes=-size)
        return [t for t, _ in removed]

    def _add(self, **deltas: int) -> None:
        self.db.executemany(
            "UPDATE counter SET value = value + ? WHERE name = ?",
            [(delta, name) for name, delta in deltas.items() if delta],
        )

    def _record(self, d: Dropped) -> None:
        self.db.execute(
            "INSERT INTO dropped VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (reason) DO UPDATE SET "
            "message = excluded.message, points = points + excluded.points, "
            "first_ns = min(first_ns, excluded.first_ns), "
            "last_ns = max(last_ns, excluded.last_ns), at = excluded.at",
            (d.reason, d.message, d.points, d.first_time_ns, d.last_time_ns, d.at),
        )

    # -- the file ---------------------------------------------------------------------------------

    def _write(self, what: str, op: Callable[[], T]) -> T:
        """`op` in one transaction (with any losses waiting to be recorded). On a corrupt file:
        recover, then run `op` on the fresh file (a put lands there, an ack finds nothing)."""
        with self._lock:
            try:
                return self._transaction(op)
            except sqlite3.DatabaseError as error:
                self._recover_from(what, error)
                return self._transaction(op)

    def _read(self, what: str, op: Callable[[], T], fresh: Callable[[], T]) -> T:
        """`op` (reads only); on a corrupt file, recover and return `fresh()`."""
        with self._lock:
            try:
                return op()
            except sqlite3.DatabaseError as error:
                self._recover_from(what, error)
                return fresh()

    def _recover_from(self, what: str, error: sqlite3.DatabaseError) -> None:
        """After `error` in `what`: a fresh file if it says the file is corrupt, else raise it
        as a `SpoolError`."""
        if not _corrupt(error):
            raise self._error(what, error) from error
        self.db.close()
        self._recover(str(error))

    def _transaction(self, op: Callable[[], T]) -> T:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for d in self._pending:
                self._record(d)
            result = op()
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise
        self._pending.clear()
        return result

    def _error(self, what: str, error: sqlite3.DatabaseError) -> SpoolError:
        if _code(error) == SQLITE_FULL:
            return SpoolError(
                f"spool {self.path}: {what} failed, database or disk is full ({error}); "
                "what was spooled before is kept",
                disk_full=True,
            )
        return SpoolError(f"spool {self.path}: {what} failed: {error}")

    def _connect(self) -> sqlite3.Connection:
        """Open and check the file and make the schema; `_Corrupt` if the file is damaged."""
        if _truncated_to_nothing(self.path):
            raise _Corrupt("the file is empty (truncated)")
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise SpoolError(f"spool {self.path}: cannot open: {error}") from error
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # A put must survive a power cut (frequent at remote sites): fsync every commit.
            db.execute("PRAGMA synchronous=FULL")
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise _Corrupt("; ".join(problems[:3]))
            db.executescript(SCHEMA)
        except _Corrupt:
            db.close()
            raise
        except sqlite3.DatabaseError as error:
            db.close()
            if _corrupt(error):
                raise _Corrupt(str(error)) from error
            raise SpoolError(f"spool {self.path}: cannot open: {error}") from error
        return db

    def _recover(self, problem: str) -> None:
        """Move the damaged (closed) file and its WAL aside, start a fresh spool, record the
        event."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        aside = f"{self.path}.corrupt-{stamp}"
        n = 1
        while os.path.exists(aside):
            n += 1
            aside = f"{self.path}.corrupt-{stamp}-{n}"
        os.replace(self.path, aside)
        if os.path.exists(f"{self.path}-wal"):
            os.replace(f"{self.path}-wal", f"{aside}-wal")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{self.path}-shm")
        message = (
            f"spool file corrupt ({problem}): moved aside to {aside}, a fresh spool started; "
            "the points and counts it held are lost"
        )
        log.error("%s", message)
        self.db = self._connect()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO event (at, message) VALUES (?, ?)", (self.clock(), message)
            )
            if self._max_id:
                self.db.execute("INSERT INTO sqlite_sequence VALUES ('point', ?)", (self._max_id,))
