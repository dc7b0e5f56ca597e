"""Where a request for another site goes (pure), and a WSGI layer that answers it before Flask.

Only captive clients' port-80 requests are redirected to the portal by nftables, so a request
whose Host is not the portal is answered with a 302 to the portal's start page; OPD clients'
requests (blocked names pointing at their gateway) go on to the block page instead. Phones
probe this path many times a second on a busy hotspot: the layer answers it without Flask's
request machinery, with the same headers, whenever the portal's configuration is cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from portal.captive.hosts import bare_host, is_portal_host, start_url
from portal.captive.i18n import lang_from
from portal.captive.netd_replies import PortalConfig
from portal.captive.probes import find_probe
from portal.captive.security_headers import security_header_items

UNCHECKED_PATHS = ("/healthz",)


def captive_location(
    config: PortalConfig, host_header: str, path: str, client: str, lang: str | None
) -> str | None:
    """The portal URL a captive client's request for another site is sent to; None when the
    request is the portal's own (or an OPD client's, for the block page) or unchecked."""
    if path in UNCHECKED_PATHS or is_portal_host(host_header, config.hostname, config.address):
        return None
    if config.in_opd(client):
        return None
    if find_probe(bare_host(host_header), path) is not None:
        return start_url(config.hostname, config.http_port)
    return start_url(config.hostname, config.http_port, lang_from(lang))


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class CaptiveRedirects:
    """WSGI middleware: 302s for captive clients' foreign requests, everything else to `app`."""

    def __init__(self, app: WsgiApp, cached_config: Callable[[], PortalConfig | None]) -> None:
        self.app = app
        self.cached_config = cached_config

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        config = self.cached_config()
        if config is None:  # not loaded yet (or stale): Flask's hook asks netd
            return self.app(environ, start_response)
        query = environ.get("QUERY_STRING", "")
        lang = parse_qs(query).get("lang", [None])[0] if "lang=" in query else None
        location = captive_location(
            config,
            environ.get("HTTP_HOST", ""),
            environ.get("PATH_INFO", ""),
            environ.get("REMOTE_ADDR", ""),
            lang,
        )
        if location is None:
            return self.app(environ, start_response)
        headers = [("Location", location), ("Content-Length", "0"), *security_header_items()]
        start_response("302 Found", headers)
        return [b""]
