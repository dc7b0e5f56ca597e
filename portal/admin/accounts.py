"""The console's own database (console.db): its users, failed sign-ins, API tokens and drafts.

Passwords are argon2id hashes (argon2-cffi's defaults, rehashed when those change). The console's
user owns this file; netd's store stays netd's alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal.admin.roles import ROLES
from simpul.sqlite import open_db, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS user (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS login_failure (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failure_key ON login_failure (key, at);
CREATE TABLE IF NOT EXISTS api_token (
    digest TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS draft (
    user TEXT PRIMARY KEY REFERENCES user (name) ON DELETE CASCADE,
    base_revision INTEGER NOT NULL,
    document TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""
NAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 200
# Sign-in: this many failures per user name or per address within the window lock it out
# for the rest of the window (OWASP's advice; a citizen's hotspot never reaches this side).
MAX_FAILURES, FAILURE_WINDOW_S = 5, 900
TOKEN_PREFIX = "spl_"

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong name takes as long as a wrong password.
_DUMMY = _hasher.hash("not a password of anyone's")


class AccountError(ValueError):
    """A refused account change; `field` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class User:
    """A console user."""

    name: str
    role: str
    created_at: float
    disabled: bool
    generation: int  # bumped when the password changes or the user is disabled: old sessions end


@dataclass(frozen=True)
class Draft:
    """A user's unapplied configuration, and the revision it was made from."""

    base_revision: int
    document: dict[str, Any]
    updated_at: float


def check_name(name: str) -> str:
    """A valid user name, or AccountError."""
    if not NAME.fullmatch(name or ""):
        raise AccountError(
            "name", "nama pengguna: 2–32 huruf kecil, angka, titik, garis bawah atau minus, "
            "diawali huruf / user name: 2–32 lower-case letters, digits, . _ -, starting "
            "with a letter",
        )  # fmt: skip
    return name


def check_password(password: str) -> str:
    """A password long enough (and not absurdly long), or AccountError."""
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise AccountError(
            "password",
            f"kata sandi: {MIN_PASSWORD}–{MAX_PASSWORD} karakter / password: "
            f"{MIN_PASSWORD}–{MAX_PASSWORD} characters",
        )
    return password


def check_role(role: str) -> str:
    """A known role, or AccountError."""
    if role not in ROLES:
        raise AccountError("role", f"peran tidak dikenal / unknown role: {role!r}")
    return role


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleDb:
    """console.db, one connection per process (SQLite serializes the workers' writes)."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.db = open_db(path, SCHEMA, synchronous="FULL")
        self.db.execute("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- users -------------------------------------------------------------------------------

    @staticmethod
    def _user(row: sqlite3.Row) -> User:
        return User(row["name"], row["role"], row["created_at"], bool(row["disabled"]),
                    row["generation"])  # fmt: skip

    def users(self) -> list[User]:
        """Every user, by name."""
        return [self._user(r) for r in self.db.execute("SELECT * FROM user ORDER BY name")]

    def user(self, name: str) -> User | None:
        """The user called `name`, or None."""
        row = self.db.execute("SELECT * FROM user WHERE name = ?", (name,)).fetchone()
        return self._user(row) if row else None

    def add_user(self, name: str, role: str, password: str) -> User:
        """Create a user; AccountError if the name is taken or anything is invalid."""
        check_name(name)
        check_role(role)
        check_password(password)
        digest = _hasher.hash(password)
        try:
            with transaction(self.db) as db:
                db.execute(
                    "INSERT INTO user (name, role, hash, created_at) VALUES (?, ?, ?, ?)",
                    (name, role, digest, self.clock()),
                )
        except sqlite3.IntegrityError:
            raise AccountError("name", f"nama sudah dipakai / name taken: {name}") from None
        user = self.user(name)
        assert user is not None
        return user

    def update_user(
        self,
        name: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        password: str | None = None,
    ) -> tuple[User, User]:
        """Change a user's role, state or password; (before, after). Disabling or a new
        password ends the user's sessions and tokens. The last enabled admin stays one."""
        if role is not None:
            check_role(role)
        # Hashed before the write lock is taken: hashing takes a while.
        digest = _hasher.hash(check_password(password)) if password is not None else None
        with transaction(self.db) as db:
            # Read and checked under the write lock: two workers cannot both take away one of
            # the last two admins.
            before = self.user(name)
            if before is None:
                raise AccountError("name", f"tidak ada pengguna / no such user: {name}")
            new_role = role if role is not None else before.role
            new_disabled = before.disabled if disabled is None else disabled
            if (
                before.role == "admin"
                and not before.disabled
                and (new_role != "admin" or new_disabled)
                and self._enabled_admins() == 1
            ):
                raise AccountError(
                    "role", "admin terakhir yang aktif tidak bisa diubah / the last enabled "
                    "admin cannot be demoted or disabled",
                )  # fmt: skip
            bump = int(digest is not None or (new_disabled and not before.disabled))
            db.execute(
                "UPDATE user SET role = ?, disabled = ?, hash = COALESCE(?, hash), "
                "generation = generation + ? WHERE name = ?",
                (new_role, int(new_disabled), digest, bump, name),
            )
            if bump:
                db.execute("DELETE FROM api_token WHERE user = ?", (name,))
        after = self.user(name)
        assert after is not None
        return before, after

    def _enabled_admins(self) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM user WHERE role = 'admin' AND disabled = 0"
        ).fetchone()
        return int(row[0])

    def verify(self, name: str, password: str) -> User | None:
        """The user if `password` is theirs and they are enabled, else None (in about the
        same time whether or not the user exists)."""
        row = self.db.execute("SELECT * FROM user WHERE name = ?", (name,)).fetchone()
        try:
            _hasher.verify(row["hash"] if row else _DUMMY, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"]:
            return None
        if _hasher.check_needs_rehash(row["hash"]):
            with transaction(self.db) as db:
                db.execute("UPDATE user SET hash = ? WHERE name = ?",
                           (_hasher.hash(password), name))  # fmt: skip
        return self._user(row)

    # -- sign-in rate limit ------------------------------------------------------------------

    def failures(self, key: str) -> int:
        """Failed sign-ins for `key` (a name or an address) within the window."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM login_failure WHERE key = ? AND at > ?",
            (key, self.clock() - FAILURE_WINDOW_S),
        ).fetchone()
        return int(row[0])

    def locked_for(self, *keys: str) -> float:
        """Seconds until sign-in is allowed again for any of `keys` (0: allowed now)."""
        wait = 0.0
        for key in keys:
            rows = self.db.execute(
                "SELECT at FROM login_failure WHERE key = ? AND at > ? ORDER BY at DESC",
                (key, self.clock() - FAILURE_WINDOW_S),
            ).fetchall()
            if len(rows) >= MAX_FAILURES:
                oldest_counted = rows[MAX_FAILURES - 1]["at"]
                wait = max(wait, oldest_counted + FAILURE_WINDOW_S - self.clock())
        return wait

    def record_failure(self, *keys: str) -> None:
        """Count a failed sign-in against each key; old records go."""
        now = self.clock()
        with transaction(self.db) as db:
            db.executemany("INSERT INTO login_failure (key, at) VALUES (?, ?)",
                           [(k, now) for k in keys])  # fmt: skip
            db.execute("DELETE FROM login_failure WHERE at < ?", (now - FAILURE_WINDOW_S,))

    def clear_failures(self, key: str) -> None:
        """Forget a name's failures after it signed in."""
        with transaction(self.db) as db:
            db.execute("DELETE FROM login_failure WHERE key = ?", (key,))

    # -- API tokens --------------------------------------------------------------------------

    def add_token(self, user: str, label: str) -> str:
        """A new API token for `user` (shown once; only its digest is kept)."""
        label = (label or "").strip()
        if not 1 <= len(label) <= 60:
            raise AccountError("label", "label: 1–60 karakter / characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with transaction(self.db) as db:
            db.execute(
                "INSERT INTO api_token (digest, user, label, created_at) VALUES (?, ?, ?, ?)",
                (_digest(token), user, label, self.clock()),
            )
        return token

    def token_user(self, token: str) -> User | None:
        """The enabled user a token belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = self.db.execute(
            "SELECT user.* FROM api_token JOIN user ON user.name = api_token.user "
            "WHERE digest = ? AND user.disabled = 0",
            (_digest(token),),
        ).fetchone()
        return self._user(row) if row else None

    def tokens(self, user: str) -> list[sqlite3.Row]:
        """A user's tokens (label, when, digest prefix), newest first."""
        return self.db.execute(
            "SELECT substr(digest, 1, 12) AS id, label, created_at FROM api_token "
            "WHERE user = ? ORDER BY created_at DESC", (user,),
        ).fetchall()  # fmt: skip

    def revoke_token(self, user: str, token_id: str) -> bool:
        """Delete the user's token whose digest starts with `token_id`."""
        if not re.fullmatch(r"[0-9a-f]{12}", token_id or ""):
            return False
        with transaction(self.db) as db:
            cursor = db.execute(
                "DELETE FROM api_token WHERE user = ? AND substr(digest, 1, 12) = ?",
                (user, token_id),
            )
        return cursor.rowcount > 0

    # -- drafts ------------------------------------------------------------------------------

    def draft(self, user: str) -> Draft | None:
        """The user's draft, or None."""
        row = self.db.execute("SELECT * FROM draft WHERE user = ?", (user,)).fetchone()
        if row is None:
            return None
        return Draft(row["base_revision"], json.loads(row["document"]), row["updated_at"])

    def save_draft(self, user: str, base_revision: int, document: dict[str, Any]) -> None:
        """Keep the user's draft (replacing the previous one)."""
        with transaction(self.db) as db:
            db.execute(
                "INSERT INTO draft (user, base_revision, document, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user) DO UPDATE SET "
                "base_revision = excluded.base_revision, document = excluded.document, "
                "updated_at = excluded.updated_at",
                (user, base_revision, json.dumps(document, sort_keys=True), self.clock()),
            )

    def drop_draft(self, user: str) -> None:
        """Throw the user's draft away."""
        with transaction(self.db) as db:
            db.execute("DELETE FROM draft WHERE user = ?", (user,))
