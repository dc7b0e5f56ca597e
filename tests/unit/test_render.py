"""The pure nftables renderer: every zone rule of the ruleset, and the transaction over the kernel.

Most tests use CONFIG below (two uplinks, slugs with hyphens, port ranges, an OPD with no shared
services); the scale tests use examples/meranti.yaml. Rules are compared as whole strings where
the exact text is the contract (what nft loads), and by the properties that matter elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from netctl import bandwidth
from netctl.render import (
    ACCT_DL_SET,
    ACCT_DOWN_CHAIN,
    ACCT_SET,
    ACCT_UP_CHAIN,
    ALLOW_SET,
    AUTH_DL_SET,
    AUTH_SET,
    BLOCK_SET,
    BYPASS_MARK,
    BYPASS_RULES,
    CLASS_MAP,
    COMMON_INPUT,
    DOH_SET,
    GARDEN_SET,
    IDLE_SET,
    LEARNED_SET,
    LEARNED_SET_SIZE,
    REJECT,
    Chain,
    Client,
    LiveState,
    Ruleset,
    accounting_commands,
    build_ruleset,
    element_commands,
    ident,
    learned_commands,
    render,
    zone_counters,
)
from simpul.config import Config, config_to_data, load_config_file, load_config_text, parse_config

ROOT = Path(__file__).resolve().parents[2]
MERANTI = ROOT / "examples" / "meranti.yaml"
WHERE = "inet simpul"

CONFIG_TEXT = """
node: {name: meranti-pusat, regency: Kabupaten Kepulauan Meranti, region_code: "14.10"}
uplinks:
  - {name: isp-satu, interface: wan0, address: 192.0.2.2/24, gateway: 192.0.2.1}
  - {name: vsat-dua, interface: wan1}
zones:
  management:
    interface: mgmt0
    address: 10.255.0.1/24
    services: [tcp/22, tcp/8000-8010, udp/161]
  opd: {supernet: 10.20.0.0/16}
  hotspot: {supernet: 10.40.0.0/16}
  remote: {supernet: 10.60.0.0/16}
opds:
  - slug: dinas-kesehatan
    name: Dinas Kesehatan
    subnet: 10.20.3.0/24
    interface: opd-dinkes
    shared_services: [simpeg, arsip]
  - {slug: bkpsdm, name: BKPSDM, subnet: 10.20.6.0/24, interface: opd-bkpsdm}
  - slug: setda
    name: Sekretariat Daerah
    subnet: 10.20.5.0/24
    interface: opd-setda
    shared_services: [simpeg]
  - {slug: bappeda, name: Bappeda, subnet: 10.20.4.0/24, interface: opd-bappeda}
services:
  - {name: simpeg, opd: bkpsdm, address: 10.20.6.10, ports: [tcp/443]}
  - {name: arsip, opd: setda, address: 10.20.5.10, ports: [tcp/443, udp/5000-5010]}
hotspot_sites:
  - slug: alun-alun
    name: Alun-Alun Selatpanjang
    subnet: 10.40.3.0/24
    interface: hs-alunalun
    kecamatan: Tebing Tinggi
    region_code: "14.10.01"
    location: {lat: 1.0079, lon: 102.7098}
  - slug: rtm-lam
    name: RTM LAM Selatpanjang
    subnet: 10.40.1.0/24
    interface: hs-rtmlam
    kecamatan: Tebing Tinggi
    region_code: "14.10.01"
    location: {lat: 1.0096, lon: 102.7166}
remote_sites:
  - slug: rangsang-pesisir
    name: Kantor Camat Rangsang Pesisir
    kecamatan: Rangsang Pesisir
    region_code: "14.10.09"
    location: {lat: 0.93, lon: 102.93}
    interface: vsat-rpesisir
    subnet: 10.60.1.0/30
    router: 10.60.1.2
"""
CONFIG: Config = load_config_text(CONFIG_TEXT, "test_render")
RULESET: Ruleset = build_ruleset(CONFIG)
UPLINKS = '{ "wan0", "wan1" }'

# interface -> (input chain, from-chain (zone -> uplink), to-chain (uplink -> zone), counter stem);
# traffic to another internal zone goes through between_<counter stem>
ZONES = {
    "mgmt0": ("in_management", "from_management", "to_management", "management"),
    "opd-dinkes": (
        "in_opd",
        "from_opd_dinas_kesehatan",
        "to_opd_dinas_kesehatan",
        "opd_dinas_kesehatan",
    ),
    "opd-bkpsdm": ("in_opd", "from_opd_bkpsdm", "to_opd_bkpsdm", "opd_bkpsdm"),
    "opd-setda": ("in_opd", "from_opd_setda", "to_opd_setda", "opd_setda"),
    "opd-bappeda": ("in_opd", "from_opd_bappeda", "to_opd_bappeda", "opd_bappeda"),
    "hs-alunalun": ("in_hotspot", "from_site_alun_alun", "to_site_alun_alun", "site_alun_alun"),
    "hs-rtmlam": ("in_hotspot", "from_site_rtm_lam", "to_site_rtm_lam", "site_rtm_lam"),
    "vsat-rpesisir": (
        "in_remote",
        "from_remote_rangsang_pesisir",
        "to_remote_rangsang_pesisir",
        "remote_rangsang_pesisir",
    ),
}
UPLINK_IFS = ("wan0", "wan1")
HOTSPOTS = ("hs-alunalun", "hs-rtmlam")
ZONE_INPUT_CHAINS = ("in_management", "in_opd", "in_hotspot", "in_remote")
DHCP = "udp dport 67 accept"
DNS = "meta l4proto { tcp, udp } th dport 53 accept"
ESTABLISHED = "ct state established,related accept"
PORTAL = "tcp dport { 80, 443 } accept"  # the captive portal on the gateway (default ports)
TCP_RESET = "meta l4proto tcp reject with tcp reset"
STRAY_TCP = "ct state new tcp flags & (syn | rst | ack) != syn reject with tcp reset"
GARDEN = ("198.51.100.10/32", "203.0.113.0/24")
PREROUTING_NAT = "type nat hook prerouting priority dstnat; policy accept;"
OPDS = ("opd-dinkes", "opd-bkpsdm", "opd-setda", "opd-bappeda")
FILTERED = (*OPDS, *HOTSPOTS)  # zones whose DNS is the policy front end's (zone order)
# Bypass prevention, at the head of a filtered zone's from_ chain: DoT anywhere, and DoH
# (tcp or udp/QUIC 443) to the known public resolvers' own addresses.
DOT_DROP = "meta l4proto { tcp, udp } th dport 853 drop"
DOH_DROP = f"ip daddr @{DOH_SET} meta l4proto {{ tcp, udp }} th dport 443 drop"
BYPASS = (DOT_DROP, DOH_DROP)
DOH = (IPv4Network("1.1.1.1/32"), IPv4Network("8.8.8.0/24"), IPv4Network("9.9.9.9/32"))


# The node's own networks in CONFIG (and meranti.yaml): the OPD, hotspot and remote supernets
# and the management network. DNS to them is not redirected (e.g. an AD domain controller in
# another OPD, reached as a shared service).
INTERNAL = "{ 10.20.0.0/16, 10.40.0.0/16, 10.60.0.0/16, 10.255.0.0/24 }"


def dns_internal(interfaces: tuple[str, ...] | list[str], internal: str = INTERNAL) -> str:
    """The prerouting rule leaving DNS from these interfaces to the node's own networks alone
    (ahead of the redirect, which thereby stays family-neutral)."""
    names = ", ".join(f'"{i}"' for i in interfaces)
    return (
        f"iifname {{ {names} }} ip daddr {internal} meta l4proto {{ tcp, udp }} th dport 53 accept"
    )


def dns_rules(interfaces: tuple[str, ...] | list[str]) -> tuple[str, str]:
    """The two DNS rules heading prerouting_nat: internal DNS left alone, the rest redirected."""
    return dns_internal(interfaces), dns_redirect(interfaces)


def dns_redirect(interfaces: tuple[str, ...] | list[str]) -> str:
    """The prerouting rule sending DNS from these interfaces, to anywhere but the gateway, to
    the gateway's own front end."""
    names = ", ".join(f'"{i}"' for i in interfaces)
    return (
        f"iifname {{ {names} }} fib daddr type != local "
        "meta l4proto { tcp, udp } th dport 53 redirect to :53"
    )


def captive_jump(interfaces: tuple[str, ...] | list[str]) -> str:
    names = ", ".join(f'"{i}"' for i in interfaces)
    return f"iifname {{ {names} }} tcp dport 80 jump captive_redirect"


def filtered_interfaces(config: Config) -> list[str]:
    """OPD then hotspot interfaces, in the configuration's order (the renderer's zone order)."""
    return [o.interface for o in config.opds] + [s.interface for s in config.hotspot_sites]


def chain(name: str, ruleset: Ruleset = RULESET) -> Chain:
    found = [c for c in ruleset.chains if c.name == name]
    assert len(found) == 1, f"chain {name} appears {len(found)} times"
    return found[0]


def vmap(rule: str) -> dict[str, str]:
    """The `"ifname" : verdict` pairs of a vmap/map rule."""
    body = rule[rule.index("{") + 1 : rule.rindex("}")]
    pairs = [item.split(" : ") for item in body.split(", ")]
    return {name.strip().strip('"'): verdict.strip() for name, verdict in pairs}


def between(interface: str) -> str:
    """The chain for traffic from `interface`'s zone to another internal zone."""
    return f"between_{ZONES[interface][3]}"


PAIR = re.compile(r'"([^"]+)" \. "([^"]+)" : (jump \w+)')


def pair_vmap(rule: str) -> dict[tuple[str, str], str]:
    """The `"iifname" . "oifname" : verdict` pairs of a concatenated vmap rule; every element
    must have that form, and no pair may appear twice."""
    body = rule[rule.index("{") + 2 : rule.rindex("}") - 1]
    pairs: dict[tuple[str, str], str] = {}
    for item in body.split(", "):
        match = PAIR.fullmatch(item)
        assert match, item
        key = (match[1], match[2])
        assert key not in pairs, key
        pairs[key] = match[3]
    return pairs


def script_lines(rendered_script: str) -> list[str]:
    assert rendered_script.endswith("\n")
    return rendered_script.splitlines()


def mac(n: int) -> str:
    return "02:5e:" + ":".join(f"{b:02x}" for b in n.to_bytes(4, "big"))


def with_portal(config: Config, **portal: object) -> Config:
    """`config` with these `portal` settings changed."""
    data = config_to_data(config)
    data["portal"].update(portal)
    return parse_config(data, "portal")


def without_hotspots(config: Config) -> Config:
    data = config_to_data(config)
    data["hotspot_sites"] = []
    return parse_config(data, "no hotspot sites")


def without_opds(config: Config) -> Config:
    """`config` without OPDs (and so without the services they share)."""
    data = config_to_data(config)
    data["opds"] = []
    data["services"] = []
    return parse_config(data, "no OPDs")


def with_extra_opds(config: Config, count: int, shared: tuple[str, ...] = ()) -> Config:
    """`config` plus `count` more OPDs in free /24s of the OPD zone (VLANs 300+)."""
    data = config_to_data(config)
    for i in range(count):
        data["opds"].append(
            {
                "slug": f"extra-{i}",
                "name": f"Extra OPD {i}",
                "subnet": f"10.20.{100 + i}.0/24",
                "interface": f"opd-extra{i}",
                "vlan": 300 + i,
                "shared_services": list(shared),
            }
        )
    return parse_config(data, "extra OPDs")


# --------------------------------------------------------------------------------------------
# identifiers


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("opd", "dinas-kesehatan"), "opd_dinas_kesehatan"),
        (("site", "rtm-lam"), "site_rtm_lam"),
        (("uplink", "isp-satu"), "uplink_isp_satu"),
        (("management",), "management"),
    ],
)
def test_ident_replaces_hyphens(parts: tuple[str, ...], expected: str) -> None:
    assert ident(*parts) == expected


def test_no_identifier_has_a_hyphen() -> None:
    names = (
        [c.name for c in RULESET.chains] + list(RULESET.counters) + [s.name for s in RULESET.sets]
    )
    assert names
    assert [n for n in names if "-" in n or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)] == []
    # and every chain a rule jumps to exists
    chains = {c.name for c in RULESET.chains}
    targets = {t for c in RULESET.chains for r in c.rules for t in re.findall(r"jump (\w+)", r)}
    assert targets <= chains


def test_every_regular_chain_is_jumped_to() -> None:
    regular = {c.name for c in RULESET.chains if c.base is None}
    targets = {t for c in RULESET.chains for r in c.rules for t in re.findall(r"jump (\w+)", r)}
    assert targets == regular


def test_chain_names_are_unique() -> None:
    names = [c.name for c in RULESET.chains]
    assert len(names) == len(set(names))


# --------------------------------------------------------------------------------------------
# input


def test_input_base_chain() -> None:
    inp = chain("input")
    assert inp.base == "type filter hook input priority filter; policy drop;"
    assert inp.rules[:3] == ('iif "lo" accept', ESTABLISHED, "ct state invalid drop")
    assert len(inp.rules) == 4


@pytest.mark.parametrize(
    ("interface", "target"),
    [(i, z[0]) for i, z in ZONES.items()] + [(u, "in_uplink") for u in UPLINK_IFS],
)
def test_input_dispatch_per_interface(interface: str, target: str) -> None:
    dispatch = vmap(chain("input").rules[-1])
    assert chain("input").rules[-1].startswith("iifname vmap {")
    assert dispatch[interface] == f"jump {target}"


def test_input_dispatch_covers_every_interface_once() -> None:
    rule = chain("input").rules[-1]
    dispatch = vmap(rule)
    assert set(dispatch) == set(ZONES) | set(UPLINK_IFS)
    assert len(dispatch) == rule.count(" : ")


def test_management_services_only_in_in_management() -> None:
    services = "meta l4proto . th dport { tcp . 22, tcp . 8000-8010, udp . 161 } accept"
    assert services in chain("in_management").rules
    for c in RULESET.chains:
        if c.name == "in_management":
            continue
        for rule in c.rules:
            assert not rule.startswith("meta l4proto . th dport"), (c.name, rule)
            assert not re.search(r"\b(tcp|udp) \. (22|8000-8010|161)\b", rule), (c.name, rule)


def test_management_services_come_from_config() -> None:
    data = config_to_data(CONFIG)
    data["zones"]["management"]["services"] = ["tcp/2222"]
    rules = chain("in_management", build_ruleset(parse_config(data))).rules
    assert "meta l4proto . th dport { tcp . 2222 } accept" in rules
    assert not any("tcp . 22," in r or "8443" in r for r in rules)


def test_management_without_services_has_no_service_rule() -> None:
    data = config_to_data(CONFIG)
    data["zones"]["management"]["services"] = []
    rules = chain("in_management", build_ruleset(parse_config(data))).rules
    assert not any("th dport {" in r for r in rules)
    assert rules[-1] == REJECT


def test_default_management_services() -> None:
    data = config_to_data(CONFIG)
    del data["zones"]["management"]["services"]
    rules = chain("in_management", build_ruleset(parse_config(data))).rules
    assert "meta l4proto . th dport { tcp . 22, tcp . 8443, udp . 161 } accept" in rules


@pytest.mark.parametrize(
    ("name", "dhcp", "dns", "portal"),
    [
        ("in_management", False, True, False),
        ("in_opd", True, True, False),
        ("in_hotspot", True, True, True),
        ("in_remote", False, False, False),
    ],
)
def test_zone_input_chains(name: str, dhcp: bool, dns: bool, portal: bool) -> None:
    rules = chain(name).rules
    assert (DHCP in rules) is dhcp
    assert (DNS in rules) is dns
    assert (PORTAL in rules) is portal
    assert rules[-1] == REJECT
    assert rules.count(REJECT) == 1
    assert "accept" not in rules and "drop" not in rules
    assert any(r.startswith("icmp type {") for r in rules)


@pytest.mark.parametrize(
    ("ports", "rule"),
    [
        ({}, "tcp dport { 80, 443 } accept"),
        ({"http_port": 8080}, "tcp dport { 8080, 443 } accept"),
        ({"https_port": 8443}, "tcp dport { 80, 8443 } accept"),
        ({"http_port": 8080, "https_port": 8443}, "tcp dport { 8080, 8443 } accept"),
        ({"http_port": 443, "https_port": 80}, "tcp dport { 443, 80 } accept"),
    ],
)
def test_hotspot_input_opens_the_portal_ports(ports: dict[str, int], rule: str) -> None:
    """Hotspot clients reach the portal on the gateway (its HTTP port is where port 80 is
    redirected); OPD clients reach only its HTTP port (the block page); no other zone's input
    chain opens either."""
    ruleset = build_ruleset(with_portal(CONFIG, **ports))
    assert chain("in_hotspot", ruleset).rules == (*COMMON_INPUT, DHCP, DNS, rule, REJECT)
    http = with_portal(CONFIG, **ports).portal.http_port
    block_page = f"tcp dport {http} accept"
    assert [r for r in chain("in_opd", ruleset).rules if r.startswith("tcp dport")] == [block_page]
    for name in ("in_management", "in_remote", "in_uplink"):
        rules = chain(name, ruleset).rules
        assert [r for r in rules if r.startswith("tcp dport")] == [], name
    holders = [c.name for c in ruleset.chains for r in c.rules if r == rule]
    assert holders == ["in_hotspot"]
    assert [c.name for c in ruleset.chains for r in c.rules if r == block_page] == ["in_opd"]


def test_uplink_input_drops() -> None:
    assert chain("in_uplink").rules == (
        "icmp type echo-request limit rate 5/second accept",
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept",
        "drop",
    )


def test_input_chains_only_for_present_zone_kinds() -> None:
    data = config_to_data(CONFIG)
    data["hotspot_sites"] = []
    data["remote_sites"] = []
    ruleset = build_ruleset(parse_config(data))
    names = {c.name for c in ruleset.chains}
    assert {"in_management", "in_opd", "in_uplink"} <= names
    assert not names & {"in_hotspot", "in_remote"}
    assert "jump in_hotspot" not in chain("input", ruleset).rules[-1]


# --------------------------------------------------------------------------------------------
# forward: zone <-> uplink through one `iifname . oifname` lookup, zone -> zone through between_


def test_forward_base_chain() -> None:
    fwd = chain("forward")
    assert fwd.base == "type filter hook forward priority filter; policy drop;"
    assert len(fwd.rules) == 3
    assert fwd.rules[0] == "ct state invalid drop"
    assert fwd.rules[1].startswith("iifname . oifname vmap { ")
    assert fwd.rules[1].endswith(" }")
    assert fwd.rules[2].startswith("iifname vmap { ")
    assert fwd.rules[2].endswith(" }")


@pytest.mark.parametrize(("interface", "uplink"), [(i, u) for i in ZONES for u in UPLINK_IFS])
def test_hot_path_dispatches_each_zone_uplink_pair_both_ways(interface: str, uplink: str) -> None:
    _, from_chain, to_chain, _ = ZONES[interface]
    pairs = pair_vmap(chain("forward").rules[1])
    assert pairs[(interface, uplink)] == f"jump {from_chain}"
    assert pairs[(uplink, interface)] == f"jump {to_chain}"


def test_hot_path_holds_exactly_the_zone_uplink_pairs() -> None:
    rule = chain("forward").rules[1]
    pairs = pair_vmap(rule)
    outbound = {(i, u) for i in ZONES for u in UPLINK_IFS}
    inbound = {(u, i) for i in ZONES for u in UPLINK_IFS}
    assert set(pairs) == outbound | inbound
    assert len(pairs) == 2 * len(ZONES) * len(UPLINK_IFS) == rule.count(" : ")
    assert {pairs[p] for p in outbound} == {f"jump {z[1]}" for z in ZONES.values()}
    assert {pairs[p] for p in inbound} == {f"jump {z[2]}" for z in ZONES.values()}


@pytest.mark.parametrize("interface", list(ZONES))
def test_between_dispatch_by_iifname(interface: str) -> None:
    assert vmap(chain("forward").rules[2])[interface] == f"jump {between(interface)}"


def test_between_dispatch_covers_every_zone_once_and_no_uplink() -> None:
    rule = chain("forward").rules[2]
    dispatch = vmap(rule)
    assert set(dispatch) == set(ZONES)
    assert len(dispatch) == rule.count(" : ")


def test_uplink_to_uplink_falls_to_the_policy_drop() -> None:
    fwd = chain("forward")
    assert fwd.base is not None and fwd.base.endswith("policy drop;")
    pairs = pair_vmap(fwd.rules[1])
    assert [p for p in pairs if p[0] in UPLINK_IFS and p[1] in UPLINK_IFS] == []
    assert [p for p in pairs if p[0] in ZONES and p[1] in ZONES] == []  # zone -> zone: between_
    assert set(vmap(fwd.rules[2])) & set(UPLINK_IFS) == set()
    assert "from_uplink" not in {c.name for c in RULESET.chains}


@pytest.mark.parametrize("interface", list(ZONES))
def test_zone_chains_are_reached_only_through_their_dispatch(interface: str) -> None:
    _, from_chain, to_chain, _ = ZONES[interface]
    fwd = chain("forward")
    pairs = pair_vmap(fwd.rules[1])
    assert {p for p, v in pairs.items() if v == f"jump {from_chain}"} == {
        (interface, u) for u in UPLINK_IFS
    }
    assert {p for p, v in pairs.items() if v == f"jump {to_chain}"} == {
        (u, interface) for u in UPLINK_IFS
    }
    assert [i for i, v in vmap(fwd.rules[2]).items() if v == f"jump {between(interface)}"] == [
        interface
    ]
    targets = rf"jump ({from_chain}|{to_chain}|{between(interface)})\b"
    jumpers = [(c.name, r) for c in RULESET.chains for r in c.rules if re.search(targets, r)]
    assert jumpers == [("forward", fwd.rules[1]), ("forward", fwd.rules[2])]


def test_forward_regular_chains_are_from_to_between_per_zone() -> None:
    regular = {c.name for c in RULESET.chains if c.base is None and not c.name.startswith("in_")}
    regular -= {"captive_redirect"}  # NAT: see test_captive_chains
    regular -= {ACCT_UP_CHAIN, ACCT_DOWN_CHAIN}  # see test_accounting_chains
    expected = {z[1] for z in ZONES.values()} | {z[2] for z in ZONES.values()}
    expected |= {between(i) for i in ZONES}
    assert regular == expected
    assert len(expected) == 3 * len(ZONES)


PICK_UP_CLASS = f"meta priority set ip saddr map @{CLASS_MAP}"
PICK_DOWN_CLASS = f"meta priority set ip daddr map @{CLASS_MAP}"


def authorized_up(key: str, idle_s: int) -> str:
    """A hotspot's rule for authorized, not idle clients (each packet restarts the idle
    time): counted, then on to the upload accounting chain (which accepts)."""
    return (
        f"ip saddr @{IDLE_SET} ether saddr . ip saddr @{AUTH_SET} "
        f"update @{IDLE_SET} {{ ip saddr timeout {idle_s}s }} "
        f'counter name "{key}_up" jump {ACCT_UP_CHAIN}'
    )


def authorized_down(key: str) -> str:
    """A hotspot's rule for replies to authorized clients: the state checked before the set
    lookup (a lookup that matches counts in the set, even if the rule then fails), counted,
    then on to the download accounting chain (which accepts)."""
    return (
        f"ct state established,related ip daddr @{AUTH_DL_SET} "
        f'counter name "{key}_down" jump {ACCT_DOWN_CHAIN}'
    )


def with_access(config: Config, **per_site: dict[str, object]) -> Config:
    """`config` with these `access` settings per hotspot site slug."""
    data = config_to_data(config)
    for site in data["hotspot_sites"]:
        site["access"].update(per_site.get(site["slug"], {}))
    return parse_config(data, "access")


@pytest.mark.parametrize("interface", HOTSPOTS)
def test_hotspot_from_chain_requires_authorization(interface: str) -> None:
    """Blocked devices are dropped before anything else; then DoT and DoH to the known
    resolvers (filtering bypasses, even for allowed devices); TCP that starts mid-stream (a
    flow cut at a window's start) is reset, before any accept; allowed devices pass (marked, for
    their replies); then the client's HTB class is picked; authorized, not idle clients, the
    walled garden and the addresses learned for its names pass (counted; an authorized
    client's packet by way of the upload accounting chain, which counts it in the client's
    accounting element and accepts it); anything else is refused at once, TCP with a reset,
    so a phone notices the portal fast."""
    _, from_chain, _, key = ZONES[interface]
    assert chain(from_chain).rules == (
        f"ether saddr @{BLOCK_SET} drop",
        DOT_DROP,
        DOH_DROP,
        STRAY_TCP,
        f'ether saddr @{ALLOW_SET} ct mark set {BYPASS_MARK} counter name "{key}_up" accept',
        PICK_UP_CLASS,
        authorized_up(key, 15 * 60),  # the default idle time
        f'ip daddr @{GARDEN_SET} counter name "{key}_up" accept',
        f'ip daddr @{LEARNED_SET} counter name "{key}_up" accept',
        TCP_RESET,
        REJECT,
    )


@pytest.mark.parametrize(
    ("idle", "expected"),
    [
        ({}, {"hs-alunalun": 900, "hs-rtmlam": 900}),
        ({"alun-alun": {"idle_minutes": 5}}, {"hs-alunalun": 300, "hs-rtmlam": 900}),
        (
            {"alun-alun": {"idle_minutes": 1}, "rtm-lam": {"idle_minutes": 24 * 60}},
            {"hs-alunalun": 60, "hs-rtmlam": 86400},
        ),
        ({"rtm-lam": {"idle_minutes": 30}}, {"hs-alunalun": 900, "hs-rtmlam": 1800}),
    ],
    ids=["default", "one-site", "bounds", "other-site"],
)
def test_hotspot_idle_time_is_each_sites_own(
    idle: dict[str, dict[str, object]], expected: dict[str, int]
) -> None:
    ruleset = build_ruleset(with_access(CONFIG, **idle))
    for interface, idle_s in expected.items():
        _, from_chain, _, key = ZONES[interface]
        # after the block drop, the two bypass drops, the stray-TCP reset, the allow accept
        # and the class pick
        assert chain(from_chain, ruleset).rules[6] == authorized_up(key, idle_s)
    timeouts = [
        t for c in ruleset.chains for r in c.rules for t in re.findall(r"timeout (\d+)s", r)
    ]
    assert sorted(timeouts) == sorted(str(v) for v in expected.values())
    # only the idle time differs: the rest of the ruleset is the same
    others = [c for c in ruleset.chains if c.name not in {ZONES[i][1] for i in HOTSPOTS}]
    assert others == [c for c in RULESET.chains if c.name not in {ZONES[i][1] for i in HOTSPOTS}]


@pytest.mark.parametrize("interface", HOTSPOTS)
def test_hotspot_to_chain_requires_authorization_and_established(interface: str) -> None:
    """After the class pick, replies to authorized clients pass (counted, by way of the
    download accounting chain, which counts them in the client's accounting element and
    accepts them); then allowed devices', the walled garden's and the learned addresses'
    replies; anything else is dropped."""
    _, _, to_chain, key = ZONES[interface]
    assert chain(to_chain).rules == (
        PICK_DOWN_CLASS,
        authorized_down(key),
        f'ct mark {BYPASS_MARK} ct state established,related counter name "{key}_down" accept',
        f'ip saddr @{GARDEN_SET} ct state established,related counter name "{key}_down" accept',
        f'ip saddr @{LEARNED_SET} ct state established,related counter name "{key}_down" accept',
        "drop",
    )


def test_accounting_chains() -> None:
    """Declared right after the input chains: each counts an authorized client's packet in
    its accounting element if it has one, and accepts it either way (accounting never
    decides who gets through)."""
    names = [c.name for c in RULESET.chains]
    first_forward = names.index("forward")
    assert names[first_forward - 2 : first_forward] == [ACCT_UP_CHAIN, ACCT_DOWN_CHAIN]
    assert [n for n in names[: first_forward - 2] if not n.startswith("in")] == []
    assert chain(ACCT_UP_CHAIN).base is None and chain(ACCT_DOWN_CHAIN).base is None
    assert chain(ACCT_UP_CHAIN).rules == (f"ether saddr . ip saddr @{ACCT_SET} accept", "accept")
    assert chain(ACCT_DOWN_CHAIN).rules == (f"ip daddr @{ACCT_DL_SET} accept", "accept")


@pytest.mark.parametrize("source", ["test", "meranti", "no-hotspots"])
def test_accounting_chains_are_reached_only_by_the_authorization_lookup(source: str) -> None:
    """Each hotspot's from_/to_ chain jumps to the accounting chain from its authorization
    rule only (the one rule looking the client up in the authorization set), so a client is
    looked up once per packet: no fallback copy counting it twice; the accounting chains end
    in `accept`; without hotspot sites there are none."""
    if source == "no-hotspots":
        data = config_to_data(CONFIG)
        data["hotspot_sites"] = []
        config = parse_config(data)
    else:
        config = load_config_file(str(MERANTI)) if source == "meranti" else CONFIG
    ruleset = build_ruleset(config)
    names = {c.name for c in ruleset.chains}
    # no chain looks a client up in either authorization set twice
    for c in ruleset.chains:
        for name in (AUTH_SET, AUTH_DL_SET):
            lookups = [m for r in c.rules for m in re.findall(rf"@{name}\b", r)]
            assert len(lookups) <= 1, (c.name, name)
    if not config.hotspot_sites:
        assert not names & {ACCT_UP_CHAIN, ACCT_DOWN_CHAIN}
        text = "\n".join(r for c in ruleset.chains for r in c.rules)
        assert "acct" not in text
        return
    for c in (chain(ACCT_UP_CHAIN, ruleset), chain(ACCT_DOWN_CHAIN, ruleset)):
        assert c.rules[-1] == "accept"
        assert all(r.endswith(" accept") or r == "accept" for r in c.rules)
    jumps = {
        (c.name, r)
        for c in ruleset.chains
        for r in c.rules
        if re.search(rf"\b(goto|jump) ({ACCT_UP_CHAIN}|{ACCT_DOWN_CHAIN})\b", r)
    }
    expected = set()
    for site in config.hotspot_sites:
        key = ident("site", site.slug)
        (up,) = [r for r in chain(f"from_{key}", ruleset).rules if f"@{AUTH_SET} " in r]
        (down,) = [r for r in chain(f"to_{key}", ruleset).rules if f"@{AUTH_DL_SET} " in r]
        # the idle set (no counter) first: an idle client's refused packets count nowhere
        assert up.startswith(f"ip saddr @{IDLE_SET} ether saddr . ip saddr @{AUTH_SET} ")
        assert up.endswith(f'counter name "{key}_up" jump {ACCT_UP_CHAIN}')
        assert down.startswith(f"ct state established,related ip daddr @{AUTH_DL_SET} ")
        assert down.endswith(f'counter name "{key}_down" jump {ACCT_DOWN_CHAIN}')
        expected |= {(f"from_{key}", up), (f"to_{key}", down)}
    assert jumps == expected


def test_client_classes_are_picked_only_in_hotspot_chains() -> None:
    """`meta priority` (the tc class) is set from the map by source address on the way out
    (after the MAC block list, the bypass drops, the stray-TCP reset and the allow list: an
    allowed device has no class) and by destination
    address on the way in, before any accept of a client, in hotspot chains only."""
    setters = [(c.name, r) for c in RULESET.chains for r in c.rules if "meta priority" in r]
    expected = [(ZONES[i][1], PICK_UP_CLASS) for i in HOTSPOTS]
    expected += [(ZONES[i][2], PICK_DOWN_CLASS) for i in HOTSPOTS]
    assert sorted(setters) == sorted(expected)
    for interface in HOTSPOTS:
        assert chain(ZONES[interface][1]).rules.index(PICK_UP_CLASS) == 5
        assert chain(ZONES[interface][2]).rules.index(PICK_DOWN_CLASS) == 0


def test_opd_classes_are_picked_only_for_traffic_between_an_opd_and_an_uplink() -> None:
    """Every packet leaving an OPD LAN device goes through the shared download IFB; only those
    given an OPD or conferencing class share the downlink (its `1:1`), the rest is unlimited
    LAN traffic (the IFB's default `1:3`). The classes are set only in an OPD's from_ and to_
    chains, and to_ chains are reached only from uplink . zone pairs of the forward vmap:
    never OPD to OPD, management to OPD or the gateway's own packets."""
    config = load_config_file(str(MERANTI))
    ruleset = build_ruleset(config)
    shaped = bandwidth.shaped_opds(config)
    assert shaped == [o.slug for o in config.opds]  # every meranti OPD has a guarantee
    keys = {ident("opd", slug) for slug in shaped}
    setters = {c.name for c in ruleset.chains for r in c.rules if "meta priority set 1:" in r}
    assert setters == {f"from_{k}" for k in keys} | {f"to_{k}" for k in keys}
    forward = chain("forward", ruleset)
    uplinks = {u.interface for u in config.uplinks}
    interface = {ident("opd", o.slug): o.interface for o in config.opds}
    for (iif, oif), verdict in pair_vmap(forward.rules[1]).items():
        target = verdict.removeprefix("jump ")
        if target.startswith("to_opd_"):
            assert iif in uplinks and oif == interface[target.removeprefix("to_")]
    # nothing else leads to a to_ chain (the internal vmap goes to between_ chains only)
    jumps = [(c.name, r) for c in ruleset.chains for r in c.rules if "jump to_" in r]
    assert jumps == [("forward", forward.rules[1])]
    assert all(v.startswith("jump between_") for v in vmap(forward.rules[2]).values())


def test_tcp_reset_only_in_hotspot_and_opd_from_chains() -> None:
    holders = {c.name for c in RULESET.chains for r in c.rules if "tcp reset" in r}
    assert holders == {ZONES[i][1] for i in (*HOTSPOTS, *OPDS)}
    for interface in OPDS:  # OPDs reset only TCP that starts mid-stream
        assert [r for r in chain(ZONES[interface][1]).rules if "tcp reset" in r] == [STRAY_TCP]
    for interface in HOTSPOTS:
        rules = chain(ZONES[interface][1]).rules
        assert [r for r in rules if "tcp reset" in r] == [STRAY_TCP, TCP_RESET]
        # the stray-TCP reset comes before every accept (allowed devices, authorized clients,
        # the garden: a cut flow stays cut for them all) ...
        first_accept = min(n for n, r in enumerate(rules) if r.endswith(" accept"))
        assert rules.index(STRAY_TCP) < first_accept
        # ... but after the MAC block drop and the bypass drops
        assert rules[: rules.index(STRAY_TCP)] == (f"ether saddr @{BLOCK_SET} drop", *BYPASS)
        # the refusal comes after every accept, right before the reject
        assert rules[-2:] == (TCP_RESET, REJECT)


@pytest.mark.parametrize("interface", HOTSPOTS)
def test_hotspot_between_chain_rejects_everything(interface: str) -> None:
    assert chain(between(interface)).rules == (REJECT,)


def test_authorization_sets_are_only_used_by_hotspot_chains() -> None:
    def users(set_name: str) -> set[str]:
        pattern = rf"@{set_name}\b"
        return {c.name for c in RULESET.chains if any(re.search(pattern, r) for r in c.rules)}

    # upload: from_ (and the captive redirect skips authorized clients); download: to_ only
    assert users(AUTH_SET) == {ZONES[i][1] for i in HOTSPOTS} | {"captive_redirect"}
    assert users(AUTH_DL_SET) == {ZONES[i][2] for i in HOTSPOTS}
    assert users(IDLE_SET) == {ZONES[i][1] for i in HOTSPOTS}  # uploads keep a client awake
    assert users(CLASS_MAP) == {ZONES[i][1] for i in HOTSPOTS} | {ZONES[i][2] for i in HOTSPOTS}
    assert users(GARDEN_SET) == (
        {ZONES[i][1] for i in HOTSPOTS} | {ZONES[i][2] for i in HOTSPOTS} | {"captive_redirect"}
    )
    assert users(LEARNED_SET) == users(GARDEN_SET)  # the learned addresses: exactly as open


@pytest.mark.parametrize("name", [GARDEN_SET, LEARNED_SET])
def test_walled_garden_is_matched_by_destination_out_and_source_back(name: str) -> None:
    """Both the configured networks and the addresses learned for the garden's names."""
    pattern = re.compile(rf"@{name}\b")  # `\b`: @walled_garden is not @walled_garden_learned
    garden = [(c.name, r) for c in RULESET.chains for r in c.rules if pattern.search(r)]
    for chain_name, rule in garden:
        where = "saddr" if chain_name.startswith("to_") else "daddr"
        assert rule.startswith(f"ip {where} @{name} "), (chain_name, rule)
    assert len(garden) == 2 * len(HOTSPOTS) + 1


def test_learned_addresses_are_matched_right_after_the_configured_garden() -> None:
    """Every rule naming the garden is followed by the same rule naming the learned set, and
    nothing else names the learned set."""
    pairs = 0
    for c in RULESET.chains:
        for n, rule in enumerate(c.rules):
            if re.search(rf"@{GARDEN_SET}\b", rule):
                learned = rule.replace(f"@{GARDEN_SET} ", f"@{LEARNED_SET} ")
                assert c.rules[n + 1] == learned, (c.name, rule)
                pairs += 1
    learned_rules = [r for c in RULESET.chains for r in c.rules if f"@{LEARNED_SET}" in r]
    assert len(learned_rules) == pairs == 2 * len(HOTSPOTS) + 1


@pytest.mark.parametrize("interface", [i for i in ZONES if i not in HOTSPOTS])
def test_non_hotspot_from_chain_counts_and_accepts(interface: str) -> None:
    """OPDs drop the filtering bypasses first; management and remote sites just count."""
    _, from_chain, _, key = ZONES[interface]
    bypass = (*BYPASS, STRAY_TCP) if interface in OPDS else ()
    assert chain(from_chain).rules == (*bypass, f'counter name "{key}_up" accept')


@pytest.mark.parametrize("interface", [i for i in ZONES if i not in HOTSPOTS])
def test_non_hotspot_to_chain_is_established_only(interface: str) -> None:
    _, _, to_chain, key = ZONES[interface]
    assert chain(to_chain).rules == (
        f'ct state established,related counter name "{key}_down" accept',
        "drop",
    )


@pytest.mark.parametrize(
    ("interface", "services"),
    [
        (
            "opd-dinkes",
            "10.20.6.10 . tcp . 443, 10.20.5.10 . tcp . 443, 10.20.5.10 . udp . 5000-5010",
        ),
        ("opd-setda", "10.20.6.10 . tcp . 443"),
        ("opd-bkpsdm", None),
        ("opd-bappeda", None),
    ],
)
def test_opd_between_chain(interface: str, services: str | None) -> None:
    expected = [ESTABLISHED]
    if services is not None:
        expected.append(f"ip daddr . meta l4proto . th dport {{ {services} }} accept")
    expected.append(REJECT)
    assert chain(between(interface)).rules == tuple(expected)


def test_service_elements_only_in_the_sharing_opds_between_chains() -> None:
    holders = {
        c.name
        for c in RULESET.chains
        for r in c.rules
        if "th dport" in r and ("10.20.6.10" in r or "10.20.5.10" in r)
    }
    assert holders == {between("opd-dinkes"), between("opd-setda")}
    address = re.compile(r"\b10\.20\.[56]\.10\b")
    mentions = {c.name for c in RULESET.chains for r in c.rules if address.search(r)}
    assert mentions == holders
    service_rules = [
        c.name for c in RULESET.chains for r in c.rules if r.startswith("ip daddr . meta l4proto")
    ]
    assert sorted(service_rules) == sorted(holders)  # one rule per sharing OPD


def test_opd_service_rule_follows_config() -> None:
    data = config_to_data(CONFIG)
    data["opds"][3]["shared_services"] = ["arsip"]  # bappeda gains arsip
    data["opds"][0]["shared_services"] = []  # dinas-kesehatan loses both
    ruleset = build_ruleset(parse_config(data))
    assert chain("between_opd_bappeda", ruleset).rules == (
        ESTABLISHED,
        "ip daddr . meta l4proto . th dport "
        "{ 10.20.5.10 . tcp . 443, 10.20.5.10 . udp . 5000-5010 } accept",
        REJECT,
    )
    assert chain("between_opd_dinas_kesehatan", ruleset).rules == (ESTABLISHED, REJECT)
    assert chain("from_opd_bappeda", ruleset).rules == (
        *BYPASS,
        STRAY_TCP,
        'counter name "opd_bappeda_up" accept',
    )


def test_management_may_reach_everything() -> None:
    assert chain("from_management").rules == ('counter name "management_up" accept',)
    assert chain("between_management").rules == ("accept",)


def test_remote_site_reaches_uplinks_and_only_answers_other_zones() -> None:
    assert chain("from_remote_rangsang_pesisir").rules == (
        'counter name "remote_rangsang_pesisir_up" accept',
    )
    assert chain("between_remote_rangsang_pesisir").rules == (ESTABLISHED, REJECT)


def test_only_management_may_open_connections_to_other_zones() -> None:
    chains = {c.name: c.rules for c in RULESET.chains if c.name.startswith("between_")}
    assert set(chains) == {between(i) for i in ZONES}
    assert [name for name, rules in chains.items() if "accept" in rules] == ["between_management"]
    for name, rules in chains.items():
        if name == "between_management":
            continue
        assert rules[-1] == REJECT, name
        assert rules.count(REJECT) == 1, name
        opens = [r for r in rules[:-1] if r != ESTABLISHED]
        assert all(r.startswith("ip daddr . meta l4proto . th dport {") for r in opens), name
    for z in ZONES.values():
        assert chain(z[2]).rules[-1] == "drop"


# --------------------------------------------------------------------------------------------
# NAT and counters


def test_masquerade_only_on_uplinks() -> None:
    nat = chain("postrouting_nat")
    assert nat.base == "type nat hook postrouting priority srcnat; policy accept;"
    assert nat.rules == (f"oifname {UPLINKS} masquerade",)
    masquerading = [c.name for c in RULESET.chains if any("masquerade" in r for r in c.rules)]
    assert masquerading == ["postrouting_nat"]
    assert chain("postrouting_nat", build_ruleset(load_config_file(str(MERANTI)))).rules == (
        'oifname { "wan0" } masquerade',
    )


def test_captive_chains() -> None:
    """Unauthorized hotspot clients' port 80 goes to the portal; authorized clients, the
    walled garden and the addresses learned for its names are left alone. DNS from OPDs and
    hotspots to elsewhere is redirected first."""
    nat = chain("prerouting_nat")
    assert nat.base == PREROUTING_NAT
    assert nat.rules == (
        'iifname { "opd-dinkes", "opd-bkpsdm", "opd-setda", "opd-bappeda", "hs-alunalun", '
        '"hs-rtmlam" } ip daddr { 10.20.0.0/16, 10.40.0.0/16, 10.60.0.0/16, 10.255.0.0/24 } '
        "meta l4proto { tcp, udp } th dport 53 accept",
        'iifname { "opd-dinkes", "opd-bkpsdm", "opd-setda", "opd-bappeda", "hs-alunalun", '
        '"hs-rtmlam" } fib daddr type != local meta l4proto { tcp, udp } th dport 53 '
        "redirect to :53",
        'iifname { "hs-alunalun", "hs-rtmlam" } tcp dport 80 jump captive_redirect',
    )
    assert nat.rules == (*dns_rules(FILTERED), captive_jump(HOTSPOTS))
    redirect = chain("captive_redirect")
    assert redirect.base is None
    assert redirect.rules == (
        f"ether saddr . ip saddr @{AUTH_SET} return",
        f"ether saddr @{ALLOW_SET} return",
        f"ether saddr @{BLOCK_SET} return",
        f"ip daddr @{GARDEN_SET} return",
        f"ip daddr @{LEARNED_SET} return",
        "fib daddr type local return",
        "meta l4proto tcp ct mark set 0x00000002 redirect to :80",
    )
    names = [c.name for c in RULESET.chains]
    assert names[-3:] == ["prerouting_nat", "captive_redirect", "postrouting_nat"]


@pytest.mark.parametrize(
    ("ports", "target"),
    [
        ({}, 80),
        ({"http_port": 8080}, 8080),
        ({"https_port": 8443}, 80),
        ({"http_port": 8080, "https_port": 8443}, 8080),
    ],
)
def test_captive_redirect_goes_to_the_portals_http_port(ports: dict[str, int], target: int) -> None:
    ruleset = build_ruleset(with_portal(CONFIG, **ports))
    # the portal's ports change no prerouting rule
    assert chain("prerouting_nat", ruleset).rules == (
        *dns_rules(FILTERED),
        'iifname { "hs-alunalun", "hs-rtmlam" } tcp dport 80 jump captive_redirect',
    )
    assert chain("captive_redirect", ruleset).rules[-1] == (
        f"meta l4proto tcp ct mark set 0x00000002 redirect to :{target}"
    )
    # the port redirected to is one the hotspot input chain accepts
    assert f"tcp dport {{ {target}, " in " ".join(chain("in_hotspot", ruleset).rules)


@pytest.mark.parametrize(
    "config",
    [
        CONFIG,
        with_portal(CONFIG, http_port=8080, https_port=8443),
        with_portal(CONFIG, walled_garden=list(GARDEN)),
        load_config_file(str(MERANTI)),
    ],
    ids=["test", "ports", "garden", "meranti"],
)
def test_port_443_is_never_redirected(config: Config) -> None:
    """Only port 80 is hijacked to the portal: an HTTPS redirect could never carry a matching
    certificate. The one other redirect is DNS (port 53) to the gateway's own port 53."""
    ruleset = build_ruleset(config)
    https = config.portal.https_port
    nat_rules = [
        r
        for c in ruleset.chains
        if c.name in ("prerouting_nat", "captive_redirect")
        for r in c.rules
    ]
    assert nat_rules
    assert [r for r in nat_rules if re.search(rf"\b(443|{https})\b", r)] == []
    redirects = [(c.name, r) for c in ruleset.chains for r in c.rules if "redirect to" in r]
    port = config.portal.http_port
    assert redirects == [
        ("prerouting_nat", dns_redirect(filtered_interfaces(config))),
        ("captive_redirect", f"meta l4proto tcp ct mark set 0x00000002 redirect to :{port}"),
    ]
    # the DNS redirect matches port 53 only and lands on port 53
    assert re.findall(r"\bdport (\S+)", redirects[0][1]) == ["53"]
    assert re.findall(r"redirect to :(\d+)", redirects[0][1]) == ["53"]
    # only hotspots' port-80 connections reach the captive redirect
    jumps = [(c.name, r) for c in ruleset.chains for r in c.rules if "captive_redirect" in r]
    assert len(jumps) == 1
    assert jumps[0][0] == "prerouting_nat"
    assert jumps[0][1].endswith(" tcp dport 80 jump captive_redirect")
    hotspots = ", ".join(f'"{s.interface}"' for s in config.hotspot_sites)
    assert jumps[0][1] == f"iifname {{ {hotspots} }} tcp dport 80 jump captive_redirect"
    assert not any(re.search(r"\b(dnat|snat|tproxy)\b", r) for c in ruleset.chains for r in c.rules)


def test_no_captive_chains_without_hotspot_sites() -> None:
    """Without hotspot sites prerouting_nat holds only the OPDs' DNS rules."""
    config = without_hotspots(with_portal(CONFIG, walled_garden=list(GARDEN)))
    ruleset = build_ruleset(config)
    names = [c.name for c in ruleset.chains]
    assert "captive_redirect" not in names
    assert names[-2:] == ["prerouting_nat", "postrouting_nat"]
    assert chain("prerouting_nat", ruleset).rules == dns_rules(OPDS)
    assert [c.base for c in ruleset.chains if c.base and "nat" in c.base] == [
        PREROUTING_NAT,
        "type nat hook postrouting priority srcnat; policy accept;",
    ]
    text = "\n".join(r for c in ruleset.chains for r in c.rules)
    assert [r for r in text.splitlines() if "redirect" in r] == [dns_redirect(OPDS)]
    assert "captive_redirect" not in text
    assert f"@{GARDEN_SET}" not in text and f"@{AUTH_SET}" not in text
    assert "tcp dport {" not in text  # no in_hotspot, so no portal ports


def test_counter_names() -> None:
    zone_keys = [z[3] for z in ZONES.values()]
    expected = [f"{k}_{d}" for k in zone_keys for d in ("up", "down")]
    assert sorted(RULESET.counters) == sorted(expected)
    assert len(RULESET.counters) == len(set(RULESET.counters))


@pytest.mark.parametrize("interface", list(ZONES))
def test_zone_counters_are_referenced(interface: str) -> None:
    """A zone's counters are used by its own from_/to_ chains only: once, or four times in a
    hotspot (authorized clients, allowed devices, the walled garden and the addresses learned
    for its names are all counted)."""
    _, from_chain, to_chain, key = ZONES[interface]
    uses = 4 if interface in HOTSPOTS else 1

    def users(counter: str) -> list[str]:
        return [c.name for c in RULESET.chains for r in c.rules if f'counter name "{counter}"' in r]

    assert users(f"{key}_up") == [from_chain] * uses
    assert users(f"{key}_down") == [to_chain] * uses


def test_every_counter_is_referenced_and_every_reference_is_declared() -> None:
    text = "\n".join(r for c in RULESET.chains for r in c.rules)
    referenced = re.findall(r'counter name "(\w+)"', text)
    hotspot_keys = {ZONES[i][3] for i in HOTSPOTS}
    expected = [
        name
        for name in RULESET.counters
        for _ in range(4 if name.rsplit("_", 1)[0] in hotspot_keys else 1)
    ]
    assert sorted(referenced) == sorted(expected)
    assert set(referenced) == set(RULESET.counters)
    # no anonymous or map-keyed counter anywhere: every counting rule is a zone's named counter
    assert len(re.findall(r"\bcounter\b", text)) == len(referenced)


def test_zone_counters_name_every_counter_of_the_ruleset() -> None:
    """Each named counter -> (scope, the zone's name, direction): hotspot sites as `site`,
    OPDs as `opd` and remote sites as `remote` (each by its slug), management as `zone`."""
    expected = {
        "management": ("zone", "management"),
        "opd_dinas_kesehatan": ("opd", "dinas-kesehatan"),
        "opd_bkpsdm": ("opd", "bkpsdm"),
        "opd_setda": ("opd", "setda"),
        "opd_bappeda": ("opd", "bappeda"),
        "site_alun_alun": ("site", "alun-alun"),
        "site_rtm_lam": ("site", "rtm-lam"),
        "remote_rangsang_pesisir": ("remote", "rangsang-pesisir"),
    }
    assert zone_counters(CONFIG) == {
        f"{key}_{d}": (scope, name, d)
        for key, (scope, name) in expected.items()
        for d in ("up", "down")
    }
    assert sorted(zone_counters(CONFIG)) == sorted(RULESET.counters)


@pytest.mark.parametrize("source", ["test", "meranti"])
def test_no_chain_hooks_prerouting_or_postrouting_filter_for_counting(source: str) -> None:
    """Uplink bytes come from the kernel's interface statistics: nothing in nftables touches
    every uplink packet a second time (no raw prerouting, no filter postrouting chain)."""
    config = CONFIG if source == "test" else load_config_file(str(MERANTI))
    ruleset = build_ruleset(config)
    bases = {c.name: c.base for c in ruleset.chains if c.base is not None}
    assert bases == {
        "input": "type filter hook input priority filter; policy drop;",
        "forward": "type filter hook forward priority filter; policy drop;",
        "prerouting_nat": PREROUTING_NAT,
        "postrouting_nat": "type nat hook postrouting priority srcnat; policy accept;",
    }
    # the only prerouting hook is NAT (first packet of a connection only), and only for new
    # DNS connections from OPD and hotspot interfaces and new port-80 connections from hotspot
    # interfaces: never an uplink's packets
    assert [n for n, b in bases.items() if "hook prerouting" in b] == ["prerouting_nat"]
    internal, dns, captive = chain("prerouting_nat", ruleset).rules
    hotspots = {s.interface for s in config.hotspot_sites}
    filtered = set(filtered_interfaces(config))
    assert set(re.findall(r'"([^"]+)"', internal)) == filtered
    assert set(re.findall(r'"([^"]+)"', dns)) == filtered
    assert set(re.findall(r'"([^"]+)"', captive)) == hotspots
    assert not filtered & {u.interface for u in config.uplinks}
    assert [n for n, b in bases.items() if "hook postrouting" in b] == ["postrouting_nat"]
    uplinks = ", ".join(f'"{u.interface}"' for u in config.uplinks)
    assert chain("postrouting_nat", ruleset).rules == (f"oifname {{ {uplinks} }} masquerade",)
    names = {c.name for c in ruleset.chains}
    assert not names & {"count_uplink_rx", "count_uplink_tx", "from_uplink"}
    assert [c for c in ruleset.counters if c.startswith("uplink")] == []
    assert not any(re.search(r"\b[io]ifname map\b", r) for c in ruleset.chains for r in c.rules)


AUTH_BODY = "type ether_addr . ipv4_addr; flags timeout; counter; size 262144;"
AUTH_DL_BODY = "type ipv4_addr; flags timeout; counter; size 262144;"
ACCT_BODY = "type ether_addr . ipv4_addr; counter; size 262144;"
ACCT_DL_BODY = "type ipv4_addr; counter; size 262144;"
IDLE_BODY = "type ipv4_addr; flags dynamic, timeout; size 262144;"
CLASS_BODY = "type ipv4_addr : classid; flags timeout; size 262144;"
LEARNED_BODY = "type ipv4_addr; flags timeout; size 65536;"


def test_sets() -> None:
    """The accounting sets count like the authorization sets but have no timeout (a session's
    end never takes its last bytes along); the idle set carries no counter (rules update it:
    `dynamic`); the class map gives an address its tc class; the learned garden holds run-time
    elements (not static), each with its own timeout."""
    assert [(s.kind, s.name, s.body, s.elements, s.static) for s in RULESET.sets] == [
        ("set", AUTH_SET, AUTH_BODY, (), False),
        ("set", AUTH_DL_SET, AUTH_DL_BODY, (), False),
        ("set", ACCT_SET, ACCT_BODY, (), False),
        ("set", ACCT_DL_SET, ACCT_DL_BODY, (), False),
        ("set", IDLE_SET, IDLE_BODY, (), False),
        ("map", CLASS_MAP, CLASS_BODY, (), False),
        ("set", GARDEN_SET, "type ipv4_addr; flags interval; auto-merge;", (), True),
        ("set", LEARNED_SET, LEARNED_BODY, (), False),
        ("set", ALLOW_SET, "type ether_addr;", (), True),
        ("set", BLOCK_SET, "type ether_addr;", (), True),
        ("set", DOH_SET, "type ipv4_addr; flags interval; auto-merge;", (), True),
    ]


@pytest.mark.parametrize(
    "config",
    [
        CONFIG,
        without_hotspots(CONFIG),
        with_access(CONFIG, **{"alun-alun": {"client_down_kbps": None, "client_up_kbps": None}}),
    ],
    ids=["test", "no-hotspots", "unshaped-site"],
)
def test_sets_do_not_depend_on_the_configuration(config: Config) -> None:
    assert [(s.kind, s.name, s.body) for s in build_ruleset(config).sets] == [
        (s.kind, s.name, s.body) for s in RULESET.sets
    ]


@pytest.mark.parametrize(
    ("garden", "elements"),
    [
        ([], ()),
        (["198.51.100.10"], ("198.51.100.10/32",)),
        (list(GARDEN), GARDEN),
        (["203.0.113.0/24", "10.1.0.0/16"], ("203.0.113.0/24", "10.1.0.0/16")),  # config order
    ],
)
def test_walled_garden_set_holds_the_configured_networks(
    garden: list[str], elements: tuple[str, ...]
) -> None:
    ruleset = build_ruleset(with_portal(CONFIG, walled_garden=garden))
    sets = {s.name: s for s in ruleset.sets}
    assert sets[GARDEN_SET].elements == elements
    assert sets[GARDEN_SET].static is True
    assert (sets[AUTH_SET].elements, sets[AUTH_DL_SET].elements) == ((), ())
    # the garden changes elements, never a rule
    assert ruleset.chains == RULESET.chains


# --------------------------------------------------------------------------------------------
# the transaction


def test_fresh_table_has_no_flush_or_delete() -> None:
    lines = script_lines(render(CONFIG, LiveState(now=1000.0)).script)
    assert lines[0] == f"add table {WHERE}"
    assert [x for x in lines if x.startswith(("flush", "delete"))] == []
    assert lines[1:12] == [
        f"add set {WHERE} {AUTH_SET} {{ {AUTH_BODY} }}",
        f"add set {WHERE} {AUTH_DL_SET} {{ {AUTH_DL_BODY} }}",
        f"add set {WHERE} {ACCT_SET} {{ {ACCT_BODY} }}",
        f"add set {WHERE} {ACCT_DL_SET} {{ {ACCT_DL_BODY} }}",
        f"add set {WHERE} {IDLE_SET} {{ {IDLE_BODY} }}",
        f"add map {WHERE} {CLASS_MAP} {{ {CLASS_BODY} }}",
        f"add set {WHERE} {GARDEN_SET} {{ {GARDEN_BODY} }}",
        f"add set {WHERE} {LEARNED_SET} {{ {LEARNED_BODY} }}",
        f"add set {WHERE} {ALLOW_SET} {{ type ether_addr; }}",
        f"add set {WHERE} {BLOCK_SET} {{ type ether_addr; }}",
        f"add set {WHERE} {DOH_SET} {{ {DOH_BODY} }}",
    ]
    for counter in RULESET.counters:
        assert f"add counter {WHERE} {counter}" in lines
    for c in RULESET.chains:
        head = f"add chain {WHERE} {c.name}"
        assert (f"{head} {{ {c.base} }}" if c.base else head) in lines
        rules = [x.removeprefix(f"add rule {WHERE} {c.name} ") for x in lines]
        rules = [r for r, x in zip(rules, lines, strict=True) if x != r]
        assert tuple(rules) == c.rules


def test_every_rule_line_follows_its_chain_and_flushes() -> None:
    wanted = {c.name for c in RULESET.chains}
    live = LiveState(now=0.0, table_exists=True, chains=frozenset(wanted))
    lines = script_lines(render(CONFIG, live).script)
    first_rule = next(i for i, x in enumerate(lines) if x.startswith("add rule"))
    assert all(
        not x.startswith(("flush", "delete", "add chain", "add set", "add counter"))
        for x in lines[first_rule:]
        if not x.startswith(("add rule", "add element", "delete element"))
    )
    assert max(i for i, x in enumerate(lines) if x.startswith("flush chain")) < first_rule
    assert max(i for i, x in enumerate(lines) if x.startswith("add chain")) < first_rule


def test_live_chains_are_flushed_and_obsolete_ones_deleted() -> None:
    wanted = [c.name for c in RULESET.chains]
    existing = frozenset(wanted[::2])  # some wanted chains exist, some are new
    obsolete = frozenset({"from_opd_dinsos", "to_opd_dinsos", "in_legacy"})
    live = LiveState(
        now=0.0,
        table_exists=True,
        chains=existing | obsolete,
        sets=frozenset({AUTH_SET, AUTH_DL_SET, "hs_old"}),
        maps=frozenset({"old_class", "older_class"}),
        counters=frozenset({*RULESET.counters, "opd_dinsos_up", "opd_dinsos_down"}),
    )
    rendered = render(CONFIG, live)
    lines = script_lines(rendered.script)
    flushed = [
        x.removeprefix(f"flush chain {WHERE} ") for x in lines if x.startswith("flush chain")
    ]
    deleted = [x.removeprefix(f"delete chain {WHERE} ") for x in lines if "delete chain" in x]
    assert sorted(flushed) == sorted(existing | obsolete)
    assert len(flushed) == len(set(flushed))
    assert deleted == sorted(obsolete)
    for name in obsolete:
        assert lines.index(f"flush chain {WHERE} {name}") < lines.index(
            f"delete chain {WHERE} {name}"
        )
    assert [x for x in lines if x.startswith("delete counter")] == [
        f"delete counter {WHERE} opd_dinsos_down",
        f"delete counter {WHERE} opd_dinsos_up",
    ]
    assert [x for x in lines if x.startswith("delete set")] == [f"delete set {WHERE} hs_old"]
    assert [x for x in lines if x.startswith("delete map")] == [
        f"delete map {WHERE} old_class",
        f"delete map {WHERE} older_class",
    ]
    # existing sets stay as they are; missing ones are declared; none is deleted
    assert [x for x in lines if x.startswith(("add set", "add map"))] == [
        f"add set {WHERE} {ACCT_SET} {{ {ACCT_BODY} }}",
        f"add set {WHERE} {ACCT_DL_SET} {{ {ACCT_DL_BODY} }}",
        f"add set {WHERE} {IDLE_SET} {{ {IDLE_BODY} }}",
        f"add map {WHERE} {CLASS_MAP} {{ {CLASS_BODY} }}",
        f"add set {WHERE} {GARDEN_SET} {{ {GARDEN_BODY} }}",
        f"add set {WHERE} {LEARNED_SET} {{ {LEARNED_BODY} }}",
        f"add set {WHERE} {ALLOW_SET} {{ type ether_addr; }}",
        f"add set {WHERE} {BLOCK_SET} {{ type ether_addr; }}",
        f"add set {WHERE} {DOH_SET} {{ {DOH_BODY} }}",
    ]
    for counter in RULESET.counters:
        assert f"add counter {WHERE} {counter}" in lines
        assert f"delete counter {WHERE} {counter}" not in lines
    assert rendered.stats["chains_removed"] == 3


def test_upgrade_removes_the_old_uplink_counting() -> None:
    """A table rendered by the previous layout (from_uplink, raw/postrouting uplink counters)
    loses those chains and counters; the zone counters and chains are kept."""
    old_chains = {"from_uplink", "count_uplink_rx", "count_uplink_tx"}
    old_counters = {f"uplink_{u}_{d}" for u in ("isp_satu", "vsat_dua") for d in ("rx", "tx")}
    live = LiveState(
        now=0.0,
        table_exists=True,
        chains=frozenset({c.name for c in RULESET.chains if not c.name.startswith("between_")})
        | old_chains,
        sets=frozenset({AUTH_SET, AUTH_DL_SET}),
        counters=frozenset(RULESET.counters) | old_counters,
    )
    rendered = render(CONFIG, live)
    lines = script_lines(rendered.script)
    assert [x for x in lines if x.startswith("delete chain")] == [
        f"delete chain {WHERE} {name}" for name in sorted(old_chains)
    ]
    assert [x for x in lines if x.startswith("delete counter")] == [
        f"delete counter {WHERE} {name}" for name in sorted(old_counters)
    ]
    for name in old_chains:
        assert lines.index(f"flush chain {WHERE} {name}") < lines.index(
            f"delete chain {WHERE} {name}"
        )
    for z in ZONES:  # the new between_ chains are created, not flushed
        assert f"add chain {WHERE} {between(z)}" in lines
        assert f"flush chain {WHERE} {between(z)}" not in lines
    assert rendered.stats["chains_removed"] == 3


def test_table_is_never_deleted_or_flushed() -> None:
    live = LiveState(
        now=0.0,
        table_exists=True,
        chains=frozenset({"input", "gone"}),
        sets=frozenset({AUTH_SET, "gone_set"}),
        counters=frozenset({"gone_counter"}),
        auth_elements=frozenset({(mac(1), "10.40.1.10")}),
        auth_dl_elements=frozenset({"10.40.1.10"}),
    )
    for state in (LiveState(now=0.0), live):
        lines = script_lines(render(CONFIG, state).script)
        assert not [x for x in lines if re.match(r"(delete|flush|destroy) (table|ruleset)", x)]
        assert not [x for x in lines if x.startswith(f"delete set {WHERE} hs_auth")]
        assert lines.count(f"add table {WHERE}") == 1


def test_clients_are_re_added_with_remaining_timeout() -> None:
    now = 1_000_000.0
    clients = (
        Client(mac(1), "10.40.1.10", now + 59.2),  # ceil -> 60 s
        Client(mac(2), "10.40.1.11", now + 7200),  # exactly 7200 s
        Client(mac(3), "10.40.3.12", now + 0.01),  # at least 1 s
        Client(mac(4), "10.40.3.13", now - 5),  # expired: skipped
        Client(mac(5), "10.40.3.14", now),  # expires now: skipped
    )
    rendered = render(CONFIG, LiveState(now=now, clients=clients))
    lines = script_lines(rendered.script)
    elements = [x for x in lines if "element" in x]
    assert elements == [
        f"add element {WHERE} {AUTH_SET} {{ {mac(1)} . 10.40.1.10 timeout 60s, "
        f"{mac(2)} . 10.40.1.11 timeout 7200s, {mac(3)} . 10.40.3.12 timeout 1s }}",
        f"add element {WHERE} {AUTH_DL_SET} {{ 10.40.1.10 timeout 60s, "
        "10.40.1.11 timeout 7200s, 10.40.3.12 timeout 1s }",
        # their accounting elements, with no timeout (kept, with their counters, if there)
        f"add element {WHERE} {ACCT_SET} {{ {mac(1)} . 10.40.1.10, "
        f"{mac(2)} . 10.40.1.11, {mac(3)} . 10.40.3.12 }}",
        f"add element {WHERE} {ACCT_DL_SET} {{ 10.40.1.10, 10.40.1.11, 10.40.3.12 }}",
    ]
    assert lines[-4:] == elements  # after every rule
    assert rendered.stats["clients"] == 3


def test_no_clients_no_element_commands() -> None:
    expired = (Client(mac(1), "10.40.1.10", 10.0),)
    for state in (LiveState(now=100.0), LiveState(now=100.0, clients=expired)):
        assert "element" not in render(CONFIG, state).script


def test_stale_kernel_elements_are_deleted_from_both_sets() -> None:
    now = 500.0
    keep = Client(mac(1), "10.40.1.10", now + 100)
    expired = Client(mac(2), "10.40.1.11", now - 1)
    live = LiveState(
        now=now,
        clients=(keep, expired),
        table_exists=True,
        sets=frozenset({AUTH_SET, AUTH_DL_SET}),
        auth_elements=frozenset(
            {
                (keep.mac, keep.ip),
                (expired.mac, expired.ip),
                (mac(3), "10.40.3.20"),  # no session at all
                (mac(4), keep.ip),  # another MAC on a kept IP
            }
        ),
        auth_dl_elements=frozenset({keep.ip, expired.ip, "10.40.3.20"}),
    )
    rendered = render(CONFIG, live)
    lines = script_lines(rendered.script)
    assert [x for x in lines if x.startswith("delete element")] == [
        f"delete element {WHERE} {AUTH_SET} {{ {mac(2)} . 10.40.1.11, {mac(3)} . 10.40.3.20, "
        f"{mac(4)} . 10.40.1.10 }}",
        f"delete element {WHERE} {AUTH_DL_SET} {{ 10.40.1.11, 10.40.3.20 }}",
    ]
    # deletes come before the re-adds, and the kept client is re-added; accounting elements
    # are never deleted here (netd deletes one once it has booked its final value)
    assert lines[-4].startswith(f"add element {WHERE} {AUTH_SET} {{ {mac(1)} . 10.40.1.10 ")
    assert lines[-3] == f"add element {WHERE} {AUTH_DL_SET} {{ 10.40.1.10 timeout 100s }}"
    assert lines[-2] == f"add element {WHERE} {ACCT_SET} {{ {mac(1)} . 10.40.1.10 }}"
    assert lines[-1] == f"add element {WHERE} {ACCT_DL_SET} {{ 10.40.1.10 }}"
    assert rendered.stats["stale_clients_removed"] == 3


def test_nothing_stale_nothing_deleted() -> None:
    client = Client(mac(1), "10.40.1.10", 200.0)
    live = LiveState(
        now=100.0,
        clients=(client,),
        table_exists=True,
        auth_elements=frozenset({(client.mac, client.ip)}),
        auth_dl_elements=frozenset({client.ip}),
    )
    assert "delete element" not in render(CONFIG, live).script


def test_element_commands() -> None:
    now = 10.0
    clients = [Client(mac(1), "10.40.1.10", 70.5), Client(mac(2), "10.40.1.11", 5.0)]
    assert element_commands(clients, now) == [
        f"add element {WHERE} {AUTH_SET} {{ {mac(1)} . 10.40.1.10 timeout 61s }}",
        f"add element {WHERE} {AUTH_DL_SET} {{ 10.40.1.10 timeout 61s }}",
    ]
    assert element_commands(clients, now, verb="delete") == [
        f"delete element {WHERE} {AUTH_SET} {{ {mac(1)} . 10.40.1.10, {mac(2)} . 10.40.1.11 }}",
        f"delete element {WHERE} {AUTH_DL_SET} {{ 10.40.1.10, 10.40.1.11 }}",
        f"delete element {WHERE} {IDLE_SET} {{ 10.40.1.10, 10.40.1.11 }}",
        f"delete element {WHERE} {CLASS_MAP} {{ 10.40.1.10, 10.40.1.11 }}",
    ]
    assert element_commands([], now) == []
    assert element_commands([], now, verb="delete") == []
    assert element_commands([clients[1]], now) == []


def test_accounting_commands() -> None:
    """One command per accounting set (upload by MAC . IP, download by IP, no timeout);
    download addresses only once each; nothing for nothing."""
    pairs = [(mac(1), "10.40.1.10"), (mac(2), "10.40.1.10"), (mac(3), "10.40.3.12")]
    ips = ["10.40.1.10", "10.40.1.10", "10.40.3.12"]
    up = f"{mac(1)} . 10.40.1.10, {mac(2)} . 10.40.1.10, {mac(3)} . 10.40.3.12"
    for verb in ("add", "delete"):
        assert accounting_commands(pairs, ips, verb) == [
            f"{verb} element {WHERE} {ACCT_SET} {{ {up} }}",
            f"{verb} element {WHERE} {ACCT_DL_SET} {{ 10.40.1.10, 10.40.3.12 }}",
        ]
        assert accounting_commands(pairs[2:], [], verb) == [
            f"{verb} element {WHERE} {ACCT_SET} {{ {mac(3)} . 10.40.3.12 }}"
        ]
        assert accounting_commands([], [], verb) == []
    assert accounting_commands(pairs, ips) == accounting_commands(pairs, ips, "add")


NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("client", "auth", "idle", "mapped"),
    [
        # idle time shorter than the session: the idle element lasts the idle time
        (Client(mac(1), "10.40.1.10", NOW + 7200, 900, 0x10), 7200, 900, "7200s : 1:10"),
        # the session ends first: the idle element never outlives it
        (Client(mac(1), "10.40.1.10", NOW + 120, 900, 0x10), 120, 120, "120s : 1:10"),
        (Client(mac(1), "10.40.1.10", NOW + 59.2, 60, 0x1F), 60, 60, "60s : 1:1f"),
        (Client(mac(1), "10.40.1.10", NOW + 0.01, 900, 0x10), 1, 1, "1s : 1:10"),
        # class ids are hex minors, the highest one included
        (Client(mac(1), "10.40.1.10", NOW + 3600, 300, 0xFFFE), 3600, 300, "3600s : 1:fffe"),
        (Client(mac(1), "10.40.1.10", NOW + 3600, 300, 0x100), 3600, 300, "3600s : 1:100"),
        # no class (not rate-limited); no idle time known (a site gone from the configuration)
        (Client(mac(1), "10.40.1.10", NOW + 3600, 300, None), 3600, 300, None),
        (Client(mac(1), "10.40.1.10", NOW + 3600, None, 0x10), 3600, None, "3600s : 1:10"),
        (Client(mac(1), "10.40.1.10", NOW + 3600, None, None), 3600, None, None),
    ],
)
def test_element_commands_for_idle_time_and_class(
    client: Client, auth: int, idle: int | None, mapped: str | None
) -> None:
    expected = [
        f"add element {WHERE} {AUTH_SET} {{ {client.mac} . {client.ip} timeout {auth}s }}",
        f"add element {WHERE} {AUTH_DL_SET} {{ {client.ip} timeout {auth}s }}",
    ]
    if idle is not None:
        expected.append(f"add element {WHERE} {IDLE_SET} {{ {client.ip} timeout {idle}s }}")
    if mapped is not None:
        expected.append(f"add element {WHERE} {CLASS_MAP} {{ {client.ip} timeout {mapped} }}")
    assert element_commands([client], NOW) == expected
    # a delete names every set and the map, whatever the client had
    assert element_commands([client], NOW, verb="delete") == [
        f"delete element {WHERE} {AUTH_SET} {{ {client.mac} . {client.ip} }}",
        f"delete element {WHERE} {AUTH_DL_SET} {{ {client.ip} }}",
        f"delete element {WHERE} {IDLE_SET} {{ {client.ip} }}",
        f"delete element {WHERE} {CLASS_MAP} {{ {client.ip} }}",
    ]


def test_element_commands_mix_clients_in_one_command_per_set() -> None:
    clients = [
        Client(mac(1), "10.40.1.10", NOW + 600, 900, 0x10),
        Client(mac(2), "10.40.1.11", NOW + 7200, 300, None),
        Client(mac(3), "10.40.3.12", NOW + 60, None, 0x11),
        Client(mac(4), "10.40.3.13", NOW - 1, 900, 0x12),  # expired: left out
    ]
    assert element_commands(clients, NOW) == [
        f"add element {WHERE} {AUTH_SET} {{ {mac(1)} . 10.40.1.10 timeout 600s, "
        f"{mac(2)} . 10.40.1.11 timeout 7200s, {mac(3)} . 10.40.3.12 timeout 60s }}",
        f"add element {WHERE} {AUTH_DL_SET} {{ 10.40.1.10 timeout 600s, "
        "10.40.1.11 timeout 7200s, 10.40.3.12 timeout 60s }",
        f"add element {WHERE} {IDLE_SET} {{ 10.40.1.10 timeout 600s, 10.40.1.11 timeout 300s }}",
        f"add element {WHERE} {CLASS_MAP} {{ 10.40.1.10 timeout 600s : 1:10, "
        "10.40.3.12 timeout 60s : 1:11 }",
    ]


GARDEN_BODY = "type ipv4_addr; flags interval; auto-merge;"
DOH_BODY = "type ipv4_addr; flags interval; auto-merge;"
FLUSH_GARDEN = f"flush set {WHERE} {GARDEN_SET}"
ADD_GARDEN = f"add element {WHERE} {GARDEN_SET} {{ 198.51.100.10/32, 203.0.113.0/24 }}"


DECLARE_GARDEN = f"add set {WHERE} {GARDEN_SET} {{ {GARDEN_BODY} }}"


@pytest.mark.parametrize(
    ("garden", "live_sets", "expected"),
    [
        ([], frozenset(), [DECLARE_GARDEN]),
        ([], frozenset({AUTH_SET, AUTH_DL_SET, GARDEN_SET}), [FLUSH_GARDEN]),
        (list(GARDEN), frozenset(), [DECLARE_GARDEN, ADD_GARDEN]),
        (list(GARDEN), frozenset({AUTH_SET, AUTH_DL_SET, GARDEN_SET}), [FLUSH_GARDEN, ADD_GARDEN]),
        # a table from before the garden
        (list(GARDEN), frozenset({AUTH_SET, AUTH_DL_SET}), [DECLARE_GARDEN, ADD_GARDEN]),
    ],
    ids=["empty-fresh", "empty-live", "fresh", "live", "upgrade"],
)
def test_walled_garden_is_refilled_on_every_apply(
    garden: list[str], live_sets: frozenset[str], expected: list[str]
) -> None:
    """The garden holds exactly the configured networks after every apply: an existing set is
    flushed (not declared again) and refilled in the same transaction, a missing one declared;
    an empty garden adds no element."""
    config = with_portal(CONFIG, walled_garden=garden)
    live = LiveState(now=0.0, table_exists=bool(live_sets), sets=live_sets)
    lines = script_lines(render(config, live).script)
    touching = [x for x in lines if x.split(" {")[0].endswith(f" {WHERE} {GARDEN_SET}")]
    assert touching == expected
    first_chain = next(i for i, x in enumerate(lines) if x.startswith("add chain"))
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)
    assert positions[-1] < first_chain  # before any chain or rule
    assert not [x for x in lines if x.startswith(("delete set", "delete element"))]


FLUSH_IDLE = f"flush set {WHERE} {IDLE_SET}"
FLUSH_CLASSES = f"flush map {WHERE} {CLASS_MAP}"
FLUSH_ALLOW = f"flush set {WHERE} {ALLOW_SET}"
FLUSH_BLOCK = f"flush set {WHERE} {BLOCK_SET}"
FLUSH_DOH = f"flush set {WHERE} {DOH_SET}"
DECLARE = {
    AUTH_SET: f"add set {WHERE} {AUTH_SET} {{ {AUTH_BODY} }}",
    AUTH_DL_SET: f"add set {WHERE} {AUTH_DL_SET} {{ {AUTH_DL_BODY} }}",
    ACCT_SET: f"add set {WHERE} {ACCT_SET} {{ {ACCT_BODY} }}",
    ACCT_DL_SET: f"add set {WHERE} {ACCT_DL_SET} {{ {ACCT_DL_BODY} }}",
    IDLE_SET: f"add set {WHERE} {IDLE_SET} {{ {IDLE_BODY} }}",
    CLASS_MAP: f"add map {WHERE} {CLASS_MAP} {{ {CLASS_BODY} }}",
    GARDEN_SET: DECLARE_GARDEN,
    LEARNED_SET: f"add set {WHERE} {LEARNED_SET} {{ {LEARNED_BODY} }}",
    ALLOW_SET: f"add set {WHERE} {ALLOW_SET} {{ type ether_addr; }}",
    BLOCK_SET: f"add set {WHERE} {BLOCK_SET} {{ type ether_addr; }}",
    DOH_SET: f"add set {WHERE} {DOH_SET} {{ {DOH_BODY} }}",
}
EVERY_SET = frozenset(
    {
        AUTH_SET,
        AUTH_DL_SET,
        ACCT_SET,
        ACCT_DL_SET,
        IDLE_SET,
        GARDEN_SET,
        LEARNED_SET,
        ALLOW_SET,
        BLOCK_SET,
        DOH_SET,
    }
)
BEFORE_FAIR_USE = frozenset({AUTH_SET, AUTH_DL_SET, GARDEN_SET})


@pytest.mark.parametrize(
    ("sets", "maps", "declared", "flushed"),
    [
        (frozenset(), frozenset(), list(DECLARE), []),
        (
            EVERY_SET,
            frozenset({CLASS_MAP}),
            [],
            [FLUSH_IDLE, FLUSH_CLASSES, FLUSH_GARDEN, FLUSH_ALLOW, FLUSH_BLOCK, FLUSH_DOH],
        ),
        # a table from before fair use (and the MAC lists, filtering, the learned garden and
        # accounting): those sets and the map are new
        (
            BEFORE_FAIR_USE,
            frozenset(),
            [
                ACCT_SET,
                ACCT_DL_SET,
                IDLE_SET,
                CLASS_MAP,
                LEARNED_SET,
                ALLOW_SET,
                BLOCK_SET,
                DOH_SET,
            ],
            [FLUSH_GARDEN],
        ),
        (
            EVERY_SET,
            frozenset(),
            [CLASS_MAP],
            [FLUSH_IDLE, FLUSH_GARDEN, FLUSH_ALLOW, FLUSH_BLOCK, FLUSH_DOH],
        ),
        (
            EVERY_SET - {IDLE_SET},
            frozenset({CLASS_MAP}),
            [IDLE_SET],
            [FLUSH_CLASSES, FLUSH_GARDEN, FLUSH_ALLOW, FLUSH_BLOCK, FLUSH_DOH],
        ),
        # a table from before content filtering: only the DoH set is new
        (
            EVERY_SET - {DOH_SET},
            frozenset({CLASS_MAP}),
            [DOH_SET],
            [FLUSH_IDLE, FLUSH_CLASSES, FLUSH_GARDEN, FLUSH_ALLOW, FLUSH_BLOCK],
        ),
        # a table from before the garden by name: only the learned set is new (and, like the
        # authorization sets, it is never flushed)
        (
            EVERY_SET - {LEARNED_SET},
            frozenset({CLASS_MAP}),
            [LEARNED_SET],
            [FLUSH_IDLE, FLUSH_CLASSES, FLUSH_GARDEN, FLUSH_ALLOW, FLUSH_BLOCK, FLUSH_DOH],
        ),
        # a table from before per-client accounting: only the accounting sets are new (and,
        # like the authorization sets, they are never flushed)
        (
            EVERY_SET - {ACCT_SET, ACCT_DL_SET},
            frozenset({CLASS_MAP}),
            [ACCT_SET, ACCT_DL_SET],
            [FLUSH_IDLE, FLUSH_CLASSES, FLUSH_GARDEN, FLUSH_ALLOW, FLUSH_BLOCK, FLUSH_DOH],
        ),
    ],
    ids=[
        "fresh",
        "live",
        "upgrade",
        "no-map",
        "no-idle-set",
        "no-doh-set",
        "no-learned-set",
        "no-acct-sets",
    ],
)
def test_existing_sets_are_kept_and_refilled_ones_flushed(
    sets: frozenset[str], maps: frozenset[str], declared: list[str], flushed: list[str]
) -> None:
    """Sets and maps the kernel holds are never declared again (the kernel's own flags, such
    as `dynamic`, would clash); the idle set and the class map carry no counters, so they are
    flushed and refilled from the store; the authorization sets are diffed, never flushed; the
    accounting sets are never flushed (their elements carry counters netd has yet to book);
    the learned garden is never flushed (its elements expire by themselves)."""
    live = LiveState(now=0.0, table_exists=bool(sets | maps), sets=sets, maps=maps)
    lines = script_lines(render(CONFIG, live).script)
    assert [x for x in lines if x.startswith(("add set", "add map"))] == [
        DECLARE[name] for name in declared
    ]
    assert [x for x in lines if x.startswith(("flush set", "flush map"))] == flushed
    assert not [x for x in lines if x.startswith(("delete set", "delete map"))]


@pytest.mark.parametrize("maps", [frozenset({CLASS_MAP}), frozenset()], ids=["live-map", "new-map"])
def test_idle_set_and_class_map_are_refilled_with_the_current_clients(
    maps: frozenset[str],
) -> None:
    now = 500.0
    keep = Client(mac(1), "10.40.1.10", now + 1800, 900, 0x10)
    unshaped = Client(mac(2), "10.40.1.11", now + 300, 900, None)
    gone = Client(mac(3), "10.40.1.12", now - 1, 900, 0x11)
    live = LiveState(
        now=now,
        clients=(keep, unshaped, gone),
        table_exists=True,
        sets=EVERY_SET,
        maps=maps,
        auth_elements=frozenset({(keep.mac, keep.ip), (gone.mac, gone.ip)}),
        auth_dl_elements=frozenset({keep.ip, gone.ip}),
    )
    lines = script_lines(render(CONFIG, live).script)
    touching = [
        x
        for x in lines
        if re.match(rf"(add|flush|delete) (element |set |map )?{WHERE} ({IDLE_SET}|{CLASS_MAP})", x)
    ]
    assert touching == [
        *([] if maps else [DECLARE[CLASS_MAP]]),
        FLUSH_IDLE,
        *([FLUSH_CLASSES] if maps else []),
        f"add element {WHERE} {IDLE_SET} {{ 10.40.1.10 timeout 900s, 10.40.1.11 timeout 300s }}",
        f"add element {WHERE} {CLASS_MAP} {{ 10.40.1.10 timeout 1800s : 1:10 }}",
    ]
    # the authorization sets are diffed as before: only the stale client goes
    assert [x for x in lines if x.startswith("delete element")] == [
        f"delete element {WHERE} {AUTH_SET} {{ {gone.mac} . {gone.ip} }}",
        f"delete element {WHERE} {AUTH_DL_SET} {{ {gone.ip} }}",
    ]
    assert lines[-6:-2] == element_commands([keep, unshaped], now)
    assert lines[-2:] == [
        f"add element {WHERE} {ACCT_SET} {{ {keep.mac} . {keep.ip}, "
        f"{unshaped.mac} . {unshaped.ip} }}",
        f"add element {WHERE} {ACCT_DL_SET} {{ {keep.ip}, {unshaped.ip} }}",
    ]


def test_walled_garden_and_clients_do_not_mix() -> None:
    now = 500.0
    keep = Client(mac(1), "10.40.1.10", now + 100)
    live = LiveState(
        now=now,
        clients=(keep,),
        table_exists=True,
        sets=frozenset({AUTH_SET, AUTH_DL_SET, GARDEN_SET}),
        auth_elements=frozenset({(keep.mac, keep.ip), (mac(2), "10.40.1.11")}),
        auth_dl_elements=frozenset({keep.ip, "10.40.1.11"}),
    )
    config = with_portal(CONFIG, walled_garden=list(GARDEN))
    rendered = render(config, live)
    lines = script_lines(rendered.script)
    assert lines[-4:-2] == element_commands([keep], now)  # clients still come last
    assert lines[-2:] == [
        f"add element {WHERE} {ACCT_SET} {{ {keep.mac} . {keep.ip} }}",
        f"add element {WHERE} {ACCT_DL_SET} {{ {keep.ip} }}",
    ]
    deletes = [x for x in lines if x.startswith("delete element")]
    assert deletes == [
        f"delete element {WHERE} {AUTH_SET} {{ {mac(2)} . 10.40.1.11 }}",
        f"delete element {WHERE} {AUTH_DL_SET} {{ 10.40.1.11 }}",
    ]
    assert [x for x in lines if "element" in x and GARDEN_SET in x] == [ADD_GARDEN]
    assert rendered.stats["clients"] == 1
    assert rendered.stats["stale_clients_removed"] == 1


def busy_live(now: float, order: int) -> LiveState:
    clients = [Client(mac(i), f"10.40.1.{10 + i}", now + 60 * i) for i in range(1, 40)]
    chains = [c.name for c in RULESET.chains] + [f"old_{i}" for i in range(20)]
    counters = [*RULESET.counters, *(f"old_counter_{i}" for i in range(20))]
    stale = [(mac(100 + i), f"10.40.3.{10 + i}") for i in range(30)]
    if order:  # the same sets built in another order (clients are a tuple: order is input)
        chains.reverse()
        counters.reverse()
        stale.reverse()
    return LiveState(
        now=now,
        clients=tuple(clients),
        table_exists=True,
        chains=frozenset(chains),
        sets=frozenset({AUTH_SET, AUTH_DL_SET, "old_set_a", "old_set_b"}),
        counters=frozenset(counters),
        auth_elements=frozenset(stale),
        auth_dl_elements=frozenset(ip for _, ip in stale),
    )


def test_script_is_deterministic() -> None:
    first = render(CONFIG, busy_live(1000.0, 0))
    second = render(CONFIG, busy_live(1000.0, 1))
    assert first.script == second.script
    assert first.stats == second.stats
    assert render(CONFIG, LiveState(now=5.0)).script == render(CONFIG, LiveState(now=5.0)).script


_SCRIPT_DIGEST = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from test_render import CONFIG, busy_live
from netctl.render import render
print(hashlib.sha256(render(CONFIG, busy_live(1000.0, 0)).script.encode()).hexdigest())
"""


def test_script_does_not_depend_on_hash_seed() -> None:
    code = _SCRIPT_DIGEST.format(tests=str(Path(__file__).parent))
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        digests.add(out.stdout.strip())
    assert digests == {
        hashlib.sha256(render(CONFIG, busy_live(1000.0, 0)).script.encode()).hexdigest()
    }


# --------------------------------------------------------------------------------------------
# the walled garden by name: addresses the DNS front end answered, each for its answer's TTL

DECLARE_LEARNED = DECLARE[LEARNED_SET]
NAMES = ["merantikab.go.id", "*.cdn.example.org"]


def naming_the_learned_set(script: str) -> list[str]:
    """The script's lines naming the learned set other than the rules matching it."""
    return [x for x in script_lines(script) if LEARNED_SET in x and not x.startswith("add rule")]


def test_learned_set_is_declared_once_and_holds_run_time_elements() -> None:
    """Not static: the configuration never fills it (the DNS front end does, at run time), so
    neither the garden's networks nor its names change the set, a rule or the document."""
    (learned,) = [s for s in RULESET.sets if s.name == LEARNED_SET]
    assert (learned.kind, learned.body, learned.elements, learned.static) == (
        "set",
        LEARNED_BODY,
        (),
        False,
    )
    assert LEARNED_SET_SIZE == 65_536  # the size LEARNED_BODY declares
    assert [s.name for s in RULESET.sets].count(LEARNED_SET) == 1
    config = with_portal(CONFIG, walled_garden=list(GARDEN), walled_garden_names=NAMES)
    assert config.portal.walled_garden_names == NAMES
    ruleset = build_ruleset(config)
    assert [s for s in ruleset.sets if s.name == LEARNED_SET] == [learned]
    assert ruleset.chains == RULESET.chains
    assert (
        ruleset.document()
        == build_ruleset(with_portal(CONFIG, walled_garden=list(GARDEN))).document()
    )
    assert not any(n.removeprefix("*.") in ruleset.document() for n in NAMES)
    script = render(config, LiveState(now=0.0)).script
    assert naming_the_learned_set(script) == [DECLARE_LEARNED]
    assert script_lines(script).count(DECLARE_LEARNED) == 1


@pytest.mark.parametrize(
    "config",
    [
        CONFIG,
        with_portal(CONFIG, walled_garden=list(GARDEN), walled_garden_names=NAMES),
        without_hotspots(CONFIG),
    ],
    ids=["test", "garden", "no-hotspots"],
)
@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (None, [DECLARE_LEARNED]),
        (EVERY_SET, []),
        (EVERY_SET - {LEARNED_SET}, [DECLARE_LEARNED]),  # a table from before the names
        (BEFORE_FAIR_USE, [DECLARE_LEARNED]),
    ],
    ids=["fresh", "live", "upgrade", "before-fair-use"],
)
def test_learned_set_is_never_flushed_refilled_or_deleted(
    config: Config, sets: frozenset[str] | None, expected: list[str]
) -> None:
    """An apply declares the learned set when the kernel lacks it and otherwise leaves it
    alone, like hs_auth: no flush, no element added or deleted, so what the DNS front end
    learned survives a reload, each element until its own timeout. Obsolete sets are deleted,
    stale clients' elements too, in the same transaction: never the learned set's."""
    busy = busy_live(1000.0, 0)
    if sets is None:
        live = LiveState(now=busy.now, clients=busy.clients)
    else:
        live = replace(busy, sets=sets | {"old_set_a"}, maps=frozenset({CLASS_MAP}))
    script = render(config, live).script
    assert naming_the_learned_set(script) == expected
    if sets is not None:
        lines = script_lines(script)
        assert [x for x in lines if x.startswith("delete set")] == [f"delete set {WHERE} old_set_a"]
        assert [x for x in lines if x.startswith("delete element")]  # stale clients do go
    # ending a session removes its client's elements, never a learned address
    assert not [x for x in element_commands(busy.clients, busy.now, "delete") if LEARNED_SET in x]


@pytest.mark.parametrize(
    ("addresses", "ttl_s", "expected"),
    [
        (["198.51.100.20"], 300, "198.51.100.20 timeout 300s"),
        (("203.0.113.7",), 1, "203.0.113.7 timeout 1s"),
        (
            ["198.51.100.20", "203.0.113.7", "192.0.2.200"],
            86400,
            "198.51.100.20 timeout 86400s, 203.0.113.7 timeout 86400s, 192.0.2.200 timeout 86400s",
        ),
    ],
    ids=["one", "one-tuple", "several"],
)
def test_learned_commands(addresses: list[str], ttl_s: int, expected: str) -> None:
    """One `add element` command, whatever the number of addresses, in the given order, each
    with the answer's TTL as its timeout."""
    command = learned_commands(addresses, ttl_s)
    assert command == f"add element {WHERE} {LEARNED_SET} {{ {expected} }}"
    assert "\n" not in command


# --------------------------------------------------------------------------------------------
# content filtering: OPD and hotspot DNS goes to the gateway's front end, bypasses are dropped

NEITHER = without_opds(without_hotspots(CONFIG))  # management and a remote site only


def test_bypass_rules_are_dot_and_doh_to_the_known_resolvers() -> None:
    assert BYPASS_RULES == BYPASS


@pytest.mark.parametrize("source", ["test", "meranti"])
def test_dns_redirect_covers_exactly_the_opd_and_hotspot_interfaces(source: str) -> None:
    """DNS from OPDs and hotspots to anywhere but the gateway and the node's own networks
    lands on the gateway's port 53, right after the rule leaving internal DNS alone (the first
    two prerouting rules); management, remote sites and uplinks keep their DNS."""
    config = CONFIG if source == "test" else load_config_file(str(MERANTI))
    ruleset = build_ruleset(config)
    rules = chain("prerouting_nat", ruleset).rules
    assert rules[:2] == dns_rules(filtered_interfaces(config))
    assert re.findall(r'"([^"]+)"', rules[0]) == filtered_interfaces(config)
    named = re.findall(r'"([^"]+)"', rules[1])
    assert named == filtered_interfaces(config)  # zone order, each once
    others = {config.zones.management.interface}
    others |= {r.interface for r in config.remote_sites} | {u.interface for u in config.uplinks}
    assert others and not others & set(named)
    if source == "test":
        assert named == list(FILTERED)
        assert not {"mgmt0", "vsat-rpesisir", "wan0", "wan1"} & set(named)
    holders = [(c.name, r) for c in ruleset.chains for r in c.rules if "redirect to :53" in r]
    assert holders == [("prerouting_nat", rules[1])]


@pytest.mark.parametrize(
    ("config", "dns", "captive"),
    [
        (CONFIG, FILTERED, HOTSPOTS),
        (without_hotspots(CONFIG), OPDS, ()),
        (without_opds(CONFIG), HOTSPOTS, HOTSPOTS),
    ],
    ids=["both", "opds-only", "hotspots-only"],
)
def test_prerouting_nat_follows_the_filtered_zones(
    config: Config, dns: tuple[str, ...], captive: tuple[str, ...]
) -> None:
    """prerouting_nat exists with any OPD or hotspot: the DNS rules first (internal DNS left
    alone, the rest redirected), then the captive jump (hotspots only); captive_redirect
    exists with hotspot sites only."""
    ruleset = build_ruleset(config)
    expected = dns_rules(dns) + ((captive_jump(captive),) if captive else ())
    nat = chain("prerouting_nat", ruleset)
    assert (nat.base, nat.rules) == (PREROUTING_NAT, expected)
    names = [c.name for c in ruleset.chains]
    nat_chains = ["prerouting_nat", *(["captive_redirect"] if captive else []), "postrouting_nat"]
    assert names[-len(nat_chains) :] == nat_chains
    assert ("captive_redirect" in names) is bool(captive)


def test_no_prerouting_nat_without_opds_or_hotspots() -> None:
    assert not NEITHER.opds and not NEITHER.hotspot_sites
    ruleset = build_ruleset(NEITHER)
    names = [c.name for c in ruleset.chains]
    assert "prerouting_nat" not in names and "captive_redirect" not in names
    assert [c.base for c in ruleset.chains if c.base and "nat" in c.base] == [
        "type nat hook postrouting priority srcnat; policy accept;"
    ]
    text = "\n".join(r for c in ruleset.chains for r in c.rules)
    assert "redirect" not in text
    assert "853" not in text and f"@{DOH_SET}" not in text  # no zone to filter
    assert chain("from_management", ruleset).rules == ('counter name "management_up" accept',)
    assert chain("from_remote_rangsang_pesisir", ruleset).rules == (
        'counter name "remote_rangsang_pesisir_up" accept',
    )
    # the DoH set is declared all the same (the sets never depend on the configuration)
    assert [s.name for s in ruleset.sets] == [s.name for s in RULESET.sets]


@pytest.mark.parametrize("interface", list(ZONES))
def test_bypass_rules_head_the_filtered_from_chains(interface: str) -> None:
    """First in an OPD's from_ chain; right after the MAC block drop in a hotspot's (so they
    hold for allowed devices too); nowhere in management's or a remote site's."""
    _, from_chain, _, _ = ZONES[interface]
    rules = chain(from_chain).rules
    if interface in OPDS:
        assert rules[:2] == BYPASS
    elif interface in HOTSPOTS:
        assert rules[:3] == (f"ether saddr @{BLOCK_SET} drop", *BYPASS)
    else:
        assert not [r for r in rules if r in BYPASS or "853" in r or f"@{DOH_SET}" in r]
    assert sum(r in BYPASS for r in rules) == (2 if interface in FILTERED else 0)


@pytest.mark.parametrize("source", ["test", "meranti"])
def test_bypass_rules_only_in_the_filtered_from_chains(source: str) -> None:
    config = CONFIG if source == "test" else load_config_file(str(MERANTI))
    ruleset = build_ruleset(config)
    keys = [ident("opd", o.slug) for o in config.opds]
    keys += [ident("site", s.slug) for s in config.hotspot_sites]
    expected = sorted(f"from_{k}" for k in keys)
    for rule in BYPASS:
        assert sorted(c.name for c in ruleset.chains for r in c.rules if r == rule) == expected
    # nothing else mentions DoT's port or the DoH set
    mentions = [
        (c.name, r)
        for c in ruleset.chains
        for r in c.rules
        if r not in BYPASS and (re.search(r"\b853\b", r) or f"@{DOH_SET}" in r)
    ]
    assert mentions == []


@pytest.mark.parametrize(
    ("ports", "http", "https"),
    [
        ({}, 80, 443),
        ({"http_port": 8080}, 8080, 443),
        ({"https_port": 8443}, 80, 8443),
        ({"http_port": 8080, "https_port": 8443}, 8080, 8443),
    ],
)
def test_opd_input_opens_the_block_page(ports: dict[str, int], http: int, https: int) -> None:
    """OPD clients reach the portal's HTTP port (the block page) and nothing more than before;
    the hotspot input chain is unchanged."""
    ruleset = build_ruleset(with_portal(CONFIG, **ports))
    opd = chain("in_opd", ruleset).rules
    assert opd == (*COMMON_INPUT, DHCP, DNS, f"tcp dport {http} accept", REJECT)
    assert not [r for r in opd if re.search(rf"\b{https}\b", r)]
    assert chain("in_hotspot", ruleset).rules == (
        *COMMON_INPUT,
        DHCP,
        DNS,
        f"tcp dport {{ {http}, {https} }} accept",
        REJECT,
    )


@pytest.mark.parametrize(
    "doh",
    [
        (),
        (IPv4Network("9.9.9.9/32"),),
        DOH,
        (IPv4Network("9.9.9.9/32"), IPv4Network("1.1.1.0/24")),  # the given order
    ],
    ids=["none", "one", "three", "order"],
)
def test_doh_set_holds_the_given_networks(doh: tuple[IPv4Network, ...]) -> None:
    ruleset = build_ruleset(CONFIG, doh)
    sets = {s.name: s for s in ruleset.sets}
    assert sets[DOH_SET].elements == tuple(str(n) for n in doh)
    assert (sets[DOH_SET].body, sets[DOH_SET].static) == (DOH_BODY, True)
    # the addresses change elements, never a rule or another set
    assert ruleset.chains == RULESET.chains
    assert [s for s in ruleset.sets if s.name != DOH_SET] == [
        s for s in RULESET.sets if s.name != DOH_SET
    ]
    assert render(CONFIG, LiveState(now=0.0), doh).ruleset == ruleset


def test_doh_set_is_empty_when_not_given() -> None:
    assert {s.name: s for s in RULESET.sets}[DOH_SET].elements == ()
    for live in (LiveState(now=0.0), busy_live(1000.0, 0)):
        script = render(CONFIG, live).script
        assert script == render(CONFIG, live, ()).script
        added = f"add element {WHERE} {DOH_SET}"
        assert not [x for x in script_lines(script) if x.startswith(added)]


DECLARE_DOH = DECLARE[DOH_SET]
ADD_DOH = f"add element {WHERE} {DOH_SET} {{ 1.1.1.1/32, 8.8.8.0/24, 9.9.9.9/32 }}"


@pytest.mark.parametrize(
    ("doh", "live_sets", "expected"),
    [
        ((), frozenset(), [DECLARE_DOH]),
        ((), frozenset({AUTH_SET, AUTH_DL_SET, DOH_SET}), [FLUSH_DOH]),
        (DOH, frozenset(), [DECLARE_DOH, ADD_DOH]),
        (DOH, frozenset({AUTH_SET, AUTH_DL_SET, DOH_SET}), [FLUSH_DOH, ADD_DOH]),
        # a table from before content filtering
        (DOH, frozenset({AUTH_SET, AUTH_DL_SET, GARDEN_SET}), [DECLARE_DOH, ADD_DOH]),
    ],
    ids=["empty-fresh", "empty-live", "fresh", "live", "upgrade"],
)
def test_doh_set_is_refilled_on_every_apply(
    doh: tuple[IPv4Network, ...], live_sets: frozenset[str], expected: list[str]
) -> None:
    """Like the walled garden: an existing set is flushed (not declared again) and refilled in
    the same transaction, a missing one declared; no addresses, no element."""
    live = LiveState(now=0.0, table_exists=bool(live_sets), sets=live_sets)
    lines = script_lines(render(CONFIG, live, doh).script)
    touching = [x for x in lines if x.split(" {")[0].endswith(f" {WHERE} {DOH_SET}")]
    assert touching == expected
    first_chain = next(i for i, x in enumerate(lines) if x.startswith("add chain"))
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)
    assert positions[-1] < first_chain  # before any chain or rule
    assert not [x for x in lines if x.startswith(("delete set", "delete element"))]


def test_document_shows_the_doh_addresses() -> None:
    """They are part of the ruleset, so a change to them is a change `diff` shows."""
    doc = build_ruleset(CONFIG, DOH).document()
    changed = [
        (a, b)
        for a, b in zip(RULESET.document().splitlines(), doc.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [
        (
            f"\tset {DOH_SET} {{ {DOH_BODY} }}",
            f"\tset {DOH_SET} {{ {DOH_BODY} elements = "
            "{ 1.1.1.1/32, 8.8.8.0/24, 9.9.9.9/32 }; }",
        )
    ]


# --------------------------------------------------------------------------------------------
# the document


def test_document_has_no_elements_and_is_stable() -> None:
    now = 100.0
    clients = tuple(Client(mac(i), f"10.40.1.{10 + i}", now + 600) for i in range(5))
    busy = render(CONFIG, LiveState(now=now, clients=clients)).ruleset.document()
    assert busy == render(CONFIG, LiveState(now=now)).ruleset.document()
    assert busy == build_ruleset(CONFIG).document()
    assert busy == build_ruleset(load_config_text(CONFIG_TEXT)).document()
    assert "elements" not in busy and "timeout 600s" not in busy
    assert not any(c.mac in busy or c.ip in busy for c in clients)
    assert busy.startswith("table inet simpul {\n") and busy.endswith("\n}\n")


@pytest.mark.parametrize("garden", [(), GARDEN], ids=["no-garden", "garden"])
def test_document_lists_every_set_counter_chain_and_rule(garden: tuple[str, ...]) -> None:
    ruleset = build_ruleset(with_portal(CONFIG, walled_garden=list(garden)))
    doc = ruleset.document()
    lines = doc.splitlines()
    assert lines[1:12] == [
        f"\tset {AUTH_SET} {{ {AUTH_BODY} }}",
        f"\tset {AUTH_DL_SET} {{ {AUTH_DL_BODY} }}",
        f"\tset {ACCT_SET} {{ {ACCT_BODY} }}",
        f"\tset {ACCT_DL_SET} {{ {ACCT_DL_BODY} }}",
        f"\tset {IDLE_SET} {{ {IDLE_BODY} }}",
        f"\tmap {CLASS_MAP} {{ {CLASS_BODY} }}",
        f"\tset {GARDEN_SET} {{ {GARDEN_BODY}"
        + (f" elements = {{ {', '.join(garden)} }};" if garden else "")
        + " }",
        f"\tset {LEARNED_SET} {{ {LEARNED_BODY} }}",
        f"\tset {ALLOW_SET} {{ type ether_addr; }}",
        f"\tset {BLOCK_SET} {{ type ether_addr; }}",
        f"\tset {DOH_SET} {{ {DOH_BODY} }}",
    ]
    for counter in ruleset.counters:
        assert f"\tcounter {counter} {{ }}" in lines
    for c in ruleset.chains:
        start = lines.index(f"\tchain {c.name} {{")
        body = [c.base] if c.base else []
        body += list(c.rules)
        assert lines[start + 1 : start + 1 + len(body)] == [f"\t\t{x}" for x in body]
        assert lines[start + 1 + len(body)] == "\t}"


def test_document_shows_the_walled_garden_but_never_clients() -> None:
    """The garden comes from the configuration, so a change to it is a change `diff` shows."""
    now = 100.0
    config = with_portal(CONFIG, walled_garden=list(GARDEN))
    clients = tuple(Client(mac(i), f"10.40.1.{10 + i}", now + 600) for i in range(3))
    doc = render(config, LiveState(now=now, clients=clients)).ruleset.document()
    assert doc == build_ruleset(config).document()
    plain = RULESET.document().splitlines()
    lines = doc.splitlines()
    changed = [(a, b) for a, b in zip(plain, lines, strict=True) if a != b]
    assert changed == [
        (
            f"\tset {GARDEN_SET} {{ {GARDEN_BODY} }}",
            f"\tset {GARDEN_SET} {{ {GARDEN_BODY} elements = "
            "{ 198.51.100.10/32, 203.0.113.0/24 }; }",
        )
    ]
    assert doc.count("elements") == 1
    assert not any(c.mac in doc or c.ip in doc for c in clients)


# --------------------------------------------------------------------------------------------
# the kernel's own check: nft loads the script in a new, empty network namespace


def nft_in_namespace(tmp_path: Path, scripts: list[str], then: str = "") -> str:
    """Load each script in turn with `nft -f` inside `unshare -rn` (no privileges needed, no
    effect outside), then run the shell command `then`; returns its stdout."""
    nft = shutil.which("nft", path=f"/usr/sbin:/sbin:{os.defpath}")
    unshare = shutil.which("unshare")
    if nft is None or unshare is None:
        pytest.skip("nft or unshare is not installed")
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr!r}")
    steps = []
    for n, script in enumerate(scripts):
        path = tmp_path / f"step{n}.nft"
        path.write_text(script)
        steps.append(f"{nft} -f {path}")
    command = " && ".join(steps + ([then.replace("nft ", f"{nft} ")] if then else []))
    result = subprocess.run(
        [unshare, "-rn", "sh", "-c", command], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def live_after(
    rendered_ruleset: Ruleset, now: float, clients: tuple[Client, ...] = ()
) -> LiveState:
    """What the kernel holds once `rendered_ruleset` is loaded (with `clients` authorized)."""
    return LiveState(
        now=now,
        clients=clients,
        table_exists=True,
        chains=frozenset(c.name for c in rendered_ruleset.chains),
        sets=frozenset(s.name for s in rendered_ruleset.sets if s.kind == "set"),
        maps=frozenset(s.name for s in rendered_ruleset.sets if s.kind == "map"),
        counters=frozenset(rendered_ruleset.counters),
        auth_elements=frozenset((c.mac, c.ip) for c in clients if c.expires_at > now),
        auth_dl_elements=frozenset(c.ip for c in clients if c.expires_at > now),
    )


def garden_in_kernel(listing: str) -> list[str]:
    """The elements of one `nft -j list set` answer, as prefixes."""
    (entry,) = [o["set"] for o in json.loads(listing)["nftables"] if "set" in o]
    out = []
    for element in entry.get("elem", []):
        if isinstance(element, dict) and "prefix" in element:
            out.append(f"{element['prefix']['addr']}/{element['prefix']['len']}")
        else:
            out.append(f"{element}/32")
    return out


def test_nft_loads_and_reloads_the_walled_garden(tmp_path: Path) -> None:
    """Without hotspot sites (see the xfail below): fresh load, then two reloads that change
    the garden; the kernel holds exactly the configured networks each time."""
    base = without_hotspots(CONFIG)
    first = render(with_portal(base, walled_garden=list(GARDEN)), LiveState(now=0.0))
    second_config = with_portal(base, walled_garden=["192.0.2.128/25", "198.51.100.10"])
    second = render(second_config, live_after(first.ruleset, 0.0))
    third = render(base, live_after(second.ruleset, 0.0))
    assert FLUSH_GARDEN in script_lines(second.script)
    listing = f"nft -j list set {WHERE} {GARDEN_SET}"
    out = nft_in_namespace(tmp_path, [first.script], listing).splitlines()
    assert garden_in_kernel(out[0]) == list(GARDEN)
    out = nft_in_namespace(tmp_path, [first.script, second.script], listing).splitlines()
    assert sorted(garden_in_kernel(out[0])) == ["192.0.2.128/25", "198.51.100.10/32"]
    out = nft_in_namespace(tmp_path, [first.script, second.script, third.script], listing)
    assert garden_in_kernel(out.splitlines()[0]) == []


def test_nft_loads_and_reloads_the_ruleset_with_hotspot_sites(tmp_path: Path) -> None:
    config = with_portal(CONFIG, walled_garden=list(GARDEN))
    first = render(config, LiveState(now=0.0))
    again = render(config, live_after(first.ruleset, 0.0))
    out = nft_in_namespace(
        tmp_path, [first.script, again.script], f"nft list chain {WHERE} captive_redirect"
    )
    assert "redirect to :80" in out
    assert out.count("return") == 6  # the reload flushed the chain before refilling it


def learned_in_kernel(listing: str) -> tuple[str, dict[str, object]]:
    """`nft list set` then `nft -j list set` output -> the text listing and, from the JSON, each
    element's timeout."""
    lines = listing.splitlines()
    return "\n".join(lines[:-1]), kernel_elements(lines[-1])[LEARNED_SET]


def test_nft_loads_learned_addresses_with_a_timeout_and_keeps_them_on_reload(
    tmp_path: Path,
) -> None:
    """`learned_commands` loads over the rendered table; each element carries its timeout (so
    the kernel expires it); a reload (the whole script again) keeps them."""
    first = render(CONFIG, LiveState(now=0.0))
    learn = learned_commands(["198.51.100.20", "203.0.113.7"], 300)
    again = render(CONFIG, live_after(first.ruleset, 0.0))
    assert naming_the_learned_set(again.script) == []  # declared already: not touched
    listing = f"nft list set {WHERE} {LEARNED_SET} && nft -j list set {WHERE} {LEARNED_SET}"
    for scripts in ([first.script, learn], [first.script, learn, again.script]):
        text, elements = learned_in_kernel(nft_in_namespace(tmp_path, scripts, listing))
        assert elements == {"198.51.100.20": 300, "203.0.113.7": 300}
        for address in elements:
            assert re.search(rf"\b{re.escape(address)} timeout 5m expires \d", text), text
        assert "flags timeout" in text and f"size {LEARNED_SET_SIZE}" in text


def test_nft_loads_and_reloads_the_doh_addresses(tmp_path: Path) -> None:
    """The whole script for CONFIG with DoH addresses loads; two reloads change them and the
    kernel holds exactly the given networks each time; the filtering rules are there."""
    first = render(CONFIG, LiveState(now=0.0), DOH)
    second_doh = (IPv4Network("192.0.2.128/25"), IPv4Network("1.1.1.1/32"))
    second = render(CONFIG, live_after(first.ruleset, 0.0), second_doh)
    third = render(CONFIG, live_after(second.ruleset, 0.0))
    assert FLUSH_DOH in script_lines(second.script)
    listing = f"nft -j list set {WHERE} {DOH_SET}"
    chains = " && ".join(
        f"nft list chain {WHERE} {name}"
        for name in ("prerouting_nat", "from_opd_bkpsdm", "from_site_rtm_lam", "in_opd")
    )
    out = nft_in_namespace(tmp_path, [first.script], f"{listing} && {chains}").splitlines()
    assert garden_in_kernel(out[0]) == ["1.1.1.1/32", "8.8.8.0/24", "9.9.9.9/32"]
    text = "\n".join(line.strip() for line in out[1:])
    assert "th dport 53 redirect to :53" in text
    # internal DNS is left alone: the kernel holds the rule as rendered
    assert f"ip daddr {INTERNAL} meta l4proto {{ tcp, udp }} th dport 53 accept" in text
    assert text.count(DOT_DROP) == 2 and text.count(DOH_DROP) == 2
    assert "tcp dport 80 accept" in text
    out = nft_in_namespace(tmp_path, [first.script, second.script], listing).splitlines()
    assert sorted(garden_in_kernel(out[0])) == ["1.1.1.1/32", "192.0.2.128/25"]
    out = nft_in_namespace(tmp_path, [first.script, second.script, third.script], listing)
    assert garden_in_kernel(out.splitlines()[0]) == []


def kernel_elements(listing: str) -> dict[str, dict[str, object]]:
    """`nft -j list table` answer -> set or map name -> element value -> its timeout (sets)
    or its data (maps)."""
    out: dict[str, dict[str, object]] = {}
    for obj in json.loads(listing)["nftables"]:
        for kind in ("set", "map"):
            if kind not in obj:
                continue
            items: dict[str, object] = {}
            for element in obj[kind].get("elem", []):
                if kind == "map":
                    key, data = element
                    items[str(key["elem"]["val"])] = data
                elif isinstance(element, dict) and "elem" in element:
                    items[str(element["elem"]["val"])] = element["elem"].get("timeout")
            out[obj[kind]["name"]] = items
    return out


def test_nft_reload_refills_the_idle_set_and_the_class_map(tmp_path: Path) -> None:
    """A reload over a table holding clients: the idle set and the class map hold exactly the
    store's clients afterwards (a client gone from the store is gone from them too)."""
    now = 0.0
    a = Client(mac(1), "10.40.1.10", 7200, 900, 0x10)
    b = Client(mac(2), "10.40.1.11", 600, 300, 0x11)
    c = Client(mac(3), "10.40.3.12", 3600, 900, None)
    first = render(CONFIG, LiveState(now=now, clients=(a, b)))
    live = live_after(first.ruleset, now, (a, b))
    second = render(CONFIG, replace(live, clients=(a, c)))
    out = nft_in_namespace(tmp_path, [first.script, second.script], f"nft -j list table {WHERE}")
    elements = kernel_elements(out)
    assert elements[IDLE_SET] == {"10.40.1.10": 900, "10.40.3.12": 900}
    assert elements[CLASS_MAP] == {"10.40.1.10": "1:10"}
    assert elements[AUTH_DL_SET] == {"10.40.1.10": 7200, "10.40.3.12": 3600}


def test_nft_loads_two_sessions_on_one_address(tmp_path: Path) -> None:
    now = 0.0
    old = Client(mac(1), "10.40.1.10", 600, 900, 0x10)
    new = Client(mac(2), "10.40.1.10", 600, 900, 0x11)
    # The kernel holds the old device's elements; the store (somehow) has both sessions open.
    first = render(CONFIG, LiveState(now=now, clients=(old,)))
    kernel = live_after(first.ruleset, now, (old,))
    second = render(CONFIG, dataclasses.replace(kernel, clients=(old, new)))
    out = nft_in_namespace(
        tmp_path, [first.script, second.script], f"nft -j list map {WHERE} {CLASS_MAP}"
    )
    assert kernel_elements(out)[CLASS_MAP] == {"10.40.1.10": "1:11"}  # the newest session's


def test_nft_authorizes_a_second_device_on_an_address(tmp_path: Path) -> None:
    now = 0.0
    old = Client(mac(1), "10.40.1.10", 600, 900, 0x10)
    new = Client(mac(2), "10.40.1.10", 600, 900, 0x11)
    first = render(CONFIG, LiveState(now=now, clients=(old,)))
    # netd ends the old device's session (its elements go) before it lets the new one in.
    grant = "\n".join([*element_commands([old], now, "delete"), *element_commands([new], now)])
    out = nft_in_namespace(tmp_path, [first.script, grant], f"nft -j list map {WHERE} {CLASS_MAP}")
    assert kernel_elements(out)[CLASS_MAP] == {"10.40.1.10": "1:11"}


# --------------------------------------------------------------------------------------------
# scale: the ruleset grows with OPDs, never with clients


def test_meranti_counts() -> None:
    config = load_config_file(str(MERANTI))
    rendered = render(config, LiveState(now=0.0))
    stats = rendered.stats
    opds, sites, remotes = len(config.opds), len(config.hotspot_sites), len(config.remote_sites)
    uplinks = len(config.uplinks)
    sharing = sum(1 for o in config.opds if o.shared_services)
    zones = 1 + opds + sites + remotes
    assert min(opds, sites, remotes) > 0  # every zone kind is present
    # input + in_management + in_uplink + in_{opd,hotspot,remote}, acct_up + acct_down,
    # forward, from_/to_/between_ per zone, prerouting_nat + captive_redirect, postrouting_nat
    # (content filtering adds no chain: prerouting_nat was already there for the hotspots)
    assert stats["chains"] == 3 + 3 + 2 + 1 + 3 * zones + 2 + 1
    input_rules = 4 + 5 + 3 + 6 + 6 + 3  # input, in_management (2 icmp, dns, services, reject),
    # in_uplink (icmp, icmpv6, drop), in_opd (2 icmp, dhcp, dns, the block page's port, reject),
    # in_hotspot (2 icmp, dhcp, dns, the portal's ports, reject), in_remote (2 icmp, reject)
    management = 1 + 2 + 1  # from_: count+accept; to_: established, drop; between_: accept
    # from_: DoT drop, DoH drop, count+accept; to_: established, drop;
    # between_: established, reject (+ the shared-service rule when sharing)
    # + sharing the uplinks (every meranti OPD has a guarantee): the OPD's class and the
    # conference class, in from_ and to_
    # + the stray-TCP reset in from_ (a flow cut at a window's start stays cut)
    opd = 3 + 2 + 2 + 4 + 1
    # from_: block, DoT drop, DoH drop, stray-TCP reset, allow, class, authorized (jumping to
    # acct_up), walled garden, learned garden, tcp reset, reject; to_: class, authorized
    # (jumping to acct_down), allowed (mark), garden, learned garden, drop; between_: reject
    hotspot = 11 + 6 + 1
    remote = 1 + 2 + 2  # between_: established, reject
    # prerouting_nat: internal DNS accept, DNS redirect, captive jump; captive_redirect:
    # 6 returns (authorized, allowed, blocked, garden, learned garden, local), redirect;
    # postrouting_nat: masquerade
    nat = 3 + 7 + 1
    acct = 2 + 2  # acct_up, acct_down: the accounting set's accept, accept
    expected_rules = input_rules + acct + 3 + management + nat  # forward has 3 rules
    expected_rules += opd * opds + sharing + hotspot * sites + remote * remotes
    assert stats["rules"] == expected_rules
    # content filtering's share: the block page in in_opd, the DNS redirect, and the two bypass
    # drops in every OPD's and hotspot's from_ chain (7 OPDs + 10 sites in meranti.yaml)
    assert (opds, sites) == (7, 10)
    before_garden_names = 233 + 1 + 1 + 2 * (opds + sites) + 4 * opds
    assert before_garden_names == 297
    # the walled garden by name: 2 more rules per hotspot site (the learned set's accept in
    # its from_ and its to_ chain) and 1 in all (the learned set's return in captive_redirect,
    # the one chain every site shares): 297 + 2 * 10 + 1
    assert before_garden_names + 2 * sites + 1 == 318
    # one stray-TCP reset per OPD
    assert 318 + opds == 325
    # internal DNS is not redirected: 1 rule in all (prerouting_nat, for every filtered
    # interface); cut flows stay cut on hotspots too: one stray-TCP reset per site
    assert 325 + 1 + sites == 336
    # per-client accounting: the two accounting chains' 2 rules each, shared by every site
    # (each site's authorization rules jump there instead of accepting: no rule more)
    assert stats["rules"] == 336 + 4 == 340
    assert stats["counters"] == 2 * zones
    assert stats["clients"] == 0
    forward = chain("forward", rendered.ruleset)
    assert len(pair_vmap(forward.rules[1])) == 2 * zones * uplinks
    assert len(vmap(forward.rules[2])) == zones


@pytest.mark.parametrize("shared", [(), ("simpeg", "e-office")])
def test_ruleset_grows_linearly_with_opds(shared: tuple[str, ...]) -> None:
    base = load_config_file(str(MERANTI))
    uplinks = len(base.uplinks)
    counts = []
    for extra in (0, 1, 2, 5, 20):
        rendered = render(with_extra_opds(base, extra, shared), LiveState(now=0.0))
        stats = rendered.stats
        forward = chain("forward", rendered.ruleset)
        assert len(forward.rules) == 3  # more OPDs are more elements, never more forward rules
        hot, internal = len(pair_vmap(forward.rules[1])), len(vmap(forward.rules[2]))
        counts.append((extra, stats["chains"], stats["rules"], stats["counters"], hot, internal))
    # from_: DoT drop, DoH drop, count+accept; to_: established, drop;
    # between_: established, [services], reject. (The DNS redirect grows by an element.)
    rules_per_opd = 4 + 2 + (3 if shared else 2)  # from_ also resets stray TCP
    zero = counts[0]
    for extra, chains, rules, counters, hot, internal in counts:
        assert chains == zero[1] + 3 * extra  # from_, to_, between_
        assert rules == zero[2] + rules_per_opd * extra
        assert counters == zero[3] + 2 * extra  # _up, _down
        assert hot == zero[4] + 2 * uplinks * extra  # both directions to every uplink
        assert internal == zero[5] + extra


@pytest.mark.parametrize("shaped", [False, True], ids=["plain", "idle-and-class"])
def test_ten_thousand_clients_add_one_element_command_per_set(shaped: bool) -> None:
    config = load_config_file(str(MERANTI))
    now = 1_700_000_000.0
    first = IPv4Address("10.40.1.2")
    clients = tuple(
        Client(mac(i), str(first + i), now + 3600, *((900, 0x10 + i) if shaped else ()))
        for i in range(10_000)
    )
    empty = render(config, LiveState(now=now))
    full = render(config, LiveState(now=now, clients=clients))
    empty_lines, full_lines = script_lines(empty.script), script_lines(full.script)
    assert full_lines[: len(empty_lines)] == empty_lines
    added = full_lines[len(empty_lines) :]
    names = [AUTH_SET, AUTH_DL_SET] + ([IDLE_SET, CLASS_MAP] if shaped else [])
    names += [ACCT_SET, ACCT_DL_SET]
    assert [x.split(" {")[0] for x in added] == [f"add element {WHERE} {n}" for n in names]
    assert added[-2].count(" . ") == 10_000 and added[-1].count(", ") == 9_999
    assert "timeout" not in added[-2] and "timeout" not in added[-1]
    assert added[0].count(" timeout 3600s") == 10_000
    assert added[1].count(" timeout 3600s") == 10_000
    if shaped:
        assert added[2].count(" timeout 900s") == 10_000
        assert added[3].count(" timeout 3600s : 1:") == 10_000
        assert added[3].endswith(f" timeout 3600s : 1:{0x10 + 9_999:x} }}")
    for key in ("chains", "rules", "counters"):
        assert full.stats[key] == empty.stats[key]
    assert full.stats["clients"] == 10_000
    assert full.ruleset == empty.ruleset
