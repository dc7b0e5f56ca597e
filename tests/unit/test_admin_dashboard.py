"""The console's dashboard: who sees it, its figures from netd, usage.db and monitor.db (built
with their own writers), the page when a database is not there yet, and a bounded number of
queries whatever the number of sites."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from monitoring.store import MonitorDb, Sample
from netctl.protocol import ApiError
from portal.admin import readers
from simpul.usage.booking import DOWN, UP, Reading, book
from simpul.usage.db import UsageDb
from tests.unit.admin_helpers import WIB, FakeNetd, at, make_app, role_clients, sign_in

NOW = at("2026-11-26 10:02")
CLIENTS = [
    {"mac": f"02:5e:00:00:00:{n:02x}", "ip": f"10.40.1.{50 + n}", "site": site, "method": "voucher",
     "started_at": NOW - 600, "expires_at": NOW + 3000, "in_kernel": True}
    for n, site in enumerate(["rtm-lam"] * 3 + ["taman-cik-puan"] * 2)
]  # fmt: skip


def _readings(site_down: int, uplink_down: int, uplink_up: int, boot: str) -> list[Reading]:
    return [
        Reading("counter/site_rtm_lam_down", boot, 1, site_down, "site", "rtm-lam", DOWN),
        Reading("counter/uplink_isp1_down", boot, 1, uplink_down, "uplink", "isp1", DOWN),
        Reading("counter/uplink_isp1_up", boot, 1, uplink_up, "uplink", "isp1", UP),
    ]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """usage.db with traffic at 08:30 and in the 5 minutes before NOW's bucket (09:55-10:00),
    and monitor.db with one link down (acknowledged), one up."""
    directory = tmp_path / "state"
    usage = UsageDb(str(directory / "usage.db"))
    usage.commit(book({}, _readings(720_000_000, 1_800_000_000, 360_000_000, "a")),
                 at("2026-11-26 08:30"), WIB)  # fmt: skip
    usage.commit(book({}, _readings(30_000_000, 75_000_000, 15_000_000, "b")),
                 at("2026-11-26 09:57"), WIB)  # fmt: skip
    usage.close()
    monitor = MonitorDb(str(directory / "monitor" / "monitor.db"))
    monitor.record(
        [Sample("router-rangsang-pesisir", NOW - 30, "down", None, 100.0, None, None, "timeout",
                ("tidak menjawab / no answer",)),
         Sample("router-pulau-merbau", NOW - 30, "ok", 640.0, 0.0, 12.0, 9000.0, None)],
        [],
        {"router-rangsang-pesisir": {"target": "router-rangsang-pesisir", "state": "down",
                                     "since": "2026-11-26T08:00:00+07:00", "acked_by": "budi"},
         "router-pulau-merbau": {"target": "router-pulau-merbau", "state": "ok",
                                 "since": "2026-11-20T08:00:00+07:00"}},
        WIB,
    )  # fmt: skip
    monitor.close()
    return directory


def _app(tmp_path: Path, netd: FakeNetd, state_dir: Path | None = None) -> Flask:
    directory = state_dir or tmp_path / "empty-state"
    directory.mkdir(exist_ok=True)
    return make_app(tmp_path, netd, STATE_DIR=str(directory), CLOCK=lambda: NOW)


@pytest.fixture
def netd() -> FakeNetd:
    return FakeNetd({"clients": CLIENTS})


def test_every_role_sees_the_dashboard_and_its_api(tmp_path: Path, netd: FakeNetd,
                                                   state: Path) -> None:  # fmt: skip
    app = _app(tmp_path, netd, state)
    for role, browser in role_clients(app).items():
        page = browser.get("/")
        assert page.status_code == 200, role
        assert "Dasbor" in page.text and '<svg class="map"' in page.text
        api = browser.get("/api/v1/dashboard")
        assert api.status_code == 200 and api.json["tiles"]["clients_online"] == 5, role


def test_signed_out_callers_are_sent_to_sign_in_or_refused(tmp_path: Path,
                                                          netd: FakeNetd) -> None:  # fmt: skip
    client = _app(tmp_path, netd).test_client()
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/dashboard").status_code == 401
    assert netd.called("clients") == []


def test_figures(tmp_path: Path, netd: FakeNetd, state: Path) -> None:
    d = sign_in(_app(tmp_path, netd, state), "reviewer").get("/api/v1/dashboard").json
    assert d["tiles"] == {"clients_online": 5, "hotspot_sites": 2, "remote_sites": 2,
                          "links_up": 1, "links_total": 2, "open_alerts": 1}  # fmt: skip
    assert [(s["site"], s["clients"]) for s in d["clients"]["sites"]] == [
        ("rtm-lam", 3), ("taman-cik-puan", 2)]  # fmt: skip
    now = d["bandwidth"]["now"]
    assert now["bucket_start"] == at("2026-11-26 09:55") and now["stale"] is False
    uplink = now["uplinks"][0]
    assert (uplink["key"], uplink["down_bps"], uplink["up_bps"]) == (
        "isp1", 75_000_000 * 8 / 300, 15_000_000 * 8 / 300)  # fmt: skip
    assert uplink["down_capacity_percent"] == pytest.approx(100 * 2e6 / 300e6, abs=0.05)
    assert {s["key"]: s["down_bps"] for s in now["sites"]} == {
        "rtm-lam": 30_000_000 * 8 / 300, "taman-cik-puan": 0.0}  # fmt: skip
    hourly = {(u["direction"]): dict(map(tuple, u["points"]))
              for u in d["bandwidth"]["last_24h"]["uplinks"]}  # fmt: skip
    assert len(hourly["down"]) == 24
    assert hourly["down"][at("2026-11-26 08:00")] == 1_800_000_000 * 8 / 3600
    assert hourly["up"][at("2026-11-26 08:00")] == 360_000_000 * 8 / 3600
    assert at("2026-11-26 09:00") in hourly["down"]  # the last closed hour; 10:00 is still open
    assert hourly["down"][at("2026-11-26 09:00")] == 75_000_000 * 8 / 3600
    sites = d["bandwidth"]["last_24h"]["sites"]
    assert [s["key"] for s in sites] == ["rtm-lam"]
    places = {p["slug"]: p["state"] for p in d["links"]["sites"]}
    assert places == {"rtm-lam": "unknown", "taman-cik-puan": "unknown",
                      "rangsang-pesisir": "down", "pulau-merbau": "up"}  # fmt: skip
    [alert] = d["links"]["alerts"]
    assert (alert["target"], alert["state"], alert["acked_by"], alert["site_name"]) == (
        "router-rangsang-pesisir", "down", "budi", "Kantor Camat Rangsang Pesisir")  # fmt: skip
    assert alert["reasons"] == ["tidak menjawab / no answer"]
    assert netd.called("clients") == [{"on_behalf": "reviewer"}]


def test_the_page_shows_alerts_with_who_took_them_and_the_map(tmp_path: Path, netd: FakeNetd,
                                                              state: Path) -> None:  # fmt: skip
    page = sign_in(_app(tmp_path, netd, state), "operator").get("/").text
    assert "router-rangsang-pesisir" in page and "budi" in page
    assert "Kantor Camat Rangsang Pesisir — Putus" in page  # the point's title on the map
    assert "Kantor Camat Pulau Merbau — Tersambung" in page
    assert "Belum ada data" not in page


def test_a_maintenance_window_and_a_silent_monitor_colour_the_map(tmp_path: Path, netd: FakeNetd,
                                                                  state: Path) -> None:  # fmt: skip
    netd.document["monitoring"]["maintenance"] = [{
        "site": "pulau-merbau", "start": "2026-11-26T09:00:00", "end": "2026-11-26T12:00:00",
        "reason": "ganti modem"}]  # fmt: skip
    late = NOW + 3 * 60 + 1  # three intervals without a sample
    app = make_app(tmp_path, netd, STATE_DIR=str(state), CLOCK=lambda: late)
    d = sign_in(app, "reviewer").get("/api/v1/dashboard").json
    places = {p["slug"]: p["state"] for p in d["links"]["sites"]}
    assert places["pulau-merbau"] == "maintenance"
    assert places["rangsang-pesisir"] == "unknown"  # its last sample is too old to tell
    assert d["tiles"]["links_up"] == 0 and d["tiles"]["open_alerts"] == 1


def test_no_databases_yet_each_part_says_so(tmp_path: Path, netd: FakeNetd) -> None:
    browser = sign_in(_app(tmp_path, netd), "reviewer")
    page = browser.get("/")
    assert page.status_code == 200
    assert "Belum ada data: netd belum mencatat pemakaian (usage.db belum ada)." in page.text
    assert "Belum ada data: pemantau belum berjalan (monitor.db belum ada)." in page.text
    d = browser.get("/api/v1/dashboard").json
    assert d["bandwidth"]["available"] is False and d["bandwidth"]["now"] is None
    assert d["links"]["available"] is False
    assert {p["state"] for p in d["links"]["sites"]} == {"unknown"}
    assert d["tiles"]["clients_online"] == 5 and d["tiles"]["open_alerts"] is None


def test_netd_not_answering_clients_leaves_the_rest_of_the_page(tmp_path: Path,
                                                               state: Path) -> None:  # fmt: skip
    netd = FakeNetd({"clients": ApiError("unavailable", "netd is restarting")})
    browser = sign_in(_app(tmp_path, netd, state), "reviewer")
    page = browser.get("/")
    assert page.status_code == 200 and "netd is restarting" in page.text
    d = browser.get("/api/v1/dashboard").json
    assert d["tiles"]["clients_online"] is None and d["clients"]["available"] is False
    assert d["bandwidth"]["available"] is True


def test_english_page(tmp_path: Path, netd: FakeNetd, state: Path) -> None:
    browser = sign_in(_app(tmp_path, netd, state), "reviewer")
    browser.client.set_cookie("lang", "en")
    page = browser.get("/").text
    assert "Clients online" in page and "Open alerts" in page and "°N" in page


def _more_sites(netd: FakeNetd, count: int) -> None:
    template = netd.document["hotspot_sites"][0]
    for n in range(count):
        netd.document["hotspot_sites"].append(template | {
            "slug": f"titik-{n:02d}", "name": f"Titik {n:02d}", "subnet": f"10.40.{100 + n}.0/24",
            "interface": f"hs-t{n:02d}", "vlan": 300 + n,
            "location": {"lat": 1.0 + n / 100, "lon": 102.6 + n / 100}})  # fmt: skip


def _statements(tmp_path: Path, netd: FakeNetd, state: Path) -> list[str]:
    """The SQL statements one dashboard page runs on usage.db and monitor.db."""
    seen: list[str] = []

    def traced(connect: Any) -> Any:
        def open_traced(path: str, **kw: Any) -> sqlite3.Connection:
            conn = connect(path, **kw)
            conn.set_trace_callback(seen.append)
            return conn

        return open_traced

    tmp_path.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers.usage_store, "connect", traced(readers.usage_store.connect))
        patch.setattr(readers.monitor_store, "connect", traced(readers.monitor_store.connect))
        assert sign_in(_app(tmp_path, netd, state), "reviewer").get("/").status_code == 200
    return seen


def test_the_number_of_queries_does_not_grow_with_the_sites(tmp_path: Path, state: Path) -> None:
    few = _statements(tmp_path / "few", FakeNetd({"clients": CLIENTS}), state)
    netd = FakeNetd({"clients": CLIENTS})
    _more_sites(netd, 30)
    many = _statements(tmp_path / "many", netd, state)
    assert 0 < len(many) == len(few) <= 8
    assert len(netd.called("clients")) == 1
