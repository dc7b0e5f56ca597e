"""The lab plan (pure): namespaces, links, bridges and addresses built from a configuration."""

from __future__ import annotations

from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from netctl.clients import parse_mac
from simpul.config import Config, config_to_data, load_config_file, parse_config
from simpul.config.model import Uplink
from simpul.lab.topology import (
    LAB_DNS,
    LAB_INFLUX,
    LAB_RADIUS,
    LAB_SITES,
    LAB_SMS_GATEWAY,
    Host,
    LabPlan,
    Link,
    lab_dns_records,
    plan,
)

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))
MERANTI = load_config_file(str(ROOT / "examples" / "meranti.yaml"))
P = "t-"  # a prefix other than the default, so the tests see it is used


@pytest.fixture(scope="module")
def lab() -> LabPlan:
    return plan(LAB, P, hotspot_clients_per_site=3)


def links_to(p: LabPlan, ns: str) -> list[Link]:
    return [link for link in p.links if link.b_ns == ns]


def interface_names(p: LabPlan) -> list[tuple[str, str]]:
    """(namespace, interface) for every interface the plan creates or addresses."""
    names = [(link.a_ns, link.a_if) for link in p.links]
    names += [(link.b_ns, link.b_if) for link in p.links]
    names += [(ns, bridge) for ns, bridge, _ in p.bridges]
    names += [(ns, dev) for ns, dev, _ in p.extra_addresses]
    return names


def test_hosts_are_named_with_the_prefix(lab: LabPlan) -> None:
    names = [h.ns for h in lab.hosts]
    assert all(n.startswith(P) for n in names)
    assert len(names) == len(set(names))
    assert names == [
        "t-gw",
        "t-inet",
        "t-noc",
        "t-opd-diskominfo",
        "t-opd-disdik",
        "t-opd-bkpsdm",
        "t-hs-1",
        "t-hs-2",
        "t-hs-3",
        "t-hs-4",
        "t-hs-5",
        "t-hs-6",
        "t-site-rangsang-pesisir",
        "t-site-pulau-merbau",
    ]
    assert (lab.prefix, lab.gateway_ns, lab.inet_ns) == (P, "t-gw", "t-inet")
    for link in lab.links:
        assert link.a_ns == "t-gw"
        assert link.b_ns in names


def test_default_prefix_and_one_client_per_site() -> None:
    p = plan(LAB)
    assert p.prefix == "sp-"
    assert p.gateway_ns == "sp-gw" and p.inet_ns == "sp-inet"
    assert p.hotspot_clients == {"rtm-lam": ("sp-hs-1",), "taman-cik-puan": ("sp-hs-2",)}


def test_plan_is_deterministic() -> None:
    assert plan(LAB, P, 3) == plan(LAB, P, 3)


def test_host_lookup(lab: LabPlan) -> None:
    gw = lab.host("gw")
    assert gw is lab.host("t-gw")
    assert gw.ns == "t-gw"
    assert lab.host("opd-disdik").ns == "t-opd-disdik"
    assert lab.host("t-hs-4").ns == "t-hs-4"
    for missing in ("sp-gw", "nope", "hs-7"):
        with pytest.raises(KeyError):
            lab.host(missing)


def test_gateway_and_internet(lab: LabPlan) -> None:
    assert lab.host("gw") == Host("t-gw", lab.host("gw").role)
    inet = lab.host("inet")
    assert (inet.dhcp, inet.gateway, inet.resolver) == (False, None, None)


def test_uplink_link_has_both_ends_addressed(lab: LabPlan) -> None:
    uplink = LAB.uplinks[0]
    (link,) = links_to(lab, "t-inet")
    assert link == Link("t-gw", uplink.interface, "t-inet", "eth0", "192.0.2.2/24", "192.0.2.1/24")
    assert link.a_addr == str(uplink.address)
    assert link.b_addr is not None
    assert IPv4Interface(link.b_addr).ip == uplink.gateway
    assert IPv4Interface(link.b_addr).network == IPv4Interface(link.a_addr).network


def test_management_host(lab: LabPlan) -> None:
    noc = lab.host("noc")
    assert (noc.dhcp, noc.gateway, noc.resolver) == (False, "10.255.0.1", "10.255.0.1")
    (link,) = links_to(lab, "t-noc")
    assert link == Link("t-gw", "mgmt0", "t-noc", "eth0", "10.255.0.1/24", "10.255.0.10/24")


def test_one_host_per_opd(lab: LabPlan) -> None:
    opd_hosts = [h for h in lab.hosts if h.ns.startswith(f"{P}opd-")]
    assert [h.ns for h in opd_hosts] == [f"{P}opd-{o.slug}" for o in LAB.opds]
    for opd in LAB.opds:
        host = lab.host(f"opd-{opd.slug}")
        gateway = str(opd.gateway_address.ip)
        assert (host.dhcp, host.gateway, host.resolver) == (True, gateway, gateway)
        assert opd.name in host.role
        (link,) = links_to(lab, host.ns)
        assert link == Link("t-gw", opd.interface, host.ns, "eth0", str(opd.gateway_address), None)


def test_opd_without_dhcp_gets_a_static_address() -> None:
    data = config_to_data(LAB)
    data["opds"][1]["dhcp"]["enabled"] = False  # disdik, 10.20.2.0/24
    p = plan(parse_config(data), P)
    host = p.host("opd-disdik")
    assert (host.dhcp, host.gateway) == (False, "10.20.2.1")
    (link,) = links_to(p, host.ns)
    assert (link.a_addr, link.b_addr) == ("10.20.2.1/24", "10.20.2.100/24")


def test_hotspot_clients_per_site(lab: LabPlan) -> None:
    assert lab.hotspot_clients == {
        "rtm-lam": ("t-hs-1", "t-hs-2", "t-hs-3"),
        "taman-cik-puan": ("t-hs-4", "t-hs-5", "t-hs-6"),
    }
    assert lab.bridges == (
        ("t-gw", "hs-rtmlam", "10.40.1.1/24"),
        ("t-gw", "hs-cikpuan", "10.40.2.1/24"),
    )
    for site in LAB.hotspot_sites:
        gateway = str(site.gateway_address.ip)
        for ns in lab.hotspot_clients[site.slug]:
            host = lab.host(ns)
            assert (host.dhcp, host.gateway, host.resolver) == (True, gateway, gateway)
            assert site.name in host.role
            (link,) = links_to(lab, ns)
            assert link.a_master == site.interface  # the port joins the site's bridge
            assert (link.a_addr, link.b_addr, link.b_if) == (None, None, "eth0")
            assert link.a_if.startswith("hsp")


def test_hotspot_macs_are_deterministic_distinct_unicast(lab: LabPlan) -> None:
    macs = [link.b_mac for link in lab.links if link.b_mac is not None]
    assert len(macs) == 6
    assert len(set(macs)) == len(macs)
    assert [parse_mac(m) for m in macs] == macs  # valid, unicast, already normal
    assert all(int(m[:2], 16) & 2 for m in macs)  # locally administered
    assert macs == [link.b_mac for link in plan(LAB, "other-", 3).links if link.b_mac is not None]
    assert macs[0] == "02:5e:00:01:01:01"


def test_most_clients_the_cli_allows() -> None:
    p = plan(MERANTI, "sp-", hotspot_clients_per_site=50)  # `simpul lab up --clients` max
    macs = [link.b_mac for link in p.links if link.b_mac is not None]
    assert len(macs) == 50 * len(MERANTI.hotspot_sites)
    assert len(set(macs)) == len(macs)
    assert all(parse_mac(m) == m for m in macs)
    assert all(len(v) == 50 for v in p.hotspot_clients.values())
    hosts = [h.ns for h in p.hosts]
    assert len(hosts) == len(set(hosts))


def test_remote_sites(lab: LabPlan) -> None:
    for remote in LAB.remote_sites:
        host = lab.host(f"site-{remote.slug}")
        gateway = str(remote.gateway_address.ip)
        assert (host.dhcp, host.gateway, host.resolver) == (False, gateway, None)
        (link,) = links_to(lab, host.ns)
        assert link.a_if == remote.interface
        assert link.a_addr == str(remote.gateway_address)
        assert link.b_addr == f"{remote.router}/{remote.subnet.prefixlen}"
    (rp,) = links_to(lab, "t-site-rangsang-pesisir")
    assert (rp.a_addr, rp.b_addr) == ("10.60.1.1/30", "10.60.1.2/30")
    assert lab.host("site-rangsang-pesisir").gateway == "10.60.1.1"


def test_extra_addresses_on_the_internet(lab: LabPlan) -> None:
    assert all(ns == "t-inet" and dev == "lo" for ns, dev, _ in lab.extra_addresses)
    cidrs = [cidr for _, _, cidr in lab.extra_addresses]
    assert len(cidrs) == len(set(cidrs))
    assert cidrs[0] == f"{LAB_DNS}/32"
    sites = {f"{addr}/32" for addr, _ in LAB_SITES.values()}
    lab_services = (LAB_DNS, LAB_SMS_GATEWAY, LAB_RADIUS, LAB_INFLUX)
    assert set(cidrs) == {f"{a}/32" for a in lab_services} | sites


def test_lab_dns_records() -> None:
    records = lab_dns_records()
    assert len(records) == len(LAB_SITES)
    for name, (addr, _) in LAB_SITES.items():
        assert f"address=/{name}/{addr}" in records


@pytest.mark.parametrize(("config", "clients"), [(LAB, 3), (MERANTI, 50)])
def test_interface_names_fit_the_kernel(config: Config, clients: int) -> None:
    p = plan(config, "sp-", clients)
    names = interface_names(p)
    too_long = [name for _, name in names if not 1 <= len(name) <= 15]
    assert too_long == []
    # no two links create the same interface in one namespace
    created = [(link.a_ns, link.a_if) for link in p.links]
    created += [(link.b_ns, link.b_if) for link in p.links]
    created += [(ns, bridge) for ns, bridge, _ in p.bridges]
    assert len(created) == len(set(created))


def test_dhcp_uplink_is_refused() -> None:
    config = LAB.model_copy(update={"uplinks": [Uplink(name="isp1", interface="wan0")]})
    with pytest.raises(ValueError, match="static uplink address"):
        plan(config)
