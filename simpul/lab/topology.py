"""The lab's plan: the namespaces, links, addresses and processes a configuration becomes. Pure.

`plan(config, prefix)` says what `simpul lab up` builds; `simpul.lab.runner` builds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface

from simpul.config import Config

# The lab's "internet": names served by sp-inet's DNS and web server (documentation ranges only).
LAB_DNS = "198.51.100.53"
LAB_BULK = "203.0.113.10"
LAB_SMS_GATEWAY = "198.51.100.70"  # the SMS/WhatsApp gateway (records messages)
LAB_RADIUS = "203.0.113.20"  # the regency's RADIUS server (FreeRADIUS)
LAB_INFLUX = "203.0.113.30"  # the regency's InfluxDB v2 API (VictoriaMetrics), port 8086
LAB_SITES: dict[str, tuple[str, str]] = {
    # name: (address, what it stands for)
    "merantikab.go.id": ("198.51.100.10", "the regency's news site"),
    "www.youtube.com": ("198.51.100.20", "a video site"),
    "googlevideo.com": ("198.51.100.21", "a video CDN"),
    "viu.com": ("198.51.100.30", "a Korean drama site"),
    "example.org": ("198.51.100.40", "a plain site"),
    "dns.google": ("198.51.100.50", "a DNS-over-HTTPS endpoint"),
    "bulk.example.net": (LAB_BULK, "a bulk-transfer server (HTTP /bytes/N and iperf3)"),
    # Captive-portal probes: once a client is authorized they get the real "online" answers.
    "connectivitycheck.gstatic.com": ("198.51.100.60", "Android's connectivity check"),
    "clients3.google.com": ("198.51.100.61", "Android's older connectivity check"),
    "captive.apple.com": ("198.51.100.62", "Apple's captive-portal probe"),
    "www.msftconnecttest.com": ("198.51.100.63", "Windows' connectivity test"),
    "www.msftncsi.com": ("198.51.100.64", "Windows' older connectivity test"),
    "detectportal.firefox.com": ("198.51.100.65", "Firefox's captive-portal probe"),
}


@dataclass(frozen=True)
class Link:
    """A veth pair from `a` (usually the gateway) to `b`."""

    a_ns: str
    a_if: str
    b_ns: str
    b_if: str
    a_addr: str | None = None  # CIDR on a's end
    b_addr: str | None = None  # CIDR on b's end, or None when b takes DHCP
    a_master: str | None = None  # a bridge in a_ns that a's end joins
    b_mac: str | None = None


@dataclass(frozen=True)
class Host:
    """A lab namespace and what it stands for."""

    ns: str
    role: str
    dhcp: bool = False  # its eth0 is configured by a DHCP client
    gateway: str | None = None  # default route (static hosts)
    resolver: str | None = None  # nameserver for /etc/netns/NS/resolv.conf


@dataclass(frozen=True)
class LabPlan:
    """Everything the lab builds."""

    prefix: str
    hosts: tuple[Host, ...]
    bridges: tuple[tuple[str, str, str], ...]  # (ns, bridge, gateway CIDR)
    links: tuple[Link, ...]
    extra_addresses: tuple[tuple[str, str, str], ...] = ()  # (ns, device, CIDR)
    gateway_ns: str = ""
    inet_ns: str = ""
    hotspot_clients: dict[str, tuple[str, ...]] = field(default_factory=dict)  # site -> hosts

    def host(self, short_or_full: str) -> Host:
        """A host by its full namespace name or the part after the prefix (e.g. 'gw')."""
        for host in self.hosts:
            if short_or_full in (host.ns, host.ns.removeprefix(self.prefix)):
                return host
        raise KeyError(short_or_full)


def _hotspot_mac(site_index: int, client_index: int) -> str:
    return f"02:5e:00:{site_index:02x}:{client_index:02x}:01"


def _static(ip: IPv4Interface, offset: int) -> str:
    return f"{ip.network.network_address + offset}/{ip.network.prefixlen}"


def plan(config: Config, prefix: str = "sp-", hotspot_clients_per_site: int = 1) -> LabPlan:
    """The lab for `config`: gateway, internet, management host, OPD, hotspot and remote hosts."""
    gw, inet, noc = f"{prefix}gw", f"{prefix}inet", f"{prefix}noc"
    mgmt = config.zones.management.address
    uplink = config.uplinks[0]
    if uplink.address == "dhcp" or uplink.gateway is None:
        raise ValueError("the lab needs a static uplink address and gateway in uplinks[0]")
    up_net = uplink.address.network
    hosts = [
        Host(gw, "gateway: netd, nftables, dnsmasq (DHCP), Unbound"),
        Host(inet, "the internet: DNS, web sites, bulk transfer", gateway=None),
        Host(
            noc,
            "an admin workstation in the management zone",
            gateway=str(mgmt.ip),
            resolver=str(mgmt.ip),
        ),
    ]
    links = [
        Link(
            gw,
            uplink.interface,
            inet,
            "eth0",
            str(uplink.address),
            f"{uplink.gateway}/{up_net.prefixlen}",
        ),
        Link(gw, config.zones.management.interface, noc, "eth0", str(mgmt), _static(mgmt, 10)),
    ]
    bridges = []
    for opd in config.opds:
        ns = f"{prefix}opd-{opd.slug}"
        resolver = str(opd.gateway_address.ip)
        hosts.append(
            Host(
                ns,
                f"a workstation of {opd.name}",
                dhcp=opd.dhcp.enabled,
                gateway=resolver,
                resolver=resolver,
            )
        )
        links.append(
            Link(
                gw,
                opd.interface,
                ns,
                "eth0",
                str(opd.gateway_address),
                None if opd.dhcp.enabled else _static(opd.gateway_address, 100),
            )
        )
    clients: dict[str, tuple[str, ...]] = {}
    number = 0
    for s_index, site in enumerate(config.hotspot_sites, start=1):
        bridges.append((gw, site.interface, str(site.gateway_address)))
        names = []
        for c_index in range(1, hotspot_clients_per_site + 1):
            number += 1
            ns = f"{prefix}hs-{number}"
            names.append(ns)
            resolver = str(site.gateway_address.ip)
            hosts.append(
                Host(ns, f"a phone at {site.name}", dhcp=True, gateway=resolver, resolver=resolver)
            )
            links.append(
                Link(
                    gw,
                    f"hsp{number}",
                    ns,
                    "eth0",
                    a_master=site.interface,
                    b_mac=_hotspot_mac(s_index, c_index),
                )
            )
        clients[site.slug] = tuple(names)
    for remote in config.remote_sites:
        ns = f"{prefix}site-{remote.slug}"
        hosts.append(
            Host(ns, f"the V-Sat office at {remote.name}", gateway=str(remote.gateway_address.ip))
        )
        links.append(
            Link(
                gw,
                remote.interface,
                ns,
                "eth0",
                str(remote.gateway_address),
                f"{remote.router}/{remote.subnet.prefixlen}",
            )
        )
    extra = [(inet, "lo", f"{a}/32") for a in (LAB_DNS, LAB_SMS_GATEWAY, LAB_RADIUS, LAB_INFLUX)]
    extra += [(inet, "lo", f"{addr}/32") for addr, _ in LAB_SITES.values()]
    return LabPlan(
        prefix=prefix,
        hosts=tuple(hosts),
        bridges=tuple(bridges),
        links=tuple(links),
        extra_addresses=tuple(dict.fromkeys(extra)),
        gateway_ns=gw,
        inet_ns=inet,
        hotspot_clients=clients,
    )


def lab_dns_records() -> list[str]:
    """dnsmasq `address=` lines for the lab's names (a name covers its subdomains)."""
    return [f"address=/{name}/{addr}" for name, (addr, _) in LAB_SITES.items()]
