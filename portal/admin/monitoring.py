"""Monitoring: every link's state, RTT, loss and open outage; a page per link with its RTT and
loss over a day and a week, its interface rates and this month's outages and availability;
acknowledging a link's trouble (operate) and the maintenance windows, kept in the draft
(configure).

The monitor owns monitor.db; the console reads it, and writes only an acknowledgement row that
the monitor applies at its next cycle (as `simpul monitor ack` does)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from pydantic import BaseModel, Field

from monitoring import ledger
from monitoring import store as monitor_store
from monitoring.reports.monthly import ledger_outages
from portal.admin import formatting
from portal.admin.api import ApiRefused, api
from portal.admin.auth import record
from portal.admin.charts import Series, line_chart
from portal.admin.drafts import current_draft, edit_draft, object_errors, saved_to_draft
from portal.admin.i18n import lang, tr
from portal.admin.readers import monitor_db
from portal.admin.session import current_user, requires, runtime, stored_config
from simpul.config.model import Config, Maintenance, MonitoringTarget

bp = Blueprint("monitoring", __name__)
DAY_S, WEEK_S = 86_400, 7 * 86_400
BUCKET_S = 300  # the day charts' points: 5-minute averages of the samples
MAX_WINDOWS = 500


class MaintenanceWindows(BaseModel):
    """The whole list of maintenance windows (replaces the draft's). Naive times are in the
    node's time zone."""

    model_config = {"extra": "forbid"}
    windows: list[Maintenance] = Field(max_length=MAX_WINDOWS)


# -- reading monitor.db ------------------------------------------------------------------------


def _monitor() -> sqlite3.Connection | None:
    """monitor.db read only, or None while the monitor has not made it."""
    try:
        return monitor_db()
    except FileNotFoundError:
        return None


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def _target(config: Config, name: str) -> MonitoringTarget:
    """The monitored target called `name`, or ApiRefused(404)."""
    for target in config.monitoring.targets:
        if target.name == name:
            return target
    message = tr("Tidak ada target pemantauan bernama {n}.", "No monitoring target is named {n}.",
                 n=name)  # fmt: skip
    raise ApiRefused(404, "not-found", message)


def _status(
    target: MonitoringTarget,
    sample: sqlite3.Row | None,
    state: dict[str, Any],
    outage: monitor_store.StoredOutage | None,
    queued: tuple[str, float] | None,
) -> dict[str, Any]:
    """One target's line of the overview (times in seconds since the epoch)."""
    return {
        "name": target.name,
        "site": target.site,
        "address": str(target.address),
        "state": state.get("state") or (sample["severity"] if sample else "unknown"),
        "since": _epoch(state.get("since")),
        "rtt_ms": sample["rtt_ms"] if sample else None,
        "loss_percent": sample["loss_percent"] if sample else None,
        "jitter_ms": sample["jitter_ms"] if sample else None,
        "last_sample": sample["at"] if sample else None,
        "reasons": [r for r in sample["reasons"].split("\n") if r] if sample else [],
        "outage": {"id": outage.id, "start": outage.start,
                   "in_maintenance": outage.in_maintenance} if outage else None,
        "acked_by": state.get("acked_by"),
        "acked_at": _epoch(state.get("acked_at")),
        "ack_queued": {"who": queued[0], "at": queued[1]} if queued else None,
    }  # fmt: skip


def targets_overview() -> dict[str, Any]:
    """Every configured target's state, figures, open outage and acknowledgement; with
    `monitor_db` False (and no figures) while the monitor has not run."""
    targets = stored_config().monitoring.targets
    conn = _monitor()
    if conn is None:
        return {"monitor_db": False,
                "targets": [_status(t, None, {}, None, None) for t in targets]}  # fmt: skip
    now = runtime().clock()
    samples = {r["target"]: r for r in monitor_store.latest(conn)}
    states = monitor_store.alert_states(conn)
    open_outages = {o.target: o for o in monitor_store.outages(conn, now, now + 1) if o.end is None}
    queued = monitor_store.pending_acks(conn)
    rows = [
        _status(t, samples.get(t.name), states.get(t.name, {}), open_outages.get(t.name),
                queued.get(t.name))
        for t in targets
    ]  # fmt: skip
    return {"monitor_db": True, "targets": rows}


def _day_series(conn: sqlite3.Connection, target: str, since: float) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT CAST(at / ? AS INTEGER) * ? AS bucket, AVG(rtt_ms) AS rtt, "
        "AVG(loss_percent) AS loss FROM sample WHERE target = ? AND at >= ? "
        "GROUP BY bucket ORDER BY bucket",
        (BUCKET_S, BUCKET_S, target, since),
    )
    return [{"at": r["bucket"], "rtt_ms": r["rtt"], "loss_percent": r["loss"]} for r in rows]


def _week_series(conn: sqlite3.Connection, target: str, since: float) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT start, CASE WHEN rtt_count > 0 THEN rtt_sum / rtt_count END AS rtt, "
        "loss_sum / samples AS loss FROM rollup WHERE level = '1h' AND target = ? "
        "AND start >= ? ORDER BY start",
        (target, since),
    )
    return [{"at": r["start"], "rtt_ms": r["rtt"], "loss_percent": r["loss"]} for r in rows]


def _interface_series(
    conn: sqlite3.Connection, target: str, since: float
) -> dict[str, list[dict[str, Any]]]:
    rows = conn.execute(
        "SELECT interface, CAST(at / ? AS INTEGER) * ? AS bucket, AVG(rx_bps) AS rx, "
        "AVG(tx_bps) AS tx FROM interface_rate WHERE target = ? AND at >= ? "
        "GROUP BY interface, bucket ORDER BY interface, bucket",
        (BUCKET_S, BUCKET_S, target, since),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["interface"], []).append(
            {"at": r["bucket"], "rx_bps": r["rx"], "tx_bps": r["tx"]}
        )
    return out


def _month_outages(
    conn: sqlite3.Connection, config: Config, target: str, now: float
) -> dict[str, Any]:
    """This month's outages of `target` and its availability (the monitoring ledger's)."""
    tz = config.node.zoneinfo
    moment = datetime.fromtimestamp(now, tz)
    start, end = ledger.month_period(moment.year, moment.month, tz)
    items = [o for o in ledger_outages(conn, start, end) if o.target == target]
    sla_s = config.monitoring.alerting.sla_outage_s
    figures = ledger.availability(items, start, end, moment, sla_outage_s=sla_s,
                                  targets=[target])[target]  # fmt: skip
    return {
        "month": f"{moment:%Y-%m}",
        "sla_outage_s": sla_s,
        "availability": {"ratio": figures.ratio, "period_s": figures.period_s,
                         "down_s": figures.down_s, "maintenance_s": figures.maintenance_s,
                         "sla_minutes": figures.sla_minutes},
        "outages": [{"start": o.start.timestamp(), "end": o.end.timestamp() if o.end else None,
                     "duration_s": o.duration_s(moment), "cause": o.cause,
                     "in_maintenance": o.in_maintenance, "sla": o.sla(sla_s)} for o in items],
    }  # fmt: skip


def target_detail(name: str) -> dict[str, Any]:
    """One target's state, its RTT and loss over 24 h (5-minute averages) and 7 days (hourly),
    its interfaces' rates over 24 h and this month's outages; 404 for an unknown target."""
    config = stored_config()
    _target(config, name)
    overview = targets_overview()
    status = next(row for row in overview["targets"] if row["name"] == name)
    conn = _monitor()
    if conn is None:
        return {"monitor_db": False, "target": status, "day": [], "week": [],
                "interfaces": {}, "month": None}  # fmt: skip
    now = runtime().clock()
    return {
        "monitor_db": True,
        "target": status,
        "day": _day_series(conn, name, now - DAY_S),
        "week": _week_series(conn, name, now - WEEK_S),
        "interfaces": _interface_series(conn, name, now - DAY_S),
        "month": _month_outages(conn, config, name, now),
    }


# -- acknowledging -----------------------------------------------------------------------------


def acknowledge_target(name: str) -> dict[str, Any]:
    """Ask the monitor to mark `name`'s current trouble as taken on by the signed-in user."""
    _target(stored_config(), name)
    if not runtime().settings.monitor_db.exists():
        raise ApiRefused(409, "no-monitor-db", tr(
            "Belum ada data pemantauan: layanan monitor belum berjalan.",
            "No monitoring data yet: the monitor has not run."))  # fmt: skip
    state = monitor_store.alert_states(monitor_db()).get(name, {}).get("state", "ok")
    if state == "ok":
        raise ApiRefused(409, "nothing-to-ack", tr(
            "{n} normal: tidak ada gangguan untuk ditangani.",
            "{n} is ok: there is no trouble to acknowledge.", n=name))  # fmt: skip
    user = current_user()
    assert user is not None
    at = runtime().clock()
    monitor_store.acknowledge(monitor_db(write=True), name, user.name, at)
    record("monitoring.ack", {"target": name, "state": state})
    return {"target": name, "acked_by": user.name, "at": at, "applied": "next-cycle"}


# -- maintenance windows -----------------------------------------------------------------------


def _choices(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The draft's monitored target names and site slugs (remote and hotspot)."""
    targets = [t["name"] for t in document.get("monitoring", {}).get("targets", [])]
    sites = [s["slug"] for kind in ("remote_sites", "hotspot_sites")
             for s in document.get(kind, [])]  # fmt: skip
    return targets, sites


def maintenance_windows() -> dict[str, Any]:
    """The maintenance windows of the draft (or of the running configuration)."""
    document = current_draft().document
    targets, sites = _choices(document)
    return {
        "timezone": document.get("node", {}).get("timezone", "WIB"),
        "windows": document.get("monitoring", {}).get("maintenance", []),
        "targets": targets,
        "sites": sites,
    }


def save_maintenance(windows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace the draft's maintenance windows with `windows`, each checked (and the target
    or site it names known); ApiRefused(422) with per-window field errors changes nothing."""
    targets, sites = _choices(current_draft().document)
    errors: dict[str, str] = {}
    for index, window in enumerate(windows):
        for path, message in object_errors(Maintenance, window).items():
            errors.setdefault(f"windows.{index}.{path}", message)
        if window.get("target") and window["target"] not in targets:
            errors[f"windows.{index}.target"] = tr(
                "Tidak ada target bernama {n}.", "No target is named {n}.", n=window["target"]
            )
        if window.get("site") and window["site"] not in sites:
            errors[f"windows.{index}.site"] = tr(
                "Tidak ada lokasi bernama {n}.", "No site is named {n}.", n=window["site"]
            )
    if errors:
        raise ApiRefused(
            422,
            "invalid",
            tr("Jadwal pemeliharaan tidak sah.", "The maintenance windows are not valid."),
            errors,
        )
    normalized = [Maintenance.model_validate(w).model_dump(mode="json") for w in windows]

    def mutate(document: dict[str, Any]) -> None:
        document.setdefault("monitoring", {})["maintenance"] = normalized

    edit_draft(mutate)
    return normalized


def _window_form() -> dict[str, Any]:
    """The add form as a window: its scope is `target:NAME` or `site:SLUG`."""
    kind, _, name = request.form.get("scope", "").partition(":")
    return {
        "target": name if kind == "target" and name else None,
        "site": name if kind == "site" and name else None,
        "start": request.form.get("start", ""),
        "end": request.form.get("end", ""),
        "reason": request.form.get("reason", "").strip(),
    }


# -- pages -------------------------------------------------------------------------------------


def _time_label(fmt: str) -> Callable[[float], str]:
    zone = stored_config().node.zoneinfo
    return lambda epoch: datetime.fromtimestamp(epoch, zone).strftime(fmt)


def _with_unit(unit: str) -> Callable[[float], str]:
    """A chart's axis labels: whole numbers plain, fractions (a small axis) with one decimal."""
    language = lang()
    return lambda value: (
        formatting.number(value, language, 0 if float(value).is_integer() else 1) + unit
    )


def _points(rows: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    return [(row["at"], row[key]) for row in rows if row[key] is not None]


def _charts(detail: dict[str, Any]) -> dict[str, Markup]:
    """The page's charts: RTT and loss over the day and the week, each interface's rates."""
    hour, day = _time_label("%H:%M"), _time_label("%d/%m")
    empty = tr("Belum ada data", "No data yet")
    ms, percent = _with_unit(" ms"), _with_unit("%")
    charts = {}
    for period, x_format, label in (("day", hour, tr("24 jam", "24 h")),
                                    ("week", day, tr("7 hari", "7 days"))):  # fmt: skip
        rows = detail[period]
        charts[f"rtt_{period}"] = line_chart(
            [Series("RTT", _points(rows, "rtt_ms"))], title=f"RTT, {label}",
            y_format=ms, x_format=x_format, empty=empty)  # fmt: skip
        charts[f"loss_{period}"] = line_chart(
            [Series(tr("Paket hilang", "Packet loss"), _points(rows, "loss_percent"))],
            title=tr("Paket hilang, {p}", "Packet loss, {p}", p=label),
            y_format=percent, x_format=x_format, empty=empty)  # fmt: skip
    language = lang()
    for interface, rows in detail["interfaces"].items():
        charts[f"if:{interface}"] = line_chart(
            [Series(tr("Masuk", "In"), _points(rows, "rx_bps")),
             Series(tr("Keluar", "Out"), _points(rows, "tx_bps"))],
            title=tr("Laju {i}, 24 jam", "{i} rates, 24 h", i=interface),
            y_format=lambda bps: formatting.rate(bps, language),
            x_format=hour, empty=empty)  # fmt: skip
    return charts


def _local_epoch(value: str, zone: tzinfo) -> float:
    """A window's time (naive: in the node's zone) in seconds since the epoch."""
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()


@bp.route("/pemantauan")
@requires("view")
def index() -> ResponseReturnValue:
    """Every link's state."""
    return render_template("admin/monitoring/index.html", overview=targets_overview())


@bp.route("/pemantauan/<name>")
@requires("view")
def target(name: str) -> ResponseReturnValue:
    """One link: its figures, charts and this month's outages."""
    try:
        detail = target_detail(name)
    except ApiRefused as exc:
        abort(exc.status, str(exc))
    return render_template("admin/monitoring/target.html", detail=detail, charts=_charts(detail))


@bp.route("/pemantauan/<name>/ack", methods=["POST"])
@requires("operate")
def ack(name: str) -> ResponseReturnValue:
    """Acknowledge a link's trouble."""
    try:
        acknowledge_target(name)
    except ApiRefused as exc:
        if exc.status == 404:
            abort(404, str(exc))
        flash(str(exc), "error")
    else:
        flash(tr("Gangguan {n} ditandai ditangani oleh Anda; berlaku pada siklus monitor "
                 "berikutnya.", "{n}'s trouble is marked as yours; it applies at the "
                 "monitor's next cycle.", n=name), "ok")  # fmt: skip
    back = url_for("monitoring.target", name=name)
    return redirect(back if request.form.get("back") == "target" else url_for("monitoring.index"))


def window_rows(
    windows: Sequence[dict[str, Any]], zone: tzinfo, now: float
) -> list[dict[str, Any]]:
    """The maintenance windows as the page lists them: each one's place in the list, its times
    in seconds since the epoch, and whether it is past, active or planned at `now`."""
    rows = []
    for index, window in enumerate(windows):
        start, end = _local_epoch(window["start"], zone), _local_epoch(window["end"], zone)
        phase = "past" if end <= now else "active" if start <= now else "planned"
        rows.append({"index": index, "window": window, "start": start, "end": end,
                     "phase": phase})  # fmt: skip
    return rows


def _maintenance_page(form: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    view = maintenance_windows()
    rows = window_rows(view["windows"], formatting.zone(view["timezone"]), runtime().clock())
    page = render_template("admin/monitoring/maintenance.html", view=view, rows=rows,
                           form=form, errors=errors)  # fmt: skip
    return page, status


@bp.route("/pemeliharaan")
@requires("configure")
def maintenance() -> ResponseReturnValue:
    """The maintenance windows and a form to plan one."""
    return _maintenance_page({}, {})


@bp.route("/pemeliharaan", methods=["POST"])
@requires("configure")
def maintenance_add() -> ResponseReturnValue:
    """Plan a maintenance window (in the draft)."""
    windows = list(maintenance_windows()["windows"])
    new = _window_form()
    try:
        save_maintenance([*windows, new])
    except ApiRefused as exc:
        prefix = f"windows.{len(windows)}."
        errors = {k.removeprefix(prefix): v for k, v in exc.fields.items() if k.startswith(prefix)}
        others = [f"{k}: {v}" for k, v in exc.fields.items() if not k.startswith(prefix)]
        if others:
            errors["(other)"] = "; ".join(others)
        form = {**new, "scope": request.form.get("scope", "")}
        return _maintenance_page(form, errors, 422)
    return saved_to_draft("monitoring.maintenance")


@bp.route("/pemeliharaan/<int:index>/hapus", methods=["POST"])
@requires("configure")
def maintenance_remove(index: int) -> ResponseReturnValue:
    """Remove a maintenance window (in the draft)."""
    windows = list(maintenance_windows()["windows"])
    if index >= len(windows):
        abort(404, tr("Tidak ada jadwal pemeliharaan itu.", "No such maintenance window."))
    del windows[index]
    try:
        save_maintenance(windows)
    except ApiRefused as exc:
        flash("; ".join([str(exc), *(f"{k}: {v}" for k, v in exc.fields.items())]), "error")
        return redirect(url_for("monitoring.maintenance"))
    return saved_to_draft("monitoring.maintenance")


# -- API ---------------------------------------------------------------------------------------

TARGET_SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string"}, "site": {"type": ["string", "null"]},
    "state": {"enum": ["ok", "warning", "critical", "down", "unknown"]},
    "rtt_ms": {"type": ["number", "null"]}, "loss_percent": {"type": ["number", "null"]},
    "last_sample": {"type": ["number", "null"]}, "outage": {"type": ["object", "null"]},
    "acked_by": {"type": ["string", "null"]}}}  # fmt: skip
WINDOWS_SCHEMA = {"type": "object", "properties": {
    "timezone": {"type": "string"},
    "windows": {"type": "array", "items": {"type": "object"}}}}  # fmt: skip


@api(bp, "/monitoring/targets", capability="view",
     summary="Every monitored link's state, RTT, loss, open outage and acknowledgement",
     response={"type": "object", "properties": {
         "monitor_db": {"type": "boolean"},
         "targets": {"type": "array", "items": TARGET_SCHEMA}}})  # fmt: skip
def get_targets() -> dict[str, Any]:
    return targets_overview()


@api(bp, "/monitoring/targets/<name>", capability="view",
     summary="One link: state, RTT and loss over 24 h and 7 days, interface rates, this "
             "month's outages and availability")  # fmt: skip
def get_target(name: str) -> dict[str, Any]:
    return target_detail(name)


@api(bp, "/monitoring/targets/<name>/ack", method="POST", capability="operate",
     summary="Acknowledge a link's trouble (applied at the monitor's next cycle)")  # fmt: skip
def post_ack(name: str) -> dict[str, Any]:
    return acknowledge_target(name)


@api(bp, "/monitoring/maintenance", capability="configure",
     summary="The draft's maintenance windows (naive times are in the node's zone)",
     response=WINDOWS_SCHEMA)  # fmt: skip
def get_maintenance() -> dict[str, Any]:
    view = maintenance_windows()
    return {"timezone": view["timezone"], "windows": view["windows"]}


@api(bp, "/monitoring/maintenance", method="PUT", capability="configure",
     body=MaintenanceWindows, response=WINDOWS_SCHEMA,
     summary="Replace the draft's maintenance windows")  # fmt: skip
def put_maintenance(body: MaintenanceWindows) -> dict[str, Any]:
    windows = save_maintenance([w.model_dump(mode="json") for w in body.windows])
    return {"timezone": maintenance_windows()["timezone"], "windows": windows}
