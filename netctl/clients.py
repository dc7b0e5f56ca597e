"""Parse and check a hotspot client's identity (MAC . IP) against the configuration. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address

from simpul.config import Config

_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$")
MAX_SESSION_MINUTES = 7 * 24 * 60


class ClientError(ValueError):
    """A client identity or request that cannot be accepted; the message says why."""


@dataclass(frozen=True)
class ClientId:
    """A normalised hotspot client identity and the site its address belongs to."""

    mac: str
    ip: str
    site: str


def parse_mac(text: str) -> str:
    """Normalise a unicast MAC address to lowercase colon form."""
    value = str(text).strip().lower()
    if not _MAC.match(value):
        raise ClientError(f"{text!r} is not a MAC address such as 02:1a:2b:3c:4d:5e")
    value = value.replace("-", ":")
    if int(value[:2], 16) & 1:
        raise ClientError(f"{text!r} is a multicast/broadcast MAC, not a client")
    if value == "00:00:00:00:00:00":
        raise ClientError(f"{text!r} is the zero MAC, not a client")
    return value


def parse_ip(text: str) -> str:
    """An IPv4 address in canonical form."""
    try:
        return str(IPv4Address(str(text).strip()))
    except AddressValueError:
        raise ClientError(f"{text!r} is not an IPv4 address") from None


def parse_client(config: Config, mac: str, ip: str) -> ClientId:
    """Check that `ip` is a client address of a hotspot site; returns the normalised identity."""
    norm_mac = parse_mac(mac)
    address = IPv4Address(parse_ip(ip))
    for site in config.hotspot_sites:
        if address in site.subnet:
            if address in (site.subnet.network_address, site.subnet.broadcast_address):
                raise ClientError(f"{address} is not a host address of {site.subnet}")
            if address == site.gateway_address.ip:
                raise ClientError(f"{address} is the gateway's own address on {site.slug}")
            return ClientId(norm_mac, str(address), site.slug)
    raise ClientError(f"{address} is not inside any hotspot site's subnet")


def parse_minutes(value: object, default: int) -> int:
    """A session length in minutes (1 … one week)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ClientError(f"minutes must be a number, not {value!r}")
    if isinstance(value, float) and not value.is_integer():  # also inf and nan
        raise ClientError(f"minutes must be a whole number, not {value!r}")
    try:
        minutes = int(value)
    except ValueError:
        raise ClientError(f"minutes must be a whole number, not {value!r}") from None
    if not 1 <= minutes <= MAX_SESSION_MINUTES:
        raise ClientError(f"minutes must be between 1 and {MAX_SESSION_MINUTES}, not {minutes}")
    return minutes
