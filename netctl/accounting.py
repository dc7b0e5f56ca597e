"""Bandwidth accounting: read the kernel's counters, book the deltas into the usage database.

Every `interval_s` netd reads, in one pass, the per-client accounting elements (`hs_acct` for
upload by MAC . IP, `hs_acct_dl` for download by IP), the named counters of every zone (hotspot
sites, OPDs, remote sites, management) and the uplinks' interface counters, and books what grew
since the last reading (`simpul.usage.booking`), exactly once, in one transaction.

A client's accounting elements have no timeout: when its session ends, netd first takes its
authorization elements out (no more bytes pass), then books the accounting elements' final
values (`settle`), and only then deletes them. Elements nobody holds a session for any more
(a crash between those steps) are settled by the next cycle.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from netctl.apply import Kernel, counter_in
from netctl.libnft import Nft, NftError
from netctl.nftdump import NftDump, ip_key, mac_ip_key
from netctl.render import (
    ACCT_DL_SET,
    ACCT_SET,
    FAMILY,
    TABLE,
    accounting_commands,
    zone_counters,
)
from simpul.store import Session
from simpul.usage.booking import DOWN, UP, Booking, Meter, Reading, absent, book
from simpul.usage.db import CycleRecord, UsageDb

log = logging.getLogger("simpul.accounting")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# Settling more clients than this at once reads whole sets instead of element by element.
SETTLE_BY_ELEMENT = 32


def boot_id() -> str:
    """This boot's id: kernel counters of an earlier boot started again at zero."""
    return BOOT_ID.read_text().strip()


@dataclass(frozen=True)
class ClientBytes:
    """The raw counters of one accounting element."""

    packets: int
    bytes: int


def read_clients(
    dump: NftDump,
) -> tuple[dict[tuple[str, str], ClientBytes], dict[str, ClientBytes]]:
    """Every accounting element with its counter."""
    up = {
        mac_ip_key(key): ClientBytes(packets, nbytes)
        for key, (packets, nbytes) in dump.set_counters(TABLE, ACCT_SET).items()
    }
    down = {
        ip_key(key): ClientBytes(packets, nbytes)
        for key, (packets, nbytes) in dump.set_counters(TABLE, ACCT_DL_SET).items()
    }
    return up, down


def _missing(exc: NftError) -> bool:
    """Whether nft refused because the element (or set) is not there."""
    return "No such file or directory" in str(exc)


def _element_counter(nft: Nft, name: str, key: str) -> ClientBytes | None:
    try:
        text = nft.run(f"get element {FAMILY} {TABLE} {name} {{ {key} }}")
    except NftError as exc:
        if _missing(exc):
            return None
        raise
    return ClientBytes(*counter_in(text))


def read_interfaces(names: Iterable[str]) -> dict[str, tuple[int, dict[str, int]]]:
    """ifindex and byte/packet statistics of each interface that exists (the ifindex tells an
    interface made again, whose statistics started from zero)."""
    out = {}
    for name, stats in Kernel.interface_counters(names).items():
        try:
            out[name] = (int((Path("/sys/class/net") / name / "ifindex").read_text()), stats)
        except OSError:
            continue
    return out


def client_readings(
    up: dict[tuple[str, str], ClientBytes],
    down: dict[str, ClientBytes],
    owners: dict[str, Session],
    site_of_mac_ip: dict[tuple[str, str], str],
    boot: str,
) -> list[Reading]:
    """Readings of accounting elements. Upload is keyed by MAC . IP; download by IP, booked to
    the device that holds (or last held) a session on it (`owners`)."""
    readings = []
    for (mac, ip), c in up.items():
        site = site_of_mac_ip.get((mac, ip), "")
        readings.append(
            Reading(f"acct/{mac}|{ip}", boot, c.packets, c.bytes, "client", mac, UP, site)
        )
    for ip, c in down.items():
        owner = owners.get(ip)
        mac, site = (owner.mac, owner.site or "") if owner else ("unknown", "")
        readings.append(
            Reading(f"acct_dl/{ip}", boot, c.packets, c.bytes, "client", mac, DOWN, site)
        )
    return readings


def zone_readings(config: Any, named: dict[str, tuple[int, int]], boot: str) -> list[Reading]:
    """Readings of the zones' named counters (hotspot sites, OPDs, remote sites, management)."""
    meaning = zone_counters(config)
    readings = []
    for name, (packets, nbytes) in named.items():
        if name not in meaning:
            continue
        scope, key, direction = meaning[name]
        readings.append(Reading(f"counter/{name}", boot, packets, nbytes, scope, key, direction))
    return readings


def uplink_readings(
    config: Any, interfaces: dict[str, tuple[int, dict[str, int]]], boot: str
) -> list[Reading]:
    """Readings of the uplinks' interface counters: received is download, sent is upload.
    Interfaces predate netd, so the first reading only sets the baseline."""
    readings = []
    for uplink in config.uplinks:
        if uplink.interface not in interfaces:
            continue
        ifindex, stats = interfaces[uplink.interface]
        instance = f"{boot}/{ifindex}"
        for direction, prefix in ((DOWN, "rx"), (UP, "tx")):
            readings.append(
                Reading(
                    f"uplink/{uplink.name}/{prefix}",
                    instance,
                    stats[f"{prefix}_packets"],
                    stats[f"{prefix}_bytes"],
                    "uplink",
                    uplink.name,
                    direction,
                    first_is_new=False,
                )
            )
    return readings


class Accounting:
    """netd's accounting: cycles and settling, on netd's thread and under its lock."""

    def __init__(
        self,
        usage: UsageDb,
        nft: Nft | None = None,
        dump: NftDump | None = None,
        *,
        boot: str | None = None,
    ) -> None:
        self.usage = usage
        self.nft = nft or Nft()
        self.dump = dump or NftDump()
        self.boot = boot or boot_id()
        self._last_cycle_at: float | None = None
        self._meters: dict[str, Meter] | None = None  # the usage database's, kept in memory
        self.tz = ZoneInfo("Asia/Jakarta")  # the node's, from each cycle's configuration

    def cycle(
        self, config: Any, sessions: Sequence[Session], now: float, store: Any
    ) -> CycleRecord:
        """Read every counter and book what grew; settle accounting elements nobody holds a
        session for any more. `store` answers who last held an address."""
        started = time.perf_counter()
        self.tz = config.node.zoneinfo
        up, down = read_clients(self.dump)
        named = self.dump.named_counters(TABLE)
        interfaces = read_interfaces(u.interface for u in config.uplinks)
        by_ip = {s.ip: s for s in sessions}
        # Elements nobody holds a session for any more: booked, then retired below.
        stale_up = sorted(up.keys() - {(s.mac, s.ip) for s in sessions})
        stale_down = sorted(down.keys() - by_ip.keys())
        owners = dict(by_ip)
        for ip in stale_down:
            last = store.last_session_at(ip)
            if last is not None:
                owners[ip] = last
        sites = {(s.mac, s.ip): s.site or "" for s in sessions}
        for mac, ip in stale_up:
            last = owners.get(ip)
            sites[(mac, ip)] = last.site or "" if last and last.mac == mac else ""
        readings = [
            *client_readings(up, down, owners, sites, self.boot),
            *zone_readings(config, named, self.boot),
            *uplink_readings(config, interfaces, self.boot),
        ]
        meters = self.meters()
        booking = book(meters, readings)
        gone = absent(meters, readings)
        peaks = Counter(s.site for s in sessions if s.site)
        since = self._last_cycle_at
        if since is None:
            last = self.usage.last_cycle()
            since = last.at if last else now
        started_sessions = store.sessions_started(since, now)
        duration = (time.perf_counter() - started) * 1000
        self.usage.commit(
            booking,
            now,
            self.tz,
            forget=gone,
            peaks={site.slug: peaks.get(site.slug, 0) for site in config.hotspot_sites},
            sessions=started_sessions,
            duration_ms=duration,
            readings=len(readings),
        )
        self._committed(booking, gone)
        self._last_cycle_at = now
        self._retire(stale_up, stale_down)
        if booking.resets:
            log.info("%d counter(s) started again from zero", len(booking.resets))
        return CycleRecord(now, duration, len(readings), len(booking.resets),
                           sum(d.bytes for d in booking.deltas))  # fmt: skip

    def settle(self, sessions: Sequence[Session], now: float, held: Collection[str]) -> None:
        """Book the final bytes of ended `sessions` (already out of the authorization sets) and
        delete their accounting elements. An address another open session holds (`held`) keeps
        its download element."""
        if not sessions:
            return
        pairs = sorted({(s.mac, s.ip) for s in sessions})
        ips = sorted({s.ip for s in sessions} - set(held))
        if len(sessions) > SETTLE_BY_ELEMENT:
            all_up, all_down = read_clients(self.dump)
            up = {p: all_up[p] for p in pairs if p in all_up}
            down = {ip: all_down[ip] for ip in ips if ip in all_down}
        else:
            up = {
                (mac, ip): c
                for mac, ip in pairs
                if (c := _element_counter(self.nft, ACCT_SET, f"{mac} . {ip}")) is not None
            }
            down = {
                ip: c
                for ip in ips
                if (c := _element_counter(self.nft, ACCT_DL_SET, ip)) is not None
            }
        owners = {s.ip: s for s in sessions}
        sites = {(s.mac, s.ip): s.site or "" for s in sessions}
        readings = client_readings(up, down, owners, sites, self.boot)
        booking: Booking = book(self.meters(), readings)
        self.usage.commit(booking, now, self.tz)
        self._committed(booking, set())
        self._retire(list(up), list(down))

    def meters(self) -> dict[str, Meter]:
        """The meters, read from the usage database once and then kept up to date."""
        if self._meters is None:
            self._meters = self.usage.meters()
        return self._meters

    def forget_kernel_meters(self) -> None:
        """A table made anew: its counters start from zero, whatever the meters say."""
        self.usage.forget_kernel_meters()
        self._meters = None

    def _committed(self, booking: Booking, gone: set[str]) -> None:
        meters = self.meters()
        meters.update(booking.meters)
        for source in gone:
            meters.pop(source, None)

    def _retire(self, pairs: list[tuple[str, str]], ips: list[str]) -> None:
        """Delete booked accounting elements, then their meters (a crash in between leaves a
        meter without its element, which the next cycle forgets: nothing is booked twice)."""
        self._delete(pairs, ips)
        sources = [f"acct/{m}|{i}" for m, i in pairs] + [f"acct_dl/{i}" for i in ips]
        if sources:
            self.usage.forget_meters(sources)
            self._committed(Booking(), set(sources))

    def _delete(self, pairs: list[tuple[str, str]], ips: list[str]) -> None:
        for command in accounting_commands(pairs, ips, verb="delete"):
            try:
                self.nft.run(command)
            except NftError as exc:  # one already gone: delete the others one by one
                if not _missing(exc):
                    raise
                for single in _singles(command):
                    try:
                        self.nft.run(single)
                    except NftError as inner:
                        if not _missing(inner):
                            raise


def _singles(command: str) -> list[str]:
    head, _, rest = command.partition("{")
    return [f"{head}{{ {item.strip()} }}" for item in rest.rstrip("} \n").split(",")]
