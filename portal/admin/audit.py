"""The audit log (admins only): netd's one log of every change, newest first, filtered by action
prefix and actor, paged to older entries. A configuration change shows each object's changed
fields (before → after); any other entry its detail as key: value."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field, ValidationError

from portal.admin.api import ApiRefused, api, field_errors, netd_call
from portal.admin.i18n import tr
from portal.admin.session import requires

bp = Blueprint("audit", __name__)
PAGE_SIZE = 50
Change = tuple[str, str | None, str | None]  # field path, before, after (None: absent)


class AuditQuery(BaseModel):
    """The audit log's filters (netd's `audit_log` bounds)."""

    model_config = {"extra": "forbid"}
    limit: int = Field(default=PAGE_SIZE, ge=1, le=500)
    before_id: int | None = Field(default=None, ge=1, le=2**62)
    action: str = Field(default="", max_length=60, description="the action starts with this")
    actor: str = Field(default="", max_length=80, description="the actor contains this")


def parse_query(args: dict[str, str]) -> AuditQuery:
    """The request's query as AuditQuery (empty values are left out), or ApiRefused(422)."""
    try:
        return AuditQuery.model_validate({k: v for k, v in args.items() if v != ""})
    except ValidationError as exc:
        raise ApiRefused(422, "invalid", tr("Filter tidak sah.", "Invalid filter."),
                         field_errors(exc)) from None  # fmt: skip


def audit_entries(query: AuditQuery) -> dict[str, Any]:
    """A page of netd's audit log and the `before_id` of the next older page (None at the end)."""
    params = query.model_dump(exclude_none=True)
    entries = netd_call("audit_log", **params)
    older = entries[-1]["id"] if len(entries) == query.limit else None
    return {"entries": entries, "next_before_id": older}


# -- showing a detail (pure) -------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """`value` as {dotted.path: text}: objects and lists of objects are walked, anything else
    (a list of names, a number) is one leaf."""
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix or "(nilai / value)": _text(value)}


def field_changes(before: Any, after: Any) -> list[Change]:
    """The fields that differ between `before` and `after` (either may be None: created or
    removed), in path order."""
    old = flatten(before) if before is not None else {}
    new = flatten(after) if after is not None else {}
    paths = sorted(old.keys() | new.keys())
    return [(p, old.get(p), new.get(p)) for p in paths if old.get(p) != new.get(p)]


def describe(detail: Any) -> dict[str, Any]:
    """How an entry's detail reads: its per-object changes (a configuration change's
    `changes`, or a `before`/`after` pair), and the other keys as key: value lines."""
    if not isinstance(detail, dict):
        return {"objects": [], "lines": [("", _text(detail))]}
    objects = []
    rest = dict(detail)
    for change in rest.pop("changes", None) or []:
        objects.append(
            _object(change.get("object", "?"), change.get("before"), change.get("after"))
        )
    if "before" in rest or "after" in rest:
        before, after = rest.pop("before", None), rest.pop("after", None)
        objects.append(_object(_text(rest.get("user") or rest.get("target") or ""), before, after))
    lines = list(flatten(rest).items()) if rest else []
    return {"objects": objects, "lines": lines}


def _object(name: str, before: Any, after: Any) -> dict[str, Any]:
    kind = "created" if before is None else "removed" if after is None else "changed"
    return {"object": name, "kind": kind, "fields": field_changes(before, after)}


# -- page and API ------------------------------------------------------------------------------


@bp.route("/audit")
@requires("audit")
def index() -> ResponseReturnValue:
    """The audit log with its filters and a link to older entries."""
    args = request.args.to_dict()
    try:
        query = parse_query(args)
        result = audit_entries(query)
    except ApiRefused as exc:
        page = render_template("admin/audit/index.html", filters=args, errors=exc.fields,
                               message=str(exc), entries=[], older_url=None)  # fmt: skip
        return page, exc.status
    entries = [{**entry, "shown": describe(entry["detail"])} for entry in result["entries"]]
    older_url = None
    if result["next_before_id"] is not None:
        older_url = url_for("audit.index", before_id=result["next_before_id"],
                            **{k: v for k, v in (("action", query.action), ("actor", query.actor),
                                                 ("limit", query.limit)) if v})  # fmt: skip
    return render_template("admin/audit/index.html", filters=args, errors={}, message=None,
                           entries=entries, older_url=older_url)  # fmt: skip


@api(bp, "/audit", capability="audit",
     summary="The audit log, newest first (before_id pages to older entries)",
     query={"limit": {"type": "integer", "minimum": 1, "maximum": 500},
            "before_id": {"type": "integer", "minimum": 1},
            "action": {"type": "string", "maxLength": 60, "description": "action prefix"},
            "actor": {"type": "string", "maxLength": 80, "description": "actor substring"}},
     response={"type": "object", "properties": {
         "entries": {"type": "array", "items": {"type": "object", "properties": {
             "id": {"type": "integer"}, "at": {"type": "number"}, "actor": {"type": "string"},
             "action": {"type": "string"}, "detail": {}}}},
         "next_before_id": {"type": ["integer", "null"]}}})  # fmt: skip
def get_audit() -> dict[str, Any]:
    return audit_entries(parse_query(request.args.to_dict()))
