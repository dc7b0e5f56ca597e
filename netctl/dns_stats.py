"""The DNS front end's own records: per-group, per-category query counts and per-client query
logs (only where a policy asks), in an SQLite file it owns, written in batches."""

from __future__ import annotations

import sqlite3

from simpul.filtering.policy import Verdict

STATS_SCHEMA = """
CREATE TABLE IF NOT EXISTS dns_counts (
    day TEXT NOT NULL, grp TEXT NOT NULL, category TEXT NOT NULL, action TEXT NOT NULL,
    queries INTEGER NOT NULL, PRIMARY KEY (day, grp, category, action)
);
CREATE TABLE IF NOT EXISTS query_log (
    ts REAL NOT NULL, grp TEXT NOT NULL, client TEXT NOT NULL, name TEXT NOT NULL,
    qtype INTEGER NOT NULL, action TEXT NOT NULL, category TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS query_log_ts ON query_log (ts);
"""


class Stats:
    """Counters per (day, group, category, action) and per-client query logs, flushed to SQLite
    every few seconds (a crash loses at most that much)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(STATS_SCHEMA)
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.log: list[tuple[float, str, str, str, int, str, str, str]] = []

    def count(self, day: str, group: str, verdict: Verdict) -> None:
        """Count one answered query."""
        key = (day, group, verdict.category or "-", verdict.action)
        self.counts[key] = self.counts.get(key, 0) + 1

    def record(
        self, ts: float, group: str, client: str, name: str, qtype: int, verdict: Verdict
    ) -> None:
        """Keep one query in the per-client log."""
        self.log.append(
            (ts, group, client, name, qtype, verdict.action, verdict.category or "-",
             verdict.reason)
        )  # fmt: skip

    def flush(self) -> None:
        """Write what was counted since the last flush, in one transaction."""
        if not self.counts and not self.log:
            return
        counts, self.counts = self.counts, {}
        entries, self.log = self.log, []
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO dns_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET queries = queries + excluded.queries",
                [(*k, n) for k, n in counts.items()],
            )
            self.db.executemany("INSERT INTO query_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)", entries)

    def purge(self, keep_days: dict[str, int], now: float) -> int:
        """Drop query-log entries older than each group's retention (0: drop all)."""
        removed = 0
        with self.db:
            groups = [g for (g,) in self.db.execute("SELECT DISTINCT grp FROM query_log")]
            for grp in groups:
                cutoff = now - keep_days.get(grp, 0) * 86400
                removed += self.db.execute(
                    "DELETE FROM query_log WHERE grp = ? AND ts < ?", (grp, cutoff)
                ).rowcount
        return removed

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        self.db.close()


def totals(path: str, first: str, last: str) -> list[tuple[str, str, int, int]]:
    """(group, category, allowed, blocked) for the days `first`..`last` (YYYY-MM-DD), read-only
    (the front end keeps writing)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(
            "SELECT grp, category, SUM(CASE WHEN action = 'allow' THEN queries ELSE 0 END), "
            "SUM(CASE WHEN action = 'block' THEN queries ELSE 0 END) FROM dns_counts "
            "WHERE day BETWEEN ? AND ? GROUP BY grp, category ORDER BY grp, category",
            (first, last),
        ).fetchall()
