"""The captive portal's one blueprint: probes and foreign hosts, the welcome flow, status, API."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response as BaseResponse

from portal.captive.blocked import block_page
from portal.captive.formatting import hours_minutes, megabytes
from portal.captive.hosts import is_portal_host, user_portal_url
from portal.captive.i18n import LANGS, t
from portal.captive.media import media_type
from portal.captive.netd_access import netd, portal_config, whois
from portal.captive.netd_replies import PortalConfig, SiteInfo, VideoInfo, Whois
from portal.captive.otp_gateway import GatewayError, deliver, message_text
from portal.captive.pages import client_ip, current_lang, lang_args, set_lang, text, wants_json
from portal.captive.radius import RadiusError, authenticate
from portal.captive.redirects import UNCHECKED_PATHS, captive_location
from portal.captive.rotation import pick_video
from portal.captive.runtime import runtime
from portal.captive.token import Outcome, issue, verify

log = logging.getLogger(__name__)

bp = Blueprint("captive", __name__)

MEDIA_MAX_AGE = 3600


# -- every request --------------------------------------------------------------------------------


@bp.before_app_request
def send_other_hosts_to_portal() -> ResponseReturnValue | None:
    """Answer requests for other sites (clients redirected by nftables) before any view: a
    redirect to the portal's start page (see `portal.captive.redirects`; usually answered there
    already), or for an OPD's staff the block page. The target is always built from the
    configuration, never from the request.
    """
    set_lang(request.args.get("lang"))
    if request.path in UNCHECKED_PATHS:
        return None
    config = portal_config()
    host_header = request.headers.get("Host", "")
    ip = client_ip()
    location = captive_location(config, host_header, request.path, ip, request.args.get("lang"))
    if location is not None:
        return _found(location)
    if config.in_opd(ip) and not is_portal_host(host_header, config.hostname, config.address):
        return block_page(config, host_header, ip)
    return None


def _status_line(code: int) -> str:
    """`302 Found` rather than Werkzeug's `302 FOUND`, as real servers write it."""
    return f"{code} {HTTP_STATUS_CODES[code]}"


def _found(location: str) -> BaseResponse:
    # No body: a phone's probe only reads the status and Location (Werkzeug's HTML doubles it).
    answer = current_app.response_class(b"", status=_status_line(302))
    answer.headers["Location"] = location
    del answer.headers["Content-Type"]
    return answer


@bp.app_context_processor
def template_helpers() -> dict[str, object]:
    """`t`, `link` (keeps the language), `static_url` (cache-busted) and the languages."""
    lang = current_lang()
    version = runtime().static_version

    def link(endpoint: str, **values: str) -> str:
        return url_for(endpoint, **values, **lang_args(lang))

    def static_url(filename: str) -> str:
        return url_for("static", filename=filename, v=version)

    other = next(code for code in LANGS if code != lang)
    return {
        "lang": lang,
        "other_lang": other,
        "t": lambda key, **params: t(key, lang, **params),
        "link": link,
        "static_url": static_url,
    }


def _limit() -> None:
    decision = runtime().limiter.take(client_ip())
    if not decision.allowed:
        raise TooManyRequests(retry_after=decision.retry_after)


def _site(config: PortalConfig, who: Whois) -> SiteInfo | None:
    return config.sites.get(who.site) if who.site else None


def _poster(video: VideoInfo | None) -> str | None:
    """The video's poster if it exists and is small enough for the page's weight budget."""
    if video is None or video.poster is None or media_type(video.poster) is None:
        return None
    rt = runtime()
    try:
        size = (rt.settings.media_dir / video.poster).stat().st_size
    except OSError:
        size = None
    if size is None or size > rt.poster_max_bytes:
        if video.poster not in rt.warned:
            rt.warned.add(video.poster)
            log.warning(
                "poster %s left out: %s (limit %d bytes)",
                video.poster,
                "missing" if size is None else f"{size} bytes",
                rt.poster_max_bytes,
            )
        return None
    return video.poster


def _status_page(config: PortalConfig, who: Whois) -> str:
    session = who.session if who.authorized else None
    lang = current_lang()
    return render_template(
        "captive/status.html",
        portal=config,
        site=_site(config, who),
        session=session,
        time_left=hours_minutes(session.seconds_remaining) if session else "",
        data_used=megabytes(session.up_bytes + session.down_bytes, lang) if session else "",
        switch_endpoint="captive.status",
    )


# -- pages ---------------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    """The welcome page (video, locked button), or the status page once authorized."""
    config = portal_config()
    ip = client_ip()
    who = whois(ip)
    if who.authorized:
        return _status_page(config, who)
    rt = runtime()
    video = pick_video(config.videos, rt.next_visit())
    # A token from page load: without JavaScript the citizen can still press the button (the
    # server still enforces the time); the page's script replaces it when playback starts.
    token = issue(rt.secret, ip, video.file if video else "", rt.clock())
    return render_template(
        "captive/welcome.html",
        portal=config,
        site=_site(config, who),
        video=video,
        poster=_poster(video),
        token=token,
        switch_endpoint="captive.index",
    )


@bp.post("/watch")
def watch() -> ResponseReturnValue:
    """Playback started: a token for this client and video; the button unlocks in `unlock_in` s."""
    _limit()
    payload = request.get_json(silent=True) if request.is_json else None
    form = payload if isinstance(payload, dict) else request.form
    video = form.get("video", "")
    config = portal_config()
    known = {v.file for v in config.videos}
    if not isinstance(video, str) or (video not in known if known else video != ""):
        return jsonify(error="unknown-video", message=text("token_invalid")), 400
    rt = runtime()
    token = issue(rt.secret, client_ip(), video, rt.clock())
    return jsonify(token=token, unlock_in=config.video_seconds)


@bp.post("/voucher")
def voucher() -> ResponseReturnValue:
    """Let the client through with a voucher code (netd checks the code and its time)."""
    _limit()
    set_lang(request.form.get("lang"))
    config = portal_config()
    code = request.form.get("code", "")[:40]
    return _done(config, netd().call("redeem_voucher", ip=client_ip(), code=code))


@bp.post("/otp/send")
def otp_send() -> ResponseReturnValue:
    """Send a one-time code to the phone number typed (netd makes it; the gateway delivers)."""
    _limit()
    set_lang(request.form.get("lang"))
    config = portal_config()
    phone = request.form.get("phone", "")[:32]
    issued = netd().call("otp_issue", ip=client_ip(), phone=phone) or {}
    minutes = max(1, int(issued.get("expires_in", 300)) // 60)
    try:
        if config.otp is None:  # netd refuses first; a cached config may lag by seconds
            raise GatewayError("no OTP gateway configured")
        deliver(
            config.otp, str(issued["to"]), message_text(config.regency, issued["code"], minutes)
        )
    except GatewayError as exc:
        log.warning("the OTP gateway refused a message: %s", exc)
        return _message(503, "otp_not_sent")
    return render_template(
        "captive/otp_code.html",
        phone=phone,
        masked=issued.get("masked", ""),
        switch_endpoint="captive.index",
    )


@bp.post("/otp/verify")
def otp_verify() -> ResponseReturnValue:
    """Let the client through when the code matches the one sent to the number."""
    _limit()
    set_lang(request.form.get("lang"))
    config = portal_config()
    phone, code = request.form.get("phone", "")[:32], request.form.get("code", "")[:12]
    return _done(config, netd().call("otp_verify", ip=client_ip(), phone=phone, code=code))


@bp.post("/radius")
def radius_login() -> ResponseReturnValue:
    """Username and password, checked by the regency's RADIUS server (PAP)."""
    _limit()
    set_lang(request.form.get("lang"))
    config = portal_config()
    ip = client_ip()
    user = request.form.get("username", "").strip()[:64]
    mac = whois(ip).mac or ""
    try:
        if config.radius is None:  # netd refuses first; a cached config may lag by seconds
            raise RadiusError("no RADIUS server configured")
        verdict = authenticate(config.radius, user, request.form.get("password", "")[:128], mac)
    except RadiusError as exc:
        log.warning("RADIUS login failed: %s", exc)
        return _message(503, "radius_down")
    if not verdict.accepted:
        return _message(403, "radius_rejected")
    minutes = verdict.session_timeout_s // 60 if verdict.session_timeout_s else None
    # The account name is personal data: the session keeps only its hash (for reclaim).
    credential = "radius:" + hashlib.sha256(user.encode()).hexdigest()[:20]
    return _done(
        config,
        netd().call("authorize", ip=ip, method="radius", minutes=minutes, credential=credential),
    )


def _done(config: PortalConfig, result: dict[str, Any] | None) -> ResponseReturnValue:
    """The "selesai" page (or JSON) after netd let the client through: how long, the news."""
    result = result or {}
    log.info("authorized a client of site %s", result.get("site"))
    expires_at = float(result.get("expires_at", 0))
    minutes = max(1, round((expires_at - runtime().clock()) / 60))
    if wants_json():
        return jsonify(ok=True, news_url=config.news_url, minutes=minutes)
    return render_template(
        "captive/done.html", portal=config, minutes=minutes, switch_endpoint="captive.status"
    )


def _message(status: int, key: str) -> ResponseReturnValue:
    page = render_template(
        "captive/message.html",
        title=text(f"error_{status}"),
        message=text(key),
        switch_endpoint="captive.index",
    )
    return page, status


@bp.post("/grant")
def grant() -> ResponseReturnValue:
    """Let the client through if its token says the video has played long enough."""
    _limit()
    set_lang(request.form.get("lang"))
    token = request.form.get("token", "")
    config = portal_config()
    ip = client_ip()
    rt = runtime()
    verdict = verify(rt.secret, token, ip, rt.clock(), config.video_seconds)
    if verdict.outcome is Outcome.TOO_EARLY:
        message = text("too_early_lead", n=verdict.seconds_left)
        if wants_json():
            body = {"error": "too-early", "seconds_left": verdict.seconds_left, "message": message}
            return jsonify(body), 403
        page = render_template(
            "captive/wait.html",
            portal=config,
            token=token,
            seconds_left=verdict.seconds_left,
            switch_endpoint="captive.index",
        )
        return page, 403
    if not verdict.ok:
        key = "token_expired" if verdict.outcome is Outcome.EXPIRED else "token_invalid"
        if wants_json():
            return jsonify(error=verdict.outcome.value, message=text(key)), 400
        return _message(400, key)
    return _done(config, netd().call("authorize", ip=ip, method="video"))


@bp.get("/status")
def status() -> ResponseReturnValue:
    """Time left, data used and a logout button; a link back to the start if not connected."""
    return _status_page(portal_config(), whois(client_ip()))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this client's session."""
    _limit()
    set_lang(request.form.get("lang"))
    result = netd().call("logout", ip=client_ip())
    ended = bool(result.get("ended")) if isinstance(result, dict) else False
    return render_template(
        "captive/logged_out.html",
        portal=portal_config(),
        ended=ended,
        switch_endpoint="captive.index",
    )


# -- files and machine endpoints -----------------------------------------------------------------


@bp.get("/media/<name>")
def media(name: str) -> ResponseReturnValue:
    """A video or poster from the media directory, with HTTP Range support."""
    mimetype = media_type(name)
    if mimetype is None:
        abort(404)
    return send_from_directory(
        runtime().settings.media_dir,
        name,
        mimetype=mimetype,
        conditional=True,
        max_age=MEDIA_MAX_AGE,
    )


@bp.get("/api/captive")
def api_captive() -> ResponseReturnValue:
    """RFC 8908's captive-portal API for this client."""
    config = portal_config()
    who = whois(client_ip())
    body: dict[str, object] = {
        "captive": not who.authorized,
        "user-portal-url": user_portal_url(config.hostname, config.https_port),
        "venue-info-url": config.news_url,
    }
    if who.authorized:
        if who.session is not None:
            body["seconds-remaining"] = who.session.seconds_remaining
        body["can-extend-session"] = True
    answer = Response(json.dumps(body), mimetype="application/captive+json")
    answer.headers["Cache-Control"] = "private"
    return answer


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness for the service manager (never calls netd)."""
    return Response("ok", mimetype="text/plain")
