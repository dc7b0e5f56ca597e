"""A year of a regency node's figures, for the console benchmark: the databases netd, the monitor
and the DNS front end would have written, and the configuration they were written under.

`generate(state_dir)` writes, in the layout the console reads (SIMPUL_STATE_DIR):

- `usage.db` (`simpul.usage.db` schema): rollups of every zone counter as
  `netctl.accounting` books them (`netctl.render.zone_counters`: scope `site`, `opd`, `remote`,
  `zone`; plus `uplink`; `site` column empty) and of devices (scope `client`, key the MAC,
  `site` column the hotspot site, daily rows only), the `peak` table (every site, every level,
  every bucket, zeros included) and a day of the `cycle` log. What is kept is what netd's purge
  leaves with the default `Retention`: 5-minute rows 2 days, hourly 62, daily 400 (a year of
  data: all of it), monthly 1830 (all), device rows 62 days;
- `monitor/monitor.db` (`monitoring.store` schema): a sample per target per monitoring interval
  for `SAMPLE_DAYS`, interface rates alongside, hourly rollups 62 days and daily ones a year
  (the monitor's purge with the same retention), the outage ledger (a year; a few outages still
  open) and the alert states;
- `netd/dnsd/dns.db` (`netctl.dns_stats` schema): DNS counts per day, group and category;
- `simpul.db` (`simpul.store`): the configuration imported, and a village register.

The configuration is examples/meranti.yaml grown to `SITES` hotspot sites, `OPDS` OPDs,
`UPLINKS` uplinks and `REMOTES` remote sites, each remote site's router a monitoring target.

Every level is the sum of the level below wherever both are kept (a day is its hours, an hour its
5-minute buckets, a month its days; peaks are the maxima), as netd's one-transaction booking
makes them: each day's totals are drawn, split exactly into hours and 5-minute buckets by a
daily-rhythm profile, and summed back up for what is stored. Deterministic for a seed and a
`now`. Run alone (`python -m bench.console_data DIR`) it writes DIR and prints what it made.
"""

from __future__ import annotations

import json
import math
import operator
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bench.harness import REPO
from monitoring.alerts import AlertState
from monitoring.reports.register import import_register
from monitoring.reports.villages import COLUMNS, parse_register
from monitoring.store import SAMPLE_DAYS, StoredOutage
from monitoring.store import connect as monitor_connect
from netctl.dns_stats import STATS_SCHEMA
from netctl.render import zone_counters
from simpul.config import Config, config_to_data, parse_config
from simpul.config.model import Retention
from simpul.sqlite import open_db, transaction
from simpul.store import Store
from simpul.usage.buckets import bucket_start, next_start
from simpul.usage.db import CYCLES_KEPT
from simpul.usage.db import connect as usage_connect

SITES, OPDS, UPLINKS, REMOTES = 100, 50, 2, 100
DAYS = 365  # of data: the node has run for a year
DEVICES_PER_DAY = 4_000  # across all sites, on an average day
DEVICE_POOL = 6  # a site's devices are this many times its devices of an average day
CLIENT_SHARE = 0.95  # of a site's bytes booked to its devices (the rest: the gateway's own)
SEED = 20_240_601
CACHE_KIB = 512 * 1024  # the writers' page cache: a big transaction without spilling to the WAL
INTERFACES = ("wan0", "lan0")  # per monitored router
KECAMATAN = (
    ("14.10.01", "Tebing Tinggi"), ("14.10.02", "Rangsang Barat"), ("14.10.03", "Rangsang"),
    ("14.10.04", "Tebing Tinggi Barat"), ("14.10.05", "Merbau"), ("14.10.06", "Pulau Merbau"),
    ("14.10.07", "Tebing Tinggi Timur"), ("14.10.08", "Tasik Putri Puyu"),
    ("14.10.09", "Rangsang Pesisir"),
)  # fmt: skip
CATEGORIES = ("gambling", "adult", "drakor", "games", "streaming-video", "social-media")
OPERATORS = ("Telkomsel", "Indosat", "XL")
# Relative traffic per local hour: citizens in the evening, offices in working hours.
HOURLY = {
    "hotspot": (8, 5, 3, 2, 2, 4, 10, 20, 30, 35, 40, 45, 50, 50, 45, 45, 55, 70, 85, 100, 100,
                90, 60, 25),
    "office": (2, 2, 2, 2, 2, 3, 8, 40, 90, 100, 100, 95, 60, 85, 95, 90, 60, 20, 8, 5, 4, 3, 2, 2),
    "flat": (50,) * 24,
}  # fmt: skip
FIELDS = 5  # up_bytes, down_bytes, up_packets, down_packets, sessions
Values = list[int]


@dataclass(frozen=True)
class ConsoleData:
    """What `generate` made: the configuration (parsed and as the store holds it), the data's
    time frame, its last full month, the rows written per table and the seconds it took."""

    config: Config
    document: dict[str, Any]
    frame: Frame
    month: tuple[int, int]
    rows: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class Frame:
    """The data's time frame in the node's zone: from local midnight DAYS days ago to the start
    of the current 5-minute bucket (`end`, exclusive), and what each retention keeps."""

    tz: ZoneInfo
    now: float
    end: int
    days: tuple[int, ...]  # starts of the local days, oldest first, today last
    five_from: float
    hour_from: float
    client_from: float

    @classmethod
    def of(cls, now: float, tz: ZoneInfo, retention: Retention) -> Frame:
        """The frame ending at `now`, with `retention`'s cut-offs as netd's purge leaves them."""
        today = bucket_start("1d", now, tz)
        first = bucket_start("1d", today - DAYS * 86400 + 43_200, tz)
        days = [first]
        while days[-1] < today:
            days.append(next_start("1d", days[-1], tz))
        return cls(tz, now, bucket_start("5m", now, tz), tuple(days),
                   now - retention.five_minute_days * 86400, now - retention.hourly_days * 86400,
                   now - retention.client_days * 86400)  # fmt: skip

    def last_full_month(self) -> tuple[int, int]:
        """(year, month) of the latest month entirely in the data."""
        first_of_this = datetime.fromtimestamp(self.now, self.tz).date().replace(day=1)
        previous = first_of_this - timedelta(days=1)
        return previous.year, previous.month


def split(total: int, weights: Sequence[float]) -> list[int]:
    """`total` in parts proportional to `weights`, whole numbers that add up to `total`."""
    whole = sum(weights)
    cuts = [round(total * c / whole) for c in accumulate(weights)]
    cuts[-1] = total
    return [b - a for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]


def split_values(values: Values, weights: Sequence[float]) -> list[Values]:
    """Each of `values` split by `weights`: one list of values per weight."""
    columns = [split(v, weights) for v in values]
    return [list(parts) for parts in zip(*columns, strict=True)]


def _add(into: Values, values: Values) -> None:
    for i, v in enumerate(values):
        into[i] += v


# -- the configuration --------------------------------------------------------------------------


def build_document(rng: random.Random) -> dict[str, Any]:
    """examples/meranti.yaml grown to SITES sites, OPDS OPDs, UPLINKS uplinks and REMOTES remote
    sites (with a monitoring target each), as plain data; validate it with `parse_config`."""
    data = yaml.safe_load((REPO / "examples" / "meranti.yaml").read_text())
    data["uplinks"] = data["uplinks"][:1]
    for n in range(2, UPLINKS + 1):
        data["uplinks"].append({
            "name": f"isp{n}", "interface": f"wan{n - 1}", "address": f"198.51.{99 + n}.2/24",
            "gateway": f"198.51.{99 + n}.1", "bandwidth": {"down_mbps": 400, "up_mbps": 200},
        })  # fmt: skip
    for n in range(len(data["opds"]) + 1, OPDS + 1):
        data["opds"].append({
            "slug": f"opd-{n:02d}", "name": f"Dinas Contoh {n:02d}", "subnet": f"10.20.{n}.0/24",
            "interface": f"opd-{n:02d}", "vlan": 100 + n,
            "bandwidth": {"down_mbps": 5, "up_mbps": 2}, "policy": "pegawai-umum",
            "dhcp": {"first_host": 50},
        })  # fmt: skip
    for n in range(len(data["hotspot_sites"]) + 1, SITES + 1):
        code, kecamatan = KECAMATAN[n % len(KECAMATAN)]
        data["hotspot_sites"].append({
            "slug": f"titik-wifi-{n:03d}", "name": f"Titik WiFi {n:03d}",
            "subnet": f"10.40.{n}.0/24", "interface": f"hs-{n:03d}", "vlan": 200 + n,
            "kecamatan": kecamatan, "region_code": code, "location": _somewhere(rng),
            "bandwidth": {"down_mbps": 10, "up_mbps": 5}, "policy": "hotspot-umum",
        })  # fmt: skip
    for n in range(len(data["remote_sites"]) + 1, REMOTES + 1):
        code, kecamatan = KECAMATAN[n % len(KECAMATAN)]
        data["remote_sites"].append({
            "slug": f"kantor-desa-{n:03d}", "name": f"Kantor Desa {n:03d}",
            "kecamatan": kecamatan, "region_code": code, "location": _somewhere(rng),
            "link_type": "vsat", "interface": f"vsat-{n:03d}", "subnet": f"10.60.{n}.0/30",
            "router": f"10.60.{n}.2", "snmp": {"version": "2c", "community": "simpul-ro"},
        })  # fmt: skip
    named = {t["site"] for t in data["monitoring"]["targets"]}
    data["monitoring"]["targets"] += [
        {"name": f"router-{r['slug']}", "address": r["router"], "site": r["slug"],
         "snmp": {"version": "2c", "community": "simpul-ro"}}
        for r in data["remote_sites"] if r["slug"] not in named
    ]  # fmt: skip
    return data


def _somewhere(rng: random.Random) -> dict[str, float]:
    """A point on the Meranti islands (well inside Indonesia's bounds)."""
    return {"lat": round(rng.uniform(0.78, 1.19), 4), "lon": round(rng.uniform(102.3, 103.05), 4)}


# -- usage.db -----------------------------------------------------------------------------------


@dataclass
class _Key:
    """One scope/key of the usage table and how it behaves."""

    scope: str
    key: str
    profile: str
    down_per_day: float  # bytes on an average day
    up_share: float
    weekend: float  # traffic on Saturday and Sunday against a weekday


def _usage_keys(config: Config, rng: random.Random) -> list[_Key]:
    """Every zone counter's scope/key as netd books it (`zone_counters`), sized."""
    keys = []
    for scope, key in sorted({(s, k) for s, k, _d in zone_counters(config).values()}):
        if scope == "site":
            keys.append(_Key(scope, key, "hotspot", rng.uniform(2e9, 15e9),
                             rng.uniform(0.12, 0.2), 1.25))  # fmt: skip
        elif scope == "opd":
            keys.append(_Key(scope, key, "office", rng.uniform(1e9, 15e9),
                             rng.uniform(0.25, 0.4), 0.15))  # fmt: skip
        elif scope == "remote":
            keys.append(_Key(scope, key, "office", rng.uniform(0.3e9, 4e9), 0.3, 0.3))
        else:
            keys.append(_Key(scope, key, "flat", 0.2e9, 0.5, 1.0))
    return keys


def _day_factor(frame: Frame, index: int, weekend: float) -> float:
    """Growth over the year and the weekday rhythm."""
    weekday = datetime.fromtimestamp(frame.days[index], frame.tz).weekday()
    return (0.8 + 0.3 * index / len(frame.days)) * (weekend if weekday >= 5 else 1.0)


class UsageWriter:
    """Draws the usage rows and peaks; `write` puts them in a usage database."""

    def __init__(self, config: Config, frame: Frame, rng: random.Random) -> None:
        self.config = config
        self.frame = frame
        self.rng = rng
        self.usage: list[tuple[Any, ...]] = []
        self.peaks: list[tuple[str, int, str, int]] = []
        self.site_days: dict[tuple[str, int], Values] = {}  # stored day totals of each site
        self.devices: dict[tuple[str, int], int] = {}  # devices per site and day index

    def _rows(self, level: str, start: int, scope: str, key: str, site: str,
              values: Values) -> None:  # fmt: skip
        if any(values):
            self.usage.append((level, start, scope, key, site, *values))

    def _day(self, item: _Key, index: int, totals: Values, profile: Sequence[float]) -> Values:
        """Store the hours and 5-minute buckets `totals` of day `index` is made of (as far as
        they are kept and have begun); returns what the day's row holds."""
        frame, rng = self.frame, self.rng
        day = frame.days[index]
        day_end = next_start("1d", day, frame.tz)
        if day_end <= frame.hour_from and day_end <= frame.end:
            return totals
        stored = [0] * FIELDS
        weights = [w * rng.uniform(0.8, 1.2) for w in profile]
        for hour, values in enumerate(split_values(totals, weights)):
            start = day + hour * 3600
            if start >= frame.end:
                break
            if start + 3600 > frame.five_from or start + 3600 > frame.end:
                values = self._fives(item, start, values)
            if start >= frame.hour_from:
                self._rows("1h", start, item.scope, item.key, "", values)
            _add(stored, values)
        return stored

    def _fives(self, item: _Key, hour: int, values: Values) -> Values:
        frame = self.frame
        stored = [0] * FIELDS
        parts = split_values(values, [self.rng.uniform(0.7, 1.3) for _ in range(12)])
        for i, part in enumerate(parts):
            start = hour + i * 300
            if start >= frame.end:
                break
            if start >= frame.five_from:
                self._rows("5m", start, item.scope, item.key, "", part)
            _add(stored, part)
        return stored

    def _totals(self, item: _Key, index: int) -> Values:
        """A day's (up, down bytes, up, down packets, sessions) of a zone counter."""
        down = round(item.down_per_day * _day_factor(self.frame, index, item.weekend)
                     * self.rng.lognormvariate(0, 0.15))  # fmt: skip
        up = round(down * item.up_share)
        sessions = 0
        if item.scope == "site":
            sessions = round(self.devices[(item.key, index)] * self.rng.uniform(1.3, 1.9))
        return [up, down, up // 400 + 1, down // 1100 + 1, sessions]

    def draw(self, keys: list[_Key]) -> None:
        """Every row: the zones', the uplinks' (the zones' sum shared out), devices', peaks."""
        frame = self.frame
        sites = [k for k in keys if k.scope == "site"]
        self._draw_device_counts(sites)
        days = range(len(frame.days))
        day_totals = {(k.scope, k.key, i): self._totals(k, i) for k in keys for i in days}
        for item in keys:
            self._draw_key(item, [day_totals[(item.scope, item.key, i)] for i in days])
        uplinks = self.config.uplinks
        shares = [u.bandwidth.down_mbps if u.bandwidth else 100.0 for u in uplinks]
        for i in days:
            whole = [0] * FIELDS
            for k in keys:
                _add(whole, [*day_totals[(k.scope, k.key, i)][:4], 0])
            for uplink, values in zip(uplinks, split_values(whole, shares), strict=True):
                day_totals[("uplink", uplink.name, i)] = values
        profile = [a + b for a, b in zip(HOURLY["hotspot"], HOURLY["office"], strict=True)]
        for uplink in uplinks:
            item = _Key("uplink", uplink.name, "", 0, 0, 0)
            self._draw_key(item, [day_totals[("uplink", uplink.name, i)] for i in days], profile)
        for item in sites:
            self._draw_clients(item.key)
            self._draw_peaks(item.key)

    def _draw_key(self, item: _Key, totals: list[Values],
                  profile: Sequence[float] | None = None) -> None:  # fmt: skip
        months: dict[int, Values] = defaultdict(lambda: [0] * FIELDS)
        for index, day_totals in enumerate(totals):
            day = self.frame.days[index]
            stored = self._day(item, index, day_totals, profile or HOURLY[item.profile])
            self._rows("1d", day, item.scope, item.key, "", stored)
            _add(months[bucket_start("1mo", day, self.frame.tz)], stored)
            if item.scope == "site":
                self.site_days[(item.key, index)] = stored
        for start, values in months.items():
            self._rows("1mo", start, item.scope, item.key, "", values)

    def _draw_device_counts(self, sites: list[_Key]) -> None:
        weights = [k.down_per_day for k in sites]
        for item, per_day in zip(sites, split(DEVICES_PER_DAY, weights), strict=True):
            for i in range(len(self.frame.days)):
                expected = per_day * _day_factor(self.frame, i, item.weekend)
                self.devices[(item.key, i)] = max(1, round(expected * self.rng.uniform(0.8, 1.2)))

    def _mac(self, site: int, device: int) -> str:
        return f"02:{site >> 8:02x}:{site & 0xFF:02x}:{device >> 16:02x}:" \
               f"{(device >> 8) & 0xFF:02x}:{device & 0xFF:02x}"  # fmt: skip

    def _draw_clients(self, slug: str) -> None:
        """Daily device rows of the days kept: most of the site's bytes, shared among the day's
        devices (a few are visitors from the next site's crowd)."""
        frame, rng = self.frame, self.rng
        slugs = [s.slug for s in self.config.hotspot_sites]
        home = slugs.index(slug)
        pool = max(50, DEVICE_POOL * DEVICES_PER_DAY // len(slugs))
        for index, day in enumerate(frame.days):
            if day < frame.client_from or (slug, index) not in self.site_days:
                continue
            count = min(self.devices[(slug, index)], pool)
            macs = [self._mac(home if rng.random() > 0.03 else (home + 1) % len(slugs), d)
                    for d in rng.sample(range(pool), count)]  # fmt: skip
            stored = self.site_days[(slug, index)]
            share = [round(v * CLIENT_SHARE) for v in stored[:4]] + [0]
            weights = [rng.lognormvariate(0, 1) for _ in macs]
            merged: dict[str, Values] = defaultdict(lambda: [0] * FIELDS)
            for mac, values in zip(macs, split_values(share, weights), strict=True):
                _add(merged[mac], values)
            for mac, values in merged.items():
                self._rows("1d", day, "client", mac, slug, values)

    def _draw_peaks(self, slug: str) -> None:
        """Most clients online at once per bucket, every level, the maxima of the level below."""
        frame, rng = self.frame, self.rng
        profile = HOURLY["hotspot"]
        busiest = profile.index(max(profile))
        months: dict[int, int] = defaultdict(int)
        for index, day in enumerate(frame.days):
            peak = max(1, round(self.devices[(slug, index)] * rng.uniform(0.2, 0.35)))
            day_end = next_start("1d", day, frame.tz)
            if not (day_end <= frame.hour_from and day_end <= frame.end):
                hours = [min(peak, round(peak * w / 100 * rng.uniform(0.85, 1.0)))
                         for w in profile]  # fmt: skip
                hours[busiest] = peak
                peak = 0
                for hour, value in enumerate(hours):
                    start = day + hour * 3600
                    if start >= frame.end:
                        break
                    if start + 3600 > frame.five_from or start + 3600 > frame.end:
                        value = self._five_peaks(slug, start, value)
                    if start >= frame.hour_from:
                        self.peaks.append(("1h", start, slug, value))
                    peak = max(peak, value)
            self.peaks.append(("1d", day, slug, peak))
            start = bucket_start("1mo", day, frame.tz)
            months[start] = max(months[start], peak)
        self.peaks += [("1mo", start, slug, value) for start, value in months.items()]

    def _five_peaks(self, slug: str, hour: int, peak: int) -> int:
        values = [round(peak * self.rng.uniform(0.6, 1.0)) for _ in range(12)]
        values[self.rng.randrange(12)] = peak
        stored = 0
        for i, value in enumerate(values):
            start = hour + i * 300
            if start >= self.frame.end:
                break
            if start >= self.frame.five_from:
                self.peaks.append(("5m", start, slug, value))
            stored = max(stored, value)
        return stored

    def cycles(self) -> list[tuple[float, float, int, int, int]]:
        """The last day of accounting cycles (30 s apart), as netd keeps them."""
        interval = self.config.accounting.interval_s
        readings = 2 * (DEVICES_PER_DAY // 4) + 2 * len(zone_counters(self.config))
        return [(self.frame.end - k * interval, self.rng.uniform(150, 260), readings, 0,
                 self.rng.randrange(10**8, 10**9)) for k in range(CYCLES_KEPT)]  # fmt: skip

    def write(self, path: str) -> dict[str, int]:
        """All rows into the usage database at `path`, in one transaction."""
        db = usage_connect(path)
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        try:
            with transaction(db):
                db.executemany("INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               sorted(self.usage))  # fmt: skip
                db.executemany("INSERT INTO peak VALUES (?, ?, ?, ?)", sorted(self.peaks))
                db.executemany("INSERT INTO cycle VALUES (?, ?, ?, ?, ?)", self.cycles())
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        return {"usage": len(self.usage), "peak": len(self.peaks), "cycle": CYCLES_KEPT}


# -- monitor.db ---------------------------------------------------------------------------------


class MonitorWriter:
    """Draws the monitor's ledger, samples and rollups; `write` puts them in a monitor.db."""

    def __init__(self, config: Config, frame: Frame, rng: random.Random) -> None:
        self.config = config
        self.frame = frame
        self.rng = rng
        self.interval = config.monitoring.interval_s
        self.targets = config.monitoring.targets
        self.rtt = {t.name: rng.uniform(550, 750) for t in self.targets}
        self.outages = self._draw_outages()
        self.by_target: dict[str, list[StoredOutage]] = defaultdict(list)
        for o in self.outages:
            self.by_target[o.target].append(o)

    def _instant(self, t: float) -> float:
        """The first cycle at or after `t` (cycles run every interval, a second past it)."""
        return math.ceil((t - 1) / self.interval) * self.interval + 1

    def _count(self, a: float, b: float) -> int:
        """Cycles in [a, b)."""
        return max(0, round((self._instant(b) - self._instant(a)) / self.interval))

    def _draw_outages(self) -> list[StoredOutage]:
        """Each target's outages over the year (a few a month, flaky links more), some still
        open: those of the first three targets, begun within the last hours. As the ledger's
        rows: in the order of their starts, numbered from 1."""
        frame, rng = self.frame, self.rng
        out: list[tuple[str, str | None, float, float | None, str, bool]] = []
        for n, target in enumerate(self.targets):
            per_day = rng.choice((0.05, 0.1, 0.1, 0.2, 0.4))
            at = frame.days[0] + rng.expovariate(per_day) * 86400
            while True:
                length = math.exp(rng.uniform(math.log(180), math.log(8 * 3600)))
                start, end = self._instant(at), self._instant(at + length)
                if end >= frame.end - 6 * 3600:
                    break
                cause = rng.choices(("link", "power"), (0.65, 0.35))[0]
                out.append((target.name, target.site, start, end, cause, rng.random() < 0.05))
                at = end + rng.expovariate(per_day) * 86400
            if n < 3:
                start = self._instant(frame.end - rng.uniform(600, 5 * 3600))
                out.append((target.name, target.site, start, None, "unknown", False))
        out.sort(key=lambda o: o[2])
        return [StoredOutage(n, *o) for n, o in enumerate(out, 1)]

    def _down(self, target: str, a: float, b: float) -> int:
        """Cycles in [a, b) that found `target` down."""
        down = 0
        for o in self.by_target[target]:
            end = o.end if o.end is not None else math.inf
            if o.start < b and end > a:
                down += self._count(max(a, o.start), min(b, end))
        return down

    def samples(self, target: str) -> list[tuple[Any, ...]]:
        """Every cycle's sample of `target` for SAMPLE_DAYS (as `MonitorDb.record` stores)."""
        frame, rng = self.frame, self.rng
        rtt = self.rtt[target]
        booted: float = frame.days[0]
        outages = iter(self.by_target[target])  # oldest first, none overlapping
        outage = next(outages, None)
        out: list[tuple[Any, ...]] = []
        at = self._instant(frame.now - SAMPLE_DAYS * 86400)
        while at < frame.end:
            while outage is not None and outage.end is not None and outage.end <= at:
                if outage.cause == "power":
                    booted = outage.end
                outage = next(outages, None)
            if outage is not None and outage.start <= at:
                out.append((target, at, "down", None, 100.0, None, None, "timeout", ""))
            else:
                value = rtt * rng.lognormvariate(0, 0.08)
                loss = 20.0 if rng.random() < 0.01 else 0.0
                severity = "warning" if loss or value > 1.5 * rtt else "ok"
                out.append((target, at, severity, round(value, 1), loss,
                            round(8 + 32 * rng.random(), 1), at - booted, None,
                            "loss" if loss else ""))  # fmt: skip
            at += self.interval
        return out

    def rollups(self, target: str, samples: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """`target`'s hourly rollups of 62 days and daily ones of a year: from its samples for
        the hours they cover whole, drawn before; a day is the sum of its hours where those are
        kept."""
        frame, tz = self.frame, self.frame.tz
        sample_from = self._instant(frame.now - SAMPLE_DAYS * 86400)
        from_samples: dict[int, list[Any]] = {}
        for _target, at, _severity, rtt, loss, *_rest in samples:
            hour = int(at - (at - frame.days[0]) % 3600)  # the node's zones keep no summer time
            row = from_samples.setdefault(hour, [0, 0, 0.0, 0, None, 0.0])
            row[0] += 1
            row[1] += rtt is None
            row[2] += rtt or 0.0
            row[3] += rtt is not None
            if rtt is not None:
                row[4] = rtt if row[4] is None else max(row[4], rtt)
            row[5] += loss or 0.0
        out: list[tuple[Any, ...]] = []
        for day in frame.days:
            day_end = next_start("1d", day, tz)
            if day_end <= frame.hour_from:
                out.append(("1d", day, target, *self._drawn(target, day, day_end)))
                continue
            hours = []
            for start in range(day, min(day_end, frame.end), 3600):
                if start >= sample_from:
                    hour = from_samples[start]
                else:
                    hour = self._drawn(target, start, start + 3600)
                if start >= frame.hour_from:
                    out.append(("1h", start, target, *hour))
                hours.append(hour)
            out.append(("1d", day, target, *_rollup_sum(hours)))
        return out

    def _drawn(self, target: str, a: float, b: float) -> list[Any]:
        """A rollup row of [a, b) drawn from the link's mean RTT and its ledger."""
        samples = self._count(a, min(b, self.frame.end))
        down = self._down(target, a, min(b, self.frame.end))
        up = samples - down
        average = self.rtt[target] * self.rng.lognormvariate(0, 0.03)
        return [samples, down, up * average, up, average * self.rng.uniform(1.2, 1.8) if up
                else None, down * 100.0 + up * 0.2]  # fmt: skip

    def rates(self, samples: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Interface rates of every sample that reached its router."""
        rng = self.rng
        return [(target, at, name, round(1e5 + 2e7 * rng.random()), round(1e5 + 5e6 * rng.random()),
                 None)
                for target, at, _severity, rtt, *_rest in samples if rtt is not None
                for name in INTERFACES]  # fmt: skip

    def states(self) -> list[tuple[str, str]]:
        """Each target's alert state: down since its open outage began, else ok."""
        tz = self.frame.tz
        out = []
        for target in self.targets:
            outage = next((o for o in self.by_target[target.name] if o.end is None), None)
            since = datetime.fromtimestamp(outage.start if outage else self.frame.days[0], tz)
            why = ("no answer to ping or SNMP",) if outage else ()
            state = AlertState(target.name, "down" if outage else "ok", since,
                               problem_since=since if outage else None, reasons=why)  # fmt: skip
            out.append((target.name, json.dumps(state.to_dict())))
        return out

    def write(self, path: str) -> dict[str, int]:
        """Everything into the monitor database at `path`, in one transaction (a target at a
        time: its samples are the bulk)."""
        rows: dict[str, int] = defaultdict(int)
        db = monitor_connect(path)
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        try:
            with transaction(db):
                for target in self.targets:
                    samples = self.samples(target.name)
                    rates = self.rates(samples)
                    rollups = sorted(self.rollups(target.name, samples))
                    db.executemany("INSERT INTO sample VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   samples)  # fmt: skip
                    db.executemany("INSERT INTO interface_rate VALUES (?, ?, ?, ?, ?, ?)", rates)
                    db.executemany("INSERT INTO rollup VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   rollups)  # fmt: skip
                    rows["sample"] += len(samples)
                    rows["interface_rate"] += len(rates)
                    rows["rollup"] += len(rollups)
                db.executemany(
                    "INSERT INTO outage VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(o.id, o.target, o.site, o.start, o.end, o.cause, int(o.in_maintenance))
                     for o in self.outages],
                )  # fmt: skip
                db.executemany("INSERT INTO alert_state VALUES (?, ?)", self.states())
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        rows["outage"] = len(self.outages)
        return dict(rows)


def _rollup_sum(rows: list[list[Any]]) -> list[Any]:
    maxima = [r[4] for r in rows if r[4] is not None]
    return [sum(r[0] for r in rows), sum(r[1] for r in rows), sum(r[2] for r in rows),
            sum(r[3] for r in rows), max(maxima) if maxima else None,
            sum(r[5] for r in rows)]  # fmt: skip


# -- dns.db and the store -----------------------------------------------------------------------


def write_dns(path: str, config: Config, frame: Frame, rng: random.Random) -> int:
    """A year of DNS counts per day, group (OPD or site) and category; returns the rows."""
    groups = [f"opd:{o.slug}" for o in config.opds] + [f"site:{s.slug}" for s in
                                                       config.hotspot_sites]  # fmt: skip
    rows = []
    for day in frame.days:
        text = datetime.fromtimestamp(day, frame.tz).date().isoformat()
        for group in groups:
            rows.append((text, group, "-", "allow", rng.randrange(20_000, 200_000)))
            for category in CATEGORIES:
                rows.append((text, group, category, "block", rng.randrange(0, 3_000)))
    db = open_db(path, STATS_SCHEMA)
    try:
        with transaction(db):
            db.executemany("INSERT INTO dns_counts VALUES (?, ?, ?, ?, ?)", rows)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return len(rows)


def village_register(config: Config, rng: random.Random, today: date) -> str:
    """A survey CSV: villages in every kecamatan, most served by a site (remote sites first),
    one in eight with no operator at all, others with weak signal here and there."""
    slugs = [r.slug for r in config.remote_sites] + [s.slug for s in config.hotspot_sites]
    lines = [",".join(COLUMNS)]
    for n in range(len(slugs) + len(slugs) // 2):
        code, kecamatan = KECAMATAN[n % len(KECAMATAN)]
        village = f"{code}.{2001 + n // len(KECAMATAN)}"
        where = _somewhere(rng)
        site = slugs[n] if n < len(slugs) else ""
        head = f"{village},{kecamatan},Desa Contoh {n + 1:03d},{where['lat']},{where['lon']}"
        surveyed = (today - timedelta(days=rng.randrange(30, 400))).isoformat()
        if n % 8 == 0:
            lines.append(f"{head},-,-,tidak-ada,{surveyed},{site}")
            continue
        for name in rng.sample(OPERATORS, rng.randrange(1, 4)):
            for technology in rng.sample(("2G", "4G"), rng.randrange(1, 3)):
                level = rng.choice(("tidak-ada", "lemah", "sedang", "kuat"))
                lines.append(f"{head},{name},{technology},{level},{surveyed},{site}")
    return "\n".join(lines) + "\n"


def write_store(path: str, config: Config, register: str, today: date) -> int:
    """The store: the configuration imported and the village register; returns the villages."""
    villages = parse_register(register, config, today)
    with Store(path) as store:
        store.import_config(config, actor="bench")
        import_register(store, villages, "bench", "bench/console_data.py")
    return len(villages)


# -- all of it ----------------------------------------------------------------------------------


def generate(state_dir: Path, now: float | None = None, seed: int = SEED) -> ConsoleData:
    """Write the node's databases into `state_dir` (see the module's doc), the data ending at
    `now` (default: this moment)."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    rng = random.Random(seed)
    config = parse_config(build_document(rng), source="bench/console_data.py")
    frame = Frame.of(now, config.node.zoneinfo, config.accounting.retention)
    today = datetime.fromtimestamp(now, frame.tz).date()
    usage = UsageWriter(config, frame, rng)
    usage.draw(_usage_keys(config, rng))
    rows = usage.write(str(state_dir / "usage.db"))
    rows |= MonitorWriter(config, frame, rng).write(str(state_dir / "monitor" / "monitor.db"))
    rows["dns_counts"] = write_dns(str(state_dir / "netd" / "dnsd" / "dns.db"), config, frame,
                                   rng)  # fmt: skip
    rows["village"] = write_store(str(state_dir / "simpul.db"), config,
                                  village_register(config, rng, today), today)  # fmt: skip
    return ConsoleData(config, config_to_data(config), frame, frame.last_full_month(), rows,
                       time.perf_counter() - started)  # fmt: skip


# -- checking it --------------------------------------------------------------------------------


def _differences(
    children: Sequence[Sequence[Any]],
    parents: Sequence[Sequence[Any]],
    parent_of: Callable[[int], int],
    merge: Callable[[Values, Values], None],
    same: Callable[[Values, Values], bool] = operator.eq,
) -> tuple[int, int]:
    """Parent rows compared with their children merged (rows: start, identity…, five values):
    (how many compared, how many differ). A row that is missing counts as zeros; children
    count from the first parent on (the parents given are those whose children are kept)."""
    merged: dict[tuple[Any, ...], Values] = {}
    for row in children:
        key = (*row[1:-5], parent_of(row[0]))
        merge(merged.setdefault(key, [0] * 5), list(row[-5:]))
    stored = {(*row[1:-5], row[0]): list(row[-5:]) for row in parents}
    first = min((k[-1] for k in stored), default=math.inf)
    checked = {k for k in stored.keys() | merged.keys() if k[-1] >= first}
    zeros = [0] * 5
    return len(checked), sum(1 for k in checked
                             if not same(stored.get(k, zeros), merged.get(k, zeros)))  # fmt: skip


def _maximum(into: Values, values: Values) -> None:
    for i, v in enumerate(values):
        into[i] = max(into[i], v)


def _close(a: Values, b: Values) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6) for x, y in zip(a, b, strict=True))


# Children summed per parent bucket in SQL where the parent is a fixed span (hours, days: the
# node's zones keep no summer time); months are summed in Python. :d0 is a local midnight.
_USAGE_CHILDREN = (
    "SELECT start - (start - :d0) % :span AS bucket, scope, key, site, SUM(up_bytes), "
    "SUM(down_bytes), SUM(up_packets), SUM(down_packets), SUM(sessions) FROM usage "
    "WHERE level = :level AND scope != 'client' GROUP BY scope, key, site, bucket"
)
_USAGE_PARENTS = (
    "SELECT start, scope, key, site, up_bytes, down_bytes, up_packets, down_packets, sessions "
    "FROM usage WHERE level = :level AND scope != 'client' AND start >= :kept"
)
_PEAK_CHILDREN = (
    "SELECT start - (start - :d0) % :span AS bucket, site, 0, 0, 0, 0, MAX(clients) FROM peak "
    "WHERE level = :level GROUP BY site, bucket"
)
_PEAK_PARENTS = (
    "SELECT start, site, 0, 0, 0, 0, clients FROM peak WHERE level = :level AND start >= :kept"
)
_SAMPLE_HOURS = (
    "SELECT CAST(at AS INTEGER) - (CAST(at AS INTEGER) - :d0) % 3600 AS hour, target, "
    "COUNT(*), SUM(rtt_ms IS NULL), TOTAL(rtt_ms), COUNT(rtt_ms), TOTAL(loss_percent) "
    "FROM sample GROUP BY target, hour"
)
_ROLLUP_CHILDREN = (
    "SELECT start - (start - :d0) % 86400 AS day, target, SUM(samples), SUM(down), "
    "TOTAL(rtt_sum), SUM(rtt_count), TOTAL(loss_sum) FROM rollup WHERE level = '1h' "
    "GROUP BY target, day"
)
_ROLLUP_PARENTS = (
    "SELECT start, target, samples, down, rtt_sum, rtt_count, loss_sum FROM rollup "
    "WHERE level = :level AND start >= :kept"
)


def verify(state_dir: Path, data: ConsoleData) -> dict[str, int]:
    """Check what `generate` wrote: the stored configuration parses back to the same, and every
    level of the usage rollups, of the peaks and of the monitor's rollups is the sum (maximum)
    of the level below wherever both are kept. Returns the buckets compared; raises
    AssertionError on any difference."""
    frame = data.frame
    with Store(str(state_dir / "simpul.db"), readonly=True) as store:
        assert parse_config(store.config_document()) == data.config, "stored config differs"
    d0 = frame.days[0]
    same_bucket: Callable[[int], int] = lambda start: start  # noqa: E731
    month_of: Callable[[int], int] = lambda start: bucket_start("1mo", start, frame.tz)  # noqa: E731
    compared: dict[str, int] = {}
    usage = usage_connect(str(state_dir / "usage.db"), readonly=True)
    try:
        for child, parent, span, kept, parent_of in (
            ("5m", "1h", 3600, frame.five_from, same_bucket),
            ("1h", "1d", 86400, frame.hour_from, same_bucket),
            ("1d", "1mo", 1, -math.inf, month_of),
        ):
            for name, children, parents, merge in (
                ("usage", _USAGE_CHILDREN, _USAGE_PARENTS, _add),
                ("peak", _PEAK_CHILDREN, _PEAK_PARENTS, _maximum),
            ):
                count, wrong = _differences(
                    usage.execute(children, {"d0": d0, "span": span, "level": child}).fetchall(),
                    usage.execute(parents, {"level": parent, "kept": kept}).fetchall(),
                    parent_of, merge,
                )  # fmt: skip
                assert count and not wrong, f"{name}: {wrong} of {count} {parent} buckets differ"
                compared[f"{name} {parent}"] = count
        devices = usage.execute(
            "SELECT c.site, c.start, SUM(c.down_bytes), MAX(s.down_bytes) FROM usage c JOIN usage "
            "s ON s.level = '1d' AND s.scope = 'site' AND s.key = c.site AND s.start = c.start "
            "WHERE c.level = '1d' AND c.scope = 'client' GROUP BY c.site, c.start"
        ).fetchall()
    finally:
        usage.close()
    wrong = [r for r in devices if not r[2] <= r[3] * CLIENT_SHARE + 5]
    assert devices and not wrong, f"devices moved more than their site on {len(wrong)} days"
    compared["device days"] = len(devices)
    monitor = monitor_connect(str(state_dir / "monitor" / "monitor.db"), readonly=True)
    try:
        first = monitor.execute("SELECT MIN(at) FROM sample").fetchone()[0]
        whole_hours = d0 + math.ceil((first - d0) / 3600) * 3600  # the first hour all sampled
        for parent, children, kept in (("1h", _SAMPLE_HOURS, whole_hours),
                                       ("1d", _ROLLUP_CHILDREN, frame.hour_from)):  # fmt: skip
            count, wrong = _differences(
                monitor.execute(children, {"d0": d0}).fetchall(),
                monitor.execute(_ROLLUP_PARENTS, {"level": parent, "kept": kept}).fetchall(),
                same_bucket, _add, _close,
            )  # fmt: skip
            assert count and not wrong, f"monitor: {wrong} of {count} {parent} rollups differ"
            compared[f"monitor {parent}"] = count
    finally:
        monitor.close()
    return compared


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "console-data")
    target.mkdir(parents=True, exist_ok=True)
    made = generate(target)
    print(f"{target}: {made.rows} in {made.seconds:.1f} s; last full month {made.month}")
    print(f"consistent: {verify(target, made)}")
