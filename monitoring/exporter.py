"""The monitor's export loop: accounting figures to InfluxDB, spooled through outages, and the
same figures as Prometheus counters.

netd owns the usage database; the exporter, unprivileged and the one process that talks to the
regency's server, asks netd for the closed 5-minute buckets of every site, OPD, uplink, remote
site and zone (`usage_buckets`: never a device), turns them into points (`usage_points`, pure)
and puts them into its spool, then drains the spool to the InfluxDB v2 API whenever the server
answers. Its state file (written atomically after each put) holds where it is and the running
totals that `/metrics` serves. A crash between a put and the state write puts the same buckets
again: the server keeps one point per series and time, so nothing is counted twice there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from monitoring.influx import ExportError, InfluxSender, backoff_s, drain
from monitoring.points import Point, point
from monitoring.prometheus import Family, Sample, metrics_app
from monitoring.spool import SPOOL_FILE, Spool, SpoolError, SpoolStats, read_stats
from simpul.config.model import InfluxExport

log = logging.getLogger("simpul.exporter")
# scope -> (measurement, tag naming the thing); low cardinality: no device, no address
MEASUREMENTS = {
    "site": ("usage_site", "site"),
    "opd": ("usage_opd", "opd"),
    "uplink": ("usage_uplink", "link"),
    "remote": ("usage_remote", "site"),
    "zone": ("usage_zone", "zone"),
}
COUNTED = ("up_bytes", "down_bytes", "up_packets", "down_packets", "sessions")
PAGES_PER_STEP = 30  # of 96 buckets: a day's back-fill per step at most
STATE_FILE = "export-state.json"


def usage_points(page: dict[str, Any], node: str) -> list[Point]:
    """Points of one `usage_buckets` page: one per thing and 5-minute bucket (time: the
    bucket's start), the sites' sessions and peak clients with them."""
    peaks = {(start, site): clients for start, site, clients in page["peaks"]}
    out = []
    seen_sites = set()
    for start, scope, key, up_b, down_b, up_p, down_p, sessions in page["rows"]:
        if scope not in MEASUREMENTS:
            continue
        measurement, tag = MEASUREMENTS[scope]
        fields = {"up_bytes": up_b, "down_bytes": down_b, "up_packets": up_p,
                  "down_packets": down_p}  # fmt: skip
        if scope == "site":
            fields |= {"sessions": sessions, "clients_peak": peaks.get((start, key), 0)}
            seen_sites.add((start, key))
        out.append(point(measurement, {"node": node, tag: key}, fields, start * 10**9))
    for (start, site), clients in sorted(peaks.items()):
        if (start, site) not in seen_sites:  # clients online, no byte moved
            out.append(point("usage_site", {"node": node, "site": site},
                             {"clients_peak": clients}, start * 10**9))  # fmt: skip
    return out


@dataclass
class State:
    """Where the exporter is (`after`: the last bucket start spooled) and what it has counted
    (per measurement|tag|name: field -> total), for /metrics."""

    after: int = 0
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    last_success: float | None = None
    last_error: str | None = None
    spooled: int = 0

    @classmethod
    def load(cls, path: str) -> State:
        """The state at `path` (fresh if none; a damaged file is reported and started over)."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, TypeError) as exc:
            log.error("export state %s is unreadable (%s): starting over", path, exc)
            return cls()

    def save(self, path: str) -> None:
        """Write atomically (a temporary file renamed over the old one)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.__dict__, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def count(self, points: Iterable[Point]) -> None:
        """Add the points' counted fields to the totals."""
        for p in points:
            series = "|".join([p.measurement, *(f"{k}={v}" for k, v in p.tags if k != "node")])
            totals = self.totals.setdefault(series, {})
            for name, value in p.fields:
                if name in COUNTED:
                    totals[name] = totals.get(name, 0) + int(value)


class Exporter:
    """One step at a time: collect from netd into the spool, drain the spool to the server."""

    def __init__(
        self,
        call: Callable[..., Any],
        state_dir: str,
        *,
        sender_for: Callable[[InfluxExport], Any] = InfluxSender,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.call = call  # netd's API: call(method, **params)
        self.state_path = os.path.join(state_dir, STATE_FILE)
        self.spool_path = os.path.join(state_dir, SPOOL_FILE)
        self.state = State.load(self.state_path)
        self.sender_for = sender_for
        self.clock = clock
        self.spool: Spool | None = None
        self.failures = 0
        self.retry_at = 0.0

    def _spool(self, bound_mb: int) -> Spool:
        if self.spool is None or self.spool.max_bytes != bound_mb << 20:
            if self.spool is not None:
                self.spool.close()
            self.spool = Spool(self.spool_path, bound_mb << 20)
        return self.spool

    def collect(self, node: str, spool: Spool) -> int:
        """Spool the buckets netd closed since the last step; how many points."""
        total = 0
        for _ in range(PAGES_PER_STEP):
            page = self.call("usage_buckets", after=self.state.after)
            if page["next"] <= self.state.after:
                break
            points = usage_points(page, node)
            spool.put(points)
            self.state.count(points)
            self.state.after = page["next"]
            self.state.spooled += len(points)
            self.state.save(self.state_path)
            total += len(points)
        return total

    def step(self) -> dict[str, Any]:
        """Collect, then send if a server is configured and not backing off; what happened."""
        config = self.call("export_config")
        export = config["export"]
        spool = self._spool(export["spool_mb"])
        report: dict[str, Any] = {"collected": 0, "sent": 0}
        try:
            report["collected"] = self.collect(config["node"], spool)
        except SpoolError as exc:  # a full disk: netd keeps the buckets, the next step retries
            report["error"] = self.state.last_error = f"spool: {exc}"
            log.error("%s", report["error"])
            return report
        influx = export.get("influx")
        if influx is None or self.clock() < self.retry_at:
            return report
        try:
            with self.sender_for(InfluxExport(**influx)) as sender:
                result = drain(spool, sender, influx["batch_size"])
        except ExportError as exc:  # e.g. an unreadable token file
            report["error"] = f"{exc.kind}: {exc}"
        except (SpoolError, OSError, ValueError) as exc:
            report["error"] = str(exc)
        else:
            report["sent"] = result.sent
            if result.error is not None:
                report["error"] = f"{result.error.kind}: {result.error}"
        if "error" in report:
            self.failures += 1
            self.retry_at = self.clock() + backoff_s(self.failures)
            self.state.last_error = report["error"]
            log.warning("export: %s (next try in %.0f s)", report["error"],
                        self.retry_at - self.clock())  # fmt: skip
        else:
            self.failures = 0
            self.state.last_success = self.clock()
            self.state.last_error = None
        self.state.save(self.state_path)
        return report


def families(state: State, stats: SpoolStats | None) -> list[Family]:
    """The exporter's figures as Prometheus metric families."""
    by_field: dict[str, list[Sample]] = {name: [] for name in COUNTED}
    for series, totals in sorted(state.totals.items()):
        measurement, *tags = series.split("|")
        labels = [("scope", measurement.removeprefix("usage_"))]
        labels += [tuple(t.split("=", 1)) for t in tags]  # type: ignore[misc]
        for name, value in totals.items():
            by_field[name].append(Sample(value, tuple(labels)))  # type: ignore[arg-type]
    out = [
        Family(f"simpul_usage_{name}_total", f"{name.replace('_', ' ')} counted by the node "
               "(closed 5-minute buckets)", "counter", tuple(samples))
        for name, samples in by_field.items()
    ]  # fmt: skip
    if stats is not None:
        out.append(Family("simpul_export_waiting_points", "points in the spool", "gauge",
                          (Sample(stats.waiting),)))  # fmt: skip
        out.append(Family(
            "simpul_export_dropped_points_total", "points the spool dropped, by reason",
            "counter", tuple(Sample(d.points, (("reason", d.reason),)) for d in stats.dropped),
        ))  # fmt: skip
    if state.last_success is not None:
        out.append(Family("simpul_export_last_success_seconds", "when the server last took "
                          "points", "gauge", (Sample(state.last_success),)))  # fmt: skip
    return out


def metrics(state_dir: str | None = None) -> Any:
    """WSGI app serving /metrics from the exporter's state and spool (for gunicorn)."""
    directory = state_dir or os.environ.get("SIMPUL_EXPORT_DIR", "/var/lib/simpul/export")

    def collect() -> list[Family]:
        state = State.load(os.path.join(directory, STATE_FILE))
        return families(state, read_stats(os.path.join(directory, SPOOL_FILE)))

    return metrics_app(collect)


def main(argv: list[str] | None = None) -> None:
    """Run the export loop until SIGTERM."""
    from netctl.protocol import DEFAULT_SOCKET, ApiError, NetdClient

    parser = argparse.ArgumentParser(prog="python -m monitoring.exporter", description=__doc__)
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="netd's API socket")
    parser.add_argument("--state-dir", default="/var/lib/simpul/export")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between steps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.makedirs(args.state_dir, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = NetdClient(args.socket)

    def call(method: str, **params: Any) -> Any:
        return client.call(method, **params)

    exporter = Exporter(call, args.state_dir)
    while not stop.is_set():
        try:
            report = exporter.step()
            if report.get("collected") or report.get("sent"):
                log.info("export: %s", report)
        except ApiError as exc:  # netd restarting: try again next step
            log.warning("netd: %s", exc)
        stop.wait(args.interval)


if __name__ == "__main__":
    main()
