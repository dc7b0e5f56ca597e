"""The block page: why a name is blocked for an OPD's staff, asked of the DNS front end.

Blocked names point OPD clients at their gateway, so their browser's plain-HTTP request for the
blocked site arrives here with the site's name in the Host header.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue

from netctl.protocol import ApiError, NetdClient
from portal.captive.hosts import bare_host
from portal.captive.i18n import CATALOG, t
from portal.captive.netd_replies import PortalConfig
from portal.captive.pages import current_lang

log = logging.getLogger(__name__)
EXPLAIN_TIMEOUT_S = 2.0


def explain(socket_path: str | None, client: str, name: str) -> dict[str, Any] | None:
    """The front end's verdict for `client` asking `name`, or None if it cannot say."""
    if not socket_path:
        return None
    try:
        client_of_dns = NetdClient(socket_path, EXPLAIN_TIMEOUT_S, service="the DNS front end")
        with client_of_dns as dns:
            result = dns.call("explain", client=client, name=name)
    except ApiError as exc:
        log.warning("block page: %s", exc)
        return None
    return result if isinstance(result, dict) else None


def until_text(until: str | None) -> str | None:
    """'16:00' today or '28-12-2026 07:30' (the node's local time, as the front end gives it)."""
    if not until:
        return None
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        return None
    now = datetime.now(moment.tzinfo)
    if moment.date() == now.date():
        return moment.strftime("%H:%M")
    return moment.strftime("%d-%m-%Y %H:%M")


def block_page(config: PortalConfig, host_header: str, client: str) -> ResponseReturnValue:
    """The page an OPD's staff see for a blocked site: which category and until when."""
    name = bare_host(host_header)
    verdict = explain(config.dns_socket, client, name) if name else None
    category = verdict.get("category") if verdict else None
    key = f"category_{category}"
    page = render_template(
        "captive/blocked.html",
        portal=config,
        name=name,
        verdict=verdict,
        category=t(key, current_lang()) if key in CATALOG else category,
        until=until_text(verdict.get("until")) if verdict else None,
        switch_endpoint="captive.index",
    )
    return page, 403, {"Cache-Control": "no-store"}
