"""The export path end to end against Debian's VictoriaMetrics on 127.0.0.1: points arrive with
their tags and values, a server outage loses nothing and back-fills in order, the spool bound's
loss is counted, a wrong token and an unreachable server give clear errors, a corrupt spool file
is replaced and the export goes on."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from monitoring.influx import InfluxSender, drain
from monitoring.points import Point, encode, point
from monitoring.spool import ROW_OVERHEAD, SPOOL_FULL, Spool
from simpul.config.model import InfluxExport
from simpul.lab.victoria import BINARY, Victoria, free_port, victoria

pytestmark = pytest.mark.skipif(not os.path.exists(BINARY), reason=f"needs {BINARY}")

BATCH = 500
# Recent enough for VictoriaMetrics' default retention, a whole millisecond (its resolution).
T0 = (time.time_ns() // 1_000_000 - 3_600_000) * 1_000_000


def readings(first: int, n: int) -> list[Point]:
    """n accounting points numbered from `first` (field seq), 1 ms apart, over 3 sites."""
    return [
        point("acct", {"site": f"site-{i % 3}", "opd": "disdik", "uplink": "vsat 1"},
              {"seq": i, "bytes": 1000 + i, "ratio": i / 4}, T0 + i * 1_000_000)
        for i in range(first, first + n)
    ]  # fmt: skip


class Recording:
    """A sender that keeps the seq of every line the server took, in sending order."""

    def __init__(self, sender: InfluxSender) -> None:
        self.sender = sender
        self.sent: list[int] = []

    def write(self, lines: Sequence[bytes]) -> None:
        self.sender.write(lines)
        self.sent.extend(int(line.split(b"seq=")[1].split(b"i")[0]) for line in lines)


def sender_for(vm: Victoria, **extra: object) -> InfluxSender:
    return InfluxSender(
        InfluxExport(url=vm.url, org="diskominfo", bucket="simpul", timeout_s=5, **extra)
    )


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Victoria]:
    with victoria(tmp_path / "vm") as server:
        yield server


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(str(tmp_path / "export-spool.db"), 64 * 2**20) as s:
        yield s


def seqs(vm: Victoria) -> list[int]:
    return sorted(int(v) for v in vm.values("acct_seq"))


def test_points_arrive_with_their_tags_and_values(vm: Victoria, spool: Spool) -> None:
    spool.put(readings(0, 6))
    spool.put([point("big", {"site": "a,b=c"}, {"n": 2**53 + 1, "neg": -5}, T0)])
    with sender_for(vm) as sender:
        report = drain(spool, sender, BATCH)
    assert (report.sent, report.batches, report.error) == (7, 1, None)
    assert spool.stats().waiting == 0

    series = vm.export('{__name__=~"acct_.*"}')
    labels = {"opd": "disdik", "site": "site-1", "uplink": "vsat 1"}
    key = tuple(sorted({**labels, "__name__": "acct_bytes"}.items()))
    ms = T0 // 1_000_000
    assert series[key] == [(ms + 1, 1001.0), (ms + 4, 1004.0)], "`i` integers arrive as numbers"
    ratio = tuple(sorted({**labels, "__name__": "acct_ratio"}.items()))
    assert series[ratio] == [(ms + 1, 0.25), (ms + 4, 1.0)]
    assert {dict(k)["__name__"] for k in series} == {"acct_bytes", "acct_ratio", "acct_seq"}
    assert len(series) == 9, "3 sites x 3 fields, no other label added"
    assert seqs(vm) == list(range(6))

    big = vm.export('{__name__=~"big_.*"}')
    assert big == {
        (("__name__", "big_n"), ("site", "a,b=c")): [(ms, float(2**53))],  # stored as float64
        (("__name__", "big_neg"), ("site", "a,b=c")): [(ms, -5.0)],
    }


def test_an_outage_loses_nothing_and_backfills_in_order(vm: Victoria, spool: Spool) -> None:
    with sender_for(vm) as influx:
        sender = Recording(influx)
        spool.put(readings(0, 1000))
        assert drain(spool, sender, BATCH).sent == 1000

        vm.stop()
        failures = []
        for k in range(1, 6):  # the link is down while the collector keeps spooling
            spool.put(readings(1000 * k, 1000))
            report = drain(spool, sender, BATCH)
            assert (report.sent, report.batches) == (0, 0)
            assert report.error is not None
            failures.append(report.error)
        assert {(e.kind, e.retry) for e in failures} == {("unreachable", True)}
        assert "cannot connect" in str(failures[0])
        stats = spool.stats()
        assert (stats.waiting, stats.dropped_points) == (5000, 0)
        assert stats.oldest_time_ns == T0 + 1000 * 1_000_000

        vm.start()
        report = drain(spool, sender, BATCH)
        assert (report.sent, report.batches, report.error) == (5000, 10, None)
    assert sender.sent == list(range(6000)), "sent oldest first, each point once"
    assert spool.stats().waiting == 0
    arrived = seqs(vm)
    assert len(arrived) == 6000 and sum(arrived) == sum(range(6000))
    assert sum(vm.values("acct_bytes")) == sum(1000 + i for i in range(6000))


def test_the_bound_loss_is_counted_and_reported(vm: Victoria, tmp_path: Path) -> None:
    bound = sum(len(encode(p).encode()) + ROW_OVERHEAD for p in readings(0, 2000))
    with Spool(str(tmp_path / "small.db"), bound) as spool, sender_for(vm) as sender:
        vm.stop()
        for k in range(5):
            spool.put(readings(1000 * k, 1000))
            assert drain(spool, sender, BATCH).error is not None
        stats = spool.stats()
        (loss,) = stats.dropped
        assert loss.reason == SPOOL_FULL
        assert (
            loss.message.startswith("spool full: bound ")
            and "oldest points dropped" in loss.message
        )
        assert loss.points == 5000 - stats.waiting >= 3000
        assert loss.first_time_ns == T0
        assert loss.last_time_ns == T0 + (loss.points - 1) * 1_000_000

        vm.start()
        assert drain(spool, sender, BATCH).sent == stats.waiting
        assert seqs(vm) == list(range(loss.points, 5000)), "the newest arrived, none twice"
        assert spool.stats().dropped == stats.dropped, "the count stays after the back-fill"


def test_a_wrong_token_is_a_clear_error_and_keeps_the_points(tmp_path: Path, spool: Spool) -> None:
    # VictoriaMetrics with HTTP basic auth refuses influxdb-client's `Authorization: Token ...`.
    auth = ("-httpAuth.username=simpul", "-httpAuth.password=rahasia")
    with victoria(tmp_path / "vm-auth", *auth) as vm, sender_for(vm, token="wrong") as sender:
        spool.put(readings(0, 10))
        report = drain(spool, sender, BATCH)
    assert report.error is not None
    assert (report.error.kind, report.error.retry, report.error.status) == (
        "unauthorized", True, 401,
    )  # fmt: skip
    assert "check the token" in str(report.error)
    assert (report.sent, spool.stats().waiting, spool.stats().dropped) == (0, 10, ())


def test_an_unreachable_server_is_a_clear_error(spool: Spool) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    spool.put(readings(0, 10))
    with InfluxSender(InfluxExport(url=url, org="o", bucket="b", timeout_s=2)) as sender:
        report = drain(spool, sender, BATCH)
    assert report.error is not None
    assert (report.error.kind, report.error.retry) == ("unreachable", True)
    assert str(report.error).startswith(f"{url}: cannot connect (")
    assert spool.stats().waiting == 10


def test_a_corrupt_spool_is_replaced_and_the_export_goes_on(vm: Victoria, tmp_path: Path) -> None:
    path = tmp_path / "export-spool.db"
    with Spool(str(path), 2**20) as spool:
        spool.put(readings(0, 100))
    path.write_bytes(os.urandom(path.stat().st_size))  # e.g. a bad sector, a power cut mid-write

    with Spool(str(path), 2**20) as spool, sender_for(vm) as sender:
        (event,) = spool.stats().events
        assert event.message.startswith("spool file corrupt (file is not a database)")
        (aside,) = tmp_path.glob("export-spool.db.corrupt-*")
        assert str(aside) in event.message
        spool.put(readings(100, 50))
        assert drain(spool, sender, BATCH).sent == 50
    assert seqs(vm) == list(range(100, 150))
