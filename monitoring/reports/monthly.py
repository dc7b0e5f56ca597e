"""The monthly reports' figures (pure: databases' rows and the configuration in, tables out).

- usage: per OPD and per hotspot site, bytes down/up, devices, sessions, peak clients, the
  busiest hour and the most blocked categories; per uplink, utilization of its capacity and the
  95th percentile of its hourly averages (5-minute data is kept only two days by default, so the
  month's percentile is of hours, said so in the report);
- availability: per monitored link, from the outage ledger: availability, downtime, outages and
  power cuts, and the minutes the operator's SLA pays back.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from monitoring import ledger
from monitoring.reports.blindspot import (
    OPERATOR_COLUMNS,
    BlindSpot,
    blind_spots,
    operator_rows,
)
from monitoring.reports.villages import Village
from monitoring.store import outages
from simpul.config.model import Config
from simpul.usage import queries


@dataclass(frozen=True)
class Table:
    """One table of a report: a title, column names (with units) and rows."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class Report:
    """A report's metadata (Satu Data Indonesia style) and tables."""

    kind: str
    title: str
    period: str  # YYYY-MM
    metadata: tuple[tuple[str, str], ...]
    tables: tuple[Table, ...] = field(default_factory=tuple)


def report_month(text: str | None, now: datetime) -> tuple[int, int]:
    """`text` (YYYY-MM, a year from 2000 to 2100) as (year, month); without it, the month before
    `now`'s (reports are made for the month just closed). ValueError for anything else."""
    if not text:
        return (now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1)
    year, dash, month = text.partition("-")
    if not (dash and len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit()
            and 1 <= int(month) <= 12 and 2000 <= int(year) <= 2100):  # fmt: skip
        raise ValueError(f"month {text!r}: use YYYY-MM, e.g. 2026-11")
    return int(year), int(month)


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in the node's time zone."""
    return ledger.month_period(year, month, tz)


def metadata(config: Config, title: str, period: str, unit: str, source: str,
             made: date) -> tuple[tuple[str, str], ...]:  # fmt: skip
    """The metadata lines every report carries (Satu Data Indonesia's fields)."""
    return (
        ("Judul / Title", title),
        ("Produsen Data / Producer", f"Dinas Komunikasi dan Informatika {config.node.regency}"),
        ("Kode Wilayah / Region code", config.node.region_code),
        ("Periode / Period", period),
        ("Frekuensi / Frequency", "Bulanan / Monthly"),
        ("Satuan / Unit", unit),
        ("Sumber / Source", source),
        ("Simpul", config.node.name),
        ("Tanggal Dibuat / Made on", made.isoformat()),
    )


def _peak_hours(
    db: sqlite3.Connection, tz: ZoneInfo, start: float, end: float, scope: str
) -> dict[str, tuple[int, int]]:
    """key -> (hour start, bytes) of its busiest hour."""
    return queries.busiest(db, tz, start, end, level="1h", scope=scope)


def _blocked(dns_rows: Iterable[tuple[str, str, int, int]], top: int = 3) -> dict[str, str]:
    """group key ('opd:slug') -> its most blocked categories, as text."""
    by_group: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for group, category, _allowed, blocked in dns_rows:
        if blocked:
            by_group[group].append((blocked, category))
    return {
        g: ", ".join(f"{c} ({n:,})" for n, c in sorted(items, reverse=True)[:top])
        for g, items in by_group.items()
    }


def usage_report(
    config: Config,
    usage: sqlite3.Connection,
    dns_rows: Iterable[tuple[str, str, int, int]],
    year: int,
    month: int,
    made: date,
) -> Report:
    """The month's usage per OPD, hotspot site and uplink."""
    tz = config.node.zoneinfo
    start_dt, end_dt = month_bounds(year, month, tz)
    start, end = start_dt.timestamp(), end_dt.timestamp()
    period = f"{year:04d}-{month:02d}"
    blocked = _blocked(dns_rows)

    def hour(at: int | None) -> str:
        return datetime.fromtimestamp(at, tz).strftime("%d %H:00") if at else "—"

    opd_rows = {r.key: r for r in queries.totals(usage, tz, start, end, scope="opd")}
    opd_peak = _peak_hours(usage, tz, start, end, "opd")
    opds = tuple(
        (o.slug, o.name, _gb(opd_rows[o.slug].down_bytes if o.slug in opd_rows else 0),
         _gb(opd_rows[o.slug].up_bytes if o.slug in opd_rows else 0),
         hour(opd_peak.get(o.slug, (None, 0))[0]), blocked.get(f"opd:{o.slug}", "—"))
        for o in config.opds
    )  # fmt: skip
    site_rows = {r.key: r for r in queries.totals(usage, tz, start, end, scope="site")}
    figures = queries.site_figures(usage, tz, start, end)  # (devices, peak online) per site
    site_peak = _peak_hours(usage, tz, start, end, "site")
    sites = tuple(
        (s.slug, s.name, s.kecamatan,
         _gb(site_rows[s.slug].down_bytes if s.slug in site_rows else 0),
         _gb(site_rows[s.slug].up_bytes if s.slug in site_rows else 0),
         figures.get(s.slug, (0, 0))[0],
         site_rows[s.slug].sessions if s.slug in site_rows else 0,
         figures.get(s.slug, (0, 0))[1], hour(site_peak.get(s.slug, (None, 0))[0]),
         blocked.get(f"site:{s.slug}", "—"))
        for s in config.hotspot_sites
    )  # fmt: skip
    uplinks = []
    seconds = end - start
    for uplink in config.uplinks:
        # An uplink's rows have no site: naming it uses the whole primary key.
        series = queries.series(usage, tz, start, end, level="1h", scope="uplink",
                                key=uplink.name, site="")  # fmt: skip
        hours = [r.total_bytes for r in series]
        rows = queries.totals(usage, tz, start, end, scope="uplink", key=uplink.name)
        down = rows[0].down_bytes if rows else 0
        up = rows[0].up_bytes if rows else 0
        capacity = uplink.bandwidth.down_mbps * 1e6 if uplink.bandwidth else None
        utilization = f"{100 * down * 8 / (capacity * seconds):.1f}" if capacity else "—"
        p95 = _percentile([h * 8 / 3600 for h in hours], 95) / 1e6 if hours else 0.0
        uplinks.append((uplink.name, _gb(down), _gb(up), utilization, f"{p95:.1f}"))
    title = f"Laporan Pemakaian Internet / Internet Usage Report — {config.node.regency}"
    return Report(
        "usage", title, period,
        metadata(config, title, period, "GB (10^9 byte), Mbit/s, %",
                 "penghitung kernel gateway Simpul (nftables) / the gateway's kernel counters",
                 made),
        (
            Table("Pemakaian per OPD / Usage per OPD",
                  ("opd", "nama", "unduh_gb", "unggah_gb", "jam_tersibuk", "kategori_diblokir"),
                  opds),
            Table("Pemakaian per lokasi hotspot / Usage per hotspot site",
                  ("site", "nama", "kecamatan", "unduh_gb", "unggah_gb", "perangkat",
                   "sesi", "puncak_pengguna", "jam_tersibuk", "kategori_diblokir"),
                  sites),
            Table("Kapasitas uplink / Uplink capacity",
                  ("uplink", "unduh_gb", "unggah_gb", "utilisasi_unduh_persen",
                   "p95_jam_mbps"),
                  tuple(uplinks),
                  "p95: persentil ke-95 rata-rata per jam / 95th percentile of hourly averages"),
        ),
    )  # fmt: skip


def availability_report(
    config: Config, monitor: sqlite3.Connection, year: int, month: int, now: datetime,
    made: date,
) -> Report:  # fmt: skip
    """The month's availability per monitored link, from the outage ledger."""
    tz = config.node.zoneinfo
    start, end = month_bounds(year, month, tz)
    period = f"{year:04d}-{month:02d}"
    items = ledger_outages(monitor, start, end)
    sla = config.monitoring.alerting.sla_outage_s
    figures = ledger.availability(items, start, end, now, sla_outage_s=sla,
                                  targets=[t.name for t in config.monitoring.targets])  # fmt: skip
    site_of = {t.name: t.site or "" for t in config.monitoring.targets}
    links = tuple(
        (target, site_of.get(target, ""),
         f"{a.ratio * 100:.3f}" if a.ratio is not None else "—",
         f"{a.down_s / 60:.1f}",
         sum(1 for o in items if o.target == target),
         sum(1 for o in items if o.target == target and o.cause == "power"),
         f"{a.sla_minutes:.1f}")
        for target, a in figures.items()
    )  # fmt: skip
    ledger_rows = tuple(
        (o.target, o.site or "", f"{o.start.astimezone(tz):%Y-%m-%d %H:%M}",
         f"{o.end.astimezone(tz):%Y-%m-%d %H:%M}" if o.end else "(berlangsung / open)",
         f"{o.duration_s(now) / 60:.1f}", o.cause, "ya" if o.sla(sla) else "tidak")
        for o in items
    )  # fmt: skip
    title = f"Laporan Ketersediaan Jaringan / Network Availability Report — {config.node.regency}"
    return Report(
        "availability", title, period,
        metadata(config, title, period, "persen, menit / percent, minutes",
                 "pemantauan Simpul (ping, SNMP) / Simpul's monitoring (ping, SNMP)", made),
        (
            Table("Ketersediaan per link / Availability per link",
                  ("target", "site", "ketersediaan_persen", "padam_menit", "gangguan",
                   "padam_listrik", "sla_menit"), links,
                  f"SLA: gangguan > {sla} detik yang bukan padam listrik / outages over {sla} s "
                  "that are not power cuts"),
            Table("Daftar gangguan / Outage ledger",
                  ("target", "site", "mulai", "selesai", "durasi_menit", "penyebab", "sla"),
                  ledger_rows),
        ),
    )  # fmt: skip


def ledger_outages(
    monitor: sqlite3.Connection, start: datetime, end: datetime
) -> list[ledger.Outage]:
    """The monitor's ledger rows overlapping [start, end), as `ledger.Outage`s."""
    return [r.outage() for r in outages(monitor, start.timestamp(), end.timestamp())]


def site_downtime(
    config: Config, monitor: sqlite3.Connection, start: datetime, end: datetime, now: datetime
) -> dict[str, float]:
    """Seconds each site was down in [start, end): the longest downtime of its targets."""
    items = ledger_outages(monitor, start, end)
    sla = config.monitoring.alerting.sla_outage_s
    figures = ledger.availability(items, start, end, now, sla_outage_s=sla)
    site_of = {t.name: t.site for t in config.monitoring.targets}
    down: dict[str, float] = {}
    for target, a in figures.items():
        site = site_of.get(target)
        if site:
            down[site] = max(down.get(site, 0.0), a.down_s)
    return down


def month_blind_spots(
    config: Config, villages: list[Village], downtime: dict[str, float], year: int, month: int,
    threshold_percent: float,
) -> list[BlindSpot]:  # fmt: skip
    """The month's blind spots: villages with no signal, and villages whose site was down more
    than `threshold_percent` of the month."""
    start, end = month_bounds(year, month, config.node.zoneinfo)
    return blind_spots(villages, downtime, (end - start).total_seconds(), threshold_percent)


def blindspot_report(
    config: Config, villages: list[Village], spots: list[BlindSpot], year: int, month: int,
    threshold_percent: float, made: date,
) -> Report:  # fmt: skip
    """The report of a month's blind spots (`month_blind_spots`) for the operator."""
    period = f"{year:04d}-{month:02d}"
    rows = tuple(tuple(r[c] for c in OPERATOR_COLUMNS) for r in operator_rows(spots))
    title = f"Laporan Titik Blank Spot / Blind-spot Report — {config.node.regency}"
    return Report(
        "blindspot", title, period,
        metadata(config, title, period, "derajat, jam / degrees, hours",
                 f"daftar desa ({len(villages)} desa, survei) dan pemantauan Simpul / the village "
                 "register (surveys) and Simpul's monitoring", made),
        (Table("Desa tanpa sinyal atau dengan site sering mati / Villages without signal or "
               "with a site often down", OPERATOR_COLUMNS, rows,
               f"batas mati site / site-down threshold: {threshold_percent:g}%"),),
    )  # fmt: skip


def _gb(n: int) -> str:
    return f"{n / 1e9:.3f}"


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
