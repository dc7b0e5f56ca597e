"""Export and retention settings: where the node's figures go (InfluxDB, Prometheus), how long
accounting and citizens' sessions are kept, edited in the draft; and the exporter's spool as it
stands (read only).

The InfluxDB token is a secret: it is written, never shown back; left empty it stays as it is
(and a token file, when one is named, replaces it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.datastructures import MultiDict

from monitoring.exporter import State
from monitoring.spool import read_stats
from portal.admin.api import ApiRefused, api
from portal.admin.drafts import current_draft, edit_draft, object_errors, saved_to_draft
from portal.admin.i18n import tr
from portal.admin.session import requires, runtime
from simpul.config.model import Export, InfluxExport, Privacy, Retention

bp = Blueprint("settings_pages", __name__)
INFLUX_FIELDS = tuple(name for name in InfluxExport.model_fields if name != "token")
RETENTION_FIELDS = tuple(Retention.model_fields)
INFLUX_DEFAULTS = {name: f.default for name, f in InfluxExport.model_fields.items()}


def _bounds(model: type[BaseModel]) -> dict[str, tuple[Any, Any]]:
    """Each field's inclusive (lowest, highest) from the model's constraints (for the form)."""
    return {
        name: (next((m.ge for m in info.metadata if hasattr(m, "ge")), None),
               next((m.le for m in info.metadata if hasattr(m, "le")), None))
        for name, info in model.model_fields.items()
    }  # fmt: skip


BOUNDS = {"export.influx": _bounds(InfluxExport), "export": _bounds(Export),
          "retention": _bounds(Retention), "privacy": _bounds(Privacy)}  # fmt: skip
SPOOL_FILE, STATE_FILE = "export-spool.db", "export-state.json"  # in the exporter's directory


class InfluxSettings(InfluxExport):
    """export.influx as the console takes it: `token` is write-only; omitted, null or empty,
    the stored token stays (or goes, when `token_file` names a file holding it)."""

    model_config = ConfigDict(extra="forbid")
    token: str | None = Field(default=None, max_length=400)


class ExportSection(Export):
    """The export section with a write-only InfluxDB token."""

    model_config = ConfigDict(extra="forbid")
    influx: InfluxSettings | None = None


class ExportSettings(BaseModel):
    """Export, accounting retention (days per rollup level) and privacy (session days)."""

    model_config = {"extra": "forbid"}
    export: ExportSection
    retention: Retention
    privacy: Privacy


def _hide_token(export: dict[str, Any]) -> dict[str, Any]:
    """The export section with the InfluxDB token replaced by whether one is set."""
    influx = export.get("influx")
    if influx is None:
        return export
    shown = {k: v for k, v in influx.items() if k != "token"}
    return {**export, "influx": {**shown, "token_set": bool(influx.get("token"))}}


def spool_state() -> dict[str, Any] | None:
    """The exporter's spool and last result, or None when it has no spool yet."""
    directory = runtime().settings.state_dir / "export"
    stats = read_stats(str(directory / SPOOL_FILE))
    if stats is None:
        return None
    state = State.load(str(directory / STATE_FILE))
    return {
        "waiting": stats.waiting,
        "waiting_bytes": stats.waiting_bytes,
        "oldest_at": stats.oldest_time_ns / 1e9 if stats.oldest_time_ns else None,
        "spooled": stats.spooled,
        "sent": stats.acked,
        "dropped": [{"reason": d.reason, "message": d.message, "points": d.points,
                     "first_at": d.first_time_ns / 1e9, "last_at": d.last_time_ns / 1e9,
                     "at": d.at} for d in stats.dropped],
        "events": [{"at": e.at, "message": e.message} for e in stats.events],
        "last_success": state.last_success,
        "last_error": state.last_error,
    }  # fmt: skip


def export_settings() -> dict[str, Any]:
    """The draft's (or running) export, retention and privacy settings, token hidden."""
    document = current_draft().document
    return {
        "export": _hide_token(document.get("export") or Export().model_dump(mode="json")),
        "retention": (document.get("accounting") or {}).get("retention")
        or Retention().model_dump(mode="json"),
        "privacy": document.get("privacy") or Privacy().model_dump(mode="json"),
    }


def save_export_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Put `data` (ExportSettings' shape) into the draft, keeping the stored InfluxDB token
    when no new one is given; ApiRefused(422) naming each bad field changes nothing."""
    errors = object_errors(ExportSettings, data)
    if errors:
        raise ApiRefused(422, "invalid", tr("Pengaturan tidak sah.", "The settings are not valid."),
                         errors)  # fmt: skip
    settings = ExportSettings.model_validate(data)
    export = settings.export.model_dump(mode="json")
    retention = settings.retention.model_dump(mode="json")
    privacy = settings.privacy.model_dump(mode="json")

    def mutate(document: dict[str, Any]) -> None:
        influx = export["influx"]
        if influx is not None and not influx["token"]:
            stored = ((document.get("export") or {}).get("influx") or {}).get("token") or ""
            influx["token"] = "" if influx["token_file"] else stored
        document["export"] = export
        document.setdefault("accounting", {})["retention"] = retention
        document["privacy"] = privacy

    edit_draft(mutate)
    return export_settings()


def _form_influx(form: MultiDict[str, str]) -> dict[str, Any]:
    """The InfluxDB fields as typed (the token: None when left empty)."""
    influx: dict[str, Any] = {
        name: form.get(f"export.influx.{name}", "").strip() for name in INFLUX_FIELDS
    }
    influx["token_file"] = influx["token_file"] or None
    influx["token"] = form.get("export.influx.token", "") or None
    return influx


def _form_settings(form: MultiDict[str, str]) -> dict[str, Any]:
    """The page's form in ExportSettings' shape (fields named by their path)."""

    def value(name: str) -> str:
        return form.get(name, "").strip()

    return {
        "export": {"influx": _form_influx(form) if form.get("export.influx.enabled") else None,
                   "spool_mb": value("export.spool_mb"),
                   "prometheus_listen": value("export.prometheus_listen") or None},
        "retention": {name: value(f"retention.{name}") for name in RETENTION_FIELDS},
        "privacy": {"session_days": value("privacy.session_days")},
    }  # fmt: skip


def _page(
    values: dict[str, Any], influx: dict[str, Any] | None, errors: dict[str, str], status: int
) -> Any:
    """The settings page; `influx` holds the InfluxDB fields to show, also while it is off."""
    stored = export_settings()["export"].get("influx") or {}
    page = render_template(
        "admin/settings/export.html", values=values, influx=influx or {}, errors=errors,
        influx_enabled=values["export"]["influx"] is not None,
        token_set=bool(stored.get("token_set")), spool=spool_state(),
        retention_fields=RETENTION_FIELDS, influx_defaults=INFLUX_DEFAULTS, bounds=BOUNDS,
    )  # fmt: skip
    return page, status


@bp.route("/pengaturan/ekspor", methods=["GET", "POST"])
@requires("configure")
def export() -> ResponseReturnValue:
    """The export and retention settings, and the exporter's spool."""
    if request.method == "GET":
        values = export_settings()
        return _page(values, values["export"].get("influx"), {}, 200)
    values = _form_settings(request.form)
    try:
        save_export_settings(values)
    except ApiRefused as exc:
        return _page(values, _form_influx(request.form), exc.fields, 422)
    return saved_to_draft("settings_pages.export")


# -- API ---------------------------------------------------------------------------------------

SETTINGS_SCHEMA = {"type": "object", "properties": {
    "export": {"type": "object", "description": "influx.token is never returned: token_set"},
    "retention": {"type": "object"}, "privacy": {"type": "object"},
    "spool": {"type": ["object", "null"]}}}  # fmt: skip


@api(bp, "/settings/export", capability="configure", response=SETTINGS_SCHEMA,
     summary="Export, retention and privacy settings (the draft's, token hidden) and the "
             "exporter's spool")  # fmt: skip
def get_export() -> dict[str, Any]:
    return {**export_settings(), "spool": spool_state()}


@api(bp, "/settings/export", method="PUT", capability="configure", body=ExportSettings,
     response=SETTINGS_SCHEMA,
     summary="Set export, retention and privacy in the draft (no influx.token: kept)")  # fmt: skip
def put_export(body: ExportSettings) -> dict[str, Any]:
    return {**save_export_settings(body.model_dump(mode="json")), "spool": spool_state()}
