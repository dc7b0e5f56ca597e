"""`simpul report usage|availability`: CSV files with their metadata, and clear refusals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from monitoring.store import LedgerChanges, MonitorDb
from simpul.cli import main
from simpul.config import load_config_file
from simpul.store import Store
from simpul.usage.booking import DOWN, Reading, book
from simpul.usage.db import UsageDb

ROOT = Path(__file__).resolve().parents[2]
WIB = ZoneInfo("Asia/Jakarta")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=WIB).timestamp()


@pytest.fixture
def node(tmp_path: Path) -> Path:
    with Store(str(tmp_path / "simpul.db")) as store:
        store.import_config(load_config_file(str(ROOT / "examples" / "lab.yaml")), actor="t")
    usage = UsageDb(str(tmp_path / "usage.db"))
    reading = Reading("counter/opd_disdik_down", "b", 10, 7_000_000_000, "opd", "disdik", DOWN)
    usage.commit(book({}, [reading]), at("2026-11-10 09:30"), WIB)
    usage.close()
    monitor = MonitorDb(str(tmp_path / "monitor" / "monitor.db"))
    monitor.record([], [], {}, WIB, LedgerChanges(opened=[
        ("router-pulau-merbau", "pulau-merbau", at("2026-11-05 10:00"), False)]))  # fmt: skip
    monitor.close()
    return tmp_path


def _run(node: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", str(node / "simpul.db"), "report", *args])


def test_usage_csv_with_metadata(node: Path) -> None:
    out = _run(node, "usage", "--month", "2026-11", "--format", "csv", "-o",
               str(node / "usage.csv"), "--dns-db", str(node / "none.db"))  # fmt: skip
    assert out.exit_code == 0, out.output
    text = (node / "usage.csv").read_text()
    assert "# Kode Wilayah / Region code: 14.10" in text
    assert "disdik,Dinas Pendidikan,7.000,0.000," in text


def test_availability_second_table_is_the_ledger(node: Path) -> None:
    out = _run(node, "availability", "--month", "2026-11", "--format", "csv", "--table", "2",
               "-o", str(node / "ledger.csv"))  # fmt: skip
    assert out.exit_code == 0, out.output
    lines = (node / "ledger.csv").read_text().splitlines()
    header = next(x for x in lines if not x.startswith("#"))
    assert header == "target,site,mulai,selesai,durasi_menit,penyebab,sla"
    assert any(x.startswith("router-pulau-merbau,pulau-merbau,2026-11-05 10:00,") for x in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["usage", "--month", "11-2026", "-o", "x.pdf"], "use YYYY-MM"),
        (["usage", "--month", "2026-13", "-o", "x.pdf"], "use YYYY-MM"),
        (["availability", "--format", "csv", "--table", "3", "-o", "x.csv"], "2 table(s)"),
    ],
)
def test_bad_requests_are_refused_clearly(node: Path, args: list[str], message: str) -> None:
    out = _run(node, *args[:-1], str(node / args[-1]))
    assert out.exit_code != 0 and message in out.output
