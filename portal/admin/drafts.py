"""A user's draft configuration: pages change the draft, never the running configuration; the
changes page previews the draft against what runs and applies it (see `changes`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from flask import flash, g, redirect, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from portal.admin.accounts import Draft
from portal.admin.api import field_errors, netd_call
from portal.admin.errors import ApiRefused
from portal.admin.i18n import tr
from portal.admin.session import console_db, current_user
from simpul.config import ConfigError, parse_config


def _user() -> str:
    user = current_user()
    assert user is not None, "drafts belong to a signed-in user"
    return user.name


# A request reads the draft once (a page, the helpers saving into it and the banner all ask):
# g.saved_draft is the user's saved draft or None, g.stored_draft the stored configuration a
# draft starts from. The writers below keep them current; read-only callers never mutate them.


def _saved_draft() -> Draft | None:
    if "saved_draft" not in g:
        g.saved_draft = console_db().draft(_user())
    return g.saved_draft


def current_draft() -> Draft:
    """The user's draft, or (not yet saved) the stored configuration to start one from."""
    draft = _saved_draft()
    if draft is not None:
        return draft
    if "stored_draft" not in g:
        stored = netd_call("config_document")
        g.stored_draft = Draft(stored["revision"], stored["document"], 0.0)
    return g.stored_draft


def has_draft() -> bool:
    """Whether the user has unapplied changes."""
    return current_user() is not None and _saved_draft() is not None


def _keep(base_revision: int, document: dict[str, Any]) -> Draft:
    console_db().save_draft(_user(), base_revision, document)
    g.saved_draft = Draft(base_revision, document, 0.0)
    return g.saved_draft


def edit_draft(mutate: Callable[[dict[str, Any]], None]) -> Draft:
    """Change the user's draft with `mutate` (given a copy of the document) and keep it."""
    draft = current_draft()
    document = copy.deepcopy(draft.document)
    mutate(document)
    return _keep(draft.base_revision, document)


def replace_draft(document: dict[str, Any]) -> Draft:
    """Keep `document` as the user's whole draft, on the revision the current one is based on."""
    return _keep(current_draft().base_revision, document)


def drop_draft() -> None:
    """Throw the user's draft away (applied or discarded: the stored configuration may have
    changed too)."""
    console_db().drop_draft(_user())
    g.saved_draft = None
    g.pop("stored_draft", None)


def object_errors(model: type[BaseModel], data: dict[str, Any]) -> dict[str, str]:
    """Per-field problems of one configuration object (an OPD, a site …) before it goes into
    the draft; {} when it is valid on its own (the whole draft is checked again on apply)."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return field_errors(exc)
    return {}


def pending_change() -> dict[str, Any] | None:
    """The change on probation (for the banner on every page), asked of netd once per request."""
    if "pending_change" not in g:
        try:
            g.pending_change = netd_call("config_pending")
        except Exception:  # the banner is a courtesy; a page must not fail for it
            g.pending_change = None
    return g.pending_change


def find(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    """The object in a configuration list whose `key` is `value`."""
    return next((item for item in items if item.get(key) == value), None)


# -- Saving one object of the configuration (the configuration pages share these) ------------


def saved_to_draft(endpoint: str, **params: Any) -> ResponseReturnValue:
    """Flash that the change waits in the draft, and go to `endpoint`."""
    flash(
        tr(
            "Disimpan ke draf. Tinjau dan terapkan di halaman Perubahan.",
            "Saved to the draft. Review and apply it on the Changes page.",
        ),
        "ok",
    )
    return redirect(url_for(endpoint, **params))


def problems_at(document: dict[str, Any], *where: str | int) -> dict[str, str]:
    """The whole-draft checks' problems located inside `where` (e.g. "opds", 2), keyed by the
    path below it; {} also when another part of the draft does not parse (apply reports it)."""
    try:
        parse_config(document)
    except ConfigError as exc:
        depth = len(where)
        return {
            ".".join(str(part) for part in problem.loc[depth:]) or str(where[-1]): problem.message
            for problem in exc.problems
            if problem.loc[:depth] == where
        }
    return {}


def invalid(errors: Mapping[str, str]) -> ApiRefused:
    """The API's 422 for per-field `errors`."""
    return ApiRefused(
        422,
        "invalid",
        tr("Ada isian yang belum benar.", "Some fields are not valid."),
        dict(errors),
    )


def refuse_invalid(errors: Mapping[str, str]) -> None:
    """Raise the API's 422 for per-field `errors`, if there are any."""
    if errors:
        raise invalid(errors)


def parse_change(model: type[BaseModel], raw: dict[str, Any]) -> Any:
    """A page's form data as the API's body `model`, or ApiRefused(422) naming each field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None


def changed_fields(body: BaseModel) -> dict[str, Any]:
    """The fields a PUT body gave, as plain data (absent fields stay as they are)."""
    return body.model_dump(mode="json", include=body.model_fields_set)


def save_object(
    section: str,
    key: str,
    value: str,
    model: type[BaseModel],
    change: dict[str, Any],
    check: Callable[[dict[str, Any], dict[str, Any]], dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Put `change` into the draft's `section` object whose `key` is `value`, after checking the
    object alone (`model`), with `check` (given the document and the changed object) and against
    the rest of the draft; the object as saved. 404 if there is no such object, 422 (nothing
    saved) if it is not valid."""
    document = current_draft().document
    items = document.get(section, [])
    current = find(items, key, value)
    if current is None:
        raise ApiRefused(
            404,
            "not-found",
            tr(
                "Tidak ada {value} di {section}.",
                "No {value} in {section}.",
                value=value,
                section=section,
            ),
        )
    updated = {**current, **change}
    errors = object_errors(model, updated) or (check(document, updated) if check else {})
    if not errors:
        index = items.index(current)
        edited = [*items[:index], updated, *items[index + 1 :]]
        errors = problems_at({**document, section: edited}, section, index)
    refuse_invalid(errors)

    def mutate(draft: dict[str, Any]) -> None:
        target = find(draft.get(section, []), key, value)
        assert target is not None, "the object was there a moment ago"
        target.update(change)

    edit_draft(mutate)
    return updated
