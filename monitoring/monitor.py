"""The link monitor: every interval, ICMP probes and an SNMP poll of every target at once,
then a verdict per target (`alerts.classify`, relative to the link's own baseline), hysteresis
(`alerts.step`), the outage ledger (`ledger`), notices by mail and webhook (`notify`), the
figures in the monitor database and, as points, in the export spool.

It runs unprivileged (probes use datagram ICMP sockets) and reads the configuration from netd.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitoring import alerts, ledger, notify
from monitoring.points import Point, point
from monitoring.probes import ProbeResult, probe_all
from monitoring.snmp.model import V3, PollResult, Target, V2c
from monitoring.snmp.poller import Poller
from monitoring.snmp.profiles import Profile, load_profiles
from monitoring.snmp.rates import interface_rates
from monitoring.spool import SPOOL_FILE, Spool, SpoolError
from monitoring.store import LedgerChanges, MonitorDb, Sample
from simpul.config.model import HotspotSite, Monitoring, MonitoringTarget, Node, RemoteSite

log = logging.getLogger("simpul.monitor")
BASELINE_REFRESH_S = 3600.0
PURGE_INTERVAL_S = 3600.0
CONFIG_CHECK_S = 5.0
SEVERITY_LEVEL = {"ok": 0, "warning": 1, "critical": 2, "down": 3}


@dataclass(frozen=True)
class Settings:
    """The configuration the monitor works from (netd's `monitor_config`, validated again)."""

    node: Node
    monitoring: Monitoring
    sites: dict[str, RemoteSite | HotspotSite]
    spool_mb: int
    rollup_days: dict[str, int]

    @property
    def tz(self) -> ZoneInfo:
        """The node's time zone."""
        return self.node.zoneinfo

    @classmethod
    def from_netd(cls, data: dict[str, Any]) -> Settings:
        """From netd's answer."""
        sites: dict[str, RemoteSite | HotspotSite] = {
            s["slug"]: RemoteSite.model_validate(s) for s in data["remote_sites"]
        }
        sites |= {s["slug"]: HotspotSite.model_validate(s) for s in data["hotspot_sites"]}
        retention = data["retention"]
        return cls(
            Node.model_validate(data["node"]),
            Monitoring.model_validate(data["monitoring"]),
            sites,
            data["spool_mb"],
            {"1h": retention["hourly_days"], "1d": retention["daily_days"]},
        )


def snmp_target(target: MonitoringTarget, profiles: dict[str, Profile]) -> Target:
    """The poller's view of a configured target."""
    snmp = target.snmp
    credentials: V2c | V3 = V2c(snmp.community)
    if snmp.version == "3":
        assert snmp.user and snmp.auth_key and snmp.priv_key  # the model checked it
        credentials = V3(snmp.user, snmp.auth_key, snmp.priv_key, snmp.auth_protocol,
                         snmp.priv_protocol)  # fmt: skip
    return Target(
        target.name, str(target.address), snmp.port, credentials, snmp.timeout_s,
        snmp.retries, profile=profiles.get(target.profile), index=target.index,
    )  # fmt: skip


def link_points(
    node: str, target: MonitoringTarget, sample: Sample, rates: list[tuple[str, float, float]]
) -> list[Point]:
    """The export's points for one target's cycle (numeric fields only, low-cardinality tags)."""
    tags = {"node": node, "target": target.name, "site": target.site or "-"}
    fields: dict[str, int | float] = {"severity_level": SEVERITY_LEVEL[sample.severity],
                                      "up": int(sample.severity != "down")}  # fmt: skip
    for name in ("rtt_ms", "loss_percent", "jitter_ms", "uptime_s"):
        value = getattr(sample, name)
        if value is not None:
            fields[name] = float(value)
    at = int(sample.at * 1e9)
    out = [point("link", tags, fields, at)]
    for interface, rx, tx in rates:
        out.append(point("link_interface", tags | {"interface": interface},
                         {"rx_bps": rx, "tx_bps": tx}, at))  # fmt: skip
    return out


class Monitor:
    """One cycle at a time (`cycle`), state kept between them."""

    def __init__(
        self,
        call: Callable[..., Any],
        state_dir: str,
        export_dir: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.call = call
        self.db = MonitorDb(os.path.join(state_dir, "monitor.db"))
        self.export_path = None
        if export_dir:
            os.makedirs(export_dir, exist_ok=True)
            self.export_path = os.path.join(export_dir, SPOOL_FILE)
        self.clock = clock
        self.profiles = load_profiles()
        self.previous: dict[str, PollResult] = {}
        self.states = {t: alerts.AlertState.from_dict(d) for t, d in self.db.states().items()}
        self.baselines: dict[str, tuple[float, float | None]] = {}  # target -> (at, baseline)
        self.poller: Poller | None = None
        self.settings: Settings | None = None
        self.next_purge = 0.0

    async def __aenter__(self) -> Monitor:
        self.poller = Poller()
        self.poller.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.poller is not None:
            self.poller.close()
        self.db.close()

    def _baseline(self, target: str, now: float, days: int) -> float | None:
        cached = self.baselines.get(target)
        if cached is None or now - cached[0] > BASELINE_REFRESH_S:
            cached = (now, self.db.baseline_rtt(target, now - days * 86400))
            self.baselines[target] = cached
        return cached[1]

    async def cycle(self) -> dict[str, Any]:
        """Probe and poll every target, judge, record, notify; what happened."""
        assert self.poller is not None, "use `async with Monitor(...)`"
        settings = self.settings = Settings.from_netd(self.call("monitor_config"))
        monitoring, tz = settings.monitoring, settings.tz
        targets = monitoring.targets
        probe = monitoring.probe
        probed = [str(t.address) for t in targets if t.probe]
        probes, polls = await asyncio.gather(
            probe_all(probed, probe.count, probe.spacing_ms / 1000, probe.timeout_s),
            self.poller.poll([snmp_target(t, self.profiles) for t in targets]),
        )
        now = self.clock()
        at = datetime.fromtimestamp(now, UTC).astimezone(tz)
        samples, rate_rows, points, events = [], [], [], []
        for target, poll in zip(targets, polls, strict=True):
            result: ProbeResult | None = probes.get(str(target.address)) if target.probe else None
            rates = self._rates(target.name, poll)
            baseline = self._baseline(target.name, now, monitoring.alerting.baseline_days)
            severity, reasons = alerts.classify(
                monitoring.alerting, probe=result, baseline_ms=baseline,
                snmp_answered=poll.ok, snmp_error=str(poll.error) if poll.error else None,
                readings=poll.readings,
            )  # fmt: skip
            uptime = poll.uptime_ticks / 100 if poll.uptime_ticks is not None else None
            observation = alerts.Observation(target.name, at, severity, reasons, uptime)
            maintenance = alerts.in_maintenance(
                monitoring.maintenance, target.name, target.site, at, tz
            )
            state, happened = alerts.step(
                self.states.get(target.name), observation, monitoring.alerting.confirm_cycles,
                monitoring.alerting.clear_cycles, maintenance,
            )  # fmt: skip
            self.states[target.name] = state
            events += happened
            sample = Sample(
                target.name, now, state.state, result.rtt_ms if result else None,
                result.loss_percent if result else None, result.jitter_ms if result else None,
                uptime, str(poll.error) if poll.error else None, reasons,
            )  # fmt: skip
            samples.append(sample)
            rate_rows += [(target.name, now, name, rx, tx, None) for name, rx, tx in rates]
            points += link_points(settings.node.name, target, sample, rates)
        self._acknowledge(tz)
        changes = self._ledger(events, settings, now)
        self.db.record(samples, rate_rows, {t: s.to_dict() for t, s in self.states.items()}, tz,
                       changes)  # fmt: skip
        if now >= self.next_purge:
            self.next_purge = now + PURGE_INTERVAL_S
            self.db.purge(now, settings.rollup_days)
        deliveries = await asyncio.to_thread(
            notify.dispatch, events, monitoring, settings.node, settings.sites
        )
        self.db.delivered(
            (now, d.target, d.kind, d.severity, d.channel, d.ok, d.message) for d in deliveries
        )
        for d in deliveries:
            if not d.ok:
                log.warning("notice to %s failed: %s", d.channel, d.message)
        self._export(points, settings.spool_mb)
        return {"targets": len(targets), "events": [(e.target, e.kind, e.severity) for e in events],
                "deliveries": len(deliveries)}  # fmt: skip

    def _acknowledge(self, tz: ZoneInfo) -> None:
        """Apply the acknowledgements admins asked for (`simpul monitor ack`)."""
        for target, who, at in self.db.take_acks():
            state = self.states.get(target)
            try:
                if state is None:
                    raise ValueError(f"{target} is not monitored")
                moment = datetime.fromtimestamp(at, UTC).astimezone(tz)
                self.states[target] = alerts.acknowledge(state, who, moment)
                log.info("%s acknowledged by %s", target, who)
            except ValueError as exc:
                log.warning("acknowledgement not applied: %s", exc)

    def _rates(self, name: str, poll: PollResult) -> list[tuple[str, float, float]]:
        """bits/s per interface since the previous successful poll (none across a restart)."""
        previous = self.previous.get(name)
        if poll.ok:
            self.previous[name] = poll
        if previous is None or not poll.ok or poll.uptime_ticks is None:
            return []
        out = []
        for rate in interface_rates(previous, poll):
            if rate.rx.bps is not None and rate.tx.bps is not None:
                out.append((rate.name, rate.rx.bps, rate.tx.bps))
        return out

    def _ledger(self, events: list[alerts.Event], settings: Settings, now: float) -> LedgerChanges:
        """The ledger's changes for this cycle's events, and for targets no longer configured
        (their state dropped, an open outage closed now with an unknown cause)."""
        site_of = {t.name: t.site for t in settings.monitoring.targets}
        open_rows = self.db.open_outages()
        changes = LedgerChanges()
        for event in events:
            opened = ledger.open_outage(event, site_of.get(event.target))
            if opened is not None:
                changes.opened.append((opened.target, opened.site, opened.start.timestamp(),
                                       opened.in_maintenance))  # fmt: skip
            elif ledger.closes_outage(event) and event.target in open_rows:
                row = open_rows[event.target]
                closed = ledger.close_outage(row.outage(), event.since, event.uptime_s)
                assert closed.end is not None
                changes.closed.append((row.id, closed.end.timestamp(), closed.cause))
        for target in sorted(set(self.states) - set(site_of)):
            log.info("%s is no longer monitored: its state is dropped", target)
            del self.states[target]
            self.previous.pop(target, None)
            changes.forgotten.append(target)
            if target in open_rows:
                changes.closed.append((open_rows[target].id, now, "unknown"))
        return changes

    def _export(self, points: list[Point], spool_mb: int) -> None:
        if self.export_path is None or not points:
            return
        try:
            with Spool(self.export_path, spool_mb << 20) as spool:
                spool.put(points)
        except SpoolError as exc:
            log.error("link figures not spooled for export: %s", exc)


async def run(args: argparse.Namespace) -> None:
    """Cycle until SIGTERM."""
    from netctl.protocol import ApiError, NetdClient

    client = NetdClient(args.socket)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Monitor(client.call, args.state_dir, args.export_dir) as monitor:
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = await monitor.cycle()
                if report["events"]:
                    log.info("monitor: %s", report)
            except ApiError as exc:
                log.warning("netd: %s", exc)
            except Exception:  # a bad cycle (a locked database, a broken target) is not the end
                log.exception("monitor cycle failed")
            # Until the next cycle is due, look at the interval again every few seconds: a
            # shorter one set by an admin (or netd back after a restart) counts at once.
            while not stop.is_set():
                interval = _interval(client.call, monitor)
                wait = min(CONFIG_CHECK_S, interval - (time.monotonic() - started))
                if wait <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)


def _interval(call: Callable[..., Any], monitor: Monitor) -> float:
    """The configured interval (the last known one while netd does not answer)."""
    from netctl.protocol import ApiError

    try:
        return float(call("monitor_config")["monitoring"]["interval_s"])
    except (ApiError, KeyError, TypeError, ValueError):
        return float(monitor.settings.monitoring.interval_s) if monitor.settings else 60.0


def main(argv: list[str] | None = None) -> None:
    """`python -m monitoring.monitor`."""
    from netctl.protocol import DEFAULT_SOCKET

    parser = argparse.ArgumentParser(prog="python -m monitoring.monitor", description=__doc__)
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="netd's API socket")
    parser.add_argument("--state-dir", default="/var/lib/simpul/monitor")
    parser.add_argument(
        "--export-dir",
        default="/var/lib/simpul/export",
        help="the exporter's directory (its spool takes the link figures)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.makedirs(args.state_dir, exist_ok=True)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
