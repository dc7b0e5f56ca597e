"""Safe change: the draft's diff (configuration and ruleset), apply in one transaction, apply on
probation (rolled back by netd unless confirmed in time), confirm, discard, and the revisions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from portal.admin.api import ApiRefused, api, netd_call
from portal.admin.auth import safe_next
from portal.admin.drafts import (
    current_draft,
    drop_draft,
    has_draft,
    pending_change,
    replace_draft,
)
from portal.admin.i18n import tr
from portal.admin.session import requires

bp = Blueprint("changes", __name__)
DEFAULT_CONFIRM_S = 120


class ApplyRequest(BaseModel):
    """Apply the caller's draft."""

    model_config = {"extra": "forbid"}
    confirm_s: int | None = Field(
        default=None, ge=10, le=3600, description="roll back unless confirmed within this many s"
    )
    comment: str = Field(default="", max_length=200)


class DraftDocument(BaseModel):
    """A whole configuration to keep as the caller's draft."""

    model_config = {"extra": "forbid"}
    document: dict[str, Any]


def preview() -> dict[str, Any]:
    """The draft against what runs: validity, problems, both diffs."""
    draft = current_draft()
    result = netd_call("config_preview", document=draft.document)
    result["draft_base"] = draft.base_revision
    result["has_draft"] = has_draft()
    return result


def apply_draft(confirm_s: int | None, comment: str) -> dict[str, Any]:
    """Apply the caller's draft; it is gone once applied."""
    if not has_draft():
        raise ApiRefused(409, "no-draft", tr("Tidak ada draf untuk diterapkan.",
                                             "There is no draft to apply."))  # fmt: skip
    draft = current_draft()
    result = netd_call("config_apply", document=draft.document,
                       base_revision=draft.base_revision, confirm_s=confirm_s,
                       comment=comment)  # fmt: skip
    drop_draft()
    return result


@bp.route("/perubahan")
@requires("configure")
def index() -> ResponseReturnValue:
    """The draft's diff and the apply buttons."""
    if not has_draft():  # nothing to compare: netd need not render a ruleset for it
        return render_template("admin/changes.html", preview={"has_draft": False},
                               default_confirm=DEFAULT_CONFIRM_S)  # fmt: skip
    try:
        result = preview()
    except ApiRefused as exc:
        result = {"valid": False, "problems": [{"path": exc.code, "message": str(exc)}],
                  "has_draft": has_draft(), "draft_base": None}  # fmt: skip
    return render_template("admin/changes.html", preview=result, default_confirm=DEFAULT_CONFIRM_S)


@bp.route("/perubahan/terapkan", methods=["POST"])
@requires("configure")
def apply() -> ResponseReturnValue:
    """Apply now, or on probation when the confirm box was ticked."""
    confirm_s = DEFAULT_CONFIRM_S if request.form.get("confirm") else None
    try:
        result = apply_draft(confirm_s, request.form.get("comment", "")[:200])
    except ApiRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("changes.index"))
    if result.get("confirm_by"):
        flash(tr("Diterapkan sebagai revisi {r}. Konfirmasi dalam {s} detik, atau perubahan "
                 "dibatalkan otomatis.", "Applied as revision {r}. Confirm within {s} seconds, "
                 "or it is rolled back.", r=result["revision"], s=confirm_s), "warn")  # fmt: skip
    elif result.get("changed"):
        flash(tr("Diterapkan sebagai revisi {r}.", "Applied as revision {r}.",
                 r=result["revision"]), "ok")  # fmt: skip
    else:
        flash(tr("Tidak ada yang berubah.", "Nothing changed."), "ok")
    return redirect(url_for("changes.index"))


@bp.route("/perubahan/konfirmasi", methods=["POST"])
@requires("configure")
def confirm() -> ResponseReturnValue:
    """Keep the change on probation."""
    try:
        result = netd_call("config_confirm")
        flash(tr("Revisi {r} dikonfirmasi.", "Revision {r} confirmed.",
                 r=result["confirmed"]), "ok")  # fmt: skip
    except ApiRefused as exc:
        flash(str(exc), "error")
    return redirect(safe_next(request.form.get("back"), "changes.index"))


@bp.route("/perubahan/buang", methods=["POST"])
@requires("configure")
def discard() -> ResponseReturnValue:
    """Throw the draft away."""
    drop_draft()
    flash(tr("Draf dibuang.", "Draft discarded."), "ok")
    return redirect(url_for("changes.index"))


@bp.route("/perubahan/riwayat")
@requires("configure")
def history() -> ResponseReturnValue:
    """The stored revisions."""
    return render_template("admin/revisions.html", revisions=netd_call("config_revisions",
                                                                      limit=100))  # fmt: skip


# -- API ---------------------------------------------------------------------------------------

DRAFT_SCHEMA = {"type": "object", "properties": {
    "base_revision": {"type": "integer"}, "document": {"type": "object"},
    "has_draft": {"type": "boolean"}}}  # fmt: skip


@api(bp, "/draft", capability="configure", summary="The caller's draft configuration",
     response=DRAFT_SCHEMA)  # fmt: skip
def get_draft() -> dict[str, Any]:
    draft = current_draft()
    return {"base_revision": draft.base_revision, "document": draft.document,
            "has_draft": has_draft()}  # fmt: skip


@api(
    bp,
    "/draft",
    method="PUT",
    capability="configure",
    body=DraftDocument,
    summary="Replace the caller's draft with a whole configuration",
    response=DRAFT_SCHEMA,
)
def put_draft(body: DraftDocument) -> dict[str, Any]:
    draft = replace_draft(body.document)
    return {"base_revision": draft.base_revision, "document": draft.document, "has_draft": True}


@api(bp, "/draft", method="DELETE", capability="configure", summary="Discard the caller's draft")
def delete_draft() -> dict[str, Any]:
    drop_draft()
    return {"discarded": True}


@api(
    bp,
    "/draft/preview",
    capability="configure",
    summary="The draft's problems, or its configuration and ruleset diffs",
)
def get_preview() -> dict[str, Any]:
    return preview()


@api(
    bp,
    "/draft/apply",
    method="POST",
    capability="configure",
    body=ApplyRequest,
    summary="Apply the caller's draft (on probation with confirm_s)",
)
def post_apply(body: ApplyRequest) -> dict[str, Any]:
    return apply_draft(body.confirm_s, body.comment)


@api(
    bp,
    "/config/confirm",
    method="POST",
    capability="configure",
    summary="Confirm the change on probation",
)
def post_confirm() -> dict[str, Any]:
    return netd_call("config_confirm")


@api(
    bp,
    "/config/pending",
    capability="view",
    summary="The change on probation and its seconds left, or null",
    response={"type": ["object", "null"]},
)
def get_pending() -> Any:
    return pending_change()


@api(
    bp,
    "/config/revisions",
    capability="configure",
    summary="The latest revisions",
    response={"type": "array"},
)
def get_revisions() -> Any:
    return netd_call("config_revisions", limit=100)
