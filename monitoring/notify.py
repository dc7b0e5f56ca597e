"""Alert notices: their text (Bahasa Indonesia first, English second), mail through the
configured SMTP relay, webhooks (Simpul's JSON document, or a Telegram bot's sendMessage body),
and `dispatch`, which sends every event outside a maintenance window, recoveries too, to every
channel and reports each attempt as a `Delivery`, never raising.

Error messages name a webhook by its name and host only: a Telegram URL holds the bot's token.
"""

from __future__ import annotations

import json
import logging
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitoring.alerts import Event, EventKind, Severity
from simpul.config.model import Email, HotspotSite, Monitoring, Node, RemoteSite, Webhook

log = logging.getLogger("simpul.notify")
TIMEOUT_S = 15.0
TELEGRAM_MAX_CHARS = 4096  # sendMessage's limit
DETAIL_CHARS = 300  # of a server's answer kept in an error message
READ_BYTES = 65536  # of a webhook's answer read
_SEVERITY = {
    "ok": ("NORMAL", "OK"),
    "warning": ("PERINGATAN", "WARNING"),
    "critical": ("KRITIS", "CRITICAL"),
    "down": ("PUTUS", "DOWN"),
}

Site = RemoteSite | HotspotSite


class NotifyError(Exception):
    """A notice that did not get through, with why, for the admin."""


@dataclass(frozen=True)
class Delivery:
    """One attempt to send one event to one channel ("email" or "webhook:NAME")."""

    target: str
    kind: EventKind
    severity: Severity
    channel: str
    ok: bool
    message: str


def _when(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def _duration(seconds: float) -> tuple[str, str]:
    minutes, secs = divmod(round(seconds), 60)
    if not minutes:
        return f"{secs} detik", f"{secs} s"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "hari", "d"), (hours, "jam", "h"), (minutes, "menit", "min")]
    shown = [(n, word_id, word_en) for n, word_id, word_en in parts if n]
    return (
        " ".join(f"{n} {word_id}" for n, word_id, _ in shown),
        " ".join(f"{n} {word_en}" for n, _, word_en in shown),
    )


def _halves(reason: str) -> tuple[str, str]:
    text_id, _, text_en = reason.partition(" / ")
    return text_id, text_en or text_id


def message(event: Event, node: Node, site: Site | None) -> tuple[str, str]:
    """The subject and body of a notice about `event`: Bahasa Indonesia, then English."""
    tz = node.zoneinfo
    now_id, now_en = _SEVERITY[event.severity]
    before_id, before_en = _SEVERITY[event.previous]
    if event.kind == "recovered":
        now_id, now_en = "PULIH", "RECOVERED"
    where = f" - {site.name}" if site else ""
    subject = f"[{node.name}] {now_id} / {now_en}: {event.target}{where}"
    lines_id = [f"Target: {event.target}", f"Node: {node.name}"]
    lines_en = [f"Target: {event.target}", f"Node: {node.name}"]
    if site:
        lines_id.append(f"Lokasi: {site.name} ({site.slug}), Kecamatan {site.kecamatan}")
        lines_en.append(f"Site: {site.name} ({site.slug}), Kecamatan {site.kecamatan}")
    lines_id += [f"Status: {now_id} (sebelumnya {before_id})", f"Sejak: {_when(event.since, tz)}"]
    lines_en += [f"Status: {now_en} (previously {before_en})", f"Since: {_when(event.since, tz)}"]
    if event.kind == "recovered" and event.problem_since is not None:
        took_id, took_en = _duration((event.since - event.problem_since).total_seconds())
        began = _when(event.problem_since, tz)
        lines_id.append(f"Lama gangguan: {took_id} (mulai {began})")
        lines_en.append(f"Trouble lasted: {took_en} (from {began})")
    if event.acknowledged:
        lines_id.append("Sudah diketahui operator.")
        lines_en.append("Acknowledged by an operator.")
    if event.reasons:
        halves = [_halves(reason) for reason in event.reasons]
        lines_id += ["Penyebab:", *(f"- {text_id}" for text_id, _ in halves)]
        lines_en += ["Reasons:", *(f"- {text_en}" for _, text_en in halves)]
    return subject, "\n".join([*lines_id, "", "---", "", *lines_en]) + "\n"


def webhook_payload(hook: Webhook, event: Event, node: Node, site: Site | None) -> dict[str, Any]:
    """The JSON body POSTed to `hook` about `event`."""
    subject, body = message(event, node, site)
    text = f"{subject}\n\n{body}"
    if hook.format == "telegram":
        return {
            "chat_id": hook.chat_id,
            "text": text[:TELEGRAM_MAX_CHARS],
            "disable_web_page_preview": True,
        }
    tz = node.zoneinfo
    return {
        "node": node.name,
        "target": event.target,
        "site": site.slug if site else None,
        "kecamatan": site.kecamatan if site else None,
        "kind": event.kind,
        "severity": event.severity,
        "previous": event.previous,
        "at": event.at.astimezone(tz).isoformat(),
        "since": event.since.astimezone(tz).isoformat(),
        "acknowledged": event.acknowledged,
        "reasons": list(event.reasons),
        "text": text,
    }


def _detail(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", "replace").split())[:DETAIL_CHARS]


def _telegram_refusal(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    if isinstance(answer, dict) and answer.get("ok") is False:
        return str(answer.get("description") or "ok: false")
    return None


def post_webhook(
    hook: Webhook, event: Event, node: Node, site: Site | None, timeout_s: float = TIMEOUT_S
) -> str:
    """POST the notice about `event` to `hook`; what the server said, or NotifyError."""
    data = json.dumps(webhook_payload(hook, event, node, site), ensure_ascii=False).encode()
    request = urllib.request.Request(
        hook.url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "simpul"},
    )
    who = f"webhook {hook.name} ({urlsplit(hook.url).netloc})"
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, raw = response.status, response.read(READ_BYTES)
    except urllib.error.HTTPError as error:
        raw = error.read(READ_BYTES) if error.fp is not None else b""
        said = (_telegram_refusal(raw) if hook.format == "telegram" else None) or _detail(raw)
        raise NotifyError(f"{who} answered HTTP {error.code} {error.reason}: {said}") from None
    except urllib.error.URLError as error:
        raise NotifyError(f"{who}: {_network(error.reason, timeout_s)}") from None
    except OSError as error:
        raise NotifyError(f"{who}: {_network(error, timeout_s)}") from None
    refusal = _telegram_refusal(raw) if hook.format == "telegram" else None
    if refusal is not None:
        raise NotifyError(f"{who} refused the message: {refusal}")
    return f"HTTP {status}"


def _network(error: BaseException | str, timeout_s: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(error, socket.gaierror):
        return f"the name does not resolve ({error.strerror})"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def read_password(settings: Email) -> str | None:
    """The SMTP password from `password_file` (stripped), None without one."""
    if settings.password_file is None:
        return None
    try:
        return Path(settings.password_file).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise NotifyError(
            f"cannot read email.password_file {settings.password_file}: {error.strerror}"
        ) from None


def _answer(error: smtplib.SMTPResponseException) -> str:
    said = error.smtp_error
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return f"{error.smtp_code} {' '.join(text.split())[:DETAIL_CHARS]}"


def _refused(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt} ({code} {_detail(said)})" for rcpt, (code, said) in recipients.items()
    )


def _mail(settings: Email, subject: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.recipients)
    mail["Date"] = formatdate(localtime=True)
    # make_msgid would otherwise ask DNS for this host's name
    mail["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2])
    mail.set_content(body)
    return mail


def send_email(
    settings: Email,
    password: str | None,
    subject: str,
    body: str,
    timeout_s: float = TIMEOUT_S,
) -> str:
    """Mail a notice to the configured recipients (STARTTLS and login as configured); to whom
    it went, or NotifyError."""
    if settings.username is not None and password is None:
        raise NotifyError("email.username is set but there is no password (email.password_file)")
    server = f"SMTP server {settings.host}:{settings.port}"
    try:
        with smtplib.SMTP(str(settings.host), settings.port, timeout=timeout_s) as smtp:
            smtp.ehlo()
            if settings.starttls:
                if not smtp.has_extn("starttls"):
                    raise NotifyError(f"{server} does not offer STARTTLS (email.starttls is on)")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username is not None and password is not None:
                if not smtp.has_extn("auth"):
                    raise NotifyError(f"{server} offers no login (AUTH) for email.username")
                smtp.login(settings.username, password)
            refused = smtp.send_message(_mail(settings, subject, body))
    except smtplib.SMTPAuthenticationError as error:
        raise NotifyError(
            f"{server} refused the login of {settings.username}: {_answer(error)}"
        ) from None
    except smtplib.SMTPRecipientsRefused as error:
        raise NotifyError(
            f"{server} refused every recipient: {_refused(error.recipients)}"
        ) from None
    except smtplib.SMTPSenderRefused as error:
        raise NotifyError(
            f"{server} refused the sender {settings.sender}: {_answer(error)}"
        ) from None
    except smtplib.SMTPDataError as error:
        raise NotifyError(f"{server} refused the message: {_answer(error)}") from None
    except smtplib.SMTPResponseException as error:
        raise NotifyError(f"{server} answered with an error: {_answer(error)}") from None
    except smtplib.SMTPServerDisconnected as error:
        raise NotifyError(f"{server} closed the connection ({error})") from None
    except smtplib.SMTPException as error:
        raise NotifyError(f"{server}: {error}") from None
    except OSError as error:
        raise NotifyError(f"{server}: {_network(error, timeout_s)}") from None
    if refused:
        raise NotifyError(
            f"{server} refused some recipients: {_refused(refused)}; the others got it"
        )
    return f"sent to {', '.join(settings.recipients)}"


def _email_notice(
    settings: Email, event: Event, node: Node, site: Site | None, timeout_s: float
) -> str:
    subject, body = message(event, node, site)
    return send_email(settings, read_password(settings), subject, body, timeout_s)


def _attempt(event: Event, channel: str, send: Callable[[], str]) -> Delivery:
    try:
        return Delivery(event.target, event.kind, event.severity, channel, True, send())
    except NotifyError as error:
        said = str(error)
    except Exception as error:  # a notice must never stop the monitor
        log.exception("notice to %s about %s failed", channel, event.target)
        said = f"unexpected {type(error).__name__}: {error}"
    return Delivery(event.target, event.kind, event.severity, channel, False, said)


def dispatch(
    events: Iterable[Event],
    monitoring: Monitoring,
    node: Node,
    sites: Mapping[str, Site],
    timeout_s: float = TIMEOUT_S,
) -> list[Delivery]:
    """Send every event outside maintenance (recoveries too) to the mail recipients and every
    webhook, one after the other: one Delivery per event and channel. `sites` by slug."""
    site_of = {target.name: target.site for target in monitoring.targets}
    out = []
    for event in events:
        if event.in_maintenance:
            continue
        slug = site_of.get(event.target)
        site = sites.get(slug) if slug else None
        if monitoring.email is not None:
            send = partial(_email_notice, monitoring.email, event, node, site, timeout_s)
            out.append(_attempt(event, "email", send))
        for hook in monitoring.webhooks:
            send = partial(post_webhook, hook, event, node, site, timeout_s)
            out.append(_attempt(event, f"webhook:{hook.name}", send))
    return out
