"""Delivering a one-time code through the node's SMS/WhatsApp gateway (HTTP, JSON)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class OtpGateway:
    """Where and how to ask for a message to be delivered."""

    url: str
    token: str
    channel: str


class GatewayError(Exception):
    """The gateway did not take the message."""


def message_text(regency: str, code: str, minutes: int) -> str:
    """The message a citizen receives (Bahasa Indonesia)."""
    return (
        f"Kode WiFi Gratis {regency}: {code}. Berlaku {minutes} menit. "
        "Jangan berikan kode ini kepada siapa pun."
    )


def deliver(gateway: OtpGateway, to: str, text: str, timeout_s: float = 5.0) -> None:
    """POST the message; raise GatewayError unless the gateway accepts it (2xx)."""
    body = json.dumps({"to": to, "message": text, "channel": gateway.channel}).encode()
    request = urllib.request.Request(
        gateway.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {gateway.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            if not 200 <= response.status < 300:
                raise GatewayError(f"gateway answered {response.status}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise GatewayError(str(exc)) from None
