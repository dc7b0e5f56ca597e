"""The databases the console reads but does not own, opened per request and closed at teardown:
netd's store and accounting rollups (simpul.db, usage.db: read only) and the monitor's samples,
alerts and outage ledger (monitor.db: read only, except that an acknowledgement is a row the
monitor picks up)."""

from __future__ import annotations

import sqlite3

from flask import g

from monitoring import store as monitor_store
from portal.admin.session import runtime
from simpul.store import Store
from simpul.usage import db as usage_store


def usage_db() -> sqlite3.Connection:
    """A read-only connection to usage.db (FileNotFoundError if netd has not made it yet)."""
    conn = g.get("usage_conn")
    if conn is None:
        conn = g.usage_conn = usage_store.connect(str(runtime().settings.usage_db), readonly=True)
    return conn


def monitor_db(*, write: bool = False) -> sqlite3.Connection:
    """A connection to monitor.db: read only, or (`write`) for an acknowledgement."""
    key = "monitor_conn_rw" if write else "monitor_conn"
    conn = g.get(key)
    if conn is None:
        path = str(runtime().settings.monitor_db)
        conn = monitor_store.connect(path, readonly=not write)
        setattr(g, key, conn)
    return conn


def store() -> Store:
    """netd's store, read only (FileNotFoundError if netd has not made it yet)."""
    opened = g.get("store_ro")
    if opened is None:
        opened = g.store_ro = Store(str(runtime().settings.store_db), readonly=True)
    return opened


def close_readers(_exc: BaseException | None = None) -> None:
    """Close the connections this request opened (a teardown hook)."""
    for key in ("usage_conn", "monitor_conn", "monitor_conn_rw", "store_ro"):
        conn = g.pop(key, None)
        if conn is not None:
            conn.close()
