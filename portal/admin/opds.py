"""OPDs (government agencies' LANs): their filter policy and bandwidth, edited into the draft."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from portal.admin.api import ApiRefused, api
from portal.admin.drafts import (
    changed_fields,
    current_draft,
    find,
    parse_change,
    save_object,
    saved_to_draft,
)
from portal.admin.i18n import tr
from portal.admin.session import requires
from simpul.config.model import Bandwidth, Opd, Slug

bp = Blueprint("opds", __name__)
RATE_FIELDS = ("bandwidth", "bandwidth_cap")


# -- OPDs --------------------------------------------------------------------------------------


class OpdChange(BaseModel):
    """What the console changes on an OPD; fields left out stay as they are."""

    model_config = {"extra": "forbid"}
    name: str = Field(default="", min_length=2, max_length=120)
    policy: Slug | None = Field(default=None, description="a policy's name; null: no filtering")
    bandwidth: Bandwidth | None = Field(default=None, description="guaranteed share; null: none")
    bandwidth_cap: Bandwidth | None = Field(default=None, description="the most it may take")


def shown_opds() -> list[dict[str, Any]]:
    """The OPDs as the user's draft has them (the running configuration without a draft)."""
    return list(current_draft().document.get("opds", []))


def _policy_exists(document: dict[str, Any], opd: dict[str, Any]) -> dict[str, str]:
    policies = {policy["name"] for policy in document.get("policies", [])}
    if opd.get("policy") and opd["policy"] not in policies:
        return {
            "policy": tr(
                "Tidak ada kebijakan bernama {name}.",
                "No policy is named {name}.",
                name=opd["policy"],
            )
        }
    return {}


def save_opd(slug: str, body: OpdChange) -> dict[str, Any]:
    """Put `body`'s fields into OPD `slug` in the draft; the OPD as saved. 404 if there is no
    such OPD, 422 (nothing saved) if the result is not valid or names no existing policy."""
    return save_object("opds", "slug", slug, Opd, changed_fields(body), _policy_exists)


def _rate_pair(form: Mapping[str, str], prefix: str) -> dict[str, str] | None:
    down = form.get(f"{prefix}.down_mbps", "").strip()
    up = form.get(f"{prefix}.up_mbps", "").strip()
    return {"down_mbps": down, "up_mbps": up} if down or up else None


def form_values(opd: Mapping[str, Any]) -> dict[str, str]:
    """An OPD's editable fields as the form's text values."""
    values = {"name": opd.get("name") or "", "policy": opd.get("policy") or ""}
    for prefix in RATE_FIELDS:
        rates = opd.get(prefix) or {}
        for direction in ("down_mbps", "up_mbps"):
            value = rates.get(direction)
            values[f"{prefix}.{direction}"] = "" if value is None else f"{value:g}"
    return values


@bp.route("/opd")
@requires("configure")
def index() -> ResponseReturnValue:
    """Every OPD with its network, policy, bandwidth and shared services."""
    return render_template("admin/opds/index.html", opds=shown_opds())


@bp.route("/opd/<slug>", methods=["GET", "POST"])
@requires("configure")
def edit(slug: str) -> ResponseReturnValue:
    """One OPD's name, policy and bandwidth; a POST saves them into the draft."""
    document = current_draft().document
    opd = find(document.get("opds", []), "slug", slug)
    if opd is None:
        abort(404)
    errors: dict[str, str] = {}
    values = form_values(opd)
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in values}
        raw = {"name": values["name"], "policy": values["policy"] or None}
        raw |= {prefix: _rate_pair(request.form, prefix) for prefix in RATE_FIELDS}
        try:
            save_opd(slug, parse_change(OpdChange, raw))
        except ApiRefused as exc:
            errors = exc.fields or {"": str(exc)}
        else:
            return saved_to_draft("opds.edit", slug=slug)
    policies = [policy["name"] for policy in document.get("policies", [])]
    page = render_template(
        "admin/opds/edit.html", opd=opd, values=values, errors=errors, policies=policies
    )
    return page, 422 if errors else 200


# -- API ---------------------------------------------------------------------------------------

OPD_SCHEMA = {"type": "object", "description": "an OPD as in the configuration (simpul Opd)"}


@api(
    bp,
    "/opds",
    capability="configure",
    summary="The OPDs (the caller's draft, else running)",
    response={"type": "array", "items": OPD_SCHEMA},
)
def get_opds() -> list[dict[str, Any]]:
    return shown_opds()


@api(
    bp,
    "/opds/<slug>",
    method="PUT",
    capability="configure",
    body=OpdChange,
    summary="Change an OPD's name, policy or bandwidth in the caller's draft",
    response=OPD_SCHEMA,
)
def put_opd(slug: str, body: OpdChange) -> dict[str, Any]:
    return save_opd(slug, body)
