"""A user's draft configuration: pages change the draft, never the running configuration; the
changes page previews the draft against what runs and applies it (see `changes`)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from flask import g
from pydantic import BaseModel, ValidationError

from portal.admin.accounts import Draft
from portal.admin.api import field_errors, netd_call
from portal.admin.session import console_db, current_user


def _user() -> str:
    user = current_user()
    assert user is not None, "drafts belong to a signed-in user"
    return user.name


def current_draft() -> Draft:
    """The user's draft, or (not yet saved) the stored configuration to start one from."""
    draft = console_db().draft(_user())
    if draft is not None:
        return draft
    stored = netd_call("config_document")
    return Draft(stored["revision"], stored["document"], 0.0)


def has_draft() -> bool:
    """Whether the user has unapplied changes."""
    user = current_user()
    return user is not None and console_db().draft(user.name) is not None


def edit_draft(mutate: Callable[[dict[str, Any]], None]) -> Draft:
    """Change the user's draft with `mutate` (given a copy of the document) and keep it."""
    draft = current_draft()
    document = copy.deepcopy(draft.document)
    mutate(document)
    console_db().save_draft(_user(), draft.base_revision, document)
    return Draft(draft.base_revision, document, 0.0)


def drop_draft() -> None:
    """Throw the user's draft away."""
    console_db().drop_draft(_user())


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
