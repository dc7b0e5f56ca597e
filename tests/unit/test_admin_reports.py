"""The console's monthly reports: who sees them, the month picked, the figures (totals equal the
rollups put in usage.db), CSV the same as `simpul report`'s, PDF, and pages that say what is
missing rather than failing."""

from __future__ import annotations

import os
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from monitoring.reports import render
from monitoring.reports.register import import_register
from monitoring.reports.villages import Village
from monitoring.store import LedgerChanges, MonitorDb
from netctl.dns_stats import STATS_SCHEMA
from simpul.cli import main
from simpul.config import load_config_file
from simpul.store import Store
from simpul.usage.booking import DOWN, UP, Reading, book
from simpul.usage.db import UsageDb
from tests.unit.admin_helpers import (
    LAB_CONFIG,
    WIB,
    FakeNetd,
    at,
    make_app,
    role_clients,
    sign_in,
)

NOW = at("2026-11-26 10:00")
USAGE_HEADER = "opd,nama,unduh_gb,unggah_gb,jam_tersibuk,kategori_diblokir"
SITE_HEADER = ("site,nama,kecamatan,unduh_gb,unggah_gb,perangkat,sesi,puncak_pengguna,"
               "jam_tersibuk,kategori_diblokir")  # fmt: skip
LEDGER_HEADER = "target,site,mulai,selesai,durasi_menit,penyebab,sla"
BLINDSPOT_HEADER = "kode_wilayah,kecamatan,desa,lat,lon,masalah,sinyal_terbaik,site,downtime_jam"
PAGES = ("/laporan/penggunaan", "/laporan/ketersediaan", "/laporan/titik-buta")
APIS = ("/api/v1/reports/usage", "/api/v1/reports/availability", "/api/v1/reports/blindspot")
VILLAGES = [
    Village("14.10.09.2001", "Rangsang Pesisir", "Desa Sonde", 0.95, 102.90, {},
            date(2026, 9, 1), "pulau-merbau"),
    Village("14.10.09.2002", "Rangsang Pesisir", "Desa Bantar", 0.97, 102.95,
            {"Telkomsel": {"4G": "kuat"}}, date(2026, 9, 1), "pulau-merbau"),
    Village("14.10.01.2003", "Tebing Tinggi", "Desa Alah Air", 1.01, 102.70,
            {"Telkomsel": {"4G": "sedang"}}, date(2026, 9, 1), None),
]  # fmt: skip


def _usage(directory: Path) -> None:
    """October 2026: OPDs' and sites' bytes in two cycles of two days (so the month sums them)."""
    usage = UsageDb(str(directory / "usage.db"))
    readings = [
        ("counter/opd_disdik_down", 4_000_000_000, "opd", "disdik", DOWN),
        ("counter/opd_disdik_up", 300_000_000, "opd", "disdik", UP),
        ("counter/opd_diskominfo_down", 1_250_000_000, "opd", "diskominfo", DOWN),
        ("counter/site_rtm_lam_down", 2_000_000_000, "site", "rtm-lam", DOWN),
        ("counter/site_rtm_lam_up", 125_000_000, "site", "rtm-lam", UP),
    ]
    usage.commit(book({}, [Reading(s, "boot-a", 1, n, sc, k, d) for s, n, sc, k, d in readings]),
                 at("2026-10-03 09:30"), WIB)  # fmt: skip
    usage.commit(book({}, [Reading("counter/opd_disdik_down", "boot-b", 1, 3_000_000_000, "opd",
                                   "disdik", DOWN),
                           Reading("counter/opd_disdik_up", "boot-b", 1, 200_000_000, "opd",
                                   "disdik", UP),
                           Reading("counter/site_taman_down", "boot-b", 1, 500_000_000, "site",
                                   "taman-cik-puan", DOWN)]),
                 at("2026-10-20 19:10"), WIB)  # fmt: skip
    usage.commit(book({}, [Reading("counter/opd_disdik_down", "boot-c", 1, 9_000_000_000, "opd",
                                   "disdik", DOWN)]),
                 at("2026-11-02 08:00"), WIB)  # November: not in October's report  # fmt: skip
    usage.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A node's state directory: usage.db, monitor.db (an outage in October), simpul.db with
    the configuration and a village register, and the DNS front end's counts."""
    directory = tmp_path / "state"
    directory.mkdir()
    _usage(directory)
    monitor = MonitorDb(str(directory / "monitor" / "monitor.db"))
    monitor.record([], [], {}, WIB, LedgerChanges(opened=[
        ("router-pulau-merbau", "pulau-merbau", at("2026-10-05 10:00"), False)]))  # fmt: skip
    monitor.close()
    with Store(str(directory / "simpul.db")) as store:
        store.import_config(load_config_file(str(LAB_CONFIG)), actor="t")
        import_register(store, VILLAGES, "t", "survei.csv")
    dns = directory / "netd" / "dnsd" / "dns.db"
    dns.parent.mkdir(parents=True)
    with sqlite3.connect(dns) as db:
        db.executescript(STATS_SCHEMA)
        db.executemany("INSERT INTO dns_counts VALUES (?, ?, ?, ?, ?)", [
            ("2026-10-04", "opd:disdik", "gambling", "block", 41),
            ("2026-10-31", "opd:disdik", "gambling", "block", 1),
            ("2026-11-01", "opd:disdik", "adult", "block", 999),
            ("2026-10-04", "opd:disdik", "-", "allow", 5000)])  # fmt: skip
    return directory


def _app(tmp_path: Path, state_dir: Path | None = None, clock: float = NOW) -> Flask:
    directory = state_dir or tmp_path / "empty-state"
    directory.mkdir(exist_ok=True)
    return make_app(tmp_path, FakeNetd(), STATE_DIR=str(directory), CLOCK=lambda: clock)


def _csv_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


# -- access ------------------------------------------------------------------------------------


def test_every_role_sees_the_reports(tmp_path: Path, state: Path) -> None:
    browsers = role_clients(_app(tmp_path, state))
    for role, browser in browsers.items():
        assert browser.get("/laporan").status_code == 200, role
        for url in PAGES:
            assert browser.get(url).status_code == 200, (role, url)
        for url in APIS:
            assert browser.get(url).status_code == 200, (role, url)
    reviewer = browsers["reviewer"]
    assert reviewer.get("/laporan/penggunaan?format=csv").status_code == 200


def test_signed_out_callers_get_nothing(tmp_path: Path, state: Path) -> None:
    client = _app(tmp_path, state).test_client()
    for url in ("/laporan", *PAGES, "/laporan/penggunaan?format=csv"):
        assert client.get(url).status_code == 302, url
    for url in APIS:
        assert client.get(url).status_code == 401, url


# -- the month ---------------------------------------------------------------------------------


def test_last_month_in_the_nodes_zone_by_default(tmp_path: Path, state: Path) -> None:
    # 1 Jan 2027 00:30 WIB is still 31 Dec 2026 in UTC: the node's zone decides.
    (tmp_path / "january").mkdir()
    browser = sign_in(_app(tmp_path / "january", state, clock=at("2027-01-01 00:30")), "reviewer")
    assert 'name="month" value="2026-12"' in browser.get("/laporan").text
    assert browser.get("/api/v1/reports/usage").json["period"] == "2026-12"
    browser = sign_in(_app(tmp_path, state), "reviewer")
    assert browser.get("/api/v1/reports/usage").json["period"] == "2026-10"
    assert "<h1>Laporan pemakaian internet 2026-10</h1>" in browser.get("/laporan/penggunaan").text


@pytest.mark.parametrize("month", ["2026-13", "11-2026", "2026-1", "abc", "1999-12", "2026-00"])
def test_a_bad_month_is_refused_with_a_clear_message(tmp_path: Path, state: Path,
                                                     month: str) -> None:  # fmt: skip
    browser = sign_in(_app(tmp_path, state), "reviewer")
    for url in ("/laporan", *PAGES):
        page = browser.get(f"{url}?month={month}")
        assert page.status_code == 422, url
        assert "tulis YYYY-MM, mis. 2026-11" in page.text
    for url in APIS:
        answer = browser.get(f"{url}?month={month}")
        assert answer.status_code == 422
        error = answer.json["error"]
        assert error["code"] == "invalid" and "month" in error["fields"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("format=xls", "format"), ("table=0", "table"), ("threshold=101", "threshold"),
     ("colour=red", "colour")],
)  # fmt: skip
def test_other_bad_parameters_are_refused(tmp_path: Path, state: Path, query: str,
                                          field: str) -> None:  # fmt: skip
    browser = sign_in(_app(tmp_path, state), "reviewer")
    assert browser.get(f"/laporan/titik-buta?month=2026-10&{query}").status_code == 422
    if field in ("threshold", "colour"):
        answer = browser.get(f"/api/v1/reports/blindspot?month=2026-10&{query}")
        assert answer.status_code == 422 and field in answer.json["error"]["fields"]


def test_the_api_takes_no_format(tmp_path: Path, state: Path) -> None:
    browser = sign_in(_app(tmp_path, state), "reviewer")
    assert browser.get("/api/v1/reports/usage?format=csv").status_code == 422


# -- usage -------------------------------------------------------------------------------------


def test_usage_totals_are_the_sums_of_the_rollups(tmp_path: Path, state: Path) -> None:
    browser = sign_in(_app(tmp_path, state), "reviewer")
    report = browser.get("/api/v1/reports/usage?month=2026-10").json
    opds, sites, _uplinks = report["tables"]
    # disdik 4 + 3 GB down, 0.3 + 0.2 up; diskominfo 1.25 down; November's 9 GB is not October's
    assert opds["totals"] == {"unduh_gb": "8.250", "unggah_gb": "0.500"}
    assert sites["totals"] == {"unduh_gb": "2.500", "unggah_gb": "0.125"}
    rows = {row[0]: row for row in opds["rows"]}
    assert rows["disdik"][2:4] == ["7.000", "0.500"]
    assert rows["disdik"][5] == "gambling (42)"  # October's DNS counts only
    assert report["notes"] == []
    page = browser.get("/laporan/penggunaan?month=2026-10").text
    assert "8,250 GB" in page and "0,500 GB" in page and "2,500 GB" in page
    assert "Dinas Pendidikan" in page and '<svg class="chart"' in page
    assert "gambling (42)" in page


def test_usage_csv_is_the_clis(tmp_path: Path, state: Path) -> None:
    browser = sign_in(_app(tmp_path, state), "reviewer")
    dns_db = str(state / "netd" / "dnsd" / "dns.db")
    for table, header in ((1, USAGE_HEADER), (2, SITE_HEADER)):
        answer = browser.get(f"/laporan/penggunaan?month=2026-10&format=csv&table={table}")
        assert answer.status_code == 200 and answer.mimetype == "text/csv"
        assert answer.headers["Content-Disposition"] == (
            f'attachment; filename="laporan-penggunaan-2026-10-tabel{table}.csv"')  # fmt: skip
        output = tmp_path / f"cli-{table}.csv"
        run = CliRunner().invoke(
            main,
            [
                "--db",
                str(state / "simpul.db"),
                "report",
                "usage",
                "--month",
                "2026-10",
                "--format",
                "csv",
                "--table",
                str(table),
                "-o",
                str(output),
                "--dns-db",
                dns_db,
            ],
        )
        assert run.exit_code == 0, run.output
        ours, theirs = answer.text.splitlines(), output.read_text().splitlines()
        made = "# Tanggal Dibuat / Made on: "
        assert [x for x in ours if not x.startswith(made)] == [
            x for x in theirs if not x.startswith(made)]  # fmt: skip
        assert f"{made}2026-11-26" in ours
        assert _csv_lines(answer.text)[0] == header
    assert "disdik,Dinas Pendidikan,7.000,0.500," in browser.get(
        "/laporan/penggunaan?month=2026-10&format=csv").text  # fmt: skip


def test_a_table_the_report_does_not_have_is_refused(tmp_path: Path, state: Path) -> None:
    browser = sign_in(_app(tmp_path, state), "reviewer")
    answer = browser.get("/laporan/penggunaan?month=2026-10&format=csv&table=4")
    assert answer.status_code == 422 and "3 table(s)" in answer.text


def test_no_dns_counts_is_said_on_the_page(tmp_path: Path, state: Path) -> None:
    os.remove(state / "netd" / "dnsd" / "dns.db")
    browser = sign_in(_app(tmp_path, state), "reviewer")
    page = browser.get("/laporan/penggunaan?month=2026-10").text
    assert "Tanpa data kategori diblokir: berkas hitungan DNS belum ada." in page
    notes = browser.get("/api/v1/reports/usage?month=2026-10").json["notes"]
    assert notes == ["Tanpa data kategori diblokir: berkas hitungan DNS belum ada."]


# -- availability and blind spots -------------------------------------------------------------


def test_availability_from_the_ledger(tmp_path: Path, state: Path) -> None:
    browser = sign_in(_app(tmp_path, state), "reviewer")
    report = browser.get("/api/v1/reports/availability?month=2026-10").json
    links = {row[0]: row for row in report["tables"][0]["rows"]}
    up_until_the_5th = 100 * (4 * 86400 + 10 * 3600) / (31 * 86400)  # 1 Oct to 5 Oct 10:00
    assert links["router-pulau-merbau"][2] == f"{up_until_the_5th:.3f}"
    assert links["router-rangsang-pesisir"][2] == "100.000"
    assert report["tables"][1]["columns"] == LEDGER_HEADER.split(",")
    page = browser.get("/laporan/ketersediaan?month=2026-10").text
    assert "router-pulau-merbau" in page and '<svg class="chart"' in page
    csv = browser.get("/laporan/ketersediaan?month=2026-10&format=csv&table=2").text
    assert _csv_lines(csv)[0] == LEDGER_HEADER


def test_blind_spots_on_a_map(tmp_path: Path, state: Path) -> None:
    browser = sign_in(_app(tmp_path, state), "reviewer")
    report = browser.get("/api/v1/reports/blindspot?month=2026-10").json
    rows = {row[2]: row for row in report["tables"][0]["rows"]}
    assert set(rows) == {"Desa Sonde", "Desa Bantar"}  # no signal; site down most of the month
    assert report["tables"][0]["columns"] == BLINDSPOT_HEADER.split(",")
    page = browser.get("/laporan/titik-buta?month=2026-10").text
    assert '<svg class="map"' in page
    assert "Desa Sonde — Desa tanpa sinyal" in page
    assert "Desa Bantar — Desa dengan site sering mati" in page
    assert "Desa Alah Air — Desa bersinyal" in page
    # A limit above the site's downtime leaves only the village without signal.
    lenient = browser.get("/api/v1/reports/blindspot?month=2026-10&threshold=90").json
    assert [row[2] for row in lenient["tables"][0]["rows"]] == ["Desa Sonde"]
    csv = browser.get("/laporan/titik-buta?month=2026-10&threshold=90&format=csv").text
    assert "# Catatan / Note: batas mati site / site-down threshold: 90%" in csv


def test_an_empty_village_register_is_said(tmp_path: Path, state: Path) -> None:
    with Store(str(state / "simpul.db")) as store:
        import_register(store, [], "t", "kosong.csv")
    browser = sign_in(_app(tmp_path, state), "reviewer")
    page = browser.get("/laporan/titik-buta?month=2026-10")
    assert page.status_code == 200 and "Daftar desa masih kosong" in page.text
    answer = browser.get("/api/v1/reports/blindspot?month=2026-10")
    assert answer.status_code == 409 and answer.json["error"]["code"] == "empty-register"


# -- missing data, PDF -------------------------------------------------------------------------


def test_missing_databases_give_pages_that_say_so(tmp_path: Path) -> None:
    browser = sign_in(_app(tmp_path), "reviewer")
    expected = {
        "/laporan/penggunaan": "netd belum mencatat pemakaian (usage.db belum ada)",
        "/laporan/ketersediaan": "pemantau belum berjalan (monitor.db belum ada)",
        "/laporan/titik-buta": "netd belum membuat basis datanya (simpul.db belum ada)",
    }
    for url, message in expected.items():
        page = browser.get(f"{url}?month=2026-10")
        assert page.status_code == 200 and f"Belum ada data: {message}." in page.text, url
        assert "format=csv" not in page.text  # nothing to download
        assert browser.get(f"{url}?month=2026-10&format=csv").status_code == 200
    for url in APIS:
        answer = browser.get(f"{url}?month=2026-10")
        assert answer.status_code == 404 and answer.json["error"]["code"] == "no-data"


def test_blind_spots_without_the_monitor_say_downtime_is_not_counted(
    tmp_path: Path, state: Path
) -> None:
    for name in os.listdir(state / "monitor"):
        os.remove(state / "monitor" / name)
    browser = sign_in(_app(tmp_path, state), "reviewer")
    report = browser.get("/api/v1/reports/blindspot?month=2026-10").json
    assert [row[2] for row in report["tables"][0]["rows"]] == ["Desa Sonde"]
    assert report["notes"] == ["Pemantau belum berjalan: waktu mati site tidak dihitung."]


@pytest.mark.skipif(not os.access(render.CHROMIUM, os.X_OK), reason="no /usr/bin/chromium")
def test_pdf_is_printed_by_chromium(tmp_path: Path, state: Path) -> None:
    browser = sign_in(_app(tmp_path, state), "reviewer")
    answer = browser.get("/laporan/ketersediaan?month=2026-10&format=pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert answer.data.startswith(b"%PDF-")
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="laporan-ketersediaan-2026-10.pdf"')  # fmt: skip


def test_a_pdf_that_cannot_be_printed_is_a_clear_error(
    tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "CHROMIUM", str(tmp_path / "no-chromium"))
    browser = sign_in(_app(tmp_path, state), "reviewer")
    answer = browser.get("/laporan/penggunaan?month=2026-10&format=pdf")
    assert answer.status_code == 503
    assert "PDF tidak dapat dibuat" in answer.text and "is not installed" in answer.text


def test_the_api_is_documented(tmp_path: Path) -> None:
    paths = sign_in(_app(tmp_path), "reviewer").get("/api/v1/openapi.json").json["paths"]
    for url in APIS:
        operation = paths[url]["get"]
        assert "tables" in operation["responses"]["200"]["content"]["application/json"][
            "schema"]["properties"]  # fmt: skip
        assert "month" in {p["name"] for p in operation["parameters"]}
    assert "tiles" in paths["/api/v1/dashboard"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]  # fmt: skip


def test_a_month_holds_only_its_own_traffic(tmp_path: Path, state: Path) -> None:
    browser = sign_in(_app(tmp_path, state), "reviewer")
    november = browser.get("/api/v1/reports/usage?month=2026-11").json
    rows = {row[0]: row for row in november["tables"][0]["rows"]}
    assert rows["disdik"][2] == "9.000"
