"""The monitor database: samples, rollups, baselines, the ledger's rows."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from monitoring.store import LedgerChanges, MonitorDb, Sample, connect, latest, outages

WIB = ZoneInfo("Asia/Jakarta")
T0 = 1_795_000_000.0


def test_samples_roll_up_and_give_the_baseline(tmp_path: Path) -> None:
    db = MonitorDb(str(tmp_path / "monitor.db"))
    for i, rtt in enumerate([600.0, 640.0, None, 620.0]):
        severity = "down" if rtt is None else "ok"
        db.record([Sample("r1", T0 + 60 * i, severity, rtt, 0.0 if rtt else 100.0, 5.0, 100.0 + i,
                          None)], [("r1", T0 + 60 * i, "eth0", 1e6, 2e5, None)],
                  {"r1": {"state": severity}}, WIB)  # fmt: skip
    assert db.baseline_rtt("r1", T0) == 620.0
    assert db.baseline_rtt("r1", T0 + 1000) is None
    assert db.states() == {"r1": {"state": "ok"}}  # the last saved
    reader = connect(db.path, readonly=True)
    (hour,) = reader.execute("SELECT * FROM rollup WHERE level = '1h'").fetchall()
    assert (hour["samples"], hour["down"], hour["rtt_count"], hour["rtt_max"]) == (4, 1, 3, 640.0)
    assert [r["severity"] for r in latest(reader)] == ["ok"]
    reader.close()
    db.close()


def test_the_ledger_changes_with_the_cycle(tmp_path: Path) -> None:
    db = MonitorDb(str(tmp_path / "monitor.db"))
    opened = LedgerChanges(opened=[("r1", "rangsang-pesisir", T0, False), ("r2", None, T0 + 50,
                                                                           True)])  # fmt: skip
    db.record([], [], {"r1": {"state": "down"}, "r2": {"state": "down"}}, WIB, opened)
    rows = db.open_outages()
    assert set(rows) == {"r1", "r2"}
    closing = LedgerChanges(closed=[(rows["r1"].id, T0 + 400, "power")], forgotten=["r2"])
    db.record([], [], {"r1": {"state": "ok"}}, WIB, closing)
    assert set(db.open_outages()) == {"r2"}  # forgetting a target's state leaves its row
    assert db.states() == {"r1": {"state": "ok"}}
    found = outages(db.db, T0 - 10, T0 + 10)
    assert [(r.target, r.end, r.cause) for r in found] == [("r1", T0 + 400, "power")]
    db.close()
