"""The console's users (admins only): list, add, change a role, disable or enable, set a new
password. console.db keeps them (the last enabled admin cannot be demoted or disabled there);
each change goes into netd's audit log with the user's role and state before and after, never
a password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from portal.admin.accounts import MAX_PASSWORD, MIN_PASSWORD, NAME, AccountError, User
from portal.admin.api import ApiRefused, api
from portal.admin.auth import record
from portal.admin.errors import from_account
from portal.admin.i18n import tr
from portal.admin.roles import ROLE_NAMES, ROLES, Role
from portal.admin.session import console_db, current_user, requires

bp = Blueprint("users", __name__)


class NewUser(BaseModel):
    """A user to add."""

    model_config = {"extra": "forbid"}
    name: str = Field(pattern=NAME.pattern)
    role: Role
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


class UserChange(BaseModel):
    """What to change of a user; fields left out stay as they are."""

    model_config = {"extra": "forbid"}
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


def _public(user: User) -> dict[str, Any]:
    """A user as the console shows it (no hash, no session generation)."""
    return {"name": user.name, "role": user.role, "disabled": user.disabled,
            "created_at": user.created_at}  # fmt: skip


def list_users() -> list[dict[str, Any]]:
    """Every user, by name."""
    return [_public(user) for user in console_db().users()]


def add_user(name: str, role: str, password: str) -> dict[str, Any]:
    """Create a user; ApiRefused(422) naming the field at fault (a taken name, say)."""
    try:
        user = console_db().add_user(name, role, password)
    except AccountError as exc:
        raise from_account(exc) from None
    after = _public(user)
    record("console.user.add", {"user": name, "before": None, "after": after})
    return after


def change_user(
    name: str, *, role: str | None = None, disabled: bool | None = None,
    password: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Change a user's role, state or password; 404 for no such user, 422 for a refused change
    (the last enabled admin stays an enabled admin)."""
    if role is None and disabled is None and password is None:
        raise ApiRefused(422, "invalid", tr("Tidak ada yang diubah.", "Nothing to change."))
    db = console_db()
    if db.user(name) is None:
        raise ApiRefused(404, "not-found", tr("Tidak ada pengguna bernama {n}.",
                                              "No user is named {n}.", n=name))  # fmt: skip
    try:
        before, after = db.update_user(name, role=role, disabled=disabled, password=password)
    except AccountError as exc:
        raise from_account(exc) from None
    signed_in = current_user()
    if signed_in is not None and signed_in.name == name and session.get("user") == name:
        session["gen"] = after.generation  # a new password of one's own keeps one signed in
    detail: dict[str, Any] = {"user": name, "before": _public(before), "after": _public(after)}
    if password is not None:
        detail["password_changed"] = True
    record("console.user.update", detail)
    return _public(after)


# -- pages -------------------------------------------------------------------------------------


def _list_page(form: dict[str, str], errors: dict[str, str], status: int = 200) -> Any:
    return render_template("admin/users/index.html", users=list_users(), roles=ROLES,
                           role_names=ROLE_NAMES, form=form, errors=errors), status  # fmt: skip


@bp.route("/pengguna")
@requires("users")
def index() -> ResponseReturnValue:
    """The users and a form to add one."""
    return _list_page({}, {})


@bp.route("/pengguna", methods=["POST"])
@requires("users")
def add() -> ResponseReturnValue:
    """Add a user."""
    name = request.form.get("name", "").strip().lower()
    role = request.form.get("role", "")
    try:
        add_user(name, role, request.form.get("password", ""))
    except ApiRefused as exc:
        return _list_page({"name": name, "role": role}, exc.fields, 422)
    flash(tr("Pengguna {n} ditambahkan.", "User {n} added.", n=name), "ok")
    return redirect(url_for("users.index"))


def _user_page(name: str, errors: dict[str, str], status: int = 200) -> Any:
    found = console_db().user(name)
    if found is None:
        abort(404, tr("Tidak ada pengguna bernama {n}.", "No user is named {n}.", n=name))
    return render_template("admin/users/user.html", user=_public(found), roles=ROLES,
                           role_names=ROLE_NAMES, errors=errors), status  # fmt: skip


@bp.route("/pengguna/<name>")
@requires("users")
def user(name: str) -> ResponseReturnValue:
    """One user: role, state and a new password."""
    return _user_page(name, {})


@bp.route("/pengguna/<name>", methods=["POST"])
@requires("users")
def update(name: str) -> ResponseReturnValue:
    """Change the role (`action=role`), the state (`action=disable|enable`) or the password
    (`action=password`)."""
    action = request.form.get("action", "")
    changes: dict[str, Any] = {
        "role": {"role": request.form.get("role", "")},
        "disable": {"disabled": True},
        "enable": {"disabled": False},
        "password": {"password": request.form.get("password", "")},
    }.get(action, {})
    if not changes:
        abort(400, tr("Tindakan tidak dikenal.", "Unknown action."))
    try:
        change_user(name, **changes)
    except ApiRefused as exc:
        if exc.status == 404:
            abort(404, str(exc))
        return _user_page(name, exc.fields, exc.status)
    flash(tr("Pengguna {n} diubah.", "User {n} changed.", n=name), "ok")
    return redirect(url_for("users.user", name=name))


# -- API ---------------------------------------------------------------------------------------

USER_SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string"}, "role": {"enum": list(ROLES)}, "disabled": {"type": "boolean"},
    "created_at": {"type": "number"}}}  # fmt: skip


@api(bp, "/users", capability="users", summary="The console's users",
     response={"type": "array", "items": USER_SCHEMA})  # fmt: skip
def get_users() -> list[dict[str, Any]]:
    return list_users()


@api(bp, "/users", method="POST", capability="users", body=NewUser, response=USER_SCHEMA,
     status=201, summary="Add a user")  # fmt: skip
def post_user(body: NewUser) -> dict[str, Any]:
    return add_user(body.name, body.role, body.password)


@api(bp, "/users/<name>", method="PATCH", capability="users", body=UserChange,
     response=USER_SCHEMA,
     summary="Change a user's role, disabled state or password (fields left out stay)")  # fmt: skip
def patch_user(name: str, body: UserChange) -> dict[str, Any]:
    return change_user(name, **body.model_dump(exclude_unset=True))
