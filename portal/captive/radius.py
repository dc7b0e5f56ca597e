"""A RADIUS client for PAP logins (RFC 2865): the regency's existing user accounts.

Building and reading packets is pure; `authenticate` does the UDP exchange with retries.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
from dataclasses import dataclass

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT = 1, 2, 3
USER_NAME, USER_PASSWORD, NAS_IP_ADDRESS, NAS_IDENTIFIER = 1, 2, 4, 32
CALLING_STATION_ID, SESSION_TIMEOUT, MESSAGE_AUTHENTICATOR = 31, 27, 80
MAX_FIELD = 128


@dataclass(frozen=True)
class RadiusServer:
    """Where to ask and with which shared secret."""

    host: str
    port: int
    secret: bytes
    nas_identifier: str
    timeout_s: float = 3.0
    tries: int = 2


@dataclass(frozen=True)
class Verdict:
    """The server's answer: accepted (with an optional Session-Timeout) or not."""

    accepted: bool
    session_timeout_s: int | None = None


class RadiusError(Exception):
    """No valid answer from the server (timeout, bad authenticator, garbage)."""


def _attr(kind: int, value: bytes) -> bytes:
    if len(value) > 253:
        raise ValueError("RADIUS attribute too long")
    return struct.pack("!BB", kind, len(value) + 2) + value


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 5.2: the password padded to 16 bytes, XORed with MD5 chains."""
    padded = password.ljust(max(16, -(-len(password) // 16) * 16), b"\0")
    out, previous = b"", authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + previous).digest()
        block = bytes(a ^ b for a, b in zip(padded[i : i + 16], key, strict=True))
        out += block
        previous = block
    return out


def access_request(
    server: RadiusServer, ident: int, authenticator: bytes, user: str, password: str, mac: str
) -> bytes:
    """An Access-Request packet with PAP (and a Message-Authenticator, as RFC 3579 advises)."""
    attrs = (
        _attr(USER_NAME, user.encode())
        + _attr(USER_PASSWORD, hide_password(password.encode(), server.secret, authenticator))
        + _attr(NAS_IDENTIFIER, server.nas_identifier.encode())
        + _attr(CALLING_STATION_ID, mac.replace(":", "-").upper().encode())
    )
    placeholder = _attr(MESSAGE_AUTHENTICATOR, b"\0" * 16)
    length = 20 + len(attrs) + len(placeholder)
    header = struct.pack("!BBH", ACCESS_REQUEST, ident, length) + authenticator
    signature = hmac.new(server.secret, header + attrs + placeholder, hashlib.md5).digest()
    return header + attrs + _attr(MESSAGE_AUTHENTICATOR, signature)


def read_reply(packet: bytes, server: RadiusServer, ident: int, authenticator: bytes) -> Verdict:
    """Check the reply's authenticator and read it; raise RadiusError if it is not genuine."""
    if len(packet) < 20:
        raise RadiusError("short RADIUS reply")
    code, reply_id, length = struct.unpack("!BBH", packet[:4])
    if reply_id != ident or length != len(packet) or length > 4096:
        raise RadiusError("RADIUS reply does not match the request")
    expected = hashlib.md5(packet[:4] + authenticator + packet[20:] + server.secret).digest()
    if not hmac.compare_digest(expected, packet[4:20]):
        raise RadiusError("RADIUS reply authenticator is wrong (shared secret?)")
    timeout = None
    offset = 20
    while offset + 2 <= length:
        kind, size = packet[offset], packet[offset + 1]
        if size < 2 or offset + size > length:
            raise RadiusError("malformed RADIUS attribute")
        if kind == SESSION_TIMEOUT and size == 6:
            timeout = struct.unpack("!I", packet[offset + 2 : offset + 6])[0]
        offset += size
    if code == ACCESS_ACCEPT:
        return Verdict(True, timeout)
    if code == ACCESS_REJECT:
        return Verdict(False)
    raise RadiusError(f"unexpected RADIUS code {code}")


def authenticate(server: RadiusServer, user: str, password: str, mac: str) -> Verdict:
    """Ask the server whether `user`/`password` may log in (PAP over UDP, with retries)."""
    if not user or len(user) > MAX_FIELD or len(password) > MAX_FIELD:
        return Verdict(False)
    ident = os.urandom(1)[0]
    authenticator = os.urandom(16)
    packet = access_request(server, ident, authenticator, user, password, mac)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(server.timeout_s)
        sock.connect((server.host, server.port))
        for _ in range(server.tries):
            sock.send(packet)
            try:
                reply = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError as exc:
                raise RadiusError(f"RADIUS server unreachable: {exc}") from None
            return read_reply(reply, server, ident, authenticator)
    raise RadiusError("no answer from the RADIUS server")
