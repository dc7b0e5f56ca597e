"""The InfluxDB export path: the on-disk spool drained into VictoriaMetrics, against writing the
same points straight with influxdb-client.

Debian's VictoriaMetrics runs on 127.0.0.1 (a free port, a temporary data directory, the runner of
simpul/lab/victoria.py) as the InfluxDB v2 API server. The points are the accounting
export's shape: `acct` per site (25), OPD (10) and uplink (2), that is 500 series, with integer
fields bytes_in, bytes_out and packets, one point per series per second. Every series is written
once before measuring, so each run finds them existing (the node's steady state: the same series
every interval), and each run writes a time range of its own.

- ours: `Spool.put()` of POINTS points in batches of BATCH (timed on its own: the put rate),
  then `drain(spool, InfluxSender, BATCH)` until empty (timed: the export rate). The spool file is
  in /var/tmp (the disk, not tmpfs: each put and ack is an fsync'd transaction);
- peer: the same encoded lines written with influxdb-client's synchronous write API
  (`enable_gzip=True`, like ours) in batches of BATCH, with no spool: the upper bound of the
  transport.

ROUNDS rounds, the order alternating (ours first, then peer first, ...), the median counting.
Afterwards VictoriaMetrics must hold every point of every run (checked through /api/v1/export).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from bench.harness import Result, Target, median, say
from monitoring.influx import InfluxSender, drain
from monitoring.points import Point, encode, point
from monitoring.spool import Spool
from simpul.config.model import InfluxExport
from simpul.lab.victoria import victoria

POINTS = 100_000
BATCH = 5_000
ROUNDS = 3
SITES, OPDS, UPLINKS = 25, 10, 2
SERIES = SITES * OPDS * UPLINKS
FIELDS = ("bytes_in", "bytes_out", "packets")
TARGET_EXPORT = 5_000  # points/s
TARGET_PUT = 50_000  # points/s: 5,000 points in 100 ms
SPOOL_BYTES = 256 * 2**20  # the configuration's default bound
SPOOL_DIR = "/var/tmp"


def readings(first_s: int, n: int) -> list[Point]:
    """n points, one per series per second from `first_s` (epoch seconds)."""
    out: list[Point] = []
    i = 0
    while len(out) < n:
        second, series = divmod(i, SERIES)
        site, rest = divmod(series, OPDS * UPLINKS)
        opd, uplink = divmod(rest, UPLINKS)
        out.append(
            point(
                "acct",
                {"site": f"site-{site:02d}", "opd": f"opd-{opd}", "uplink": f"uplink-{uplink}"},
                {"bytes_in": 1_000_000 + i, "bytes_out": 50_000 + i, "packets": 700 + i % 97},
                (first_s + second) * 1_000_000_000,
            )
        )
        i += 1
    return out


def _ours(spool_path: str, settings: InfluxExport, points: list[Point]) -> dict[str, float]:
    with Spool(spool_path, SPOOL_BYTES) as spool, InfluxSender(settings) as sender:
        t0 = time.perf_counter()
        for k in range(0, len(points), BATCH):
            spool.put(points[k : k + BATCH])
        put_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = drain(spool, sender, BATCH)
        drain_s = time.perf_counter() - t0
        stats = spool.stats()
    if report.error is not None or report.sent != len(points) or stats.waiting:
        raise RuntimeError(f"drain incomplete: {report}, {stats.waiting} still waiting")
    return {"put_s": put_s, "drain_s": drain_s, "batches": report.batches}


def _peer(settings: InfluxExport, lines: list[bytes]) -> dict[str, float]:
    client = InfluxDBClient(
        url=str(settings.url).rstrip("/"),
        token="",
        org=settings.org,
        timeout=settings.timeout_s * 1000,
        enable_gzip=True,
    )
    write_api = client.write_api(write_options=SYNCHRONOUS)
    try:
        t0 = time.perf_counter()
        for k in range(0, len(lines), BATCH):
            write_api.write(
                bucket=settings.bucket,
                record=b"\n".join(lines[k : k + BATCH]),
                write_precision=WritePrecision.NS,
            )
        write_s = time.perf_counter() - t0
    finally:
        write_api.close()
        client.close()
    return {"write_s": write_s}


def _cycle_ms(spool_path: str, points: list[Point]) -> float:
    """Best of 5: put, peek and ack of one batch."""
    best = float("inf")
    with Spool(spool_path, SPOOL_BYTES) as spool:
        for _ in range(5):
            t0 = time.perf_counter()
            spool.put(points[:BATCH])
            spool.ack([item.id for item in spool.peek(BATCH)])
            best = min(best, time.perf_counter() - t0)
    return best * 1000


def run() -> list[Result]:
    """Start VictoriaMetrics, measure ours and the peer ROUNDS times each; the results."""
    base_s = int(time.time()) - 6 * 3600  # well inside VictoriaMetrics' default retention
    run_s = POINTS // SERIES + 1  # seconds of data one run covers
    rounds: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="simpul-bench-export-", dir=SPOOL_DIR) as tmp,
        victoria(Path(tmp) / "vm") as vm,
    ):
        settings = InfluxExport(url=vm.url, org="diskominfo", bucket="simpul", timeout_s=30)
        say(f"victoria-metrics at {vm.url}; writing the {SERIES} series once")
        _peer(settings, [encode(p).encode() for p in readings(base_s, SERIES)])
        cycle_ms = _cycle_ms(str(Path(tmp) / "cycle.db"), readings(base_s, BATCH))
        written = SERIES
        for r in range(ROUNDS):
            ours_pts = readings(base_s + (2 * r + 1) * run_s, POINTS)
            peer_lines = [
                encode(p).encode() for p in readings(base_s + (2 * r + 2) * run_s, POINTS)
            ]
            sides = ("ours", "peer") if r % 2 == 0 else ("peer", "ours")
            row: dict[str, Any] = {"order": sides}
            for side in sides:
                if side == "ours":
                    row["ours"] = _ours(str(Path(tmp) / f"spool-{r}.db"), settings, ours_pts)
                else:
                    row["peer"] = _peer(settings, peer_lines)
            written += 2 * POINTS
            rounds.append(row)
            say(
                f"round {r + 1}: ours put {POINTS / row['ours']['put_s']:,.0f} points/s, "
                f"drain {POINTS / row['ours']['drain_s']:,.0f} points/s; "
                f"peer {POINTS / row['peer']['write_s']:,.0f} points/s"
            )
        arrived = sum(len(vm.values(f"acct_{name}")) for name in FIELDS)
        spool_bytes = (Path(tmp) / "spool-0.db").stat().st_size
    if arrived != written * len(FIELDS):
        raise RuntimeError(f"victoria-metrics holds {arrived:,} samples, {written * 3:,} written")
    say(f"all {arrived:,} samples arrived")

    ours = median([POINTS / row["ours"]["drain_s"] for row in rounds])
    peer = median([POINTS / row["peer"]["write_s"] for row in rounds])
    put = median([POINTS / row["ours"]["put_s"] for row in rounds])
    details = {
        "points": POINTS,
        "batch": BATCH,
        "series": SERIES,
        "rounds": rounds,
        "spool_file_bytes_after_drain": spool_bytes,
        "samples_checked": arrived,
    }
    return [
        Result(
            "export",
            f"points/s, {POINTS:,} in batches of {BATCH:,}",
            "Spool -> drain() -> InfluxSender",
            ours,
            "points/s",
            "higher",
            "influxdb-client write, no spool",
            peer,
            target=Target("ours", ">=", TARGET_EXPORT),
            details=details,
        ),
        Result(
            "export",
            f"Spool.put() in batches of {BATCH:,}",
            "Spool.put() (encode + fsync'd insert)",
            put,
            "points/s",
            "higher",
            target=Target("ours", ">=", TARGET_PUT),
        ),
        Result(
            "export",
            f"put+peek+ack of {BATCH:,} points, best of 5",
            "Spool",
            cycle_ms,
            "ms",
            "lower",
            target=Target("ours", "<=", 100),
        ),
    ]
