"""Notices: their text, and delivery against real servers on 127.0.0.1 (an aiosmtpd SMTP server,
with STARTTLS and login; a tiny HTTP server for the JSON and Telegram webhooks), with every
failure coming back as a failed Delivery that says why."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitoring.alerts import Event, EventKind, Severity
from monitoring.notify import (
    Delivery,
    NotifyError,
    dispatch,
    message,
    send_email,
    webhook_payload,
)
from simpul.config.model import Email, Monitoring, MonitoringTarget, Node, RemoteSite, Webhook
from tests.unit.http_stub import QuietHandler, free_port, serving

NODE = Node(name="kab-meranti", regency="Kepulauan Meranti", region_code="14.10")
SITE = RemoteSite.model_validate({
    "slug": "lambada", "name": "Kantor Camat Lambada", "kecamatan": "Lambada",
    "region_code": "14.10.01", "location": {"lat": 1.0, "lon": 102.7}, "interface": "vsat0",
    "subnet": "10.20.1.0/30", "router": "10.20.1.2",
})  # fmt: skip
TARGETS = [MonitoringTarget(name="vsat-lam", address="10.20.1.2", site="lambada")]
SINCE = datetime(2025, 3, 4, 7, 5, tzinfo=UTC)  # 14:05 WIB
TOKEN = "123456:AAE-secret-token"
RECIPIENTS = ["noc@meranti.go.id", "kasi@meranti.go.id"]


def event(
    kind: EventKind = "raised",
    severity: Severity = "down",
    previous: Severity = "ok",
    *,
    maintenance: bool = False,
    acknowledged: bool = False,
) -> Event:
    return Event(
        kind=kind,
        target="vsat-lam",
        severity=severity,
        previous=previous,
        at=SINCE + timedelta(minutes=2),
        since=SINCE,
        reasons=("tidak terjangkau: SNMP tidak menjawab / unreachable: SNMP not answering",),
        in_maintenance=maintenance,
        acknowledged=acknowledged,
        problem_since=SINCE - timedelta(hours=2, minutes=14) if kind == "recovered" else SINCE,
    )


# The texts


def test_a_notice_speaks_bahasa_indonesia_first_then_english() -> None:
    subject, body = message(event(), NODE, SITE)
    assert subject == "[kab-meranti] PUTUS / DOWN: vsat-lam - Kantor Camat Lambada"
    assert body == (
        "Target: vsat-lam\n"
        "Node: kab-meranti\n"
        "Lokasi: Kantor Camat Lambada (lambada), Kecamatan Lambada\n"
        "Status: PUTUS (sebelumnya NORMAL)\n"
        "Sejak: 2025-03-04 14:05:00 WIB\n"
        "Penyebab:\n"
        "- tidak terjangkau: SNMP tidak menjawab\n"
        "\n---\n\n"
        "Target: vsat-lam\n"
        "Node: kab-meranti\n"
        "Site: Kantor Camat Lambada (lambada), Kecamatan Lambada\n"
        "Status: DOWN (previously OK)\n"
        "Since: 2025-03-04 14:05:00 WIB\n"
        "Reasons:\n"
        "- unreachable: SNMP not answering\n"
    )


def test_a_recovery_notice_says_how_long_the_trouble_lasted() -> None:
    subject, body = message(event("recovered", "ok", "down", acknowledged=True), NODE, None)
    assert subject == "[kab-meranti] PULIH / RECOVERED: vsat-lam"
    assert "Lama gangguan: 2 jam 14 menit (mulai 2025-03-04 11:51:00 WIB)" in body
    assert "Trouble lasted: 2 h 14 min (from 2025-03-04 11:51:00 WIB)" in body
    assert "Sudah diketahui operator." in body and "Acknowledged by an operator." in body
    assert "Lokasi" not in body
    assert body.index("PULIH (sebelumnya PUTUS)") < body.index("RECOVERED (previously DOWN)")


# SMTP


@dataclass
class Mailbox:
    """What the SMTP server took, and whom it let log in."""

    port: int
    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def message(self, i: int = 0) -> EmailMessage:
        content = self.envelopes[i].original_content
        assert isinstance(content, bytes)
        mail = message_from_bytes(content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        return mail


class Recorder:
    def __init__(self, box: Mailbox, refuse_rcpt: bool = False) -> None:
        self.box = box
        self.refuse_rcpt = refuse_rcpt

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.refuse_rcpt:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.box.envelopes.append(envelope)
        return "250 OK queued"


def smtp_server(box: Mailbox, refuse_rcpt: bool = False, **options: Any) -> Controller:
    def authenticate(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        good = (data.login, data.password) == (b"simpul", b"rahasia")
        if good:
            box.logins.append(data.login.decode())
        return AuthResult(success=good, handled=False)

    controller = Controller(
        Recorder(box, refuse_rcpt),
        hostname="127.0.0.1",
        port=box.port,
        server_hostname="mx.test",
        authenticator=authenticate,
        **options,
    )
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = smtp_server(box, auth_require_tls=False)
    try:
        yield box
    finally:
        controller.stop()


def monitoring(**fields: Any) -> Monitoring:
    return Monitoring.model_validate({"targets": TARGETS, **fields})


def email(port: int, **fields: Any) -> Email:
    sender = "simpul@meranti.go.id"
    return Email.model_validate(
        {"host": "127.0.0.1", "port": port, "sender": sender, "recipients": RECIPIENTS, **fields}
    )


def test_mail_reaches_every_recipient(mailbox: Mailbox) -> None:
    deliveries = dispatch([event()], monitoring(email=email(mailbox.port)), NODE, {"lambada": SITE})
    assert deliveries == [
        Delivery("vsat-lam", "raised", "down", "email", True, f"sent to {', '.join(RECIPIENTS)}")
    ]
    (envelope,) = mailbox.envelopes
    assert envelope.mail_from == "simpul@meranti.go.id"
    assert envelope.rcpt_tos == RECIPIENTS
    mail = mailbox.message()
    assert mail["Subject"] == "[kab-meranti] PUTUS / DOWN: vsat-lam - Kantor Camat Lambada"
    assert mail["To"] == ", ".join(RECIPIENTS)
    body = mail.get_content()
    assert "Lokasi: Kantor Camat Lambada (lambada), Kecamatan Lambada" in body
    assert body.index("Sejak: 2025-03-04 14:05:00 WIB") < body.index("Since: 2025-03-04")
    assert mailbox.logins == []


def test_mail_logs_in_with_the_password_file(mailbox: Mailbox, tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("rahasia\n")
    settings = email(mailbox.port, username="simpul", password_file=str(secret))
    deliveries = dispatch([event()], monitoring(email=settings), NODE, {})
    assert [d.ok for d in deliveries] == [True]
    assert mailbox.logins == ["simpul"]


def test_a_refused_login_is_a_failed_delivery(mailbox: Mailbox) -> None:
    result = send_email(email(mailbox.port, username="simpul"), "rahasia", "s", "b")
    assert result.startswith("sent to")
    with pytest.raises(NotifyError) as refused:
        send_email(email(mailbox.port, username="simpul"), "salah", "s", "b")
    assert str(refused.value) == (
        f"SMTP server 127.0.0.1:{mailbox.port} refused the login of simpul: "
        "535 5.7.8 Authentication credentials invalid"
    )
    assert len(mailbox.envelopes) == 1


def test_an_unreadable_password_file_is_a_failed_delivery(mailbox: Mailbox, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    settings = email(mailbox.port, username="simpul", password_file=str(missing))
    (delivery,) = dispatch([event()], monitoring(email=settings), NODE, {})
    assert not delivery.ok
    assert (
        delivery.message == f"cannot read email.password_file {missing}: No such file or directory"
    )


def test_a_closed_smtp_port_is_a_failed_delivery() -> None:
    port = free_port()
    (delivery,) = dispatch([event()], monitoring(email=email(port)), NODE, {})
    assert (delivery.channel, delivery.ok) == ("email", False)
    assert delivery.message == (
        f"SMTP server 127.0.0.1:{port}: connection refused (nothing listens there)"
    )


def test_refused_recipients_are_a_failed_delivery() -> None:
    box = Mailbox(free_port())
    controller = smtp_server(box, refuse_rcpt=True)
    try:
        (delivery,) = dispatch([event()], monitoring(email=email(box.port)), NODE, {})
    finally:
        controller.stop()
    assert not delivery.ok
    assert delivery.message == (
        f"SMTP server 127.0.0.1:{box.port} refused every recipient: "
        "noc@meranti.go.id (550 5.1.1 no such mailbox here); "
        "kasi@meranti.go.id (550 5.1.1 no such mailbox here)"
    )
    assert box.envelopes == []


def test_starttls_that_the_server_does_not_offer_is_a_failed_delivery(mailbox: Mailbox) -> None:
    (delivery,) = dispatch(
        [event()], monitoring(email=email(mailbox.port, starttls=True)), NODE, {}
    )
    assert not delivery.ok
    assert delivery.message == (
        f"SMTP server 127.0.0.1:{mailbox.port} does not offer STARTTLS (email.starttls is on)"
    )
    assert mailbox.envelopes == []


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_starttls_and_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Mailbox(free_port())
    controller = smtp_server(box, tls_context=server_tls, require_starttls=True)
    secret = tmp_path / "smtp-password"
    secret.write_text("rahasia")
    settings = email(box.port, starttls=True, username="simpul", password_file=str(secret))
    try:
        (untrusted,) = dispatch([event()], monitoring(email=settings), NODE, {})
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client now trusts the test's CA
        (trusted,) = dispatch([event()], monitoring(email=settings), NODE, {})
    finally:
        controller.stop()
    assert not untrusted.ok
    assert untrusted.message.startswith(f"SMTP server 127.0.0.1:{box.port}: TLS certificate ")
    assert "self-signed certificate" in untrusted.message
    assert trusted.ok, trusted.message
    assert box.logins == ["simpul"] and len(box.envelopes) == 1


# Webhooks


@dataclass
class Hub:
    """What the HTTP server answers next, and what it was sent."""

    url: str
    status: int = 200
    answer: bytes = b'{"ok": true}'
    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)


@pytest.fixture
def hub() -> Iterator[Hub]:
    state: Hub

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            state.posts.append((self.path, dict(self.headers), json.loads(raw)))
            self.reply(state.status, state.answer, "application/json")

    with serving(Handler) as port:
        state = Hub(f"http://127.0.0.1:{port}")
        yield state


def json_hook(url: str) -> Webhook:
    return Webhook(name="noc", url=f"{url}/hooks/simpul")


def telegram_hook(url: str) -> Webhook:
    return Webhook(
        name="tg-noc", url=f"{url}/bot{TOKEN}/sendMessage", format="telegram", chat_id="-100123"
    )


def test_the_json_webhook(hub: Hub) -> None:
    deliveries = dispatch(
        [event()], monitoring(webhooks=[json_hook(hub.url)]), NODE, {"lambada": SITE}
    )
    assert deliveries == [Delivery("vsat-lam", "raised", "down", "webhook:noc", True, "HTTP 200")]
    ((path, headers, body),) = hub.posts
    assert path == "/hooks/simpul"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    subject, text = message(event(), NODE, SITE)
    assert body == {
        "node": "kab-meranti",
        "target": "vsat-lam",
        "site": "lambada",
        "kecamatan": "Lambada",
        "kind": "raised",
        "severity": "down",
        "previous": "ok",
        "at": "2025-03-04T14:07:00+07:00",
        "since": "2025-03-04T14:05:00+07:00",
        "acknowledged": False,
        "reasons": ["tidak terjangkau: SNMP tidak menjawab / unreachable: SNMP not answering"],
        "text": f"{subject}\n\n{text}",
    }


def test_the_telegram_webhook(hub: Hub) -> None:
    recovered = event("recovered", "ok", "down")
    (delivery,) = dispatch([recovered], monitoring(webhooks=[telegram_hook(hub.url)]), NODE, {})
    assert delivery.ok and delivery.channel == "webhook:tg-noc"
    ((path, _, body),) = hub.posts
    assert path == f"/bot{TOKEN}/sendMessage"
    assert set(body) == {"chat_id", "text", "disable_web_page_preview"}
    assert body["chat_id"] == "-100123" and body["disable_web_page_preview"] is True
    assert body["text"].startswith("[kab-meranti] PULIH / RECOVERED: vsat-lam\n\nTarget: vsat-lam")


def test_a_telegram_refusal_is_a_failed_delivery_without_the_token(hub: Hub) -> None:
    hub.status = 400
    hub.answer = b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}'
    (delivery,) = dispatch([event()], monitoring(webhooks=[telegram_hook(hub.url)]), NODE, {})
    assert not delivery.ok
    assert delivery.message == (
        f"webhook tg-noc ({hub.url.removeprefix('http://')}) answered HTTP 400 Bad Request: "
        "Bad Request: chat not found"
    )
    assert TOKEN not in delivery.message


def test_http_500_is_a_failed_delivery(hub: Hub) -> None:
    hub.status, hub.answer = 500, b"database is locked\n"
    (delivery,) = dispatch([event()], monitoring(webhooks=[json_hook(hub.url)]), NODE, {})
    assert not delivery.ok
    assert delivery.message == (
        f"webhook noc ({hub.url.removeprefix('http://')}) answered HTTP 500 "
        "Internal Server Error: database is locked"
    )


def test_a_closed_webhook_port_is_a_failed_delivery() -> None:
    port = free_port()
    hooks = [json_hook(f"http://127.0.0.1:{port}")]
    (delivery,) = dispatch([event()], monitoring(webhooks=hooks), NODE, {})
    assert not delivery.ok
    assert delivery.message == (
        f"webhook noc (127.0.0.1:{port}): connection refused (nothing listens there)"
    )


def test_a_silent_webhook_times_out() -> None:
    with socket.socket() as silent:  # listens, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hooks = [json_hook(f"http://127.0.0.1:{silent.getsockname()[1]}")]
        (delivery,) = dispatch([event()], monitoring(webhooks=hooks), NODE, {}, timeout_s=0.3)
    assert not delivery.ok and delivery.message.endswith(": no answer within 0.3 s")


# Dispatch


def test_every_channel_gets_every_event_outside_maintenance(hub: Hub, mailbox: Mailbox) -> None:
    events = [
        event(),
        event("changed", "critical", "warning", maintenance=True),
        event("recovered", "ok", "down"),
    ]
    config = monitoring(
        email=email(mailbox.port), webhooks=[json_hook(hub.url), telegram_hook(hub.url)]
    )
    deliveries = dispatch(events, config, NODE, {"lambada": SITE})
    assert [(d.kind, d.channel, d.ok) for d in deliveries] == [
        ("raised", "email", True),
        ("raised", "webhook:noc", True),
        ("raised", "webhook:tg-noc", True),
        ("recovered", "email", True),
        ("recovered", "webhook:noc", True),
        ("recovered", "webhook:tg-noc", True),
    ]
    assert [m["Subject"].split(":")[0] for m in map(mailbox.message, range(2))] == [
        "[kab-meranti] PUTUS / DOWN",
        "[kab-meranti] PULIH / RECOVERED",
    ]
    assert [body.get("kind") for _, _, body in hub.posts] == ["raised", None, "recovered", None]


def test_one_failing_channel_does_not_stop_the_others(hub: Hub) -> None:
    config = monitoring(email=email(free_port()), webhooks=[json_hook(hub.url)])
    deliveries = dispatch([event()], config, NODE, {})
    assert [(d.channel, d.ok) for d in deliveries] == [("email", False), ("webhook:noc", True)]


def test_the_json_payload_without_a_site() -> None:
    payload = webhook_payload(json_hook("http://127.0.0.1:9"), event(), NODE, None)
    assert (payload["site"], payload["kecamatan"]) == (None, None)
