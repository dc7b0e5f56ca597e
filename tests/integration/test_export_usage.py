"""Accounting figures to a real InfluxDB v2 API (Debian's VictoriaMetrics) through the exporter:
every 5-minute bucket arrives with its tags and values; a server stopped during traffic loses
nothing (counts and sums checked through its export API after it returns); a spool bound that is
hit is counted and reported; /metrics serves the same totals."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitoring.exporter import Exporter, metrics
from monitoring.spool import SPOOL_FULL
from simpul.lab.victoria import BINARY, Victoria, victoria
from simpul.usage.booking import DOWN, UP, Reading, book
from simpul.usage.db import UsageDb

pytestmark = pytest.mark.skipif(not os.path.exists(BINARY), reason=f"needs {BINARY}")
WIB = ZoneInfo("Asia/Jakarta")
# Three hours ago, on a bucket boundary (VictoriaMetrics keeps a month by default).
START = (int(time.time()) // 300 - 36) * 300
THINGS = [("site", "rtm-lam"), ("site", "taman-cik-puan"), ("opd", "diskominfo"),
          ("opd", "disdik"), ("uplink", "isp1")]  # fmt: skip


class Node:
    """netd's side of the two API calls the exporter makes, over a real usage database."""

    def __init__(self, path: Path, url: str | None, spool_mb: int = 256) -> None:
        self.usage = UsageDb(str(path))
        self.raw: dict[str, int] = {}
        self.url = url
        self.spool_mb = spool_mb
        self.now = START

    def traffic(self, minutes: int, step_s: int = 60) -> None:
        """Cycles every `step_s` for `minutes`: every thing moves bytes, sites have clients."""
        for _ in range(minutes * 60 // step_s):
            self.now += step_s
            readings = []
            for n, (scope, key) in enumerate(THINGS):
                for direction in (UP, DOWN):
                    source = f"counter/{scope}_{key}_{direction}"
                    self.raw[source] = self.raw.get(source, 0) + 1000 * (n + 1) + self.now % 97
                    readings.append(Reading(source, "boot", self.now % 50, self.raw[source],
                                            scope, key, direction))  # fmt: skip
            meters = self.usage.meters()
            self.usage.commit(book(meters, readings), self.now, WIB,
                              peaks={"rtm-lam": 3, "taman-cik-puan": 5})  # fmt: skip

    def call(self, method: str, **params: Any) -> Any:
        if method == "export_config":
            influx = None
            if self.url:
                influx = {"url": self.url, "org": "diskominfo", "bucket": "simpul", "token": "t",
                          "batch_size": 500, "flush_interval_s": 1, "timeout_s": 5.0,
                          "token_file": None}  # fmt: skip
            return {"node": "gw-pusat", "timezone": "WIB", "interval_s": 60,
                    "export": {"influx": influx, "spool_mb": self.spool_mb}}  # fmt: skip
        assert method == "usage_buckets"
        closed = (self.now // 300 - 1) * 300
        return self.usage.five_minute_page(params["after"], closed, 96)

    def closed_buckets(self) -> int:
        """How many 5-minute buckets with traffic netd would call closed now."""
        return ((self.now // 300 - 1) * 300 - START) // 300 + 1

    def booked(self, scope: str, key: str, column: str) -> int:
        """What the database holds in closed buckets (as netd would hand them out)."""
        closed = (self.now // 300 - 1) * 300
        row = self.usage.db.execute(
            f"SELECT SUM({column}) FROM usage WHERE level = '5m' AND scope = ? AND key = ? "
            "AND start <= ?", (scope, key, closed),
        ).fetchone()  # fmt: skip
        return int(row[0] or 0)


def _sum(vm: Victoria, name: str, **labels: str) -> tuple[int, float]:
    selector = ",".join([f'__name__="{name}"', *(f'{k}="{v}"' for k, v in labels.items())])
    samples = [v for s in vm.export("{" + selector + "}").values() for _, v in s]
    return len(samples), sum(samples)


def test_buckets_arrive_with_their_tags_and_survive_a_server_outage(tmp_path: Path) -> None:
    with victoria(tmp_path / "vm") as vm:
        node = Node(tmp_path / "usage.db", vm.url)
        clock = [1000.0]
        exporter = Exporter(node.call, str(tmp_path / "export"), clock=lambda: clock[0])
        os.makedirs(tmp_path / "export", exist_ok=True)
        node.traffic(60)
        first = exporter.step()
        assert first["sent"] == first["collected"] > 0 and "error" not in first
        buckets = node.closed_buckets()  # 12: the 13th (one cycle at the hour) is still open
        assert buckets == 12
        assert _sum(vm, "usage_opd_down_bytes", opd="diskominfo", node="gw-pusat") == (
            buckets,
            node.booked("opd", "diskominfo", "down_bytes"),
        )
        assert _sum(vm, "usage_site_clients_peak", site="rtm-lam")[1] == 3 * buckets
        assert _sum(vm, "usage_uplink_up_bytes", link="isp1")[0] == buckets

        vm.stop()  # the V-Sat link to the regency's server is down; traffic goes on
        node.traffic(90)
        down = exporter.step()
        assert down["sent"] == 0 and "unreachable" in down["error"].lower()
        assert exporter.spool is not None and exporter.spool.stats().waiting == down["collected"]
        clock[0] += 5  # still backing off: nothing is tried
        assert "error" not in exporter.step()
        vm.start()
        clock[0] += 3600
        back = exporter.step()
        assert "error" not in back and back["sent"] == down["collected"] + back["collected"]
        assert exporter.spool.stats().waiting == 0
        buckets = node.closed_buckets()
        for scope, key in THINGS:
            measurement, tag = {"site": ("usage_site", "site"), "opd": ("usage_opd", "opd"),
                                "uplink": ("usage_uplink", "link")}[scope]  # fmt: skip
            for column in ("up_bytes", "down_bytes", "up_packets"):
                assert _sum(vm, f"{measurement}_{column}", **{tag: key}) == (
                    buckets,
                    node.booked(scope, key, column),
                ), (scope, key, column)

    # /metrics: the same totals, as Prometheus counters
    app = metrics(str(tmp_path / "export"))
    seen: list[str] = []
    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics"},
                        lambda status, headers: seen.append(status)))  # fmt: skip
    assert seen == ["200 OK"]
    expected = node.booked("opd", "diskominfo", "down_bytes")
    assert f'simpul_usage_down_bytes_total{{scope="opd",opd="diskominfo"}} {expected}' in (
        body.decode()
    )
    assert "simpul_export_waiting_points 0" in body.decode()


def test_a_spool_bound_that_is_hit_is_counted_and_reported(tmp_path: Path) -> None:
    node = Node(tmp_path / "usage.db", "http://127.0.0.1:9", spool_mb=1)  # nothing listens
    os.makedirs(tmp_path / "export", exist_ok=True)
    exporter = Exporter(node.call, str(tmp_path / "export"))
    node.traffic(60 * 24 * 6, step_s=300)  # six days of buckets, the server unreachable
    report = exporter.step()
    assert "error" in report
    stats = exporter.spool.stats()  # type: ignore[union-attr]
    assert stats.dropped_points > 0 and stats.waiting + stats.dropped_points == report["collected"]
    (why,) = stats.dropped
    assert (why.reason == SPOOL_FULL and "1 MB" in why.message) or "MiB" in why.message
