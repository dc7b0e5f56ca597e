"""Render the gateway's DHCP server (dnsmasq) configuration from the model. Pure: no I/O.

dnsmasq serves DHCP only (``port=0``); names are answered by the gateway's resolver (Unbound), so
every network is told to use its gateway address as both router and DNS server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from simpul.config.model import Config, HotspotSite, Opd

DNSMASQ = "/usr/sbin/dnsmasq"


@dataclass(frozen=True)
class DhcpNetwork:
    """One network that dnsmasq serves: its tag, interface and address range."""

    tag: str
    interface: str
    subnet: IPv4Network
    gateway: IPv4Address
    first: IPv4Address
    last: IPv4Address
    lease_minutes: int

    @property
    def size(self) -> int:
        """How many addresses the range holds."""
        return int(self.last) - int(self.first) + 1


def dhcp_tag(kind: str, slug: str) -> str:
    """The dnsmasq tag of a network: ``opd_<slug>`` or ``site_<slug>``, '-' written as '_'."""
    return f"{kind}_{slug}".replace("-", "_")


def _network(kind: str, item: Opd | HotspotSite) -> DhcpNetwork:
    dhcp = item.dhcp
    base = item.subnet.network_address
    last_host = dhcp.last_host if dhcp.last_host is not None else item.subnet.num_addresses - 2
    return DhcpNetwork(
        tag=dhcp_tag(kind, item.slug),
        interface=item.interface,
        subnet=item.subnet,
        gateway=item.gateway_address.ip,
        first=base + dhcp.first_host,
        last=base + last_host,
        lease_minutes=dhcp.lease_minutes,
    )


def dhcp_networks(config: Config) -> tuple[list[DhcpNetwork], list[DhcpNetwork]]:
    """The OPD networks and the hotspot networks with DHCP enabled, in configuration order."""
    opds = [_network("opd", o) for o in config.opds if o.dhcp.enabled]
    sites = [_network("site", s) for s in config.hotspot_sites if s.dhcp.enabled]
    return opds, sites


def _one_line(what: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"{what} must be a single line: {value!r}")
    return value


def _range_lines(net: DhcpNetwork) -> list[str]:
    return [
        f"# {net.tag}: {net.subnet} on {net.interface}",
        f"dhcp-range=set:{net.tag},{net.first},{net.last},{net.subnet.netmask},"
        f"{net.lease_minutes}m",
        f"dhcp-option=tag:{net.tag},option:router,{net.gateway}",
        f"dhcp-option=tag:{net.tag},option:dns-server,{net.gateway}",
    ]


def render_dnsmasq(
    config: Config, *, lease_file: str, pid_file: str, hotspot_options: Sequence[str] = ()
) -> str:
    """The dnsmasq configuration serving DHCP on every OPD and hotspot network with DHCP enabled.

    `hotspot_options` are extra DHCP options sent on every hotspot network, each written as it
    follows the tag in a ``dhcp-option=`` line (e.g. ``114,"https://portal.example/api"``, the
    RFC 8910 captive-portal URI); each becomes ``dhcp-option=tag:site_<slug>,<option>``.
    """
    opds, sites = dhcp_networks(config)
    networks = opds + sites
    lines = [
        f"# Rendered by Simpul for node {config.node.name!r} ({config.node.regency}).",
        "# Do not edit: netd rewrites this file from the configuration.",
        "",
        "# DHCP only: the gateway's resolver (Unbound) answers DNS.",
        "port=0",
        "no-resolv",
        "no-hosts",
        "bind-dynamic",
        "except-interface=lo",
    ]
    lines += [f"interface={net.interface}" for net in networks]
    lines += [
        "",
        "dhcp-authoritative",
        # The ping check holds each new client for up to 3 s, one after another: a crowd of
        # phones joining a hotspot together would wait minutes. Only DHCP assigns here.
        "no-ping",
        f"dhcp-leasefile={_one_line('lease_file', lease_file)}",
        f"pid-file={_one_line('pid_file', pid_file)}",
    ]
    if networks:
        # dnsmasq's default cap is 1000 leases in all; allow every address of every range.
        lines.append(f"dhcp-lease-max={sum(net.size for net in networks)}")
    if config.portal.mac_block:
        lines += ["", "# Blocked devices get no address."]
        lines += [f"dhcp-host={mac},ignore" for mac in config.portal.mac_block]
    for net in opds:
        lines += ["", *_range_lines(net)]
    for net in sites:
        lines += ["", *_range_lines(net)]
        lines += [
            f"dhcp-option=tag:{net.tag},{_one_line('hotspot option', option)}"
            for option in hotspot_options
        ]
    return "\n".join(lines) + "\n"


def dnsmasq_command(conf_path: str) -> list[str]:
    """The argv that runs dnsmasq on `conf_path` in the foreground, logging to stderr."""
    return [DNSMASQ, "--keep-in-foreground", f"--conf-file={conf_path}", "--log-facility=-"]
