"""The SQLite store: migrations, config import (upsert/replace/refuse), sessions, audit, backup."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simpul.config import Config, ConfigError, config_to_data, load_config_file, parse_config
from simpul.store import FIRST_CLASS_ID, LAST_CLASS_ID, LIST_SECTIONS, MIGRATIONS, Session, Store
from tests.unit.fake_clock import Clock

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))
MERANTI = load_config_file(str(ROOT / "examples" / "meranti.yaml"))
MAC = "02:5e:00:01:01:01"
IP = "10.40.1.50"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "var" / "simpul.db")


@pytest.fixture
def store(db_path: str, clock: Clock) -> Iterator[Store]:
    with Store(db_path, clock=clock) as s:
        yield s


def edited(config: Config, change: Any) -> Config:
    """`config` as plain data, changed in place by `change(data)`, validated again."""
    data = config_to_data(config)
    change(data)
    return parse_config(data, "edited")


def by_key(config: Config) -> dict[str, Any]:
    """The configuration as data with each list section keyed (order of objects ignored).

    An import keeps the stored position of objects it updates and appends new ones, so after
    importing a different file the store holds the same objects in another order.
    """
    data = config_to_data(config)
    for kind, key in LIST_SECTIONS.items():
        data[kind] = {item[key]: item for item in data.get(kind, [])}
    return data


def tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def counts(store: Store) -> dict[str, int]:
    return {
        t: store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("config_object", "config_revision", "audit", "session")
    }


# --------------------------------------------------------------------------------------------
# schema


def test_new_database_is_fully_migrated(store: Store, db_path: str) -> None:
    assert Path(db_path).exists()  # parent directory created
    assert store.schema_version == len(MIGRATIONS)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert {"config_object", "config_revision", "audit", "session"} <= tables(store.db)


def test_reopening_applies_nothing(db_path: str) -> None:
    Store(db_path).close()
    with Store(db_path) as again:
        assert again.schema_version == len(MIGRATIONS)
        assert again.migrate() == []


def test_partly_migrated_database_gets_the_rest(db_path: str) -> None:
    Path(db_path).parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Store(db_path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert "session" in tables(store.db)


def test_migrate_reports_what_it_applied(db_path: str) -> None:
    with Store(db_path) as store:
        store.db.execute("PRAGMA foreign_keys = OFF")
        for table in tables(store.db) - {"config_object", "config_revision", "audit"}:
            store.db.execute(f"DROP TABLE {table}")  # every table after migration 1's
        store.db.execute("PRAGMA foreign_keys = ON")
        store.db.execute("PRAGMA user_version = 1")
        assert store.migrate() == list(range(2, len(MIGRATIONS) + 1))
        assert store.schema_version == len(MIGRATIONS)


def test_newer_database_is_refused(db_path: str) -> None:
    Path(db_path).parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match=r"schema version \d+, newer than this Simpul") as exc:
        Store(db_path)
    assert db_path in str(exc.value)
    assert "backup" in str(exc.value)


def columns(db: sqlite3.Connection, table: str) -> dict[str, tuple[str, int, Any]]:
    """Column name -> (type, not null, default) of `table`."""
    return {r[1]: (r[2], r[3], r[4]) for r in db.execute(f"PRAGMA table_info({table})")}


def test_migration_3_adds_shaping_to_sessions(store: Store) -> None:
    assert store.schema_version == len(MIGRATIONS) >= 3
    assert "class_id" in MIGRATIONS[2] and "throttled" in MIGRATIONS[2]
    cols = columns(store.db, "session")
    assert cols["class_id"] == ("INTEGER", 0, None)
    assert cols["throttled"] == ("INTEGER", 1, "0")
    indexes = {r[1] for r in store.db.execute("PRAGMA index_list(session)")}
    assert "session_mac" in indexes
    assert [r[2] for r in store.db.execute("PRAGMA index_info(session_mac)")] == [
        "mac",
        "started_at",
    ]


def test_sessions_from_version_2_survive_migration_3(db_path: str, clock: Clock) -> None:
    """A database from before shaping: its open sessions stay open, with no class, unthrottled."""
    Path(db_path).parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    for migration in MIGRATIONS[:2]:
        db.executescript(migration)
    db.execute("PRAGMA user_version = 2")
    db.execute(
        "INSERT INTO session (mac, ip, site, method, started_at, expires_at) "
        "VALUES (?, ?, 'rtm-lam', 'portal', ?, ?)",
        (MAC, IP, clock.now - 60, clock.now + 600),
    )
    db.commit()
    db.close()
    with Store(db_path, clock=clock) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.active_sessions() == [
            Session(1, MAC, IP, "rtm-lam", "portal", clock.now - 60, clock.now + 600)
        ]
        (session,) = store.active_sessions()
        assert (session.class_id, session.throttled) == (None, 0)
        # the first shaped session after the upgrade takes the first class
        other = store.open_session(
            "02:5e:00:01:01:02", "10.40.1.51", site="rtm-lam", method="p", duration_s=60,
            actor="p", shaped=True,
        )  # fmt: skip
        assert other.class_id == FIRST_CLASS_ID


def test_wal_mode(store: Store) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --------------------------------------------------------------------------------------------
# configuration import


def test_no_config_yet(store: Store) -> None:
    assert not store.has_config()
    with pytest.raises(LookupError, match="simpul config import"):
        store.config()


def test_import_creates_then_reimport_is_a_no_op(store: Store) -> None:
    first = store.import_config(LAB, actor="alice", comment="first")
    assert first.changed
    assert first.revision == 1
    assert first.updated == [] and first.removed == []
    assert "opds/disdik" in first.created
    assert "hotspot_sites/rtm-lam" in first.created
    assert {"node", "zones", "resolver", "portal", "monitoring"} <= set(first.created)
    assert first.created == sorted(first.created)
    assert store.has_config()
    before = counts(store)

    again = store.import_config(LAB, actor="alice")
    assert not again.changed
    assert again.revision is None
    assert (again.created, again.updated, again.removed) == ([], [], [])
    assert counts(store) == before
    assert len(store.revisions()) == 1


def test_config_round_trips(store: Store) -> None:
    store.import_config(MERANTI, actor="alice")
    assert store.config() == MERANTI
    assert config_to_data(store.config()) == config_to_data(MERANTI)


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        # an explicit null overrides a default rate: no per-device limit
        ({"client_down_kbps": None}, (None, 1000, None)),
        ({"client_down_kbps": None, "client_up_kbps": None}, (None, None, None)),
        ({"client_up_kbps": None, "quota_mb": 300}, (4000, None, 300)),
        ({"quota_mb": 300}, (4000, 1000, 300)),
        ({}, (4000, 1000, None)),
    ],
)
def test_config_round_trips_explicit_none(
    store: Store, access: dict[str, Any], expected: tuple[int | None, ...]
) -> None:
    def change(data: dict[str, Any]) -> None:
        data["hotspot_sites"][0]["access"].update(access)

    config = edited(LAB, change)
    store.import_config(config, actor="alice")
    stored = store.config()
    assert stored == config
    got = stored.hotspot_sites[0].access
    assert (got.client_down_kbps, got.client_up_kbps, got.quota_mb) == expected
    assert stored.hotspot_sites[1].access == LAB.hotspot_sites[1].access
    # importing the same again changes nothing
    assert not store.import_config(config, actor="alice").changed


def test_turning_a_rate_off_is_an_update(store: Store) -> None:
    store.import_config(LAB, actor="alice")

    def unlimited(data: dict[str, Any]) -> None:
        data["hotspot_sites"][1]["access"]["client_down_kbps"] = None

    result = store.import_config(edited(LAB, unlimited), actor="alice")
    assert result.updated == ["hotspot_sites/taman-cik-puan"]
    assert store.config().site("taman-cik-puan").access.client_down_kbps is None
    back = store.import_config(LAB, actor="alice")
    assert back.updated == ["hotspot_sites/taman-cik-puan"]
    assert store.config().site("taman-cik-puan").access.client_down_kbps == 4000


def test_upsert_of_a_modified_opd_reports_updated(store: Store, clock: Clock) -> None:
    store.import_config(LAB, actor="alice")

    def faster(data: dict[str, Any]) -> None:
        data["opds"][1]["bandwidth"] = {"down_mbps": 80, "up_mbps": 40}

    changed = edited(LAB, faster)
    clock.now += 60
    result = store.import_config(changed, actor="bob", comment="disdik 80M")
    assert (result.created, result.updated, result.removed) == ([], ["opds/disdik"], [])
    assert result.revision == 2
    assert store.config() == changed
    assert store.config().opd("disdik").bandwidth is not None
    assert store.config().opd("disdik").bandwidth.down_mbps == 80
    latest = store.revisions()[0]
    assert (latest["id"], latest["actor"], latest["comment"], latest["at"]) == (
        2,
        "bob",
        "disdik 80M",
        clock.now,
    )
    document = json.loads(
        store.db.execute("SELECT document FROM config_revision WHERE id = 2").fetchone()[0]
    )
    assert parse_config(document) == changed


def test_import_without_replace_keeps_objects_not_in_the_file(store: Store) -> None:
    store.import_config(LAB, actor="alice")

    def drop_site(data: dict[str, Any]) -> None:
        data["hotspot_sites"] = [s for s in data["hotspot_sites"] if s["slug"] != "taman-cik-puan"]

    smaller = edited(LAB, drop_site)
    kept = store.import_config(smaller, actor="alice")
    assert not kept.changed and kept.revision is None
    assert [s.slug for s in store.config().hotspot_sites] == ["rtm-lam", "taman-cik-puan"]

    removed = store.import_config(smaller, actor="alice", replace=True)
    assert (removed.created, removed.updated, removed.removed) == (
        [],
        [],
        ["hotspot_sites/taman-cik-puan"],
    )
    assert removed.revision == 2
    assert store.config() == smaller


def test_replace_with_a_bigger_config(store: Store) -> None:
    store.import_config(LAB, actor="alice")
    result = store.import_config(MERANTI, actor="alice", replace=True)
    assert "opds/dinkes" in result.created
    assert "services/e-office" in result.created
    assert "opds/disdik" in result.updated  # its shared services grew
    assert result.removed == []
    assert by_key(store.config()) == by_key(MERANTI)
    back = store.import_config(LAB, actor="alice", replace=True)
    assert "opds/dinkes" in back.removed
    assert store.config() == LAB  # LAB's objects kept their first positions


def test_new_objects_keep_file_order_after_existing_ones(store: Store) -> None:
    store.import_config(LAB, actor="alice")
    store.import_config(MERANTI, actor="alice")
    slugs = [o.slug for o in store.config().opds]
    assert slugs[:3] == [o.slug for o in LAB.opds]
    assert sorted(slugs) == sorted(o.slug for o in MERANTI.opds)
    new = [s for s in slugs if s not in {o.slug for o in LAB.opds}]
    assert new == [o.slug for o in MERANTI.opds if o.slug in new]


def test_invalid_merged_import_changes_nothing(store: Store) -> None:
    store.import_config(LAB, actor="alice")
    document = store.config_document()
    before = counts(store)

    def overlap(data: dict[str, Any]) -> None:
        # a file without diskominfo, with a new OPD on diskominfo's subnet: valid on its own
        data["opds"] = [o for o in data["opds"] if o["slug"] != "diskominfo"]
        data["opds"].append(
            {
                "slug": "dinsos",
                "name": "Dinas Sosial",
                "subnet": "10.20.1.0/24",
                "interface": "opd-dinsos",
                "vlan": 150,
            }
        )

    incoming = edited(LAB, overlap)
    with pytest.raises(ConfigError) as exc:
        store.import_config(incoming, actor="mallory")
    assert "overlaps" in str(exc.value)
    assert exc.value.source == "merged configuration"
    assert store.config_document() == document
    assert store.config() == LAB
    assert counts(store) == before
    assert len(store.revisions()) == 1
    assert [r["action"] for r in store.audit_log()] == ["config.import"]
    # with replace, the same file is a valid whole
    assert store.import_config(incoming, actor="alice", replace=True).removed == ["opds/diskominfo"]
    # and the store still takes writes (the refused import's transaction was rolled back)
    store.audit("alice", "noop", {})


# --------------------------------------------------------------------------------------------
# sessions


def test_session_open_active_end(store: Store, clock: Clock) -> None:
    session = store.open_session(
        MAC, IP, site="rtm-lam", method="portal", duration_s=600, actor="portal"
    )
    assert (session.mac, session.ip, session.site, session.method) == (MAC, IP, "rtm-lam", "portal")
    assert session.started_at == clock.now
    assert session.expires_at == clock.now + 600
    assert session.ended_at is None
    assert store.active_sessions() == [session]

    clock.now += 30
    assert store.end_session(MAC, IP, reason="admin", actor="alice")
    assert store.active_sessions() == []
    row = store.db.execute("SELECT * FROM session WHERE id = ?", (session.id,)).fetchone()
    assert (row["ended_at"], row["end_reason"]) == (clock.now, "admin")
    assert not store.end_session(MAC, IP, reason="admin", actor="alice")


def test_sessions_expire_with_the_clock(store: Store, clock: Clock) -> None:
    start = clock.now
    short = store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=60, actor="p")
    long = store.open_session(
        "02:5e:00:01:01:02",
        "10.40.1.51",
        site="rtm-lam",
        method="admin",
        duration_s=3600,
        actor="a",
    )
    assert store.expire_sessions() == []
    clock.now = start + 59.9
    assert store.active_sessions() == [short, long]
    assert store.expire_sessions() == []

    clock.now = start + 60  # expires_at <= now: over
    assert store.active_sessions() == [long]
    expired = store.expire_sessions()
    assert [s.id for s in expired] == [short.id]
    assert store.expire_sessions() == []
    row = store.db.execute("SELECT * FROM session WHERE id = ?", (short.id,)).fetchone()
    assert (row["ended_at"], row["end_reason"]) == (short.expires_at, "expired")
    assert not store.end_session(MAC, IP, reason="admin", actor="a")

    clock.now = start + 10_000
    assert [s.id for s in store.expire_sessions()] == [long.id]
    assert store.active_sessions() == []


def test_held_ips_are_the_addresses_an_open_session_holds(store: Store, clock: Clock) -> None:
    """Expired but not yet ended still holds (netd has not let it go); ended does not."""
    store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=60, actor="p")
    other = "10.40.1.51"
    store.open_session("02:5e:00:01:01:02", other, site="rtm-lam", method="portal",
                       duration_s=60, actor="p")  # fmt: skip
    store.end_session("02:5e:00:01:01:02", other, reason="logout", actor="p")
    clock.now += 120
    assert store.held_ips([IP, other, "10.40.1.99", IP]) == {IP}
    assert store.held_ips([]) == set()


def test_opening_twice_replaces(store: Store, clock: Clock) -> None:
    first = store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=60, actor="p")
    clock.now += 10
    second = store.open_session(MAC, IP, site="rtm-lam", method="admin", duration_s=600, actor="a")
    assert second.id != first.id
    assert store.active_sessions() == [second]
    row = store.db.execute("SELECT * FROM session WHERE id = ?", (first.id,)).fetchone()
    assert (row["ended_at"], row["end_reason"]) == (clock.now, "replaced")
    # another MAC on the same IP, or the same MAC on another IP, is another session
    other = store.open_session(
        "02:5e:00:01:01:02", IP, site="rtm-lam", method="portal", duration_s=60, actor="p"
    )
    assert store.active_sessions() == [second, other]


def test_active_session_of(store: Store, clock: Clock) -> None:
    start = clock.now
    assert store.active_session_of(IP) is None
    session = store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=60, actor="p")
    other_ip = store.open_session(
        "02:5e:00:01:01:03", "10.40.1.52", site="rtm-lam", method="admin", duration_s=600, actor="a"
    )
    assert store.active_session_of(IP) == session
    assert store.active_session_of("10.40.1.52") == other_ip
    assert store.active_session_of("10.40.1.5") is None  # a prefix of IP is another address
    assert store.active_session_of("10.40.1.500") is None
    clock.now = start + 59.9
    assert store.active_session_of(IP) == session
    clock.now = start + 60  # expired, though not yet closed by expire_sessions
    assert store.active_session_of(IP) is None
    assert store.active_session_of("10.40.1.52") == other_ip


def test_active_session_of_ignores_ended_sessions(store: Store, clock: Clock) -> None:
    store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=600, actor="p")
    assert store.end_session(MAC, IP, reason="logout", actor="p")
    assert store.active_session_of(IP) is None
    clock.now += 1
    again = store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=600, actor="p")
    assert store.active_session_of(IP) == again


def test_active_session_of_is_the_newest_on_that_ip(store: Store, clock: Clock) -> None:
    """Two MACs may hold open sessions on one IP (a DHCP address given again): the newer wins,
    whichever expires first."""
    old = store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=3600, actor="p")
    clock.now += 10
    new = store.open_session(
        "02:5e:00:01:01:02", IP, site="rtm-lam", method="portal", duration_s=60, actor="p"
    )
    assert store.active_session_of(IP) == new
    assert store.end_session(new.mac, IP, reason="logout", actor="p")
    assert store.active_session_of(IP) == old
    # replacing the older pair's session makes it the newest again
    clock.now += 10
    newest = store.open_session(MAC, IP, site="rtm-lam", method="admin", duration_s=60, actor="a")
    assert store.active_session_of(IP) == newest
    assert newest.id > new.id > old.id


# --------------------------------------------------------------------------------------------
# shaping classes and the fair-use throttle


def nth_mac(n: int) -> str:
    return f"02:5e:00:01:{n >> 8:02x}:{n & 0xFF:02x}"


def open_shaped(store: Store, n: int, *, shaped: bool = True, duration_s: float = 600) -> Session:
    """Open a session for device `n` (its own MAC and IP)."""
    return store.open_session(
        nth_mac(n),
        f"10.40.{1 + n // 250}.{10 + n % 250}",
        site="rtm-lam",
        method="portal",
        duration_s=duration_s,
        actor="p",
        shaped=shaped,
    )


def test_class_ids_are_fixed_hex_minors() -> None:
    # 0xF000 and up: the OPD and conference classes (netctl.bandwidth)
    assert (FIRST_CLASS_ID, LAST_CLASS_ID) == (0x10, 0xEFFF)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (device, "open" | "open-unshaped" | "end" | "expire-all"), class of each open
        ([(1, "open"), (2, "open"), (3, "open")], {1: 0x10, 2: 0x11, 3: 0x12}),
        ([(1, "open"), (2, "open-unshaped"), (3, "open")], {1: 0x10, 2: None, 3: 0x11}),
        # an ended session frees its class: the lowest free one is taken
        (
            [(1, "open"), (2, "open"), (3, "open"), (2, "end"), (4, "open")],
            {1: 0x10, 3: 0x12, 4: 0x11},
        ),
        ([(1, "open"), (2, "open"), (1, "end"), (2, "end"), (3, "open")], {3: 0x10}),
        (
            [(1, "open"), (2, "open"), (1, "end"), (3, "open"), (4, "open")],
            {2: 0x11, 3: 0x10, 4: 0x12},
        ),
        # replacing a session keeps its class
        ([(1, "open"), (2, "open"), (1, "open")], {1: 0x10, 2: 0x11}),
        ([(1, "open"), (2, "open"), (2, "open"), (3, "open")], {1: 0x10, 2: 0x11, 3: 0x12}),
        # replaced by an unshaped session: no class (and it is free again)
        ([(1, "open"), (1, "open-unshaped"), (2, "open")], {1: None, 2: 0x10}),
        # an unshaped session replaced by a shaped one gets a free class
        ([(1, "open-unshaped"), (2, "open"), (1, "open")], {1: 0x11, 2: 0x10}),
    ],
)
def test_open_session_allocates_the_lowest_free_class(
    store: Store, clock: Clock, steps: list[tuple[int, str]], expected: dict[int, int | None]
) -> None:
    for device, step in steps:
        clock.now += 1
        if step == "end":
            ip = f"10.40.1.{10 + device}"
            assert store.end_session(nth_mac(device), ip, reason="logout", actor="p")
        else:
            session = open_shaped(store, device, shaped=step == "open")
            assert (session.class_id is None) is (step == "open-unshaped")
    active = {int(s.mac[-2:], 16): s.class_id for s in store.active_sessions()}
    assert active == expected
    # what open_session returned is what the store holds
    for s in store.active_sessions():
        row = store.db.execute("SELECT class_id FROM session WHERE id = ?", (s.id,)).fetchone()
        assert row[0] == s.class_id


def test_open_session_returns_the_class_it_stored(store: Store) -> None:
    first = open_shaped(store, 1)
    assert first.class_id == FIRST_CLASS_ID
    assert store.active_sessions() == [first]
    plain = open_shaped(store, 2, shaped=False)
    assert plain.class_id is None
    assert store.active_sessions() == [first, plain]


def test_expired_but_open_sessions_keep_their_class(store: Store, clock: Clock) -> None:
    """A session past its time that housekeeping has not closed yet still holds its class (the
    kernel may still hold it too); once closed, the class is free."""
    open_shaped(store, 1, duration_s=60)
    clock.now += 120
    assert open_shaped(store, 2).class_id == FIRST_CLASS_ID + 1
    store.expire_sessions()
    assert open_shaped(store, 3).class_id == FIRST_CLASS_ID


def test_the_same_mac_on_another_ip_gets_another_class(store: Store) -> None:
    first = open_shaped(store, 1)
    moved = store.open_session(
        first.mac, "10.40.1.99", site="rtm-lam", method="p", duration_s=60, actor="p", shaped=True
    )
    assert (first.class_id, moved.class_id) == (FIRST_CLASS_ID, FIRST_CLASS_ID + 1)


def test_classes_run_out(store: Store) -> None:
    used = LAST_CLASS_ID - FIRST_CLASS_ID  # every class but the last one is held
    with store.transaction() as db:
        db.executemany(
            "INSERT INTO session (mac, ip, site, method, started_at, expires_at, class_id) "
            "VALUES (?, ?, 'rtm-lam', 'p', 0, 1e12, ?)",
            [
                (
                    f"02:5f:00:00:{n >> 8:02x}:{n & 0xFF:02x}",
                    f"10.41.{n >> 8}.{n & 0xFF}",
                    FIRST_CLASS_ID + n,
                )
                for n in range(used)
            ],
        )
    assert open_shaped(store, 1).class_id == LAST_CLASS_ID
    with pytest.raises(RuntimeError, match="no free shaping class"):
        open_shaped(store, 2)
    assert store.active_session_of(open_shaped(store, 1).ip) is not None  # a replacement fits
    assert [s.mac for s in store.active_sessions()].count(nth_mac(2)) == 0  # nothing half-done
    assert open_shaped(store, 2, shaped=False).class_id is None  # unshaped clients still fit
    assert [s.mac for s in store.active_sessions()].count(nth_mac(2)) == 1


def test_set_throttled(store: Store, clock: Clock) -> None:
    first = open_shaped(store, 1)
    second = open_shaped(store, 2)
    assert [s.throttled for s in store.active_sessions()] == [0, 0]
    store.set_throttled(first.id)
    assert [(s.id, s.throttled) for s in store.active_sessions()] == [(first.id, 1), (second.id, 0)]
    store.set_throttled(first.id)  # again: still throttled
    assert store.active_session_of(first.ip).throttled == 1  # type: ignore[union-attr]
    # a new session of the pair starts unthrottled, with the same class
    clock.now += 1
    again = open_shaped(store, 1)
    assert (again.throttled, again.class_id) == (0, first.class_id)
    assert store.active_session_of(first.ip) == again


# --------------------------------------------------------------------------------------------
# time online (daily allowance)

DAY = 1_700_000_000.0 - 6 * 3600  # `since` in the tests below: six hours before the clock


def add_session(
    store: Store, mac: str, start: float, expires: float, ended: float | None = None
) -> None:
    """A session as an earlier day left it (each on an address of its own)."""
    with store.transaction() as db:
        (count,) = db.execute("SELECT count(*) FROM session").fetchone()
        db.execute(
            "INSERT INTO session (mac, ip, site, method, started_at, expires_at, ended_at) "
            "VALUES (?, ?, 'rtm-lam', 'portal', ?, ?, ?)",
            (mac, f"10.40.1.{10 + count}", start, expires, ended),
        )


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("sessions", "seconds"),
    [
        ([], 0),
        # ended sessions count from start to end
        ([(DAY + 100, DAY + 10_000, DAY + 700)], 600),
        # expired ones to their expiry, whether housekeeping closed them or not
        ([(DAY + 100, DAY + 400, None)], 300),
        ([(DAY + 100, DAY + 400, DAY + 400)], 300),
        # an open one up to now
        ([(NOW - 900, NOW + 3600, None)], 900),
        # a session from before `since` counts from `since`
        ([(DAY - 3600, DAY + 60, None)], 60),
        ([(DAY - 3600, DAY + 7200, DAY + 120)], 120),
        ([(DAY - 3600, NOW + 60, None)], 6 * 3600),
        # a session over before `since` does not count at all
        ([(DAY - 3600, DAY - 60, None)], 0),
        ([(DAY - 3600, DAY + 3600, DAY - 1)], 0),
        ([(DAY - 3600, DAY, None)], 0),
        # several add up
        (
            [
                (DAY + 0, DAY + 600, None),
                (DAY + 1000, DAY + 5000, DAY + 1300),
                (NOW - 60, NOW + 60, None),
            ],
            960,
        ),
        # a session that started now has used nothing yet
        ([(NOW, NOW + 600, None)], 0),
    ],
)
def test_seconds_online_since(
    store: Store, clock: Clock, sessions: list[tuple[float, float, float | None]], seconds: float
) -> None:
    assert clock.now == NOW
    for start, expires, ended in sessions:
        add_session(store, MAC, start, expires, ended)
    # other devices never count
    add_session(store, "02:5e:00:01:01:02", DAY + 10, NOW + 600)
    add_session(store, "02:5e:00:01:01:03", DAY + 10, DAY + 1000, DAY + 900)
    assert store.seconds_online_since(MAC, DAY) == seconds


def test_seconds_online_follows_the_clock(store: Store, clock: Clock) -> None:
    start = clock.now
    store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=600, actor="p")
    assert store.seconds_online_since(MAC, start) == 0
    clock.now = start + 100
    assert store.seconds_online_since(MAC, start) == 100
    assert store.seconds_online_since(MAC, start + 30) == 70
    clock.now = start + 10_000  # expired, not closed yet: counts to its expiry
    assert store.seconds_online_since(MAC, start) == 600
    store.expire_sessions()
    assert store.seconds_online_since(MAC, start) == 600
    # a second session on another address adds up (the allowance is per device)
    store.open_session(
        MAC, "10.40.2.20", site="taman-cik-puan", method="p", duration_s=60, actor="p"
    )
    clock.now += 45
    assert store.seconds_online_since(MAC, start) == 645
    assert store.seconds_online_since(MAC, clock.now) == 0
    assert store.seconds_online_since("02:5e:00:01:01:02", start) == 0


def test_replacing_a_session_does_not_count_twice(store: Store, clock: Clock) -> None:
    start = clock.now
    store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=600, actor="p")
    clock.now += 200
    store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=600, actor="p")
    clock.now += 50
    assert store.seconds_online_since(MAC, start) == 250


# --------------------------------------------------------------------------------------------
# audit


def test_audit_entries(store: Store, clock: Clock) -> None:
    result = store.import_config(LAB, actor="alice")
    store.import_config(LAB, actor="alice")  # no-op: no entry
    clock.now += 1
    store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=60, actor="portal")
    store.end_session(MAC, IP, reason="logout", actor="portal")
    store.end_session(MAC, IP, reason="logout", actor="portal")  # nothing to end: no entry
    store.audit("bob", "ruleset.apply", {"chains": 3})

    log = store.audit_log()
    assert [(r["actor"], r["action"]) for r in log] == [
        ("bob", "ruleset.apply"),
        ("portal", "client.deny"),
        ("portal", "client.allow"),
        ("alice", "config.import"),
    ]
    details = [json.loads(r["detail"]) for r in log]
    assert details[0] == {"chains": 3}
    # Without netd's key the store names the device as given (netd sets a keyed pseudonym).
    assert details[1] == {"device": MAC, "reason": "logout"}
    assert details[2] == {"device": MAC, "site": "rtm-lam"}
    assert details[3]["revision"] == result.revision
    assert sorted(details[3]["created"]) == result.created
    assert log[-1]["at"] == clock.now - 1 and log[0]["at"] == clock.now
    assert len(store.audit_log(limit=2)) == 2


# --------------------------------------------------------------------------------------------
# backup


def test_backup_is_a_readable_copy(store: Store, tmp_path: Path) -> None:
    store.import_config(MERANTI, actor="alice")
    store.open_session(MAC, IP, site="rtm-lam", method="portal", duration_s=600, actor="p")
    destination = tmp_path / "backups" / "simpul-backup.db"
    destination.parent.mkdir()
    store.backup(str(destination))
    assert destination.exists()
    assert not Path(str(destination) + ".partial").exists()
    with Store(str(destination), clock=store._clock) as copy:
        assert copy.schema_version == len(MIGRATIONS)
        assert copy.config() == MERANTI
        assert copy.active_sessions() == store.active_sessions()
        assert len(copy.revisions()) == 1


def test_backup_overwrites_an_older_backup(store: Store, tmp_path: Path) -> None:
    destination = str(tmp_path / "simpul-backup.db")
    store.import_config(LAB, actor="alice")
    store.backup(destination)
    Path(destination + ".partial").write_text("left over by a crash")
    store.import_config(MERANTI, actor="alice", replace=True)
    store.backup(destination)
    assert not Path(destination + ".partial").exists()
    with Store(destination) as copy:
        assert by_key(copy.config()) == by_key(MERANTI)
