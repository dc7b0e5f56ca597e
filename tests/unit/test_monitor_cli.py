"""`simpul monitor status|outages|ack` over a monitor database."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from monitoring.store import LedgerChanges, MonitorDb, Sample, outages
from simpul.cli import main
from simpul.config import load_config_file
from simpul.store import Store

ROOT = Path(__file__).resolve().parents[2]
WIB = ZoneInfo("Asia/Jakarta")
T = "router-rangsang-pesisir"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=WIB).timestamp()


@pytest.fixture
def node(tmp_path: Path) -> Path:
    with Store(str(tmp_path / "simpul.db")) as store:
        store.import_config(load_config_file(str(ROOT / "examples" / "lab.yaml")), actor="t")
    db = MonitorDb(str(tmp_path / "monitor" / "monitor.db"))
    db.record([Sample(T, at("2026-11-20 10:00"), "down", None, 100.0, None, None,
                      "timeout: no answer", ("tidak menjawab / no answer",))], [],
              {T: {"state": "down", "since": "2026-11-20T09:58:00+07:00"}}, WIB)  # fmt: skip
    site = "rangsang-pesisir"
    starts = [at("2026-11-03 08:00"), at("2026-11-04 08:00"), at("2026-11-20 09:58")]
    db.record([], [], {}, WIB, LedgerChanges(opened=[(T, site, s, False) for s in starts]))
    rows = sorted(outages(db.db, starts[0], starts[2] + 1), key=lambda r: r.start)
    db.record([], [], {}, WIB, LedgerChanges(closed=[
        (rows[0].id, at("2026-11-03 08:20"), "link"), (rows[1].id, at("2026-11-04 09:00"), "power"),
    ]))  # fmt: skip
    db.close()
    return tmp_path


def _run(node: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", str(node / "simpul.db"), "monitor", *args])


def test_status_names_each_links_state(node: Path) -> None:
    out = _run(node, "status", "--json")
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert (row["target"], row["site"], row["state"]) == (T, "rangsang-pesisir", "down")
    assert row["reasons"] == ["tidak menjawab / no answer"]


def test_outages_of_a_month_with_sla_and_availability(node: Path) -> None:
    out = _run(node, "outages", "--month", "2026-11", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert [(o["cause"], o["sla"]) for o in doc["outages"]] == [
        ("link", True), ("power", False), ("unknown", False),  # the last is still open
    ]  # fmt: skip
    figures = doc["availability"][T]
    assert figures["sla_minutes"] == 20.0
    assert doc["availability"]["router-pulau-merbau"]["down_s"] == 0
    bad = _run(node, "outages", "--month", "November")
    assert bad.exit_code != 0 and "use YYYY-MM" in bad.output


def test_ack_is_queued_for_the_monitor(node: Path) -> None:
    out = _run(node, "ack", T, "--by", "noc.operator")
    assert out.exit_code == 0, out.output
    db = MonitorDb(str(node / "monitor" / "monitor.db"))
    assert [(t, who) for t, who, _ in db.take_acks()] == [(T, "noc.operator")]
    db.close()
    unknown = _run(node, "ack", "router-nowhere", "--by", "x")
    assert unknown.exit_code != 0 and "no monitoring target" in unknown.output
