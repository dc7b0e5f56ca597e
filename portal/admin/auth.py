"""Signing in and out, the language switch, and a user's own password and API tokens."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from netctl.protocol import ApiError
from portal.admin.accounts import AccountError, User
from portal.admin.api import ApiRefused, api
from portal.admin.errors import from_account
from portal.admin.i18n import COOKIE, LANGS, tr
from portal.admin.session import call, console_db, csrf_token, current_user, requires

bp = Blueprint("auth", __name__)


# Browsers read a backslash as a slash and drop tabs and newlines: "/\\evil" is "//evil".
UNSAFE_IN_PATH = re.compile(r"[\\\x00-\x1f\x7f]")


def safe_next(target: str | None, fallback: str = "dashboard.index") -> str:
    """Only a path on this console (never another site) is a place to go next; else the page
    of the endpoint `fallback`."""
    if not target:
        return url_for(fallback)
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or UNSAFE_IN_PATH.search(target)):  # fmt: skip
        return url_for(fallback)
    return target


def _locked(wait_s: float) -> str:
    """What a locked-out user is told (after too many failed passwords)."""
    return tr("Terlalu banyak percobaan gagal. Coba lagi dalam {m} menit.",
              "Too many failed attempts. Try again in {m} minutes.",
              m=math.ceil(wait_s / 60))  # fmt: skip


def record(action: str, detail: dict[str, Any]) -> None:
    """Write a console change into netd's audit log (the one log of every change)."""
    try:
        call("audit_record", action=action, detail=detail)
    except (ApiError, OSError) as exc:  # the change is made; say the record is missing
        flash(tr("Perubahan tersimpan, tetapi catatan audit gagal: {e}",
                 "Change saved, but the audit record failed: {e}", e=exc), "error")  # fmt: skip


@bp.route("/masuk", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The sign-in form; five failures per name or address in 15 minutes lock both out."""
    csrf_token()
    if request.method == "GET":
        return render_template("admin/login.html", next=request.args.get("next", ""))
    name = request.form.get("name", "").strip().lower()[:64]
    password = request.form.get("password", "")[:256]
    keys = (f"name:{name}", f"addr:{request.remote_addr}")
    db = console_db()
    wait_s = db.locked_for(*keys)
    if wait_s > 0:
        page = render_template("admin/login.html", error=_locked(wait_s), name=name,
                               next=request.form.get("next", ""))  # fmt: skip
        return page, 429, {"Retry-After": str(math.ceil(wait_s))}
    user = db.verify(name, password)
    if user is None:
        db.record_failure(*keys)
        message = tr("Nama pengguna atau kata sandi salah.", "Wrong user name or password.")
        page = render_template("admin/login.html", error=message, name=name,
                               next=request.form.get("next", ""))  # fmt: skip
        return page, 401
    db.clear_failures(keys[0])
    session.clear()
    session.permanent = True
    session.update(user=user.name, gen=user.generation)
    csrf_token()
    g.user = user
    record("console.login", {"user": user.name, "address": request.remote_addr})
    return redirect(safe_next(request.form.get("next")))


@bp.route("/keluar", methods=["POST"])
def logout() -> ResponseReturnValue:
    """Sign out (a POST, so another site cannot sign anyone out)."""
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/bahasa/<lang>", methods=["POST"])
def language(lang: str) -> ResponseReturnValue:
    """Switch the console's language (kept in a cookie, also before sign-in)."""
    response = make_response(redirect(safe_next(request.form.get("next"))))
    if lang in LANGS:
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


def _me() -> User:
    user = current_user()
    if user is None:  # requires() refused already; keeps the type checker honest
        raise ApiRefused(401, "unauthenticated", "sign in first")
    return user


def change_password(current: str, new: str) -> None:
    """The signed-in user's new password (their other sessions and API tokens end; this
    browser session stays signed in)."""
    user = _me()
    db = console_db()
    # Guesses of the current password count as failed sign-ins (a stolen session must not
    # become a way to find the password).
    key = f"name:{user.name}"
    wait_s = db.locked_for(key)
    if wait_s > 0:
        raise ApiRefused(429, "locked", _locked(wait_s))
    if db.verify(user.name, current) is None:
        db.record_failure(key)
        raise AccountError(
            "current", tr("Kata sandi sekarang salah.", "The current password is wrong.")
        )
    _before, after = db.update_user(user.name, password=new)
    if session.get("user") == user.name:
        session["gen"] = after.generation
    record("console.user.password", {"user": user.name})


def make_token(label: str) -> str:
    """A new API token of the signed-in user (shown once)."""
    user = _me()
    token = console_db().add_token(user.name, label)
    record("console.token.add", {"user": user.name, "label": label.strip()})
    return token


def revoke_token(token_id: str) -> bool:
    """Revoke one of the signed-in user's tokens by its id."""
    user = _me()
    revoked = console_db().revoke_token(user.name, token_id)
    if revoked:
        record("console.token.revoke", {"user": user.name, "token": token_id})
    return revoked


@bp.route("/akun", methods=["GET", "POST"])
@requires("view")
def account() -> ResponseReturnValue:
    """The signed-in user's own page: change password, make and revoke API tokens."""
    user = _me()
    new_token = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "password":
                change_password(request.form.get("current", ""), request.form.get("new", ""))
                flash(tr("Kata sandi diganti.", "Password changed."), "ok")
            elif action == "token":
                new_token = make_token(request.form.get("label", ""))
            elif action == "revoke" and revoke_token(request.form.get("token", "")):
                flash(tr("Token dicabut.", "Token revoked."), "ok")
        except AccountError as exc:
            errors[exc.field] = str(exc)
    page = render_template("admin/account.html", tokens=console_db().tokens(user.name),
                           new_token=new_token, errors=errors)  # fmt: skip
    return page, 422 if errors else 200


class PasswordChange(BaseModel):
    """The caller's current password and the new one."""

    model_config = {"extra": "forbid"}
    current: str = Field(min_length=1, max_length=200)
    new: str = Field(min_length=10, max_length=200)


class TokenRequest(BaseModel):
    """A label for a new API token."""

    model_config = {"extra": "forbid"}
    label: str = Field(min_length=1, max_length=60)


@api(bp, "/me", capability="view", summary="Who the caller is and what the role may do",
     response={"type": "object", "properties": {"name": {"type": "string"},
                                                "role": {"type": "string"}}})  # fmt: skip
def me() -> dict[str, Any]:
    """The calling user."""
    user = _me()
    return {"name": user.name, "role": user.role}


@api(
    bp,
    "/me/password",
    method="POST",
    capability="view",
    body=PasswordChange,
    summary="Change the caller's password (their API tokens and other sessions end)",
)
def post_password(body: PasswordChange) -> dict[str, Any]:
    try:
        change_password(body.current, body.new)
    except AccountError as exc:
        raise from_account(exc) from None
    return {"changed": True}


@api(
    bp,
    "/me/tokens",
    capability="view",
    summary="The caller's API tokens (never the secret)",
    response={"type": "array"},
)
def get_tokens() -> list[dict[str, Any]]:
    return [dict(row) for row in console_db().tokens(_me().name)]


@api(
    bp,
    "/me/tokens",
    method="POST",
    capability="view",
    body=TokenRequest,
    status=201,
    summary="Make an API token for the caller (its secret is in this answer only)",
)
def post_token(body: TokenRequest) -> dict[str, Any]:
    try:
        return {"token": make_token(body.label)}
    except AccountError as exc:
        raise from_account(exc) from None


@api(
    bp,
    "/me/tokens/<token_id>",
    method="DELETE",
    capability="view",
    summary="Revoke one of the caller's API tokens",
)
def delete_token(token_id: str) -> dict[str, Any]:
    if not revoke_token(token_id):
        raise ApiRefused(404, "not-found", tr("Tidak ada token itu.", "No such token."))
    return {"revoked": token_id}
