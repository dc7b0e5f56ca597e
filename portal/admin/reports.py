"""Monthly reports: usage, availability and blind spots, shown as tables and charts, and
downloaded as CSV or PDF made by the same `monitoring.reports` functions `simpul report` uses;
the same reports as JSON at /api/v1/reports/….

Pages live under /laporan; the routes are written whole (not as a blueprint prefix) so the API's
routes stay under /api/v1.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar

from flask import Blueprint, Response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from pydantic import BaseModel, Field, ValidationError

from monitoring.reports.monthly import (
    Report,
    Table,
    availability_report,
    blindspot_report,
    month_blind_spots,
    month_bounds,
    report_month,
    site_downtime,
    usage_report,
)
from monitoring.reports.register import load_register
from monitoring.reports.render import RenderError, to_csv, to_pdf
from netctl.dns_stats import totals as dns_totals
from portal.admin.api import ApiRefused, api, field_errors
from portal.admin.charts import bar_chart
from portal.admin.dashboard import CHART_WIDTH, state_labels
from portal.admin.formatting import number, size
from portal.admin.i18n import lang, tr
from portal.admin.readers import monitor_db, store, usage_db
from portal.admin.session import refuse, requires, runtime, stored_config
from portal.admin.sitemap import MapPoint, site_map
from simpul.config import Config

bp = Blueprint("reports", __name__)

TOP_BARS = 15  # bars per chart; the tables list every row
DEFAULT_THRESHOLD = 5.0  # % of the month a site may be down before its villages count (as the CLI)
Kind = Literal["usage", "availability", "blindspot"]
PAGES: dict[Kind, tuple[str, str]] = {  # kind -> (endpoint, file name part)
    "usage": ("reports.usage", "penggunaan"),
    "availability": ("reports.availability", "ketersediaan"),
    "blindspot": ("reports.blindspot", "titik-buta"),
}
Q = TypeVar("Q", bound=BaseModel)


class ReportQuery(BaseModel):
    """A report page's query: the month (default: last month), the output, and for CSV which
    of the report's tables (1, 2, …) as `simpul report --table`."""

    model_config = {"extra": "forbid"}
    month: str | None = Field(default=None, max_length=7, description="YYYY-MM")
    format: Literal["html", "csv", "pdf"] = "html"
    table: int = Field(default=1, ge=1, le=9)


class BlindspotQuery(ReportQuery):
    """The blind-spot page's query: also the share of the month a site may be down (%)."""

    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0, le=100)


class MonthQuery(BaseModel):
    """An API report's query."""

    model_config = {"extra": "forbid"}
    month: str | None = Field(default=None, max_length=7, description="YYYY-MM")


class BlindspotMonthQuery(MonthQuery):
    """The blind-spot API's query."""

    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0, le=100)


@dataclass(frozen=True)
class Built:
    """A report, what the page should say about its sources, and (blind spots) its map."""

    report: Report
    notes: tuple[str, ...] = ()
    points: tuple[MapPoint, ...] = ()


# -- query and month ---------------------------------------------------------------------------


def parse_query(model: type[Q]) -> Q:
    """The request's query string as `model`, or ApiRefused(422) naming each bad parameter."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        fields = field_errors(exc)
        raise ApiRefused(422, "invalid", tr(
            "Parameter tidak sah: {f}", "Invalid parameters: {f}",
            f="; ".join(f"{k}: {v}" for k, v in fields.items())), fields) from None  # fmt: skip


def _today(config: Config) -> datetime:
    return datetime.fromtimestamp(runtime().clock(), config.node.zoneinfo)


def pick_month(text: str | None, config: Config) -> tuple[int, int]:
    """`text` (YYYY-MM) as (year, month), or last month in the node's zone when absent."""
    try:
        return report_month(text, _today(config))
    except ValueError:
        message = tr(
            "Bulan {m} tidak sah: tulis YYYY-MM, mis. 2026-11.",
            "Month {m} is not valid: write YYYY-MM, e.g. 2026-11.",
            m=repr(text),
        )
        raise ApiRefused(422, "invalid", message, {"month": message}) from None


# -- building the reports (what the CLI's `report` commands do) -----------------------------------


def _no_data(why: str) -> ApiRefused:
    return ApiRefused(404, "no-data", tr("Belum ada data: {why}.", "No data yet: {why}.", why=why))


def _dns_counts(first: str, last: str) -> tuple[list[tuple[str, str, int, int]], str | None]:
    """The DNS front end's counts of the days `first`..`last`, and why there are none (None
    when they were read)."""
    path = runtime().settings.dns_db
    if not path.exists():
        return [], tr("berkas hitungan DNS belum ada", "there is no DNS counts file")
    try:
        return dns_totals(str(path), first, last), None
    except sqlite3.Error as exc:
        return [], tr("hitungan DNS tidak terbaca ({e})", "the DNS counts are unreadable ({e})",
                      e=exc)  # fmt: skip


def build_usage(config: Config, year: int, month: int) -> Built:
    """The usage report; blocked categories from the DNS front end's counts when there are."""
    try:
        db = usage_db()
    except FileNotFoundError:
        raise _no_data(tr("netd belum mencatat pemakaian (usage.db belum ada)",
                          "netd has not booked any usage (no usage.db)")) from None  # fmt: skip
    start, end = month_bounds(year, month, config.node.zoneinfo)
    last_day = (end - timedelta(days=1)).date()
    dns, missing = _dns_counts(start.date().isoformat(), last_day.isoformat())
    notes = (tr("Tanpa data kategori diblokir: {why}.", "No blocked-category data: {why}.",
                why=missing),) if missing else ()  # fmt: skip
    return Built(usage_report(config, db, dns, year, month, _today(config).date()), notes)


def build_availability(config: Config, year: int, month: int) -> Built:
    """The availability report, from the monitor's outage ledger."""
    try:
        db = monitor_db()
    except FileNotFoundError:
        raise _no_data(tr("pemantau belum berjalan (monitor.db belum ada)",
                          "the monitor has not run yet (no monitor.db)")) from None  # fmt: skip
    now = _today(config)
    return Built(availability_report(config, db, year, month, now, now.date()))


def build_blindspot(config: Config, year: int, month: int, threshold: float) -> Built:
    """The blind-spot report and the map of the register's villages."""
    try:
        villages = load_register(store())
    except FileNotFoundError:
        raise _no_data(tr("netd belum membuat basis datanya (simpul.db belum ada)",
                          "netd has not made its database (no simpul.db)")) from None  # fmt: skip
    if not villages:
        raise ApiRefused(
            409,
            "empty-register",
            tr(
                "Daftar desa masih kosong: impor dengan 'simpul villages import BERKAS'.",
                "The village register is empty: import one with 'simpul villages import FILE'.",
            ),
        )
    tz = config.node.zoneinfo
    start, end = month_bounds(year, month, tz)
    now = _today(config)
    notes: list[str] = []
    downtime: dict[str, float] = {}
    try:
        downtime = site_downtime(config, monitor_db(), start, end, now)
    except FileNotFoundError:
        notes.append(
            tr(
                "Pemantau belum berjalan: waktu mati site tidak dihitung.",
                "The monitor has not run yet: sites' downtime is not counted.",
            )
        )
    found = month_blind_spots(config, villages, downtime, year, month, threshold)
    report = blindspot_report(config, villages, found, year, month, threshold, now.date())
    spots = {s.village.code: s for s in found}
    points = []
    for village in villages:
        spot = spots.get(village.code)
        state = "up" if spot is None else "no-signal" if spot.no_signal else "site-down"
        detail = village.kecamatan + (f"; {'; '.join(spot.reasons)}" if spot else "")
        points.append(MapPoint(village.desa, village.lat, village.lon, state, detail))
    return Built(report, tuple(notes), tuple(points))


def build(kind: Kind, year: int, month: int, threshold: float = DEFAULT_THRESHOLD) -> Built:
    """Report `kind` of a month; ApiRefused(404) when its data is not there yet."""
    config = stored_config()
    if kind == "usage":
        return build_usage(config, year, month)
    if kind == "availability":
        return build_availability(config, year, month)
    return build_blindspot(config, year, month, threshold)


# -- what the page and the API show of a report ------------------------------------------------


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def column_totals(table: Table) -> dict[str, str]:
    """The sums of a table's gigabyte columns (`*_gb`), to the report's three decimals."""
    out = {}
    for index, column in enumerate(table.columns):
        if column.endswith("_gb"):
            values = (_decimal(row[index]) for row in table.rows)
            out[column] = f"{sum((v for v in values if v is not None), Decimal(0)):.3f}"
    return out


def report_json(built: Built) -> dict[str, Any]:
    """A report as JSON (see REPORT_SCHEMA)."""
    report = built.report
    return {
        "kind": report.kind, "title": report.title, "period": report.period,
        "metadata": [{"key": k, "value": v} for k, v in report.metadata],
        "tables": [{"title": t.title, "columns": list(t.columns),
                    "rows": [list(r) for r in t.rows], "note": t.note,
                    "totals": column_totals(t)} for t in report.tables],
        "notes": list(built.notes),
    }  # fmt: skip


def _column(table: Table, name: str) -> int | None:
    return table.columns.index(name) if name in table.columns else None


def _bytes_bars(table: Table) -> list[tuple[str, float]]:
    """(name, bytes down + up) of a usage table's rows, biggest first."""
    name, down, up = (_column(table, c) for c in ("nama", "unduh_gb", "unggah_gb"))
    if name is None or down is None or up is None:
        return []
    bars = [(str(row[name]), float((_decimal(row[down]) or 0) + (_decimal(row[up]) or 0)) * 1e9)
            for row in table.rows]  # fmt: skip
    return sorted(bars, key=lambda bar: -bar[1])[:TOP_BARS]


def _availability_bars(table: Table) -> list[tuple[str, float]]:
    """(link, availability %) of the links with a figure, worst first."""
    ratio = _column(table, "ketersediaan_persen")
    if ratio is None:
        return []
    bars = [(str(row[0]), float(value)) for row in table.rows
            if (value := _decimal(row[ratio])) is not None]  # fmt: skip
    return sorted(bars, key=lambda bar: bar[1])[:TOP_BARS]


def charts(built: Built) -> list[tuple[str, Markup]]:
    """The pictures of a report's numbers, with their headings: bytes per OPD and per site,
    availability per link, the blind spots on a map."""
    language = lang()
    kind, tables = built.report.kind, built.report.tables
    if kind == "usage":
        return [
            (title, bar_chart(_bytes_bars(table), title=title, width=CHART_WIDTH,
                              value_format=lambda v: size(v, language)))
            for table, title in zip(tables[:2], (
                tr("Unduh + unggah per OPD", "Download + upload per OPD"),
                tr("Unduh + unggah per lokasi hotspot", "Download + upload per hotspot site"),
            ), strict=False)
        ]  # fmt: skip
    if kind == "availability":
        title = tr("Ketersediaan per link (terburuk dulu)", "Availability per link (worst first)")
        chart = bar_chart(_availability_bars(tables[0]), title=title, width=CHART_WIDTH,
                          value_format=lambda v: f"{number(v, language, 3)} %")  # fmt: skip
        return [(title, chart)]
    title = tr("Peta desa", "Map of the villages")
    labels = state_labels() | {"up": tr("Desa bersinyal", "Village with signal")}
    return [(title, site_map(built.points, title=title, labels=labels, lang=language,
                             empty=tr("Tidak ada desa", "No villages")))]  # fmt: skip


# -- downloads ---------------------------------------------------------------------------------


def _file_name(kind: Kind, report: Report, suffix: str) -> str:
    return f"laporan-{PAGES[kind][1]}-{report.period}{suffix}"


def csv_download(kind: Kind, report: Report, table: int) -> Response:
    """Table `table` (1-based) as the CLI's CSV."""
    try:
        text = to_csv(report, table - 1)
    except RenderError as exc:
        raise ApiRefused(422, "invalid", str(exc), {"table": str(exc)}) from None
    name = _file_name(kind, report, f"-tabel{table}.csv")
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


def pdf_download(kind: Kind, report: Report) -> Response:
    """The report printed by Chromium, as the CLI prints it; RenderError if it cannot."""
    with tempfile.TemporaryDirectory(prefix="simpul-console-") as tmp:
        output = Path(tmp) / "report.pdf"
        try:
            to_pdf(report, str(output))
            data = output.read_bytes()
        except OSError as exc:
            raise RenderError(str(exc)) from None
    name = _file_name(kind, report, ".pdf")
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


# -- pages -------------------------------------------------------------------------------------


def _month_text(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


@bp.route("/laporan")
@requires("view")
def index() -> ResponseReturnValue:
    """The three reports with a month picker (last month by default)."""
    try:
        query = parse_query(MonthQuery)
        year, month = pick_month(query.month, stored_config())
    except ApiRefused as exc:
        return _refused(exc)
    return render_template("admin/reports/index.html", month=_month_text(year, month))


def _refused(exc: ApiRefused) -> ResponseReturnValue:
    """A refused query: the month picker again with the reason (422), or netd's refusal."""
    if exc.status != 422:
        return refuse(exc.status, str(exc))
    page = render_template("admin/reports/index.html", month=request.args.get("month", ""),
                           error=str(exc))  # fmt: skip
    return page, 422


def _page(kind: Kind, model: type[ReportQuery]) -> ResponseReturnValue:
    """A report page, or its CSV or PDF."""
    try:
        query = parse_query(model)
        year, month = pick_month(query.month, stored_config())
    except ApiRefused as exc:
        return _refused(exc)
    threshold = getattr(query, "threshold", DEFAULT_THRESHOLD)
    try:
        built = build(kind, year, month, threshold)
        if query.format == "csv":
            return csv_download(kind, built.report, query.table)
        if query.format == "pdf":
            return pdf_download(kind, built.report)
    except ApiRefused as exc:
        if exc.status not in (404, 409):
            return _refused(exc)
        return render_template("admin/reports/report.html", kind=kind, built=None,
                               month=_month_text(year, month), message=str(exc),
                               threshold=threshold)  # fmt: skip
    except RenderError as exc:
        return refuse(503, tr(
            "PDF tidak dapat dibuat: {e}. Unduh CSV-nya, atau minta admin memasang chromium.",
            "The PDF could not be made: {e}. Download the CSV, or ask an admin to install "
            "chromium.", e=exc))  # fmt: skip
    return render_template("admin/reports/report.html", kind=kind, built=built,
                           month=built.report.period, charts=charts(built), message=None,
                           totals=[column_totals(t) for t in built.report.tables],
                           threshold=threshold)  # fmt: skip


@bp.route("/laporan/penggunaan")
@requires("view")
def usage() -> ResponseReturnValue:
    """Usage per OPD, hotspot site and uplink."""
    return _page("usage", ReportQuery)


@bp.route("/laporan/ketersediaan")
@requires("view")
def availability() -> ResponseReturnValue:
    """Availability per link and the outage ledger."""
    return _page("availability", ReportQuery)


@bp.route("/laporan/titik-buta")
@requires("view")
def blindspot() -> ResponseReturnValue:
    """Villages without signal or whose site was down too long, on a map."""
    return _page("blindspot", BlindspotQuery)


def download_url(kind: Kind, month: str, threshold: float, **params: Any) -> str:
    """The page's URL for a download (CSV table or PDF) of the same report."""
    if kind == "blindspot" and threshold != DEFAULT_THRESHOLD:
        params["threshold"] = f"{threshold:g}"
    return url_for(PAGES[kind][0], month=month, **params)


bp.add_app_template_global(download_url, "report_download_url")


# -- API ---------------------------------------------------------------------------------------

MONTH_PARAM = {"type": "string", "pattern": r"^\d{4}-\d{2}$",
               "description": "YYYY-MM (default: last month in the node's zone)"}  # fmt: skip
THRESHOLD_PARAM = {"type": "number", "minimum": 0, "maximum": 100, "default": DEFAULT_THRESHOLD,
                   "description": "a site down more than this % of the month makes its "
                   "villages count"}  # fmt: skip
REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A monthly report as `simpul report` makes it; 404 no-data when its "
    "database is not there yet, 409 empty-register for blind spots without a village register.",
    "properties": {
        "kind": {"enum": ["usage", "availability", "blindspot"]},
        "title": {"type": "string"},
        "period": {"type": "string", "description": "YYYY-MM"},
        "metadata": {"type": "array", "description": "Satu Data Indonesia's fields, in order",
                     "items": {"type": "object", "properties": {
                         "key": {"type": "string"}, "value": {"type": "string"}}}},
        "tables": {"type": "array", "items": {"type": "object", "properties": {
            "title": {"type": "string"},
            "columns": {"type": "array", "items": {"type": "string"},
                        "description": "the CSV's columns"},
            "rows": {"type": "array", "items": {"type": "array"}},
            "note": {"type": "string"},
            "totals": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "sums of the *_gb columns (3 decimals)"}}}},
        "notes": {"type": "array", "items": {"type": "string"},
                  "description": "what the report lacks (e.g. no DNS counts)"},
    },
}  # fmt: skip


def _api_report(kind: Kind, model: type[MonthQuery]) -> dict[str, Any]:
    query = parse_query(model)
    year, month = pick_month(query.month, stored_config())
    return report_json(build(kind, year, month, getattr(query, "threshold", DEFAULT_THRESHOLD)))


@api(bp, "/reports/usage", capability="view", response=REPORT_SCHEMA,
     query={"month": MONTH_PARAM},
     summary="The month's usage per OPD, hotspot site and uplink")  # fmt: skip
def get_usage_report() -> dict[str, Any]:
    return _api_report("usage", MonthQuery)


@api(bp, "/reports/availability", capability="view", response=REPORT_SCHEMA,
     query={"month": MONTH_PARAM},
     summary="The month's availability per link and its outage ledger")  # fmt: skip
def get_availability_report() -> dict[str, Any]:
    return _api_report("availability", MonthQuery)


@api(bp, "/reports/blindspot", capability="view", response=REPORT_SCHEMA,
     query={"month": MONTH_PARAM, "threshold": THRESHOLD_PARAM},
     summary="The month's villages without signal or whose site was down too long")  # fmt: skip
def get_blindspot_report() -> dict[str, Any]:
    return _api_report("blindspot", BlindspotMonthQuery)
