"""Accounting without a kernel: buckets, booking of readings, the usage database and its queries."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from simpul.cli import main, usage_filter
from simpul.config import load_config_file
from simpul.config.model import Retention
from simpul.store import Store
from simpul.usage import queries
from simpul.usage.booking import DOWN, UP, Meter, Reading, absent, book
from simpul.usage.buckets import bucket_start, next_start, tiling_level
from simpul.usage.db import UsageDb, connect

ROOT = Path(__file__).resolve().parents[2]
WIB = ZoneInfo("Asia/Jakarta")
WIT = ZoneInfo("Asia/Jayapura")
BOOT = "boot-1"


def at(text: str, tz: ZoneInfo = WIB) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def reading(source: str, nbytes: int, packets: int = 1, **kw: Any) -> Reading:
    fields = {"scope": "site", "key": "alun-alun", "direction": DOWN, "instance": BOOT} | kw
    return Reading(source=source, packets=packets, bytes=nbytes, **fields)


# -- buckets ---------------------------------------------------------------------------------


def test_days_and_months_start_at_local_midnight() -> None:
    t = at("2026-11-26 00:30")  # 17:30 UTC the day before
    assert bucket_start("1d", t, WIB) == at("2026-11-26 00:00")
    assert bucket_start("1d", t, WIT) == at("2026-11-26 00:00", WIT)
    assert bucket_start("1mo", t, WIB) == at("2026-11-01 00:00")
    assert bucket_start("1h", t, WIB) == at("2026-11-26 00:00")
    assert bucket_start("5m", at("2026-11-26 10:14:59"), WIB) == at("2026-11-26 10:10")
    assert next_start("1mo", at("2026-12-01 00:00"), WIB) == at("2027-01-01 00:00")
    assert next_start("1d", at("2026-02-28 00:00"), WIB) == at("2026-03-01 00:00")
    with pytest.raises(ValueError, match="unknown level"):
        bucket_start("1w", t, WIB)


def test_the_coarsest_level_that_tiles_a_range_is_read() -> None:
    assert tiling_level(at("2026-11-01 00:00"), at("2026-12-01 00:00"), WIB) == "1mo"
    assert tiling_level(at("2026-11-03 00:00"), at("2026-11-05 00:00"), WIB) == "1d"
    assert tiling_level(at("2026-11-03 07:00"), at("2026-11-03 09:00"), WIB) == "1h"
    assert tiling_level(at("2026-11-03 07:05"), at("2026-11-03 09:00"), WIB) == "5m"
    assert queries.level_for(at("2026-11-03 07:05"), at("2026-11-03 09:00"), WIB, "client") == "1d"
    assert queries.level_for(at("2026-11-01 00:00"), at("2026-12-01 00:00"), WIB, "client") == "1d"


# -- booking ---------------------------------------------------------------------------------


def test_a_counter_is_booked_by_what_it_grew() -> None:
    first = book({}, [reading("counter/a", 1000, 10)])
    assert [(d.bytes, d.packets) for d in first.deltas] == [(1000, 10)]
    again = book(first.meters, [reading("counter/a", 1500, 14)])
    assert [(d.bytes, d.packets) for d in again.deltas] == [(500, 4)]
    assert again.resets == []
    still = book(again.meters, [reading("counter/a", 1500, 14)])
    assert still.deltas == [] and still.meters == {}  # nothing grew: no row, no meter written


def test_a_new_boot_or_a_counter_that_went_down_started_from_zero() -> None:
    meters = {"counter/a": Meter(BOOT, 10, 5000)}
    rebooted = book(meters, [reading("counter/a", 7000, 12, instance="boot-2")])
    assert [d.bytes for d in rebooted.deltas] == [7000]  # not 2000: all of it is new
    assert rebooted.resets == ["counter/a"]
    remade = book(meters, [reading("counter/a", 300, 2)])
    assert [d.bytes for d in remade.deltas] == [300]
    assert remade.resets == ["counter/a"]


def test_an_interface_older_than_us_starts_from_its_first_reading() -> None:
    first = book({}, [reading("uplink/wan/rx", 10**9, 10**6, first_is_new=False)])
    assert first.deltas == []
    assert first.meters["uplink/wan/rx"] == Meter(BOOT, 10**6, 10**9)


def test_a_reset_read_at_zero_still_moves_the_meter() -> None:
    """Else the counter, once past the old value, would be booked only for the difference."""
    meters = {"counter/a": Meter(BOOT, 10, 5000)}
    zero = book(meters, [reading("counter/a", 0, 0)])
    assert zero.deltas == [] and zero.meters == {"counter/a": Meter(BOOT, 0, 0)}
    later = book(zero.meters, [reading("counter/a", 6000, 12)])
    assert [d.bytes for d in later.deltas] == [6000]


def test_meters_of_counters_the_kernel_no_longer_has_are_absent() -> None:
    assert absent({"a": Meter(BOOT, 0, 0), "b": Meter(BOOT, 0, 0)}, [reading("a", 1)]) == {"b"}


# -- the database ----------------------------------------------------------------------------


@pytest.fixture
def usage(tmp_path: Path) -> UsageDb:
    db = UsageDb(str(tmp_path / "usage.db"))
    yield db
    db.close()


def _level_totals(path: str, scope: str) -> dict[str, tuple[int, int]]:
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT level, SUM(up_bytes), SUM(down_bytes) FROM usage WHERE scope = ? GROUP BY level",
        (scope,),
    )
    out = {level: (up, down) for level, up, down in rows}
    db.close()
    return out


def test_a_simulated_month_gives_the_same_totals_at_every_level(usage: UsageDb) -> None:
    """Cycles at random moments over November (time injected): every level sums the same."""
    rng = random.Random(7)
    t, end = at("2026-11-01 00:00"), at("2026-12-01 00:00")
    raw = {"site": 0, "opd": 0, "client_up": 0}
    sent = {"site": 0, "opd": 0, "client_up": 0}
    while t < end:
        for name in raw:
            grown = rng.randrange(0, 5_000_000)
            raw[name] += grown
            sent[name] += grown
        readings = [
            reading("counter/site_up", raw["site"], direction=UP),
            reading("counter/opd_down", raw["opd"], scope="opd", key="dinkes"),
            reading("acct/m|10.40.1.5", raw["client_up"], scope="client", key="m",
                    site="alun-alun", direction=UP),
        ]  # fmt: skip
        booking = book(usage.meters(), readings)
        usage.commit(booking, t, WIB, peaks={"alun-alun": rng.randrange(50)})
        t += rng.uniform(20, 40 * 60)
    path = usage.path
    site = _level_totals(path, "site")
    assert site["1h"] == site["1d"] == site["1mo"] == (sent["site"], 0)
    assert _level_totals(path, "opd")["1mo"] == (0, sent["opd"])
    client = _level_totals(path, "client")
    assert set(client) == {"1d"}  # devices: by the day only
    assert client["1d"] == (sent["client_up"], 0)
    db = connect(path, readonly=True)
    november = queries.totals(db, WIB, at("2026-11-01 00:00"), end, scope="site")
    assert [(r.key, r.up_bytes) for r in november] == [("alun-alun", sent["site"])]
    devices = queries.totals(db, WIB, at("2026-11-01 00:00"), end, scope="client")
    assert [(r.level, r.up_bytes) for r in devices] == [("1d", sent["client_up"])]
    months = queries.series(db, WIB, at("2026-11-01 00:00"), end, level="1mo", scope="client")
    assert [(r.start, r.up_bytes) for r in months] == [(at("2026-11-01 00:00"), sent["client_up"])]
    days = queries.series(db, WIB, at("2026-11-01 00:00"), end, level="1d", scope="opd")
    assert len(days) == 30 and sum(r.down_bytes for r in days) == sent["opd"]
    peaks = queries.peak_clients(db, WIB, at("2026-11-01 00:00"), end, level="1mo")
    assert peaks[0][1] == "alun-alun" and 40 <= peaks[0][2] < 50
    db.close()


def test_a_cycle_that_fails_midway_books_nothing_and_is_booked_once_later(
    usage: UsageDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 between the deltas and the meters cannot happen: one transaction holds both."""
    t = at("2026-11-26 10:00")
    usage.commit(book({}, [reading("counter/a", 1000)]), t, WIB)
    booking = book(usage.meters(), [reading("counter/a", 1600)])

    class Dying:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def execute(self, sql: str, *args: Any) -> Any:
            return self.db.execute(sql, *args)

        def executemany(self, sql: str, rows: Any) -> Any:
            if "INTO meter" in sql:
                raise sqlite3.OperationalError("disk I/O error")
            return self.db.executemany(sql, rows)

    real = usage.db
    usage.db = Dying(real)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError):
        usage.commit(booking, t + 30, WIB)
    usage.db = real
    assert _level_totals(usage.path, "site")["1h"] == (0, 1000)
    again = UsageDb(usage.path)  # netd restarted: the same reading, bigger, is read again
    again.commit(book(again.meters(), [reading("counter/a", 1900)]), t + 60, WIB)
    again.close()
    assert _level_totals(usage.path, "site")["1h"] == (0, 1900)


def test_retention_deletes_each_level_and_device_rows_on_their_own(usage: UsageDb) -> None:
    now = at("2026-11-26 12:00")
    for days_ago in (1, 3, 70, 500):
        t = now - days_ago * 86400
        readings = [
            reading("counter/s", days_ago * 10),
            reading(f"acct/m|{days_ago}", 5, scope="client", key="m", site="alun-alun"),
        ]
        usage.commit(book({}, readings), t, WIB)
    deleted = usage.purge(Retention(), now)
    assert deleted["5m"] == 3 and deleted["1h"] == 2 and deleted["1d"] == 2
    db = connect(usage.path, readonly=True)
    kept = {
        (level, scope)
        for level, scope in db.execute("SELECT DISTINCT level, scope FROM usage WHERE start < ?",
                                       (now - 62 * 86400,))
    }  # fmt: skip
    assert ("1mo", "site") in kept and ("1mo", "client") not in kept
    db.close()


def test_queries_name_the_top_devices_by_pseudonym(usage: UsageDb) -> None:
    t = at("2026-11-26 09:00")
    readings = [
        reading(f"acct/{mac}|ip", n, scope="client", key=mac, site=site)
        for mac, n, site in (("aa", 900, "alun-alun"), ("bb", 300, "alun-alun"),
                             ("cc", 500, "pasar"))
    ]  # fmt: skip
    usage.commit(book({}, readings), t, WIB, sessions={"alun-alun": 2, "pasar": 1})
    db = connect(usage.path, readonly=True)
    day = (at("2026-11-26 00:00"), at("2026-11-27 00:00"))
    top = queries.top_talkers(db, WIB, *day, lambda mac: f"dev-{mac.upper()}", limit=2)
    assert [(r.key, r.down_bytes) for r in top] == [("dev-AA", 900), ("dev-CC", 500)]
    assert queries.unique_clients(db, WIB, *day) == {"alun-alun": 2, "pasar": 1}
    assert queries.unique_clients_per_day(db, WIB, *day, site="pasar") == [
        (int(day[0]), "pasar", 1)
    ]
    sites = {r.key: r.sessions for r in queries.totals(db, WIB, *day, scope="site")}
    assert sites == {"alun-alun": 2, "pasar": 1}
    assert len(queries.buckets("1h", *day, WIB)) == 24
    db.close()


def test_the_reader_refuses_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="has netd run yet"):
        connect(str(tmp_path / "none.db"), readonly=True)


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path) -> Path:
    with Store(str(tmp_path / "simpul.db")) as store:
        store.import_config(load_config_file(str(ROOT / "examples" / "lab.yaml")), actor="t")
    db = UsageDb(str(tmp_path / "usage.db"))
    t = at("2026-11-25 09:10")
    db.commit(
        book({}, [
            reading("counter/opd_dinkes_down", 4_000_000, scope="opd", key="dinkes"),
            reading("counter/site_rtm_lam_down", 9_000, scope="site", key="rtm-lam"),
            reading("acct/02:5e:00:01:01:01|10.40.1.50", 2_500, scope="client",
                    key="02:5e:00:01:01:01", site="rtm-lam", direction=UP),
        ]),
        t, WIB, peaks={"rtm-lam": 7}, sessions={"rtm-lam": 3},
    )  # fmt: skip
    (tmp_path / "netd").mkdir()
    (tmp_path / "netd" / "node.key").write_bytes(b"k" * 32)
    db.close()
    return tmp_path


def _usage(node: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", str(node / "simpul.db"), "usage", *args])


def test_usage_cli_in_every_format(node: Path) -> None:
    day = ["--from", "2026-11-25", "--to", "2026-11-26"]
    out = _usage(node, *day, "--format", "json")
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [(r["scope"], r["key"], r["total_bytes"]) for r in rows] == [
        ("opd", "dinkes", 4_000_000), ("site", "rtm-lam", 9_000),
        ("client", "02:5e:00:01:01:01", 2_500),
    ]  # fmt: skip
    assert (rows[1]["sessions"], rows[1]["devices"], rows[1]["peak_clients"]) == (3, 1, 7)
    out = _usage(node, *day, "--client", "02-5E-00-01-01-01", "--by", "day", "--format", "csv")
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[1].startswith("2026-11-25T00:00:00+07:00,client,")
    out = _usage(node, *day, "--opd", "dinkes")
    assert out.exit_code == 0 and "4.0 MB" in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "kemarin"], "use HH:MM"),
        (["--from", "2026-11-26", "--to", "2026-11-25"], "must come after"),
        (["--client", "nope"], "not a MAC address"),
        (["--opd", "dinkes", "--site", "alun-alun"], "choose one of"),
        (["--client", "02:5e:00:01:01:01", "--by", "hour"], "counted by the day"),
        (["--top", "3", "--opd", "dinkes"], "only --site goes with it"),
    ],
)
def test_usage_cli_refuses_bad_input_clearly(node: Path, args: list[str], message: str) -> None:
    out = _usage(node, *args)
    assert out.exit_code != 0 and message in " ".join(out.output.split())


def test_usage_filter_reads_one_device_of_a_site_or_one_named_thing() -> None:
    mac = "02:5e:00:01:01:01"
    assert usage_filter(None, "rtm-lam", mac, None) == ("client", mac, "rtm-lam")
    assert usage_filter(None, None, mac, None) == ("client", mac, None)
    assert usage_filter("dinkes", None, None, None) == ("opd", "dinkes", None)
    assert usage_filter(None, None, None, "wan0") == ("uplink", "wan0", None)
    assert usage_filter(None, "rtm-lam", None, None) == ("site", "rtm-lam", None)
    assert usage_filter(None, None, None, None) == (None, None, None)


def test_usage_cli_names_top_devices_by_pseudonym(node: Path) -> None:
    from simpul import pseudonyms

    out = _usage(node, "--from", "2026-11-25", "--to", "2026-11-26", "--top", "5",
                 "--format", "json")  # fmt: skip
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert row["key"] == pseudonyms.device(b"k" * 32, "02:5e:00:01:01:01")
    assert "02:5e" not in out.output  # never the MAC itself
    (node / "netd" / "node.key").unlink()
    out = _usage(node, "--from", "2026-11-25", "--top", "5")
    assert out.exit_code != 0 and "pseudonym key" in out.output


def test_usage_cli_without_a_usage_database(node: Path) -> None:
    (node / "usage.db").unlink()
    out = _usage(node)
    assert out.exit_code != 0 and "has netd run yet" in " ".join(out.output.split())
