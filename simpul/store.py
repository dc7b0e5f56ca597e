"""The SQLite store: configuration objects and revisions, client sessions, and the audit log.

One database in WAL mode is the node's source of truth. Schema changes are numbered migrations run
in order inside one transaction each; ``PRAGMA user_version`` records the last one applied.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from simpul.config import Config, config_to_data, parse_config
from simpul.sqlite import backup_db, open_db, transaction

MIGRATIONS: tuple[str, ...] = (
    # 1: configuration as keyed objects, with a revision per change
    """
    CREATE TABLE config_object (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE config_revision (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        comment TEXT NOT NULL,
        document TEXT NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    """,
    # 2: hotspot client sessions (an authorized MAC . IP)
    """
    CREATE TABLE session (
        id INTEGER PRIMARY KEY,
        mac TEXT NOT NULL,
        ip TEXT NOT NULL,
        site TEXT,
        method TEXT NOT NULL,
        started_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        ended_at REAL,
        end_reason TEXT
    );
    CREATE UNIQUE INDEX session_active ON session (mac, ip) WHERE ended_at IS NULL;
    CREATE INDEX session_expiry ON session (expires_at) WHERE ended_at IS NULL;
    """,
    # 3: per-client shaping (the HTB class of a session) and the fair-use throttle
    """
    ALTER TABLE session ADD COLUMN class_id INTEGER;
    ALTER TABLE session ADD COLUMN throttled INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX session_mac ON session (mac, started_at);
    """,
    # 4: vouchers, and the credential (a voucher code) a session was opened with, for reclaim
    """
    CREATE TABLE voucher_batch (
        id INTEGER PRIMARY KEY,
        created_at REAL NOT NULL,
        actor TEXT NOT NULL,
        site TEXT,
        minutes INTEGER NOT NULL,
        note TEXT NOT NULL
    );
    CREATE TABLE voucher (
        code TEXT PRIMARY KEY,
        batch INTEGER NOT NULL REFERENCES voucher_batch (id),
        redeemed_at REAL
    );
    CREATE INDEX voucher_batch_codes ON voucher (batch);
    ALTER TABLE session ADD COLUMN credential TEXT;
    CREATE INDEX session_credential ON session (credential) WHERE ended_at IS NULL;
    """,
    # 5: one-time codes sent by SMS/WhatsApp, keyed by the phone's pseudonym (never the number)
    """
    CREATE TABLE otp (
        phone TEXT PRIMARY KEY,
        code_hash TEXT NOT NULL,
        expires_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        sends INTEGER NOT NULL,
        window_start REAL NOT NULL
    );
    """,
    # 6: accounting asks who last held an address, and how many sessions started when
    """
    CREATE INDEX session_ip ON session (ip, started_at);
    CREATE INDEX session_started ON session (started_at);
    """,
    # 7: the village register for blind-spot reports (imported from a survey CSV), one import
    # replacing the last
    """
    CREATE TABLE village (
        code TEXT PRIMARY KEY,
        kecamatan TEXT NOT NULL,
        desa TEXT NOT NULL,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        signal TEXT NOT NULL,
        surveyed TEXT NOT NULL,
        site TEXT
    );
    CREATE TABLE village_import (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        source TEXT NOT NULL,
        villages INTEGER NOT NULL
    );
    """,
)
OTP_SENDS_PER_WINDOW, OTP_WINDOW_S, OTP_ATTEMPTS = 3, 600, 5
# HTB minors for clients (1: and 2: are taken; 0xF000 and up are OPDs' and conferencing's).
FIRST_CLASS_ID, LAST_CLASS_ID = 0x10, 0xEFFF

# Config sections that hold lists of keyed objects, and the key of each object.
LIST_SECTIONS = {
    "uplinks": "name",
    "opds": "slug",
    "services": "name",
    "hotspot_sites": "slug",
    "remote_sites": "slug",
    "policies": "name",
    "schedules": "name",
    "admins": "username",
}
SINGLE_SECTIONS = (
    "node", "zones", "resolver", "privacy", "portal", "monitoring", "filtering", "qos",
    "accounting", "export",
)  # fmt: skip


@dataclass(frozen=True)
class ImportResult:
    """What `Store.import_config` changed: object keys per kind, and the new revision if any."""

    created: list[str]
    updated: list[str]
    removed: list[str]
    revision: int | None

    @property
    def changed(self) -> bool:
        """Whether the import changed anything."""
        return bool(self.created or self.updated or self.removed)


@dataclass(frozen=True)
class Session:
    """An authorized hotspot client."""

    id: int
    mac: str
    ip: str
    site: str | None
    method: str
    started_at: float
    expires_at: float
    ended_at: float | None = None
    end_reason: str | None = None
    class_id: int | None = None
    throttled: int = 0
    credential: str | None = None


@dataclass(frozen=True)
class Voucher:
    """A voucher code, its batch's terms, and when it was first used."""

    code: str
    batch: int
    site: str | None
    minutes: int
    redeemed_at: float | None


# Configuration fields whose values are secrets: the audit log records that they changed, never
# what they are.
SECRET_FIELDS = frozenset({"secret", "token", "auth_key", "priv_key", "community", "password"})


def redacted(data: Any) -> Any:
    """`data` with the value of every secret field replaced by a mark."""
    if isinstance(data, dict):
        return {
            k: ("(rahasia)" if k in SECRET_FIELDS and v not in (None, "") else redacted(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [redacted(v) for v in data]
    return data


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Store:
    """A connection to the node's database. Not shared between threads; open one per worker."""

    def __init__(self, path: str, *, clock: Any = time.time, readonly: bool = False) -> None:
        self.path = path
        self._clock = clock
        # How a device's MAC appears in the audit log (netd sets a keyed pseudonym, UU 27/2022:
        # the log outlives the sessions, whose own MACs are deleted after the retention).
        self.pseudonymize: Callable[[str], str] = lambda mac: mac
        self.applied_at_open: list[int] = []
        if readonly:  # a reader's (the console's reports): never writes, never migrates
            self.db = open_db(path, "", readonly=True, missing=" (has netd run yet?)")
            if self.schema_version < len(MIGRATIONS):
                self.db.close()
                raise LookupError(
                    f"{path} is at schema {self.schema_version}, older than this Simpul's "
                    f"{len(MIGRATIONS)}: restart netd to migrate it"
                )
            return
        self.db = open_db(path, "", synchronous="FULL")  # the schema: `migrate`
        self.db.execute("PRAGMA foreign_keys=ON")
        try:
            self.applied_at_open = self.migrate()
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE), committed unless it raises."""
        return transaction(self.db)

    # -- schema ------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """The number of migrations applied."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> list[int]:
        """Apply pending migrations in order; returns the numbers applied."""
        applied = []
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"{self.path} has schema version {version}, newer than this Simpul "
                f"({len(MIGRATIONS)}): upgrade Simpul or restore a matching backup"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            with self.transaction() as db:
                for statement in MIGRATIONS[number - 1].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
            applied.append(number)
        return applied

    # -- configuration -----------------------------------------------------------------------

    def _objects(self) -> dict[tuple[str, str], tuple[int, Any]]:
        rows = self.db.execute("SELECT kind, key, position, data FROM config_object")
        return {(r["kind"], r["key"]): (r["position"], json.loads(r["data"])) for r in rows}

    @staticmethod
    def _document(objects: dict[tuple[str, str], tuple[int, Any]]) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for (kind, _key), (_pos, data) in sorted(objects.items(), key=lambda kv: kv[1][0]):
            if kind in LIST_SECTIONS:
                doc.setdefault(kind, []).append(data)
            else:
                doc[kind] = data
        return doc

    def has_config(self) -> bool:
        """Whether any configuration was imported."""
        return self.db.execute("SELECT 1 FROM config_object LIMIT 1").fetchone() is not None

    def config_document(self) -> dict[str, Any]:
        """The stored configuration as plain data (not validated)."""
        return self._document(self._objects())

    def config(self) -> Config:
        """The stored configuration, validated. Raises LookupError if none was imported."""
        if not self.has_config():
            raise LookupError(f"no configuration in {self.path}: run 'simpul config import FILE'")
        return parse_config(self.config_document(), source=self.path)

    def import_config(
        self, config: Config, *, actor: str, replace: bool = False, comment: str = ""
    ) -> ImportResult:
        """Upsert every object of `config`; with `replace`, also remove objects it does not name.

        The merged result is validated before anything is written, so an import that would leave
        an invalid configuration changes nothing. Importing the same file twice changes nothing.
        """
        data = config_to_data(config)
        incoming: dict[tuple[str, str], Any] = {}
        for kind in SINGLE_SECTIONS:
            incoming[(kind, "")] = data[kind]
        for kind, key in LIST_SECTIONS.items():
            for item in data.get(kind, []):
                incoming[(kind, str(item[key]))] = item
        with self.transaction() as db:
            current = self._objects()
            merged = dict(current)
            next_pos = max((pos for pos, _ in current.values()), default=0) + 1
            created, updated = [], []
            changes: list[dict[str, Any]] = []
            for index, (ident, item) in enumerate(incoming.items()):
                name = "/".join(ident).rstrip("/")
                if ident not in current:
                    merged[ident] = (next_pos + index, item)
                    created.append(name)
                    changes.append({"object": name, "before": None, "after": redacted(item)})
                elif _canonical(current[ident][1]) != _canonical(item):
                    merged[ident] = (current[ident][0], item)
                    updated.append(name)
                    changes.append({"object": name, "before": redacted(current[ident][1]),
                                    "after": redacted(item)})  # fmt: skip
            removed = []
            if replace:
                for ident in current.keys() - incoming.keys():
                    del merged[ident]
                    name = "/".join(ident).rstrip("/")
                    removed.append(name)
                    changes.append({"object": name, "before": redacted(current[ident][1]),
                                    "after": None})  # fmt: skip
            document = self._document(merged)
            parse_config(document, source="merged configuration")
            if not (created or updated or removed):
                return ImportResult([], [], [], None)
            db.execute("DELETE FROM config_object")
            db.executemany(
                "INSERT INTO config_object (kind, key, position, data) VALUES (?, ?, ?, ?)",
                [(k, key, pos, _canonical(item)) for (k, key), (pos, item) in merged.items()],
            )
            cursor = db.execute(
                "INSERT INTO config_revision (at, actor, comment, document) VALUES (?, ?, ?, ?)",
                (self._clock(), actor, comment, _canonical(document)),
            )
            revision = cursor.lastrowid
            self._audit(
                db,
                actor,
                "config.import",
                {"revision": revision, "comment": comment, "created": created,
                 "updated": updated, "removed": removed, "changes": changes},
            )  # fmt: skip
        return ImportResult(sorted(created), sorted(updated), sorted(removed), revision)

    def revisions(self, limit: int = 20) -> list[sqlite3.Row]:
        """The latest configuration revisions, newest first."""
        return list(
            self.db.execute(
                "SELECT id, at, actor, comment FROM config_revision ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        )

    def revision_document(self, revision: int) -> dict[str, Any]:
        """The whole configuration as it stood at `revision`; LookupError if there is none."""
        row = self.db.execute(
            "SELECT document FROM config_revision WHERE id = ?", (revision,)
        ).fetchone()
        if row is None:
            raise LookupError(f"no configuration revision {revision}")
        return json.loads(row["document"])

    # -- audit -------------------------------------------------------------------------------

    def _audit(self, db: sqlite3.Connection, actor: str, action: str, detail: Any) -> None:
        db.execute(
            "INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)",
            (self._clock(), actor, action, _canonical(detail)),
        )

    def audit(self, actor: str, action: str, detail: Any) -> None:
        """Record who did what."""
        with self.transaction() as db:
            self._audit(db, actor, action, detail)

    def audit_log(
        self, limit: int = 50, *, before_id: int | None = None, action: str = "", actor: str = ""
    ) -> list[sqlite3.Row]:
        """The latest audit entries, newest first: older than `before_id` (paging), whose
        action starts with `action` and whose actor contains `actor`."""
        return list(
            self.db.execute(
                "SELECT * FROM audit WHERE id < ? AND action LIKE ? ESCAPE '\\' "
                "AND actor LIKE ? ESCAPE '\\' ORDER BY id DESC LIMIT ?",
                (before_id if before_id is not None else 2**62, _like(action) + "%",
                 "%" + _like(actor) + "%", limit),
            )
        )  # fmt: skip

    # -- sessions ----------------------------------------------------------------------------

    def open_session(
        self,
        mac: str,
        ip: str,
        *,
        site: str | None,
        method: str,
        duration_s: float,
        actor: str,
        shaped: bool = False,
        credential: str | None = None,
    ) -> Session:
        """Start (or extend) the session of MAC . IP; an open one for the pair is replaced.

        A `shaped` session gets the lowest HTB class id no open session holds.
        """
        now = self._clock()
        with self.transaction() as db:
            replaced = db.execute(
                "UPDATE session SET ended_at = ?, end_reason = 'replaced' "
                "WHERE mac = ? AND ip = ? AND ended_at IS NULL RETURNING class_id",
                (now, mac, ip),
            ).fetchall()
            class_id = None
            if shaped:
                kept = [r[0] for r in replaced if r[0] is not None]
                class_id = kept[0] if kept else self._free_class_id(db)
            cursor = db.execute(
                "INSERT INTO session (mac, ip, site, method, started_at, expires_at, class_id, "
                "credential) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (mac, ip, site, method, now, now + duration_s, class_id, credential),
            )
            self._audit(db, actor, "client.allow", {"device": self.pseudonymize(mac), "site": site})
            session_id = cursor.lastrowid
        assert session_id is not None
        return Session(
            session_id,
            mac,
            ip,
            site,
            method,
            now,
            now + duration_s,
            class_id=class_id,
            credential=credential,
        )

    @staticmethod
    def _free_class_id(db: sqlite3.Connection) -> int:
        used = {
            row[0]
            for row in db.execute(
                "SELECT class_id FROM session WHERE ended_at IS NULL AND class_id IS NOT NULL"
            )
        }
        for candidate in range(FIRST_CLASS_ID, LAST_CLASS_ID + 1):
            if candidate not in used:
                return candidate
        raise RuntimeError("no free shaping class: too many clients online")

    # -- vouchers ------------------------------------------------------------------------------

    def add_voucher_batch(
        self, codes: list[str], *, minutes: int, site: str | None, actor: str, note: str = ""
    ) -> int:
        """Store a batch of new codes; returns the batch number."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO voucher_batch (created_at, actor, site, minutes, note) "
                "VALUES (?, ?, ?, ?, ?)",
                (self._clock(), actor, site, minutes, note),
            )
            batch = cursor.lastrowid
            assert batch is not None
            db.executemany(
                "INSERT INTO voucher (code, batch) VALUES (?, ?)", [(c, batch) for c in codes]
            )
            self._audit(
                db, actor, "voucher.batch", {"batch": batch, "count": len(codes), "site": site}
            )
        return batch

    def voucher_batches(
        self, now: float, *, limit: int, before: int | None = None, batch: int | None = None
    ) -> list[dict[str, Any]]:
        """Batches newest first (older than `before`, or only `batch`) with their size, the codes
        used at least once, those still running at `now`, and those unused."""
        rows = self.db.execute(
            """
            SELECT b.id AS batch, b.created_at, b.actor, b.site, b.minutes, b.note,
                   COUNT(v.code) AS count, COUNT(v.redeemed_at) AS used,
                   COALESCE(SUM(v.redeemed_at + b.minutes * 60 > :now), 0) AS running
            FROM voucher_batch b LEFT JOIN voucher v ON v.batch = b.id
            WHERE b.id < :before AND (:batch IS NULL OR b.id = :batch)
            GROUP BY b.id ORDER BY b.id DESC LIMIT :limit
            """,
            {"now": now, "before": 2**62 if before is None else before, "batch": batch,
             "limit": limit},
        )  # fmt: skip
        return [{**dict(row), "unused": row["count"] - row["used"]} for row in rows]

    def voucher(self, code: str) -> Voucher | None:
        """A voucher by its (normalized) code."""
        row = self.db.execute(
            "SELECT v.code, v.batch, b.site, b.minutes, v.redeemed_at FROM voucher v "
            "JOIN voucher_batch b ON b.id = v.batch WHERE v.code = ?",
            (code,),
        ).fetchone()
        return Voucher(*row) if row else None

    def voucher_batch(self, batch: int) -> tuple[Voucher, ...]:
        """The vouchers of a batch, by code."""
        rows = self.db.execute(
            "SELECT v.code, v.batch, b.site, b.minutes, v.redeemed_at FROM voucher v "
            "JOIN voucher_batch b ON b.id = v.batch WHERE v.batch = ? ORDER BY v.code",
            (batch,),
        )
        return tuple(Voucher(*row) for row in rows)

    def first_use_of(self, code: str) -> float:
        """When the voucher was first used (now, if this is its first use)."""
        now = self._clock()
        with self.transaction() as db:
            db.execute(
                "UPDATE voucher SET redeemed_at = ? WHERE code = ? AND redeemed_at IS NULL",
                (now, code),
            )
            row = db.execute("SELECT redeemed_at FROM voucher WHERE code = ?", (code,)).fetchone()
        return float(row[0])

    def otp_issue(self, phone: str, code_hash: str, ttl_s: float) -> bool:
        """Keep a new code for `phone` (a pseudonym); False when it had too many lately."""
        now = self._clock()
        with self.transaction() as db:
            row = db.execute("SELECT sends, window_start FROM otp WHERE phone = ?", (phone,))
            found = row.fetchone()
            sends, window = (0, now) if found is None else (found[0], found[1])
            if now - window > OTP_WINDOW_S:
                sends, window = 0, now
            if sends >= OTP_SENDS_PER_WINDOW:
                return False
            db.execute(
                "INSERT OR REPLACE INTO otp (phone, code_hash, expires_at, attempts, sends, "
                "window_start) VALUES (?, ?, ?, 0, ?, ?)",
                (phone, code_hash, now + ttl_s, sends + 1, window),
            )
        return True

    def otp_check(self, phone: str, code_hash: str) -> str:
        """'ok' (and the code is spent), 'wrong', 'expired' or 'locked' (too many tries)."""
        now = self._clock()
        with self.transaction() as db:
            row = db.execute(
                "SELECT code_hash, expires_at, attempts FROM otp WHERE phone = ?", (phone,)
            ).fetchone()
            if row is None or row[1] <= now:
                return "expired"
            if row[2] >= OTP_ATTEMPTS:
                return "locked"
            if not hmac.compare_digest(row[0], code_hash):
                db.execute("UPDATE otp SET attempts = attempts + 1 WHERE phone = ?", (phone,))
                return "wrong"
            db.execute("UPDATE otp SET expires_at = 0 WHERE phone = ?", (phone,))
        return "ok"

    def sessions_with(self, credential: str) -> list[Session]:
        """Open sessions opened with `credential` (for moving them to a new device)."""
        rows = self.db.execute(
            "SELECT * FROM session WHERE credential = ? AND ended_at IS NULL", (credential,)
        )
        return [Session(**dict(r)) for r in rows]

    def purge_sessions(self, ended_before: float) -> int:
        """Delete sessions that ended before `ended_before` (the retention limit)."""
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM session WHERE ended_at IS NOT NULL AND ended_at < ?", (ended_before,)
            )
        return cursor.rowcount

    def set_throttled(self, session_id: int) -> None:
        """Mark a session as slowed to its site's fair-use rate."""
        with self.transaction() as db:
            db.execute("UPDATE session SET throttled = 1 WHERE id = ?", (session_id,))

    def seconds_online_since(self, mac: str, since: float) -> float:
        """How long MAC has been let through since `since` (for a daily allowance)."""
        now = self._clock()
        row = self.db.execute(
            "SELECT COALESCE(SUM(MAX(0, MIN(COALESCE(ended_at, ?), expires_at, ?) "
            "- MAX(started_at, ?))), 0) FROM session WHERE mac = ? AND expires_at > ?",
            (now, now, since, mac, since),
        ).fetchone()
        return float(row[0])

    def end_session(self, mac: str, ip: str, *, reason: str, actor: str) -> bool:
        """End the open session of MAC . IP; False if there was none."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE session SET ended_at = ?, end_reason = ? "
                "WHERE mac = ? AND ip = ? AND ended_at IS NULL",
                (self._clock(), reason, mac, ip),
            )
            if cursor.rowcount:
                self._audit(
                    db, actor, "client.deny", {"device": self.pseudonymize(mac), "reason": reason}
                )
        return cursor.rowcount > 0

    def expire_sessions(self) -> list[Session]:
        """Close every open session whose time is up; returns them."""
        now = self._clock()
        with self.transaction() as db:
            rows = db.execute(
                "SELECT * FROM session WHERE ended_at IS NULL AND expires_at <= ?", (now,)
            ).fetchall()
            db.execute(
                "UPDATE session SET ended_at = expires_at, end_reason = 'expired' "
                "WHERE ended_at IS NULL AND expires_at <= ?",
                (now,),
            )
        return [
            Session(**{**dict(r), "ended_at": r["expires_at"], "end_reason": "expired"})
            for r in rows
        ]

    def config_revision(self) -> int:
        """The number of the latest configuration revision (0: none)."""
        row = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM config_revision").fetchone()
        return int(row[0])

    def open_sessions_at(self, ip: str) -> list[Session]:
        """Open sessions of the address `ip` (normally at most one)."""
        rows = self.db.execute("SELECT * FROM session WHERE ip = ? AND ended_at IS NULL", (ip,))
        return [Session(**dict(r)) for r in rows]

    def active_session_of(self, ip: str) -> Session | None:
        """The open, unexpired session of the client at `ip` (the newest if several)."""
        row = self.db.execute(
            "SELECT * FROM session WHERE ip = ? AND ended_at IS NULL AND expires_at > ? "
            "ORDER BY id DESC LIMIT 1",
            (ip, self._clock()),
        ).fetchone()
        return Session(**dict(row)) if row else None

    def active_sessions(self) -> list[Session]:
        """Open sessions that have not expired, oldest first."""
        rows = self.db.execute(
            "SELECT * FROM session WHERE ended_at IS NULL AND expires_at > ? ORDER BY id",
            (self._clock(),),
        )
        return [Session(**dict(r)) for r in rows]

    def open_sessions(self) -> list[Session]:
        """Sessions not ended yet (expired ones too, until netd ends them), oldest first."""
        rows = self.db.execute("SELECT * FROM session WHERE ended_at IS NULL ORDER BY id")
        return [Session(**dict(r)) for r in rows]

    def held_ips(self, ips: Iterable[str]) -> set[str]:
        """Those of the addresses `ips` that an open session holds (an index seek each, not a
        scan of every open session)."""
        rows = self.db.execute(
            "SELECT DISTINCT ip FROM session WHERE ended_at IS NULL "
            "AND ip IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(ips))),),
        )
        return {ip for (ip,) in rows}

    def last_session_at(self, ip: str) -> Session | None:
        """The latest session, open or ended, of the address `ip`."""
        row = self.db.execute(
            "SELECT * FROM session WHERE ip = ? ORDER BY started_at DESC, id DESC LIMIT 1", (ip,)
        ).fetchone()
        return Session(**dict(row)) if row else None

    def ended_sessions(
        self,
        since: float,
        *,
        search: tuple[str | None, str | None] | None = None,
        limit: int,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Sessions started since `since` that have ended, newest first. With `search` (part of
        an IP, part of a MAC's hex digits), those whose IP or MAC contains it; a None part
        matches nothing (a search that cannot be an address finds none by it)."""
        clause = ("AND (instr(ip, :ip) > 0 OR instr(replace(mac, ':', ''), :mac) > 0)"
                  if search is not None else "")  # fmt: skip
        ip, mac = search if search is not None else (None, None)
        rows = self.db.execute(
            "SELECT mac, ip, site, method, started_at, ended_at, end_reason FROM session "
            f"WHERE started_at >= :since AND ended_at IS NOT NULL {clause} "
            "ORDER BY started_at DESC, id DESC LIMIT :limit OFFSET :offset",
            {"since": since, "ip": ip, "mac": mac, "limit": limit, "offset": offset},
        )
        return [dict(row) for row in rows]

    def sessions_started(self, since: float, until: float) -> dict[str, int]:
        """Sessions started in (since, until], per site."""
        rows = self.db.execute(
            "SELECT site, COUNT(*) FROM session WHERE started_at > ? AND started_at <= ? "
            "AND site IS NOT NULL GROUP BY site",
            (since, until),
        )
        return {site: count for site, count in rows}

    # -- village register --------------------------------------------------------------------

    def replace_villages(self, rows: Iterable[tuple[Any, ...]], actor: str, source: str) -> int:
        """Replace the village register with `rows` (code, kecamatan, desa, lat, lon, signal
        JSON, surveyed ISO date, site) and record the import with an audit entry, in one
        transaction; returns the import's number."""
        rows = list(rows)
        with self.transaction() as db:
            db.execute("DELETE FROM village")
            db.executemany(
                "INSERT INTO village (code, kecamatan, desa, lat, lon, signal, surveyed, site) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            number = db.execute(
                "INSERT INTO village_import (at, actor, source, villages) VALUES (?, ?, ?, ?)",
                (self._clock(), actor, source, len(rows)),
            ).lastrowid
            self._audit(db, actor, "village.import",
                        {"import": number, "source": source, "villages": len(rows)})  # fmt: skip
        assert number is not None
        return number

    def village_rows(self) -> list[sqlite3.Row]:
        """The village register as last imported, by code."""
        return self.db.execute(
            "SELECT code, kecamatan, desa, lat, lon, signal, surveyed, site FROM village "
            "ORDER BY code"
        ).fetchall()

    # -- backup ------------------------------------------------------------------------------

    def backup(self, destination: str) -> None:
        """Write a consistent copy of the live database to `destination` (online backup API)."""
        backup_db(self.db, destination)
