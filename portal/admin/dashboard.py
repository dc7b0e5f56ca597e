"""The dashboard: clients online, bandwidth now and over the last day, the sites' links on a map,
and the open alerts; the same figures as JSON at /api/v1/dashboard.

Fast with a year of rollups: every usage.db query reads one window through the (level, start)
index (`simpul.usage.queries.series`), a fixed number of them whatever the number of sites; the
monitor's side is two queries. A database that is not there yet (netd or the monitor has not run)
turns its part of the page into "belum ada data", never an error.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from monitoring import alerts
from monitoring import store as monitor_store
from portal.admin.api import ApiRefused, api, netd_call
from portal.admin.charts import Series, bar_chart, line_chart
from portal.admin.formatting import rate, when, zone
from portal.admin.i18n import lang, tr
from portal.admin.readers import monitor_db, usage_db
from portal.admin.session import refuse, requires, runtime, stored_config
from portal.admin.sitemap import MapPoint, State, site_map
from simpul.config import Config
from simpul.config.model import HotspotSite, RemoteSite
from simpul.usage import queries
from simpul.usage.buckets import bucket_start

log = logging.getLogger("simpul.admin")
bp = Blueprint("dashboard", __name__)

FIVE_MINUTES, HOUR, DAY = 300, 3600, 86400
STALE_CYCLES = 3  # a target not sampled for this many monitor intervals is "unknown"
TOP_SITES = 5  # lines in the sites' 24-hour chart
TOP_BARS = 10  # bars in the per-site charts (the tables list every site)
CHART_WIDTH = 420  # viewBox units: the charts' 11-unit text stays readable on a phone
ALERT_STATES = ("warning", "critical", "down")


def state_labels() -> dict[State, str]:
    """The map's states in this request's language."""
    return {
        "up": tr("Tersambung", "Up"), "down": tr("Putus", "Down"),
        "maintenance": tr("Pemeliharaan", "Maintenance"),
        "unknown": tr("Tidak diketahui", "Unknown"),
        "no-signal": tr("Desa tanpa sinyal", "Village without signal"),
        "site-down": tr("Desa dengan site sering mati", "Village whose site was down too long"),
    }  # fmt: skip


def severity_labels() -> dict[str, str]:
    """The monitor's severities in this request's language."""
    return {"ok": tr("baik", "ok"), "warning": tr("peringatan", "warning"),
            "critical": tr("kritis", "critical"), "down": tr("putus", "down")}  # fmt: skip


def _unavailable(exc: Exception, missing: str) -> dict[str, Any]:
    """A part of the page whose database is missing (FileNotFoundError) or unreadable."""
    if isinstance(exc, FileNotFoundError):
        return {"available": False, "message": tr("Belum ada data: {why}.", "No data yet: {why}.",
                                                  why=missing)}  # fmt: skip
    log.warning("dashboard: cannot read a database: %s", exc)
    return {"available": False, "message": tr("Data tidak dapat dibaca: {e}", "Cannot read the "
                                              "data: {e}", e=exc)}  # fmt: skip


# -- clients -----------------------------------------------------------------------------------


def clients_part(config: Config) -> dict[str, Any]:
    """Clients online per hotspot site (every configured site, busiest first), from netd."""
    try:
        online = netd_call("clients")
    except ApiRefused as exc:
        return {"available": False, "message": str(exc), "online": None, "sites": []}
    counts = Counter(str(row.get("site") or "") for row in online)
    names = {s.slug: s.name for s in config.hotspot_sites}
    slugs = list(names) + sorted(s for s in counts if s not in names)
    sites = [{"site": slug, "name": names.get(slug) or slug or tr("(tanpa lokasi)", "(no site)"),
              "clients": counts.get(slug, 0)} for slug in slugs]  # fmt: skip
    sites.sort(key=lambda s: (-s["clients"], s["name"]))
    return {"available": True, "message": None, "online": len(online), "sites": sites}


# -- bandwidth ---------------------------------------------------------------------------------


def _bps(nbytes: int, seconds: int) -> float:
    return nbytes * 8 / seconds


def _rates_now(db: sqlite3.Connection, config: Config, tz: ZoneInfo, now: float) -> dict[str, Any]:
    """Each site's and uplink's rate over the latest closed 5-minute bucket holding traffic
    (within the last day); `stale` when that is not the bucket that just closed."""
    open_start = bucket_start("5m", now, tz)
    latest = db.execute(
        "SELECT MAX(start) FROM usage WHERE level = '5m' AND start >= ? AND start < ?",
        (open_start - DAY, open_start),
    ).fetchone()[0]
    rows = {} if latest is None else {
        (r.scope, r.key): r
        for r in queries.series(db, tz, latest, latest + FIVE_MINUTES, level="5m")
        if r.scope in ("site", "uplink")
    }  # fmt: skip

    def figures(scope: str, key: str, name: str, capacity_mbps: float | None) -> dict[str, Any]:
        row = rows.get((scope, key))
        down = _bps(row.down_bytes, FIVE_MINUTES) if row else 0.0
        up = _bps(row.up_bytes, FIVE_MINUTES) if row else 0.0
        use = round(100 * down / (capacity_mbps * 1e6), 1) if capacity_mbps else None
        return {"key": key, "name": name, "down_bps": down, "up_bps": up,
                "down_capacity_percent": use}  # fmt: skip

    sites = [figures("site", s.slug, s.name, s.bandwidth.down_mbps if s.bandwidth else None)
             for s in config.hotspot_sites]  # fmt: skip
    sites.sort(key=lambda s: (-s["down_bps"], s["name"]))
    uplinks = [figures("uplink", u.name, u.name, u.bandwidth.down_mbps if u.bandwidth else None)
               for u in config.uplinks]  # fmt: skip
    stale = latest is not None and latest < open_start - FIVE_MINUTES
    return {"bucket_start": latest, "stale": stale, "sites": sites, "uplinks": uplinks}


def _points(rows: Iterable[queries.UsageRow], starts: list[int], seconds: int,
            value: Callable[[queries.UsageRow], int]) -> list[list[float]]:  # fmt: skip
    """[[bucket start, bit/s]] for every bucket, zero where no row."""
    by_start = {r.start: value(r) for r in rows}
    return [[at, _bps(by_start.get(at, 0), seconds)] for at in starts]


def _last_day(db: sqlite3.Connection, config: Config, tz: ZoneInfo, now: float) -> dict[str, Any]:
    """The uplinks' and the busiest sites' hourly rates over the last day of closed hours, from
    one query (hours, not 5 minutes: a day of 5-minute rows of every scope is ten times the
    rows to read, for a chart a phone shows 24 points of anyway)."""
    end = bucket_start("1h", now, tz)
    by_key: dict[tuple[str, str], list[queries.UsageRow]] = defaultdict(list)
    for row in queries.series(db, tz, end - DAY, end, level="1h"):
        if row.scope in ("site", "uplink"):
            by_key[(row.scope, row.key)].append(row)
    starts = queries.buckets("1h", end - DAY, end, tz)
    directions: dict[str, Callable[[queries.UsageRow], int]] = {
        "down": lambda r: r.down_bytes, "up": lambda r: r.up_bytes}  # fmt: skip
    uplinks = [
        {"key": u.name, "name": u.name, "direction": direction,
         "points": _points(by_key[("uplink", u.name)], starts, HOUR, value)}
        for u in config.uplinks for direction, value in directions.items()
    ]  # fmt: skip
    names = {s.slug: s.name for s in config.hotspot_sites}
    site_keys = [key for scope, key in by_key if scope == "site"]
    busiest = sorted(site_keys, key=lambda k: -sum(r.total_bytes for r in by_key[("site", k)]))
    sites = [{"key": key, "name": names.get(key, key),
              "points": _points(by_key[("site", key)], starts, HOUR, lambda r: r.total_bytes)}
             for key in busiest[:TOP_SITES]]  # fmt: skip
    return {"uplinks": uplinks, "sites": sites}


def bandwidth_part(config: Config, tz: ZoneInfo, now: float) -> dict[str, Any]:
    """Bandwidth now and over the last day, from usage.db."""
    try:
        db = usage_db()
        return {"available": True, "message": None, "now": _rates_now(db, config, tz, now),
                "last_24h": _last_day(db, config, tz, now)}  # fmt: skip
    except (FileNotFoundError, sqlite3.Error) as exc:
        return _unavailable(exc, tr("netd belum mencatat pemakaian (usage.db belum ada)",
                                    "netd has not booked any usage (no usage.db)")) | {
            "now": None, "last_24h": None}  # fmt: skip


# -- links -------------------------------------------------------------------------------------


def link_state(
    last_sample: float | None, severity: str | None, maintenance: bool, now: float, stale_s: float
) -> State:
    """A target's link on the map: in maintenance, unknown when never or not recently (within
    `stale_s`) sampled, else down or up by the monitor's severity."""
    if maintenance:
        return "maintenance"
    if last_sample is None or now - last_sample > stale_s:
        return "unknown"
    return "down" if severity == "down" else "up"


def _target_states(config: Config, tz: ZoneInfo, now: float) -> list[dict[str, Any]]:
    """Every configured target's state, as `simpul monitor status` reads it, and its link state
    for the map (maintenance, up, down, unknown when never or not recently sampled)."""
    db = monitor_db()
    latest = {row["target"]: row for row in monitor_store.latest(db)}
    stored = monitor_store.alert_states(db)
    moment = datetime.fromtimestamp(now, tz)
    stale_s = STALE_CYCLES * config.monitoring.interval_s
    site_names = {s.slug: s.name for s in (*config.hotspot_sites, *config.remote_sites)}
    out = []
    for target in config.monitoring.targets:
        sample, state = latest.get(target.name), stored.get(target.name, {})
        severity = state.get("state", sample["severity"] if sample else None)
        maintenance = alerts.in_maintenance(config.monitoring.maintenance, target.name,
                                            target.site, moment, tz)  # fmt: skip
        last_poll = sample["at"] if sample else None
        link = link_state(last_poll, severity, maintenance, now, stale_s)
        out.append({
            "target": target.name, "site": target.site,
            "site_name": site_names.get(target.site or "", target.site), "state": severity,
            "link": link,
            "since": state.get("since"), "acked_by": state.get("acked_by"),
            "last_poll": last_poll,
            "rtt_ms": sample["rtt_ms"] if sample else None,
            "loss_percent": sample["loss_percent"] if sample else None,
            "reasons": [x for x in (sample["reasons"] if sample else "").split("\n") if x],
            "in_maintenance": maintenance,
        })  # fmt: skip
    return out


def _site_state(targets: list[dict[str, Any]], site_window: bool) -> State:
    links = {t["link"] for t in targets}
    if site_window or "maintenance" in links:
        return "maintenance"
    for state in ("down", "up"):
        if state in links:
            return state  # type: ignore[return-value]
    return "unknown"


def _places(config: Config, targets: list[dict[str, Any]], tz: ZoneInfo,
            now: float) -> list[dict[str, Any]]:  # fmt: skip
    """Hotspot and remote sites with their location and the state of their targets' links."""
    by_site: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for target in targets:
        by_site[target["site"] or ""].append(target)
    moment = datetime.fromtimestamp(now, tz)
    places: list[tuple[str, HotspotSite | RemoteSite]] = [
        *(("hotspot", s) for s in config.hotspot_sites),
        *(("remote", s) for s in config.remote_sites),
    ]
    return [
        {"kind": kind, "slug": s.slug, "name": s.name, "lat": s.location.lat,
         "lon": s.location.lon,
         "state": _site_state(by_site.get(s.slug, []), alerts.in_maintenance(
             config.monitoring.maintenance, "", s.slug, moment, tz)),
         "targets": [t["target"] for t in by_site.get(s.slug, [])]}
        for kind, s in places
    ]  # fmt: skip


def links_part(config: Config, tz: ZoneInfo, now: float) -> dict[str, Any]:
    """The links' states, the sites for the map and the open alerts, from monitor.db."""
    try:
        targets = _target_states(config, tz, now)
    except (FileNotFoundError, sqlite3.Error) as exc:
        no_data = _unavailable(exc, tr("pemantau belum berjalan (monitor.db belum ada)",
                                       "the monitor has not run yet (no monitor.db)"))  # fmt: skip
        unknown = [{**p, "state": "unknown"} for p in _places(config, [], tz, now)]
        return no_data | {"targets": [], "sites": unknown, "alerts": [], "up": None}
    open_alerts = [t for t in targets if t["state"] in ALERT_STATES]
    open_alerts.sort(key=lambda t: (-ALERT_STATES.index(t["state"]), t["since"] or ""))
    return {"available": True, "message": None, "targets": targets,
            "sites": _places(config, targets, tz, now), "alerts": open_alerts,
            "up": sum(1 for t in targets if t["link"] == "up")}  # fmt: skip


# -- the whole dashboard -----------------------------------------------------------------------


def dashboard_figures() -> dict[str, Any]:
    """Everything the dashboard shows, as JSON-ready data (see DASHBOARD_SCHEMA)."""
    config = stored_config()
    tz = config.node.zoneinfo
    now = runtime().clock()
    clients = clients_part(config)
    bandwidth = bandwidth_part(config, tz, now)
    links = links_part(config, tz, now)
    tiles = {
        "clients_online": clients["online"],
        "hotspot_sites": len(config.hotspot_sites),
        "remote_sites": len(config.remote_sites),
        "links_up": links["up"],
        "links_total": len(config.monitoring.targets),
        "open_alerts": len(links["alerts"]) if links["available"] else None,
    }
    return {"at": now, "timezone": config.node.timezone, "tiles": tiles, "clients": clients,
            "bandwidth": bandwidth, "links": links}  # fmt: skip


def _charts(figures: dict[str, Any], tz: ZoneInfo) -> dict[str, Markup]:
    """The page's pictures of `figures`."""
    language = lang()

    def clock(at: float) -> str:
        return datetime.fromtimestamp(at, tz).strftime("%H:%M")

    def speed(bps: float) -> str:
        return rate(bps, language)

    charts = {
        "clients": bar_chart(
            [(s["name"], s["clients"]) for s in figures["clients"]["sites"][:TOP_BARS]],
            title=tr("Klien daring per lokasi", "Clients online per site"),
            value_format=lambda v: f"{v:.0f}",
            width=CHART_WIDTH,
        ),
        "map": site_map(
            [MapPoint(p["name"], p["lat"], p["lon"], p["state"],
                      tr("hotspot", "hotspot") if p["kind"] == "hotspot"
                      else tr("kantor kecamatan", "remote site"))
             for p in figures["links"]["sites"]],
            title=tr("Peta lokasi dan status link", "Map of sites and link state"),
            labels=state_labels(), lang=language,
            empty=tr("Belum ada lokasi", "No sites yet"),
        ),
    }  # fmt: skip
    last_day = figures["bandwidth"]["last_24h"]
    if last_day is not None:
        arrows = {"down": "↓", "up": "↑"}
        charts["uplinks"] = line_chart(
            [
                Series(f"{u['name']} {arrows[u['direction']]}", [tuple(p) for p in u["points"]])
                for u in last_day["uplinks"]
            ],
            title=tr(
                "Uplink, 24 jam terakhir (rata-rata per jam)",
                "Uplinks, last 24 hours (hourly averages)",
            ),
            y_format=speed,
            x_format=clock,
            width=CHART_WIDTH,
        )
        charts["sites"] = line_chart(
            [Series(s["name"], [tuple(p) for p in s["points"]]) for s in last_day["sites"]],
            title=tr(
                "Lokasi tersibuk, 24 jam terakhir (rata-rata per jam)",
                "Busiest sites, last 24 hours (hourly averages)",
            ),
            y_format=speed,
            x_format=clock,
            empty=tr("Tidak ada lalu lintas", "No traffic"),
            width=CHART_WIDTH,
        )
        charts["sites_now"] = bar_chart(
            [(s["name"], s["down_bps"]) for s in figures["bandwidth"]["now"]["sites"][:TOP_BARS]],
            title=tr("Unduh per lokasi sekarang", "Download per site now"),
            value_format=speed,
            width=CHART_WIDTH,
        )  # fmt: skip
    return charts


@bp.route("/")
@requires("view")
def index() -> ResponseReturnValue:
    """The dashboard, mobile first."""
    try:
        figures = dashboard_figures()
    except ApiRefused as exc:
        return refuse(exc.status, str(exc))
    tz_name = figures["timezone"]

    def since(iso: str | None) -> str:
        moment = datetime.fromisoformat(iso).timestamp() if iso else None
        return when(moment, tz_name, lang())

    return render_template(
        "admin/dashboard/index.html",
        d=figures,
        charts=_charts(figures, zone(tz_name)),
        state_labels=state_labels(),
        severity_labels=severity_labels(),
        since=since,
    )


# -- API ---------------------------------------------------------------------------------------

_PART = {
    "available": {"type": "boolean"},
    "message": {"type": ["string", "null"], "description": "why the part has no data"},
}
_POINTS = {"type": "array", "description": "[bucket start (epoch s), bit/s] for every bucket",
           "items": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                     "maxItems": 2}}  # fmt: skip
_RATE = {"type": "object", "properties": {
    "key": {"type": "string"}, "name": {"type": "string"}, "down_bps": {"type": "number"},
    "up_bps": {"type": "number"},
    "down_capacity_percent": {"type": ["number", "null"],
                              "description": "of the configured down bandwidth"}}}  # fmt: skip
DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A part whose database or daemon is not there has available=false, a message, "
    "and null figures.",
    "properties": {
        "at": {"type": "number", "description": "when the figures were read (epoch s)"},
        "timezone": {"type": "string", "description": "the node's zone (WIB, WITA, WIT…)"},
        "tiles": {"type": "object", "properties": {
            "clients_online": {"type": ["integer", "null"]},
            "hotspot_sites": {"type": "integer"}, "remote_sites": {"type": "integer"},
            "links_up": {"type": ["integer", "null"]}, "links_total": {"type": "integer"},
            "open_alerts": {"type": ["integer", "null"]}}},
        "clients": {"type": "object", "properties": {
            **_PART, "online": {"type": ["integer", "null"]},
            "sites": {"type": "array", "description": "every hotspot site, busiest first",
                      "items": {"type": "object", "properties": {
                          "site": {"type": "string"}, "name": {"type": "string"},
                          "clients": {"type": "integer"}}}}}},
        "bandwidth": {"type": "object", "properties": {
            **_PART,
            "now": {"type": ["object", "null"], "properties": {
                "bucket_start": {"type": ["integer", "null"],
                                 "description": "the 5-minute bucket the rates are of"},
                "stale": {"type": "boolean",
                          "description": "no traffic booked in the bucket that just closed"},
                "sites": {"type": "array", "items": _RATE},
                "uplinks": {"type": "array", "items": _RATE}}},
            "last_24h": {"type": ["object", "null"], "properties": {
                "uplinks": {"type": "array", "description": "per hour, down and up",
                            "items": {"type": "object", "properties": {
                                "key": {"type": "string"}, "name": {"type": "string"},
                                "direction": {"enum": ["down", "up"]}, "points": _POINTS}}},
                "sites": {"type": "array", "description": "the busiest sites, per hour",
                          "items": {"type": "object", "properties": {
                              "key": {"type": "string"}, "name": {"type": "string"},
                              "points": _POINTS}}}}}}},
        "links": {"type": "object", "properties": {
            **_PART, "up": {"type": ["integer", "null"]},
            "targets": {"type": "array", "items": {"type": "object", "properties": {
                "target": {"type": "string"}, "site": {"type": ["string", "null"]},
                "site_name": {"type": ["string", "null"]},
                "state": {"enum": ["ok", "warning", "critical", "down", None]},
                "link": {"enum": ["up", "down", "maintenance", "unknown"]},
                "since": {"type": ["string", "null"], "description": "ISO 8601"},
                "acked_by": {"type": ["string", "null"]},
                "last_poll": {"type": ["number", "null"]},
                "rtt_ms": {"type": ["number", "null"]},
                "loss_percent": {"type": ["number", "null"]},
                "reasons": {"type": "array", "items": {"type": "string"}},
                "in_maintenance": {"type": "boolean"}}}},
            "alerts": {"type": "array", "description": "targets not ok, worst first (as targets)"},
            "sites": {"type": "array", "items": {"type": "object", "properties": {
                "kind": {"enum": ["hotspot", "remote"]}, "slug": {"type": "string"},
                "name": {"type": "string"}, "lat": {"type": "number"},
                "lon": {"type": "number"},
                "state": {"enum": ["up", "down", "maintenance", "unknown"]},
                "targets": {"type": "array", "items": {"type": "string"}}}}}}},
    },
}  # fmt: skip


@api(bp, "/dashboard", capability="view", response=DASHBOARD_SCHEMA,
     summary="The dashboard's figures: clients, bandwidth, links, alerts")  # fmt: skip
def get_dashboard() -> dict[str, Any]:
    return dashboard_figures()
