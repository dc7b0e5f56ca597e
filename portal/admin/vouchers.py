"""Vouchers: make a batch of codes (through netd, which owns the store), list the batches with
how many codes were used, and print a batch on the same A4 sheet `simpul vouchers sheet` writes.

Codes are secrets: only the printed sheet (read from the store, read only) and the answer to
making a batch show them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from netctl.clients import MAX_SESSION_MINUTES
from netctl.voucher_api import MAX_BATCH, MAX_NOTE
from portal.admin.api import ApiRefused, api, given, netd_call, validated
from portal.admin.i18n import tr
from portal.admin.readers import store
from portal.admin.session import refuse, requires, stored_config
from simpul.config.model import Slug
from simpul.vouchers import SHEET_CSS, sheet_html, sheet_info

bp = Blueprint("vouchers", __name__)
PER_PAGE = 50
LAST_BATCH = 2**62  # netd's bound on a batch number
DEFAULT_MINUTES = 60


class VoucherRequest(BaseModel):
    """A batch to make."""

    model_config = {"extra": "forbid", "strict": True}
    site: Slug | None = Field(default=None, description="the one hotspot site; none: every site")
    count: int = Field(ge=1, le=MAX_BATCH)
    minutes: int = Field(ge=1, le=MAX_SESSION_MINUTES, description="online time from first use")
    note: str = Field(default="", max_length=MAX_NOTE, description="what the batch is for")


class BatchQuery(BaseModel):
    """A page of the batch list: the batches older than `before`."""

    model_config = {"extra": "forbid", "strict": True}
    before: int | None = Field(default=None, ge=1, le=LAST_BATCH)


def create_batch(body: VoucherRequest) -> dict[str, Any]:
    """Make a batch; netd answers its number and its codes (as printed)."""
    return netd_call("voucher_create", **body.model_dump())


def list_batches(query: BatchQuery) -> list[dict[str, Any]]:
    """A page of batches, newest first, with their counts (no codes)."""
    return netd_call("voucher_batches", limit=PER_PAGE, before=query.before)


def _no_batch(batch: int) -> ApiRefused:
    return ApiRefused(
        404,
        "unknown-batch",
        tr("Tidak ada batch voucher {b}.", "There is no voucher batch {b}.", b=batch),
    )


def one_batch(batch: int) -> dict[str, Any]:
    """A batch's terms and counts (no codes), or ApiRefused(404)."""
    found = netd_call("voucher_batches", batch=batch) if 1 <= batch <= LAST_BATCH else []
    if not found:
        raise _no_batch(batch)
    return found[0]


def sheet(batch: int) -> str:
    """The printable A4 sheet of a batch (its codes read from the store)."""
    try:
        codes = store().voucher_batch(batch) if 1 <= batch <= LAST_BATCH else ()
    except (FileNotFoundError, LookupError) as exc:
        raise ApiRefused(503, "no-store", tr("Basis data netd belum tersedia: {e}",
                                             "netd's database is not available: {e}",
                                             e=exc)) from None  # fmt: skip
    if not codes:
        raise _no_batch(batch)
    return sheet_html(sheet_info(stored_config(), batch, codes), [v.code for v in codes],
                      stylesheet_href=url_for("vouchers.sheet_css"))  # fmt: skip


# -- pages -----------------------------------------------------------------------------------


def _index(entered: dict[str, str], errors: dict[str, str], status: int) -> ResponseReturnValue:
    """The form (with what was typed and its errors) and the batch list."""
    batches, listed_error = None, ""
    try:
        query = validated(BatchQuery, given(request.args, "before"))
        batches = list_batches(query)
    except ApiRefused as exc:
        listed_error = str(exc)
    try:
        sites = stored_config().hotspot_sites
    except ApiRefused:
        sites = []
    return render_template(
        "admin/vouchers/index.html", batches=batches, listed_error=listed_error, sites=sites,
        site_names={s.slug: s.name for s in sites},
        entered=entered, errors=errors, per_page=PER_PAGE, max_batch=MAX_BATCH,
        max_minutes=MAX_SESSION_MINUTES, max_note=MAX_NOTE,
    ), status  # fmt: skip


@bp.route("/voucher")
@requires("operate")
def index() -> ResponseReturnValue:
    """The generation form and the batches."""
    return _index({"minutes": str(DEFAULT_MINUTES)}, {}, 200)


@bp.route("/voucher", methods=["POST"])
@requires("operate")
def create() -> ResponseReturnValue:
    """Make a batch, then show it (its sheet is a click away)."""
    entered = given(request.form, "site", "count", "minutes", "note")
    try:
        result = create_batch(validated(VoucherRequest, entered))
    except ApiRefused as exc:
        return _index(entered, exc.fields or {"": str(exc)}, exc.status)
    flash(tr("Batch {b} dibuat: {n} voucher. Cetak lembarnya di bawah.",
             "Batch {b} made: {n} vouchers. Print its sheet below.",
             b=result["batch"], n=result["count"]), "ok")  # fmt: skip
    return redirect(url_for("vouchers.show", batch=result["batch"]))


@bp.route("/voucher/<int:batch>")
@requires("operate")
def show(batch: int) -> ResponseReturnValue:
    """A batch's terms and how many of its codes were used."""
    try:
        found = one_batch(batch)
    except ApiRefused as exc:
        return refuse(exc.status, str(exc))
    try:
        sites = {s.slug: s.name for s in stored_config().hotspot_sites}
    except ApiRefused:
        sites = {}
    return render_template("admin/vouchers/batch.html", batch=found, sites=sites)


@bp.route("/voucher/<int:batch>/cetak")
@requires("operate")
def print_sheet(batch: int) -> ResponseReturnValue:
    """The batch's printable sheet, exactly the CLI's."""
    try:
        return Response(sheet(batch), mimetype="text/html")
    except ApiRefused as exc:
        return refuse(exc.status, str(exc))


@bp.route("/voucher/lembar.css")
@requires("operate")
def sheet_css() -> ResponseReturnValue:
    """The sheet's stylesheet."""
    return Response(SHEET_CSS, mimetype="text/css")


# -- API -------------------------------------------------------------------------------------

BATCH = {"type": "object", "properties": {
    "batch": {"type": "integer"}, "created_at": {"type": "number"}, "actor": {"type": "string"},
    "site": {"type": ["string", "null"]}, "minutes": {"type": "integer"},
    "note": {"type": "string"}, "count": {"type": "integer"}, "used": {"type": "integer"},
    "running": {"type": "integer"}, "unused": {"type": "integer"}}}  # fmt: skip


@api(
    bp,
    "/vouchers",
    method="POST",
    capability="operate",
    body=VoucherRequest,
    status=201,
    summary="Make a batch of voucher codes; the answer is the only one that lists them",
    response={"type": "object", "properties": {
        "batch": {"type": "integer"}, "site": {"type": ["string", "null"]},
        "minutes": {"type": "integer"}, "note": {"type": "string"},
        "count": {"type": "integer"}, "codes": {"type": "array", "items": {"type": "string"}}}},
)  # fmt: skip
def post_vouchers(body: VoucherRequest) -> dict[str, Any]:
    return create_batch(body)


@api(bp, "/vouchers", capability="operate",
     summary=f"Voucher batches, newest first, {PER_PAGE} at a time (before: an older page)",
     query={"before": {"type": "integer", "minimum": 1}},
     response={"type": "array", "items": BATCH})  # fmt: skip
def get_vouchers() -> list[dict[str, Any]]:
    return list_batches(validated(BatchQuery, given(request.args)))


@api(bp, "/vouchers/<int:batch>", capability="operate",
     summary="One voucher batch's terms and counts (not its codes)", response=BATCH)  # fmt: skip
def get_voucher_batch(batch: int) -> dict[str, Any]:
    return one_batch(batch)
