"""The console's app factory (gunicorn: `portal.admin.app:create_admin_app()`).

Nothing is configured at import time: settings come from `test_config` or the environment (see
`portal.admin.settings`). Injectable through `test_config`: NETD_FACTORY (a zero-argument callable
returning a client with `call` and `close`) and CLOCK (seconds since the epoch).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from datetime import timedelta
from typing import Any

from flask import Flask, jsonify, render_template
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from netctl.protocol import NetdClient
from portal.admin import formatting
from portal.admin.api import api_error, openapi_document
from portal.admin.drafts import has_draft, pending_change
from portal.admin.errors import ApiRefused
from portal.admin.i18n import lang, tr
from portal.admin.readers import close_readers
from portal.admin.session import (
    EXTENSION,
    AdminRuntime,
    install,
    node_timezone,
    refuse,
    wants_json,
)
from portal.admin.settings import load_admin_settings
from portal.captive.security_headers import apply_security_headers
from portal.settings import read_secret

log = logging.getLogger("simpul.admin")
# One blueprint per concern; each module's `bp`. The order is the menu's.
BLUEPRINTS = (
    "auth", "dashboard", "clients", "vouchers", "sites", "opds", "policies", "lists",
    "monitoring", "reports", "changes", "users", "settings_pages", "audit",
)  # fmt: skip
DEFAULTS: dict[str, Any] = {
    # Video uploads are the largest bodies (see `sites`); everything else is small.
    "MAX_CONTENT_LENGTH": 200 * 1024 * 1024,
    "NETD_TIMEOUT_S": 30.0,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "SESSION_COOKIE_NAME": "simpul_admin",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
}


def create_admin_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The admin console; raises `PortalStartupError` if its settings or secret are unusable."""
    app = Flask(__name__, static_folder="../static", template_folder="../templates",
                static_url_path="/static")  # fmt: skip
    app.config.from_mapping(DEFAULTS)
    if test_config:
        app.config.update(test_config)
    settings = load_admin_settings(app.config, os.environ)
    app.secret_key = read_secret(settings.secret_file, "SIMPUL_ADMIN_SECRET_FILE", "console")
    app.config["SESSION_COOKIE_SECURE"] = settings.secure_cookies
    netd_factory = app.config.get("NETD_FACTORY") or (
        lambda: NetdClient(settings.netd_socket, timeout_s=app.config["NETD_TIMEOUT_S"])
    )
    app.extensions[EXTENSION] = AdminRuntime(
        settings=settings, netd_factory=netd_factory, clock=app.config.get("CLOCK") or time.time
    )
    install(app)
    app.teardown_appcontext(close_readers)
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(f"portal.admin.{name}").bp)
    app.add_url_rule("/api/v1/openapi.json", "openapi", lambda: jsonify(openapi_document(app)))
    app.jinja_env.globals.update(lang=lang, pending_change=pending_change, has_draft=has_draft)
    app.jinja_env.filters.update(
        datetime=lambda epoch: formatting.when(epoch, node_timezone(), lang()),
        size=lambda count: formatting.size(count, lang()),
        rate=lambda bps: formatting.rate(bps, lang()),
        number=lambda value, decimals=0: formatting.number(value, lang(), decimals),
        duration=lambda seconds: formatting.duration(seconds, lang()),
    )
    app.register_error_handler(ApiRefused, _refused)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    app.after_request(apply_security_headers)
    return app


def _refused(exc: ApiRefused) -> ResponseReturnValue:
    """A refusal raised while a request was served (netd away, no configuration yet, a bad
    field): JSON for the API, a page for a person."""
    if wants_json():
        return api_error(exc.status, exc.code, str(exc), exc.fields)
    return refuse(exc.status, str(exc))


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    if status == 413:
        return refuse(413, tr("Berkas terlalu besar.", "The file is too large."))
    if wants_json():
        response = jsonify(error={"code": exc.name.lower().replace(" ", "-"),
                                  "message": exc.description})  # fmt: skip
        response.status_code = status
        return response
    return render_template("admin/message.html", title=f"{status} {exc.name}",
                           message=exc.description), status  # fmt: skip


def _server_error(exc: Exception) -> ResponseReturnValue:
    """Anything unforeseen: logged with its traceback, answered without one."""
    log.exception("unhandled error", exc_info=exc)
    message = tr("Terjadi kesalahan di konsol; sudah dicatat di log.",
                 "Something went wrong in the console; it is in the log.")  # fmt: skip
    if wants_json():
        response = jsonify(error={"code": "internal", "message": message})
        response.status_code = 500
        return response
    return render_template("admin/message.html", title="500", message=message), 500
