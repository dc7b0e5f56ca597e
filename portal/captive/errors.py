"""Friendly pages (or JSON for scripts) for every error; never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from netctl.protocol import ApiError
from portal.captive.pages import text, wants_json

log = logging.getLogger(__name__)

TITLED = {400, 403, 404, 405, 413, 429, 500, 503}
LEADS = {404, 405, 413, 429, 500}
# netd's error codes that are the client's situation rather than an outage.
NETD_CLIENT_ERRORS: dict[str, tuple[int, str]] = {
    "unknown-client": (400, "unknown_client"),
    "invalid": (403, "not_hotspot"),
    "allowance-used": (403, "allowance_used"),
    "voucher-unknown": (400, "voucher_unknown"),
    "phone-invalid": (400, "phone_invalid"),
    "otp-too-many": (429, "otp_too_many"),
    "otp-wrong": (400, "otp_wrong"),
    "otp-expired": (400, "otp_expired"),
    "otp-locked": (403, "otp_locked"),
    "voucher-invalid": (400, "voucher_typo"),
    "voucher-used": (403, "voucher_used"),
    "method-not-offered": (403, "not_hotspot"),
}
KEPT_HEADERS = ("Allow", "Retry-After")
NETD_RETRY_AFTER_S = 5


def error_response(
    status: int, message: str, slug: str, headers: dict[str, str] | None = None
) -> ResponseReturnValue:
    """An error as JSON for scripts, else as a page in the request's language."""
    title = text(f"error_{status}") if status in TITLED else text("error_title")
    if wants_json():
        response = jsonify(error=slug, message=message)
    else:
        page = render_template(
            "captive/message.html", title=title, message=message, switch_endpoint="captive.index"
        )
        response = make_response(page)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def handle_http_error(exc: HTTPException) -> ResponseReturnValue:
    """404, 405, 413, 429, 500 and the rest."""
    status = exc.code or 500
    lead = f"error_lead_{status}" if status in LEADS else "error_lead_other"
    headers = {k: v for k, v in exc.get_headers() if k in KEPT_HEADERS}
    slug = (exc.name or "error").lower().replace(" ", "-")
    return error_response(status, text(lead), slug, headers)


def handle_netd_error(exc: ApiError) -> ResponseReturnValue:
    """netd refused or is down: explain the client's own problem, else say to try again."""
    status, key = NETD_CLIENT_ERRORS.get(exc.code, (503, "unavailable"))
    if status == 503:
        log.warning("netd error %s: %s", exc.code, exc)
        return error_response(status, text(key), exc.code, {"Retry-After": str(NETD_RETRY_AFTER_S)})
    return error_response(status, text(key), exc.code)


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on `app`."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(ApiError, handle_netd_error)
