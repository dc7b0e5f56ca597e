"""SQLite as Simpul's daemons use it: WAL files of their own, opened by their one writer or
read-only by everyone else, and write transactions taken up front."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


def open_db(
    path: str,
    schema: str,
    *,
    readonly: bool = False,
    missing: str = "",
    synchronous: str = "NORMAL",
) -> sqlite3.Connection:
    """A connection to the database at `path`: the writer's (WAL, the `schema` made if absent,
    autocommit outside `transaction`) or, with `readonly`, a reader's that never writes
    (FileNotFoundError with `missing` appended when there is no file yet)."""
    if readonly:
        if not os.path.exists(path):
            raise FileNotFoundError(f"no database at {path}{missing}")
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        db = sqlite3.connect(path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(schema)
    db.row_factory = sqlite3.Row
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK when the block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def backup_db(source: str | sqlite3.Connection, destination: str) -> None:
    """A consistent copy of a live database (SQLite's online backup) at `destination`, which
    appears whole or not at all."""
    tmp = destination + ".partial"
    if os.path.exists(tmp):
        os.unlink(tmp)
    target = sqlite3.connect(tmp)
    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True) if isinstance(source, str) else source
    try:
        db.backup(target)
    finally:
        target.close()
        if isinstance(source, str):
            db.close()
    os.replace(tmp, destination)
