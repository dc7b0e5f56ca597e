"""netd for the current request: one lazily opened client per request, closed at teardown."""

from __future__ import annotations

from flask import g

from portal.captive.netd_replies import PortalConfig, Whois, parse_portal_config, parse_whois
from portal.captive.runtime import NetdLike, runtime


def netd() -> NetdLike:
    """This request's netd client, opened on first use."""
    client = g.get("netd")
    if client is None:
        client = g.netd = runtime().netd_factory()
    return client


def close_netd(_exc: BaseException | None = None) -> None:
    """Close this request's netd client, if one was opened (a teardown hook)."""
    client = g.pop("netd", None)
    if client is not None:
        client.close()


def portal_config() -> PortalConfig:
    """The portal's configuration, from netd at most every ~10 s per process."""
    return runtime().config_cache.get(lambda: parse_portal_config(netd().call("portal_config")))


def whois(ip: str) -> Whois:
    """What netd knows of the client at `ip`."""
    return parse_whois(netd().call("whois", ip=ip))
