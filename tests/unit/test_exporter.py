"""The exporter's pure parts: buckets to points, its state file, its Prometheus families."""

from __future__ import annotations

from pathlib import Path

from monitoring.exporter import State, families, usage_points
from monitoring.points import encode

PAGE = {
    "rows": [
        [1800, "site", "rtm-lam", 10, 2000, 1, 3, 2],
        [1800, "opd", "diskominfo", 500, 9000, 7, 9, 0],
        [1800, "uplink", "isp1", 510, 11000, 8, 12, 0],
        [1800, "device", "ignored", 1, 1, 1, 1, 0],
    ],
    "peaks": [[1800, "rtm-lam", 4], [1800, "taman-cik-puan", 2]],
    "next": 1800,
}


def test_buckets_become_points_with_low_cardinality_tags() -> None:
    lines = [encode(p) for p in usage_points(PAGE, "gw-pusat")]
    assert lines == [
        "usage_site,node=gw-pusat,site=rtm-lam clients_peak=4i,down_bytes=2000i,down_packets=3i,"
        "sessions=2i,up_bytes=10i,up_packets=1i 1800000000000",
        "usage_opd,node=gw-pusat,opd=diskominfo down_bytes=9000i,down_packets=9i,up_bytes=500i,"
        "up_packets=7i 1800000000000",
        "usage_uplink,link=isp1,node=gw-pusat down_bytes=11000i,down_packets=12i,up_bytes=510i,"
        "up_packets=8i 1800000000000",
        # a site with clients online and no byte moved still reports them
        "usage_site,node=gw-pusat,site=taman-cik-puan clients_peak=2i 1800000000000",
    ]


def test_state_counts_totals_and_survives_a_damaged_file(tmp_path: Path) -> None:
    state = State()
    state.count(usage_points(PAGE, "gw-pusat"))
    state.count(usage_points(PAGE, "gw-pusat"))
    assert state.totals["usage_opd|opd=diskominfo"] == {
        "down_bytes": 18000, "down_packets": 18, "up_bytes": 1000, "up_packets": 14,
    }  # fmt: skip
    assert "clients_peak" not in state.totals["usage_site|site=rtm-lam"]  # a gauge: not summed
    path = str(tmp_path / "state.json")
    state.after = 1800
    state.save(path)
    assert State.load(path) == state
    Path(path).write_text("{not json")
    assert State.load(path) == State()  # reported in the log, started over


def test_families_are_prometheus_counters_per_thing() -> None:
    state = State()
    state.count(usage_points(PAGE, "gw-pusat"))
    by_name = {f.name: f for f in families(state, None)}
    down = by_name["simpul_usage_down_bytes_total"]
    assert down.type == "counter"
    assert {s.labels: s.value for s in down.samples}[(("scope", "opd"), ("opd", "diskominfo"))] == (
        9000
    )
    assert "simpul_export_waiting_points" not in by_name  # no spool yet
