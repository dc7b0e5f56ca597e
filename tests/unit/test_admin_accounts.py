"""console.db (portal.admin.accounts.ConsoleDb) on its own: users and their argon2id hashes, the
sign-in lockout on an injected clock, the last enabled admin, sessions and tokens ended by a
password change or a disable, API tokens kept as digests, and drafts."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from portal.admin import accounts
from portal.admin.accounts import (
    FAILURE_WINDOW_S,
    MAX_FAILURES,
    TOKEN_PREFIX,
    AccountError,
    ConsoleDb,
    check_name,
)
from tests.unit.fake_clock import Clock

PASSWORD = "kata-sandi-uji-123"
OTHER_PASSWORD = "sandi-lain-yang-panjang"
T0 = 1_780_000_000.0


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def db(tmp_path: Path, clock: Clock) -> Iterator[ConsoleDb]:
    console = ConsoleDb(str(tmp_path / "console.db"), clock=clock)
    yield console
    console.close()


def stored_hash(db: ConsoleDb, name: str) -> str:
    return db.db.execute("SELECT hash FROM user WHERE name = ?", (name,)).fetchone()[0]


def table(db: ConsoleDb, name: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in db.db.execute(f"SELECT * FROM {name} ORDER BY 1")]


# -- users ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("ab", True),
        ("budi.s", True),
        ("op_1-kominfo", True),
        ("a" * 32, True),
        ("a", False),
        ("a" * 33, False),
        ("Budi", False),
        ("1budi", False),
        ("budi s", False),
        ("budi@x", False),
        ("", False),
        ("budi\n", False),
    ],
)
def test_user_names(db: ConsoleDb, name: str, valid: bool) -> None:
    if valid:
        assert check_name(name) == name
        assert db.add_user(name, "reviewer", PASSWORD).name == name
    else:
        with pytest.raises(AccountError) as refused:
            db.add_user(name, "reviewer", PASSWORD)
        assert refused.value.field == "name"
        assert db.users() == []


@pytest.mark.parametrize(
    ("password", "valid"),
    [("x" * 9, False), ("x" * 10, True), ("x" * 200, True), ("x" * 201, False), ("", False)],
)
def test_password_length(db: ConsoleDb, password: str, valid: bool) -> None:
    if valid:
        db.add_user("budi", "operator", password)
        assert db.verify("budi", password) is not None
    else:
        with pytest.raises(AccountError) as refused:
            db.add_user("budi", "operator", password)
        assert refused.value.field == "password"
        assert db.user("budi") is None


def test_unknown_role_and_taken_name_are_refused(db: ConsoleDb) -> None:
    with pytest.raises(AccountError) as refused:
        db.add_user("budi", "root", PASSWORD)
    assert refused.value.field == "role" and db.users() == []
    db.add_user("budi", "operator", PASSWORD)
    with pytest.raises(AccountError) as taken:
        db.add_user("budi", "admin", OTHER_PASSWORD)
    assert taken.value.field == "name"
    assert [(u.name, u.role) for u in db.users()] == [("budi", "operator")]
    assert db.verify("budi", PASSWORD) is not None


def test_a_new_user(db: ConsoleDb) -> None:
    user = db.add_user("budi", "operator", PASSWORD)
    assert user == accounts.User("budi", "operator", T0, False, 0)
    assert db.user("budi") == user and db.user("siti") is None
    db.add_user("ani", "reviewer", PASSWORD)
    assert [u.name for u in db.users()] == ["ani", "budi"]


def test_a_real_hash_is_argon2id(db: ConsoleDb, monkeypatch: pytest.MonkeyPatch) -> None:
    real = PasswordHasher()
    monkeypatch.setattr(accounts, "_hasher", real)
    db.add_user("budi", "operator", PASSWORD)
    digest = stored_hash(db, "budi")
    assert digest.startswith("$argon2id$v=19$")
    assert f"m={real.memory_cost},t={real.time_cost},p={real.parallelism}" in digest
    assert PASSWORD not in digest
    assert not real.check_needs_rehash(digest)
    assert db.verify("budi", PASSWORD) is not None
    assert db.verify("budi", OTHER_PASSWORD) is None


def test_an_old_hash_is_upgraded_when_its_owner_signs_in(
    db: ConsoleDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.add_user("budi", "operator", PASSWORD)  # the tests' cheap parameters
    cheap = stored_hash(db, "budi")
    real = PasswordHasher()
    monkeypatch.setattr(accounts, "_hasher", real)
    assert db.verify("budi", OTHER_PASSWORD) is None
    assert stored_hash(db, "budi") == cheap  # a wrong password changes nothing
    assert db.verify("budi", PASSWORD) is not None
    upgraded = stored_hash(db, "budi")
    assert upgraded != cheap and not real.check_needs_rehash(upgraded)
    assert db.verify("budi", PASSWORD) is not None


def test_verify(db: ConsoleDb) -> None:
    db.add_user("budi", "operator", PASSWORD)
    assert db.verify("budi", PASSWORD) == db.user("budi")
    assert db.verify("budi", OTHER_PASSWORD) is None
    assert db.verify("siti", PASSWORD) is None
    assert db.verify("siti", "not a password of anyone's") is None  # the dummy hash's own
    db.add_user("admin", "admin", PASSWORD)
    db.update_user("budi", disabled=True)
    assert db.verify("budi", PASSWORD) is None


# -- sign-in lockout -----------------------------------------------------------------------------


def test_five_failures_lock_a_key_for_the_window(db: ConsoleDb, clock: Clock) -> None:
    for _ in range(MAX_FAILURES - 1):
        db.record_failure("name:budi", "addr:10.0.0.9")
    assert db.locked_for("name:budi") == 0 and db.failures("name:budi") == MAX_FAILURES - 1
    db.record_failure("name:budi", "addr:10.0.0.9")
    assert db.locked_for("name:budi") == FAILURE_WINDOW_S
    assert db.locked_for("addr:10.0.0.9") == FAILURE_WINDOW_S
    assert db.locked_for("name:siti", "addr:10.0.0.10") == 0
    assert db.locked_for("name:siti", "addr:10.0.0.9") == FAILURE_WINDOW_S
    clock.now += 600
    assert db.locked_for("name:budi") == FAILURE_WINDOW_S - 600
    clock.now = T0 + FAILURE_WINDOW_S
    assert db.locked_for("name:budi") == 0 and db.failures("name:budi") == 0


def test_the_lock_ends_when_the_fifth_latest_failure_leaves_the_window(
    db: ConsoleDb, clock: Clock
) -> None:
    for minute in range(6):  # failures at 0, 1, … 5 minutes
        clock.now = T0 + 60 * minute
        db.record_failure("addr:10.0.0.9")
    # The fifth latest failure is the one at minute 1: locked until 1 + 15 minutes.
    assert db.locked_for("addr:10.0.0.9") == 60 + FAILURE_WINDOW_S - 300
    clock.now = T0 + 60 + FAILURE_WINDOW_S - 1
    assert db.locked_for("addr:10.0.0.9") == 1
    clock.now = T0 + 60 + FAILURE_WINDOW_S
    assert db.locked_for("addr:10.0.0.9") == 0


def test_failures_spread_over_more_than_the_window_never_lock(db: ConsoleDb, clock: Clock) -> None:
    for step in range(3 * MAX_FAILURES):
        clock.now = T0 + step * (FAILURE_WINDOW_S / (MAX_FAILURES - 1) + 1)
        db.record_failure("name:budi")
        assert db.locked_for("name:budi") == 0
    # Old failures are deleted as new ones come.
    assert len(table(db, "login_failure")) < MAX_FAILURES


def test_clearing_a_name_keeps_the_address_counted(db: ConsoleDb) -> None:
    for _ in range(MAX_FAILURES):
        db.record_failure("name:budi", "addr:10.0.0.9")
    db.clear_failures("name:budi")
    assert db.locked_for("name:budi") == 0
    assert db.locked_for("addr:10.0.0.9") == FAILURE_WINDOW_S


# -- the last enabled admin, generations, tokens ended -------------------------------------------


@pytest.mark.parametrize("change", [{"role": "operator"}, {"disabled": True}])
def test_the_last_enabled_admin_stays_one(db: ConsoleDb, change: dict[str, Any]) -> None:
    db.add_user("admin", "admin", PASSWORD)
    db.add_user("kedua", "admin", PASSWORD)
    db.update_user("kedua", disabled=True)  # a disabled admin does not count
    with pytest.raises(AccountError) as refused:
        db.update_user("admin", **change)
    assert refused.value.field == "role"
    assert db.user("admin") == accounts.User("admin", "admin", T0, False, 0)
    db.update_user("kedua", disabled=False)
    _before, after = db.update_user("admin", **change)
    assert (after.role, after.disabled) != ("admin", False)
    with pytest.raises(AccountError):
        db.update_user("kedua", **change)


def test_a_disabled_admin_may_be_demoted_and_the_last_admin_may_change_password(
    db: ConsoleDb,
) -> None:
    db.add_user("admin", "admin", PASSWORD)
    db.add_user("lama", "admin", PASSWORD)
    db.update_user("lama", disabled=True)
    assert db.update_user("lama", role="reviewer")[1].role == "reviewer"
    assert db.update_user("admin", password=OTHER_PASSWORD)[1].generation == 1
    assert db.update_user("admin", role="admin", disabled=False)[1].role == "admin"


def test_the_last_admin_survives_two_admins_disabling_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers (two connections): one disables `ani` while the other disables `budi`. The check
    of the enabled admins and the write must be one transaction, or both go through."""
    path = str(tmp_path / "console.db")
    first, second = ConsoleDb(path), ConsoleDb(path)
    try:
        first.add_user("ani", "admin", PASSWORD)
        first.add_user("budi", "admin", PASSWORD)
        cheap = accounts._hasher

        class Interleaving:
            """Hashes `ani`'s new password while the other worker disables `budi`."""

            def hash(self, password: str) -> str:
                second.update_user("budi", disabled=True)
                return cheap.hash(password)

        monkeypatch.setattr(accounts, "_hasher", Interleaving())
        with contextlib.suppress(AccountError):
            first.update_user("ani", disabled=True, password=OTHER_PASSWORD)
        assert [u.name for u in first.users() if u.role == "admin" and not u.disabled] != []
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("change", "bumped"),
    [
        ({"password": OTHER_PASSWORD}, True),
        ({"disabled": True}, True),
        ({"role": "reviewer"}, False),
        ({"disabled": False}, False),
        ({}, False),
    ],
)
def test_a_new_password_or_a_disable_ends_sessions_and_tokens(
    db: ConsoleDb, change: dict[str, Any], bumped: bool
) -> None:
    db.add_user("admin", "admin", PASSWORD)
    db.add_user("budi", "operator", PASSWORD)
    token = db.add_token("budi", "skrip")
    other = db.add_token("admin", "cadangan")
    before, after = db.update_user("budi", **change)
    assert before.generation == 0 and after.generation == int(bumped)
    assert (db.token_user(token) is None) == bumped
    assert (db.tokens("budi") == []) == bumped
    assert db.token_user(other) == db.user("admin")


def test_disabling_twice_bumps_once_and_enabling_keeps_the_generation(db: ConsoleDb) -> None:
    db.add_user("admin", "admin", PASSWORD)
    db.add_user("budi", "operator", PASSWORD)
    assert db.update_user("budi", disabled=True)[1].generation == 1
    assert db.update_user("budi", disabled=True)[1].generation == 1
    assert db.update_user("budi", disabled=False)[1] == accounts.User(
        "budi", "operator", T0, False, 1
    )


def test_refused_updates_change_nothing(db: ConsoleDb) -> None:
    db.add_user("admin", "admin", PASSWORD)
    db.add_user("budi", "operator", PASSWORD)
    token = db.add_token("budi", "skrip")
    users, tokens = table(db, "user"), table(db, "api_token")
    for change, field in [({"role": "root"}, "role"), ({"password": "pendek"}, "password")]:
        with pytest.raises(AccountError) as refused:
            db.update_user("budi", disabled=True, **change)
        assert refused.value.field == field
    with pytest.raises(AccountError) as missing:
        db.update_user("siti", role="admin")
    assert missing.value.field == "name"
    assert table(db, "user") == users and table(db, "api_token") == tokens
    assert db.token_user(token) is not None


# -- API tokens ----------------------------------------------------------------------------------


def test_only_a_tokens_digest_is_kept(db: ConsoleDb, clock: Clock) -> None:
    db.add_user("budi", "operator", PASSWORD)
    token = db.add_token("budi", "  skrip cadangan  ")
    assert token.startswith(TOKEN_PREFIX) and len(token) > len(TOKEN_PREFIX) + 40
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert table(db, "api_token") == [(digest, "budi", "skrip cadangan", T0)]
    assert token not in repr(table(db, "api_token"))
    (listed,) = db.tokens("budi")
    assert (listed["id"], listed["label"], listed["created_at"]) == (
        digest[:12], "skrip cadangan", T0,
    )  # fmt: skip
    assert db.token_user(token) == db.user("budi")
    assert db.add_token("budi", "skrip") != token


@pytest.mark.parametrize(
    "presented",
    ["", "spl_", "spl_salah", "bukan-token", "DIGEST", "PREFIXLESS"],
)
def test_an_unknown_token_is_nobody(db: ConsoleDb, presented: str) -> None:
    db.add_user("budi", "operator", PASSWORD)
    token = db.add_token("budi", "skrip")
    presented = {
        "DIGEST": hashlib.sha256(token.encode()).hexdigest(),
        "PREFIXLESS": token.removeprefix(TOKEN_PREFIX),
    }.get(presented, presented)
    assert db.token_user(presented) is None


@pytest.mark.parametrize("label", ["", "   ", "x" * 61])
def test_a_token_needs_a_label(db: ConsoleDb, label: str) -> None:
    db.add_user("budi", "operator", PASSWORD)
    with pytest.raises(AccountError) as refused:
        db.add_token("budi", label)
    assert refused.value.field == "label" and db.tokens("budi") == []


def test_tokens_are_listed_newest_first_and_revoked_by_their_owner(
    db: ConsoleDb, clock: Clock
) -> None:
    db.add_user("budi", "operator", PASSWORD)
    db.add_user("siti", "operator", PASSWORD)
    first = db.add_token("budi", "pertama")
    clock.now += 10
    second = db.add_token("budi", "kedua")
    listed = db.tokens("budi")
    assert [t["label"] for t in listed] == ["kedua", "pertama"]
    first_id = listed[1]["id"]
    assert not db.revoke_token("siti", first_id)  # not hers
    for bad in ("", "xyz", first_id.upper(), first_id[:11], "%"):
        assert not db.revoke_token("budi", bad)
    assert db.token_user(first) is not None
    assert db.revoke_token("budi", first_id)
    assert not db.revoke_token("budi", first_id)
    assert db.token_user(first) is None and db.token_user(second) is not None
    assert [t["label"] for t in db.tokens("budi")] == ["kedua"]


def test_a_token_of_a_disabled_user_is_nobody(db: ConsoleDb) -> None:
    db.add_user("admin", "admin", PASSWORD)
    db.add_user("budi", "operator", PASSWORD)
    token = db.add_token("budi", "skrip")
    db.db.execute("UPDATE user SET disabled = 1 WHERE name = 'budi'")  # tokens left in place
    assert db.token_user(token) is None


def test_a_token_for_nobody_is_refused(db: ConsoleDb) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        db.add_token("siti", "skrip")
    assert table(db, "api_token") == []


# -- drafts --------------------------------------------------------------------------------------


def test_drafts_are_kept_per_user_replaced_and_dropped(db: ConsoleDb, clock: Clock) -> None:
    db.add_user("budi", "admin", PASSWORD)
    db.add_user("siti", "admin", PASSWORD)
    assert db.draft("budi") is None
    db.save_draft("budi", 7, {"opds": [{"slug": "dinkes"}]})
    clock.now += 30
    db.save_draft("siti", 7, {"opds": []})
    assert db.draft("budi") == accounts.Draft(7, {"opds": [{"slug": "dinkes"}]}, T0)
    clock.now += 30
    db.save_draft("budi", 8, {"opds": [], "ümlaut": "é"})
    assert db.draft("budi") == accounts.Draft(8, {"opds": [], "ümlaut": "é"}, T0 + 60)
    db.drop_draft("budi")
    assert db.draft("budi") is None
    assert db.draft("siti") == accounts.Draft(7, {"opds": []}, T0 + 30)
    db.drop_draft("budi")  # dropping nothing is fine
    assert len(table(db, "draft")) == 1
