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

from netctl.protocol import ApiError
from portal.admin.accounts import AccountError
from portal.admin.api import ApiRefused, api
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
        message = tr("Terlalu banyak percobaan gagal. Coba lagi dalam {m} menit.",
                     "Too many failed attempts. Try again in {m} minutes.",
                     m=math.ceil(wait_s / 60))  # fmt: skip
        page = render_template("admin/login.html", error=message, name=name,
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


@bp.route("/akun", methods=["GET", "POST"])
@requires("view")
def account() -> ResponseReturnValue:
    """The signed-in user's own page: change password, make and revoke API tokens."""
    user = current_user()
    assert user is not None
    db = console_db()
    new_token = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "password":
                if db.verify(user.name, request.form.get("current", "")) is None:
                    raise AccountError(
                        "current",
                        tr("Kata sandi sekarang salah.", "The current password is wrong."),
                    )
                _before, after = db.update_user(user.name, password=request.form.get("new", ""))
                session["gen"] = after.generation
                record("console.user.password", {"user": user.name})
                flash(tr("Kata sandi diganti.", "Password changed."), "ok")
            elif action == "token":
                new_token = db.add_token(user.name, request.form.get("label", ""))
                record(
                    "console.token.add", {"user": user.name, "label": request.form.get("label", "")}
                )
            elif action == "revoke" and db.revoke_token(user.name, request.form.get("token", "")):
                record("console.token.revoke", {"user": user.name})
                flash(tr("Token dicabut.", "Token revoked."), "ok")
        except AccountError as exc:
            errors[exc.field] = str(exc)
    return render_template("admin/account.html", tokens=db.tokens(user.name),
                           new_token=new_token, errors=errors)  # fmt: skip


@api(bp, "/me", capability="view", summary="Who the caller is and what the role may do",
     response={"type": "object", "properties": {"name": {"type": "string"},
                                                "role": {"type": "string"}}})  # fmt: skip
def me() -> dict[str, Any]:
    """The calling user."""
    user = current_user()
    if user is None:  # requires() already refused; keeps the type checker honest
        raise ApiRefused(401, "unauthenticated", "sign in first")
    return {"name": user.name, "role": user.role}
