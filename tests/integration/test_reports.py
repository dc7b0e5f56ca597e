"""Monthly reports from generated data: totals equal the accounting's, the CSV has its
documented columns after the metadata, the PDF renders (Chromium prints it, pdftoppm draws it)."""

from __future__ import annotations

import csv
import io
import random
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from monitoring.reports.monthly import availability_report, usage_report
from monitoring.reports.render import CHROMIUM, to_csv, to_pdf
from monitoring.store import LedgerChanges, MonitorDb
from monitoring.store import connect as monitor_connect
from simpul.config import load_config_file
from simpul.usage import queries
from simpul.usage.booking import DOWN, UP, Reading, book
from simpul.usage.db import UsageDb, connect
from tests.integration.helpers import LAB_YAML

CONFIG = load_config_file(str(LAB_YAML))
TZ = CONFIG.node.zoneinfo


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


@pytest.fixture(scope="module")
def usage_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """November 2026 of cycles every ~40 minutes, every OPD, site and the uplink moving bytes."""
    path = str(tmp_path_factory.mktemp("usage") / "usage.db")
    db = UsageDb(path)
    rng = random.Random(11)
    raw: dict[str, int] = {}
    things = [("opd", o.slug) for o in CONFIG.opds] + [("site", s.slug) for s in
              CONFIG.hotspot_sites] + [("uplink", u.name) for u in CONFIG.uplinks]  # fmt: skip
    t = at("2026-10-31 23:00")
    while t < at("2026-12-01 01:00"):
        readings = []
        for scope, key in things:
            for direction in (UP, DOWN):
                source = f"{scope}/{key}/{direction}"
                raw[source] = raw.get(source, 0) + rng.randrange(10**6, 10**8)
                readings.append(Reading(source, "b", raw[source] // 1000, raw[source], scope, key,
                                        direction))  # fmt: skip
        db.commit(book(db.meters(), readings), t, TZ, peaks={"rtm-lam": rng.randrange(40)},
                  sessions={"rtm-lam": 2})  # fmt: skip
        t += rng.uniform(1800, 3000)
    db.close()
    return path


def test_usage_report_totals_equal_the_accountings(usage_db: str) -> None:
    db = connect(usage_db, readonly=True)
    report = usage_report(CONFIG, db, [("opd:diskominfo", "streaming", 10, 7)], 2026, 11,
                          date(2026, 12, 1))  # fmt: skip
    start, end = at("2026-11-01 00:00"), at("2026-12-01 00:00")
    for scope, table in (("opd", report.tables[0]), ("site", report.tables[1])):
        expected = {r.key: r for r in queries.totals(db, TZ, start, end, scope=scope)}
        for row in table.rows:
            key, down_gb = row[0], float(row[2 if scope == "opd" else 3])
            assert abs(down_gb - expected[key].down_bytes / 1e9) < 0.0005, (scope, key)
    db.close()
    (opd,) = [r for r in report.tables[0].rows if r[0] == "diskominfo"]
    assert opd[-1] == "streaming (7)"
    text = to_csv(report, 0)
    lines = text.splitlines()
    assert lines[0].startswith("# Judul / Title: Laporan Pemakaian Internet")
    assert "# Periode / Period: 2026-11" in lines
    rows = list(csv.reader(io.StringIO("\n".join(x for x in lines if not x.startswith("#")))))
    assert rows[0] == ["opd", "nama", "unduh_gb", "unggah_gb", "jam_tersibuk",
                       "kategori_diblokir"]  # fmt: skip
    assert len(rows) == 1 + len(CONFIG.opds)


def test_availability_report_and_its_pdf(tmp_path: Path, usage_db: str) -> None:
    if not Path(CHROMIUM).exists() or shutil.which("pdftoppm") is None:
        pytest.skip("needs chromium and pdftoppm")
    mon = MonitorDb(str(tmp_path / "monitor.db"))
    target = CONFIG.monitoring.targets[0]
    mon.record([], [], {}, TZ, LedgerChanges(opened=[
        (target.name, target.site, at("2026-11-03 08:00"), False),
        (target.name, target.site, at("2026-11-09 21:00"), False),
    ]))  # fmt: skip
    first = mon.db.execute("SELECT MIN(id) FROM outage").fetchone()[0]
    mon.record([], [], {}, TZ, LedgerChanges(closed=[(first, at("2026-11-03 08:30"), "link")]))
    # the second stays open past the month's end
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    report = availability_report(CONFIG, monitor_connect(mon.path, readonly=True), 2026, 11,
                                 now, date(2026, 12, 1))  # fmt: skip
    links = {r[0]: r for r in report.tables[0].rows}
    assert links[target.name][3] != "0.0" and links[target.name][6] == "30.0"  # 30 min of SLA
    out = tmp_path / "ketersediaan.pdf"
    to_pdf(report, str(out))
    assert out.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(out),
                    str(tmp_path / "page")], check=True, timeout=60)  # fmt: skip
    (png,) = tmp_path.glob("page*.png")
    assert png.stat().st_size > 5000  # a drawn page, not a blank one
    usage = usage_report(CONFIG, connect(usage_db, readonly=True), [], 2026, 11,
                         date(2026, 12, 1))  # fmt: skip
    to_pdf(usage, str(tmp_path / "pemakaian.pdf"))
    assert (tmp_path / "pemakaian.pdf").read_bytes().startswith(b"%PDF")
    mon.close()
