"""Clients: who is online at the hotspots (from netd), search, disconnect, block and unblock a
device, the blocked devices, and the recent ended sessions (netd's store, read only).

Operators see MAC addresses (telling devices apart is their job), but a MAC never goes into a
URL: searches and actions are POST bodies, so no MAC lands in an access log or the history.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Annotated, Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import AfterValidator, BaseModel, Field, StrictBool

from netctl.clients import parse_ip, parse_mac
from portal.admin.api import ApiRefused, api, given, netd_call, validated
from portal.admin.i18n import tr
from portal.admin.readers import store
from portal.admin.session import refuse, requires, runtime, stored_config
from simpul.config import Config
from simpul.config.model import Slug

bp = Blueprint("clients", __name__)
PER_PAGE = 50
MAX_PAGE = 100_000
RECENT_DAYS = 7
Mac = Annotated[str, Field(max_length=17), AfterValidator(parse_mac)]
Ip = Annotated[str, Field(max_length=15), AfterValidator(parse_ip)]
# What a search may hold: an address or a MAC, whole or in part.
SEARCH_PATTERN = r"^[0-9A-Fa-f.:-]*$"
HEX = frozenset("0123456789abcdef")
IP_CHARS = frozenset("0123456789.")


# -- searching -------------------------------------------------------------------------------


class ClientQuery(BaseModel):
    """A search of the online clients: part of an address or a MAC, a site, a page."""

    model_config = {"extra": "forbid", "strict": True}
    q: str = Field(default="", max_length=40, pattern=SEARCH_PATTERN,
                   description="part of an IP address or a MAC (any separators)")  # fmt: skip
    site: Slug | None = None
    page: int = Field(default=1, ge=1, le=MAX_PAGE)


class SessionQuery(BaseModel):
    """A search of the recent ended sessions."""

    model_config = {"extra": "forbid", "strict": True}
    q: str = Field(default="", max_length=40, pattern=SEARCH_PATTERN)
    page: int = Field(default=1, ge=1, le=MAX_PAGE)


@dataclass(frozen=True)
class Needle:
    """What a search looks for: part of an IP address and/or hex digits of a MAC (without
    separators); a search that can be neither matches nothing."""

    ip: str | None
    mac: str | None

    @classmethod
    def of(cls, text: str) -> Needle:
        """The needle of a search text (already checked against SEARCH_PATTERN)."""
        lowered = text.lower()
        hex_digits = lowered.replace(":", "").replace("-", "")
        return cls(
            ip=lowered if set(lowered) <= IP_CHARS else None,
            mac=hex_digits if hex_digits and set(hex_digits) <= HEX else None,
        )

    def matches(self, ip: str, mac: str) -> bool:
        """Whether a client at `ip` with `mac` (colon form) is one searched for."""
        return (self.ip is not None and self.ip in ip) or (
            self.mac is not None and self.mac in mac.replace(":", "")
        )


def page_of(rows: list[dict[str, Any]], page: int) -> dict[str, Any]:
    """One page of `rows` with the counts a pager needs."""
    start = (page - 1) * PER_PAGE
    return {
        "items": rows[start : start + PER_PAGE],
        "total": len(rows),
        "page": page,
        "pages": max(1, math.ceil(len(rows) / PER_PAGE)),
        "per_page": PER_PAGE,
    }


def online_clients(query: ClientQuery) -> dict[str, Any]:
    """The online clients matching `query`, newest first, one page of them (one netd call,
    one pass over its answer)."""
    needle = Needle.of(query.q) if query.q else None
    rows = [
        row
        for row in netd_call("clients")
        if (query.site is None or row["site"] == query.site)
        and (needle is None or needle.matches(row["ip"], row["mac"]))
    ]
    rows.sort(key=lambda row: row["started_at"], reverse=True)
    return page_of(rows, query.page)


# Sessions are searched by when they started (indexed); the MAC's hex digits without colons.
def ended_sessions(query: SessionQuery) -> dict[str, Any]:
    """Sessions of the last RECENT_DAYS days that have ended, newest first, one page (one
    query; `more` says whether an older page exists)."""
    needle = Needle.of(query.q) if query.q else None
    try:
        rows = store().ended_sessions(
            runtime().clock() - RECENT_DAYS * 86400,
            search=(needle.ip, needle.mac) if needle else None,
            limit=PER_PAGE + 1, offset=(query.page - 1) * PER_PAGE,
        )  # fmt: skip
    except (FileNotFoundError, LookupError, sqlite3.Error) as exc:
        raise ApiRefused(503, "no-store", tr(
            "Riwayat sesi belum tersedia (basis data netd belum ada atau tidak terbaca): {e}",
            "The session history is not available yet (netd's database is missing or "
            "unreadable): {e}", e=exc)) from None  # fmt: skip
    return {"items": rows[:PER_PAGE], "page": query.page, "more": len(rows) > PER_PAGE,
            "per_page": PER_PAGE, "days": RECENT_DAYS}  # fmt: skip


# -- actions ---------------------------------------------------------------------------------


class Disconnect(BaseModel):
    """End a client's session now."""

    model_config = {"extra": "forbid", "strict": True}
    mac: Mac
    ip: Ip


class Block(BaseModel):
    """Refuse a device (its sessions end), or allow it again."""

    model_config = {"extra": "forbid", "strict": True}
    mac: Mac
    blocked: StrictBool


def disconnect(body: Disconnect) -> dict[str, Any]:
    """End the session of MAC . IP at once."""
    return netd_call("deauthorize", mac=body.mac, ip=body.ip, reason="admin")


def set_blocked(body: Block) -> dict[str, Any]:
    """Block or unblock a device: netd stores and applies the configuration change at once."""
    result = netd_call("client_block", mac=body.mac, blocked=body.blocked)
    runtime().config = None  # the blocked list changed: read the configuration afresh
    return result


def blocked_devices() -> list[str]:
    """The MACs the running configuration refuses."""
    return list(stored_config().portal.mac_block)


# -- pages -----------------------------------------------------------------------------------


@bp.route("/klien", methods=["GET", "POST"])
@requires("operate")
def index() -> ResponseReturnValue:
    """Online clients with search and pages (a POSTed search keeps a MAC out of the URL), and
    the blocked devices."""
    source = request.form if request.method == "POST" else request.args
    entered = given(source, "q", "site", "page")
    listing, errors, status = None, {}, 200
    try:
        listing = online_clients(validated(ClientQuery, entered))
    except ApiRefused as exc:
        errors, status = exc.fields or {"": str(exc)}, exc.status
    try:
        config: Config | None = stored_config()
    except ApiRefused:  # said already: the list needs netd too
        config = None
    return render_template(
        "admin/clients/index.html", listing=listing, errors=errors, entered=entered,
        sites=config.hotspot_sites if config else [],
        blocked=config.portal.mac_block if config else None,
    ), status  # fmt: skip


def _back() -> ResponseReturnValue:
    """Back to the list, on the page and site the action was taken from."""
    return redirect(url_for("clients.index", **given(request.form, "site", "page")))


@bp.route("/klien/putus", methods=["POST"])
@requires("operate")
def disconnect_form() -> ResponseReturnValue:
    """The disconnect button."""
    try:
        result = disconnect(validated(Disconnect, given(request.form, "mac", "ip")))
    except ApiRefused as exc:
        return _refused(exc)
    if result.get("ended"):
        flash(tr("Sesi diputus.", "Session ended."), "ok")
    else:
        flash(tr("Tidak ada sesi terbuka; dikeluarkan dari kernel.",
                 "No open session; removed from the kernel."), "warn")  # fmt: skip
    return _back()


@bp.route("/klien/blokir", methods=["POST"])
@requires("operate")
def block_form() -> ResponseReturnValue:
    """The block and unblock buttons (`blocked` is "true" or "false")."""
    try:
        result = set_blocked(validated(Block, given(request.form, "mac", "blocked")))
    except ApiRefused as exc:
        return _refused(exc)
    if result["blocked"]:
        flash(tr("Perangkat {mac} diblokir; {n} sesi diputus.",
                 "Device {mac} blocked; {n} session(s) ended.", mac=result["mac"],
                 n=result.get("sessions_ended", 0)), "ok")  # fmt: skip
    else:
        flash(tr("Blokir {mac} dibuka.", "{mac} unblocked.", mac=result["mac"]), "ok")
    return _back()


def _refused(exc: ApiRefused) -> ResponseReturnValue:
    """A refused action: bad fields (a tampered form) as a page naming them, netd's refusal
    as a message on the list."""
    if exc.fields:
        named = ", ".join(f"{name}: {message}" for name, message in exc.fields.items())
        return refuse(exc.status, f"{exc} {named}")
    flash(str(exc), "error")
    return _back()


@bp.route("/klien/riwayat", methods=["GET", "POST"])
@requires("operate")
def sessions() -> ResponseReturnValue:
    """Ended sessions of the last days, searched by address or MAC (POSTed, like the list)."""
    source = request.form if request.method == "POST" else request.args
    entered = given(source, "q", "page")
    listing, errors, status = None, {}, 200
    try:
        listing = ended_sessions(validated(SessionQuery, entered))
    except ApiRefused as exc:
        errors, status = exc.fields or {"": str(exc)}, exc.status
    return render_template("admin/clients/sessions.html", listing=listing, errors=errors,
                           entered=entered, days=RECENT_DAYS), status  # fmt: skip


# -- API -------------------------------------------------------------------------------------

PAGE_QUERY = {"page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}}
SEARCH_QUERY = {"q": {"type": "string", "maxLength": 40, "pattern": SEARCH_PATTERN}}
CLIENT = {"type": "object", "properties": {
    "mac": {"type": "string"}, "ip": {"type": "string"}, "site": {"type": ["string", "null"]},
    "method": {"type": "string"}, "started_at": {"type": "number"},
    "expires_at": {"type": "number"}, "in_kernel": {"type": "boolean"},
    "up_bytes": {"type": "integer"}, "down_bytes": {"type": "integer"}}}  # fmt: skip


@api(
    bp,
    "/clients",
    capability="operate",
    summary="Online clients, newest first, 50 a page; q: part of an IP or a MAC",
    query={**SEARCH_QUERY, "site": {"type": "string"}, **PAGE_QUERY},
    response={"type": "object", "properties": {
        "items": {"type": "array", "items": CLIENT}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "pages": {"type": "integer"},
        "per_page": {"type": "integer"}}},
)  # fmt: skip
def get_clients() -> dict[str, Any]:
    return online_clients(validated(ClientQuery, given(request.args)))


@api(bp, "/clients/disconnect", method="POST", capability="operate", body=Disconnect,
     summary="End a client's session now", response={"type": "object", "properties": {
         "ended": {"type": "boolean"}}})  # fmt: skip
def post_disconnect(body: Disconnect) -> dict[str, Any]:
    return disconnect(body)


@api(bp, "/clients/block", method="POST", capability="operate", body=Block,
     summary="Block a device by MAC (its sessions end) or unblock it; applied at once as a "
     "configuration revision")  # fmt: skip
def post_block(body: Block) -> dict[str, Any]:
    return set_blocked(body)


@api(bp, "/clients/blocked", capability="operate", summary="The blocked devices' MACs",
     response={"type": "array", "items": {"type": "string"}})  # fmt: skip
def get_blocked() -> list[str]:
    return blocked_devices()


@api(
    bp,
    "/sessions",
    capability="operate",
    summary=f"Ended sessions of the last {RECENT_DAYS} days, newest first, 50 a page",
    query={**SEARCH_QUERY, **PAGE_QUERY},
)
def get_sessions() -> dict[str, Any]:
    return ended_sessions(validated(SessionQuery, given(request.args)))
