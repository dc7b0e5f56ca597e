"""Typed views of netd's replies to `portal_config` and `whois` (pure).

A malformed reply is netd's bug, not the citizen's: it raises `ApiError("bad-reply", …)`, which
the portal answers like netd being unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from netctl.protocol import ApiError
from portal.captive.otp_gateway import OtpGateway
from portal.captive.radius import RadiusServer


@dataclass(frozen=True)
class VideoInfo:
    """A welcome video in the media directory."""

    file: str
    poster: str | None
    title: str


@dataclass(frozen=True)
class SiteInfo:
    """A hotspot site, as shown to citizens."""

    name: str
    kecamatan: str
    methods: tuple[str, ...] = ("video",)


@dataclass(frozen=True)
class PortalConfig:
    """What the portal needs of the node's configuration."""

    regency: str
    hostname: str
    address: str | None
    http_port: int
    https_port: int
    news_url: str
    video_seconds: int
    videos: tuple[VideoInfo, ...]
    sites: dict[str, SiteInfo]
    otp: OtpGateway | None = None
    radius: RadiusServer | None = None
    retention_days: int = 90
    # The DNS front end's control socket and the OPD LANs (whose blocked names land here).
    dns_socket: str | None = None
    opd_subnets: tuple[IPv4Network, ...] = ()

    def in_opd(self, ip: str) -> bool:
        """Whether `ip` is in an OPD's LAN."""
        try:
            address = IPv4Address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.opd_subnets)


@dataclass(frozen=True)
class Session:
    """A client's current session and its byte counters."""

    started_at: float
    expires_at: float
    seconds_remaining: int
    up_bytes: int
    down_bytes: int
    method: str


@dataclass(frozen=True)
class Whois:
    """What the gateway knows of one client."""

    ip: str
    site: str | None
    authorized: bool
    session: Session | None
    mac: str | None = None


def _bad(what: str) -> ApiError:
    return ApiError("bad-reply", f"netd's reply has no valid {what}")


def _field(data: Any, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, bool) and kind is not bool:
        raise _bad(what)
    if not isinstance(value, kind):
        raise _bad(what)
    return value


def parse_portal_config(data: Any) -> PortalConfig:
    """A `PortalConfig` from netd's `portal_config` result."""
    videos = tuple(
        VideoInfo(
            file=_field(v, "file", str, "video file"),
            poster=v.get("poster") if isinstance(v.get("poster"), str) else None,
            title=_field(v, "title", str, "video title"),
        )
        for v in _field(data, "videos", list, "videos")
    )
    sites = {
        str(slug): SiteInfo(
            name=_field(s, "name", str, "site name"),
            kecamatan=_field(s, "kecamatan", str, "site kecamatan"),
            methods=tuple(str(m) for m in s.get("methods", ["video"])),
        )
        for slug, s in _field(data, "sites", dict, "sites").items()
    }
    address = data.get("address")
    return PortalConfig(
        regency=_field(data, "regency", str, "regency"),
        hostname=_field(data, "hostname", str, "hostname").lower(),
        address=address if isinstance(address, str) and address else None,
        http_port=_field(data, "http_port", int, "http_port"),
        https_port=_field(data, "https_port", int, "https_port"),
        news_url=_field(data, "news_url", str, "news_url"),
        video_seconds=_field(data, "video_seconds", int, "video_seconds"),
        videos=videos,
        sites=sites,
        otp=_otp(data.get("otp")),
        radius=_radius(data.get("radius")),
        retention_days=int(data.get("retention_days", 90)),
        dns_socket=data.get("dns_socket") if isinstance(data.get("dns_socket"), str) else None,
        opd_subnets=_networks(data.get("opd_subnets")),
    )


def _networks(data: Any) -> tuple[IPv4Network, ...]:
    if not isinstance(data, dict):
        return ()
    try:
        return tuple(IPv4Network(str(v)) for v in data.values())
    except ValueError:
        raise _bad("opd_subnets") from None


def _radius(data: Any) -> RadiusServer | None:
    if not isinstance(data, dict):
        return None
    return RadiusServer(
        host=_field(data, "server", str, "radius server"),
        port=_field(data, "port", int, "radius port"),
        secret=_field(data, "secret", str, "radius secret").encode(),
        nas_identifier=_field(data, "nas_identifier", str, "radius nas_identifier"),
        timeout_s=float(_field(data, "timeout_s", (int, float), "radius timeout")),
        tries=_field(data, "tries", int, "radius tries"),
    )


def _otp(data: Any) -> OtpGateway | None:
    if not isinstance(data, dict):
        return None
    return OtpGateway(
        url=_field(data, "url", str, "otp url"),
        token=str(data.get("token", "")),
        channel=str(data.get("channel", "sms")),
    )


def parse_whois(data: Any) -> Whois:
    """A `Whois` from netd's `whois` result."""
    raw = data.get("session") if isinstance(data, dict) else None
    session = None
    if isinstance(raw, dict):
        session = Session(
            started_at=float(_field(raw, "started_at", (int, float), "session start")),
            expires_at=float(_field(raw, "expires_at", (int, float), "session end")),
            seconds_remaining=_field(raw, "seconds_remaining", int, "seconds_remaining"),
            up_bytes=_field(raw, "up_bytes", int, "up_bytes"),
            down_bytes=_field(raw, "down_bytes", int, "down_bytes"),
            method=str(raw.get("method", "")),
        )
    site = data.get("site")
    return Whois(
        ip=_field(data, "ip", str, "ip"),
        site=site if isinstance(site, str) else None,
        authorized=_field(data, "authorized", bool, "authorized"),
        session=session,
        mac=data.get("mac") if isinstance(data.get("mac"), str) else None,
    )
