"""Per request: who is signed in, what they may do, the CSRF check, and the resources the
request opens lazily (console.db, netd) and closes at teardown."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flask import (
    Flask,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from netctl.protocol import ApiError
from portal.admin.accounts import ConsoleDb, User
from portal.admin.errors import ApiRefused, from_netd
from portal.admin.i18n import tr
from portal.admin.roles import Capability, may
from portal.admin.settings import AdminSettings
from simpul.config import Config, ConfigError, parse_config

EXTENSION = "simpul_admin"
CONFIG_TTL_S = 5.0
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static", "auth.language"})


class NetdLike(Protocol):
    """What the console needs of a netd client."""

    def call(self, api_method: str, **params: Any) -> Any: ...

    def close(self) -> None: ...


@dataclass
class AdminRuntime:
    """The console's resources, made by the app factory."""

    settings: AdminSettings
    netd_factory: Callable[[], NetdLike]
    clock: Callable[[], float]
    config: tuple[float, Config] | None = None


def runtime() -> AdminRuntime:
    """This app's runtime."""
    return current_app.extensions[EXTENSION]


def console_db() -> ConsoleDb:
    """This request's connection to console.db, opened on first use."""
    db = g.get("console_db")
    if db is None:
        db = g.console_db = ConsoleDb(str(runtime().settings.console_db), clock=runtime().clock)
    return db


def netd() -> NetdLike:
    """This request's netd client, opened on first use."""
    client = g.get("netd")
    if client is None:
        client = g.netd = runtime().netd_factory()
    return client


def call(method: str, **params: Any) -> Any:
    """Call netd on behalf of the signed-in user (netd's audit log names them)."""
    user = current_user()
    if user is not None:
        params["on_behalf"] = user.name
    return netd().call(method, **params)


def stored_config() -> Config:
    """The stored (running) configuration, parsed; kept per process for a few seconds, so a
    page that needs names of sites and OPDs does not ask netd each time. ApiRefused when netd
    is away or holds no valid configuration."""
    rt = runtime()
    cached = rt.config
    if cached is not None and rt.clock() - cached[0] < CONFIG_TTL_S:
        return cached[1]
    try:
        stored = netd().call("config_document")
        config = parse_config(stored["document"], source=f"revision {stored['revision']}")
    except (ApiError, OSError) as exc:
        raise from_netd(exc) from None
    except ConfigError as exc:
        raise ApiRefused(409, "no-config", tr("Belum ada konfigurasi yang sah: {e}",
                                              "There is no valid configuration yet: {e}",
                                              e=exc.render())) from None  # fmt: skip
    rt.config = (rt.clock(), config)
    return config


def node_timezone() -> str:
    """The node's time zone (WIB, WITA, WIT…) from the running configuration; WIB while there
    is none."""
    try:
        return stored_config().node.timezone
    except ApiRefused:
        return "WIB"


def close_resources(_exc: BaseException | None = None) -> None:
    """Close what this request opened (a teardown hook)."""
    for name in ("netd", "console_db"):
        resource = g.pop(name, None)
        if resource is not None:
            resource.close()


def current_user() -> User | None:
    """The signed-in user, or None."""
    return g.get("user")


def wants_json() -> bool:
    """Whether the caller is a script (the API) rather than a page."""
    return request.path.startswith("/api/")


def refuse(status: int, message: str) -> ResponseReturnValue:
    """A refusal as JSON for the API, else as a page."""
    if wants_json():
        response = jsonify(error={"code": {401: "unauthenticated", 403: "forbidden",
                                           400: "csrf"}.get(status, "refused"),
                                  "message": message})  # fmt: skip
        response.status_code = status
        return response
    return render_template("admin/message.html", title=str(status), message=message), status


def requires(capability: Capability) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the view run only for a signed-in user whose role has `capability` (checked on the
    server whatever the page showed)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(**kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return refuse(401, tr("Silakan masuk dulu.", "Please sign in first."))
            if not may(user.role, capability):
                return refuse(
                    403,
                    tr(
                        "Peran Anda ({role}) tidak boleh melakukan ini.",
                        "Your role ({role}) may not do this.",
                        role=user.role,
                    ),
                )
            return view(**kwargs)

        guarded.capability = capability  # type: ignore[attr-defined]
        return guarded

    return decorate


def can(capability: Capability) -> bool:
    """Whether the signed-in user has `capability` (for templates)."""
    user = current_user()
    return user is not None and may(user.role, capability)


def csrf_token() -> str:
    """This browser session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def load_user() -> ResponseReturnValue | None:
    """Before each request: find the user (API token or session cookie), check CSRF on every
    change made from a browser session, and send the unsigned-in to the sign-in page."""
    g.user = None
    token = _bearer()
    if token is not None:
        g.user = console_db().token_user(token)
        if g.user is None:
            return refuse(401, tr("Token API tidak sah.", "Invalid API token."))
        return None
    name = session.get("user")
    if name:
        user = console_db().user(name)
        if user is not None and not user.disabled and user.generation == session.get("gen"):
            g.user = user
        else:
            session.clear()
    if request.method in UNSAFE:
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        expected = session.get("csrf") or ""
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return refuse(
                400,
                tr(
                    "Formulir kedaluwarsa atau tidak sah (token CSRF). Muat ulang halaman lalu "
                    "coba lagi.",
                    "The form is stale or forged (CSRF token). Reload the page and retry.",
                ),
            )
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if wants_json():
            return refuse(401, tr("Silakan masuk dulu.", "Please sign in first."))
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def install(app: Flask) -> None:
    """Hook the per-request work into `app`."""
    app.before_request(load_user)
    app.teardown_appcontext(close_resources)
    app.jinja_env.globals.update(csrf_token=csrf_token, can=can, current_user=current_user, tr=tr)
