"""Render the node's whole nftables ruleset from its configuration. Pure: time is a parameter.

`build_ruleset(config)` is the declarative ruleset (what `simpul apply --diff` compares);
`render(config, live)` adds the one atomic transaction that turns the kernel's current table
(`live`) into it. The transaction never deletes the table: sets and named counters are declared
with `add` (a no-op when they exist), chains are flushed and refilled, and authorized clients are
re-added from the store, so a reload keeps every client, its counters and every established flow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, collapse_addresses

from netctl import bandwidth
from simpul.config.model import Config, parse_port_spec
from simpul.filtering.policy import FILTERED_KINDS

TABLE = "simpul"
FAMILY = "inet"
AUTH_SET = "hs_auth"  # ether_addr . ipv4_addr of authorized hotspot clients; counts their upload
AUTH_DL_SET = "hs_auth_dl"  # ipv4_addr of the same clients; counts their download
# The same clients' bytes for accounting: no timeout, so a session's end never takes its last
# bytes along; netd deletes an element once it has booked its final value (netctl.accounting).
ACCT_SET = "hs_acct"  # ether_addr . ipv4_addr, upload
ACCT_DL_SET = "hs_acct_dl"  # ipv4_addr, download
ACCT_UP_CHAIN, ACCT_DOWN_CHAIN = "acct_up", "acct_down"
IDLE_SET = "hs_idle"  # ipv4_addr of clients seen within their site's idle time (no counter)
CLASS_MAP = "client_class"  # ipv4_addr -> the client's HTB class (tc), picked by meta priority
# Carry no counters, so every apply refills them from the store instead of diffing.
REFILLED = (IDLE_SET, CLASS_MAP)
GARDEN_SET = "walled_garden"  # ipv4 ranges open to hotspot clients before they are let through
# Addresses the DNS front end answered for walled-garden names, each for its answer's TTL.
LEARNED_SET = "walled_garden_learned"
LEARNED_SET_SIZE = 65_536
ALLOW_SET = "mac_allow"  # devices let through without the portal
BLOCK_SET = "mac_block"  # devices refused everything
DOH_SET = "doh_addresses"  # public resolvers' own addresses: DoH/DoT to them is dropped
BYPASS_MARK = "0x00000001"  # conntrack mark of an allowed device's flows (for their replies)
REDIRECT_MARK = 0x2  # conntrack mark of connections redirected to the portal
AUTH_SET_SIZE = 262_144
REJECT = "reject with icmpx admin-prohibited"
# A TCP packet that starts no connection yet has none (e.g. a flow cut at a window's start):
# reset it rather than let conntrack pick the flow up mid-stream. In OPD and hotspot from_
# chains, before their accepts.
STRAY_TCP = "ct state new tcp flags & (syn | rst | ack) != syn reject with tcp reset"
# In the zones whose DNS is the policy front end's (FILTERED_KINDS): DoT, and DoH to known
# resolvers' own addresses, are dropped (DoH names are refused by the front end).
BYPASS_RULES = (
    "meta l4proto { tcp, udp } th dport 853 drop",
    f"ip daddr @{DOH_SET} meta l4proto {{ tcp, udp }} th dport 443 drop",
)

# What each kind of zone may reach on the gateway itself (management gets its own list).
ZONE_INPUT: dict[str, tuple[str, ...]] = {
    "opd": ("udp dport 67 accept", "meta l4proto { tcp, udp } th dport 53 accept"),
    "hotspot": ("udp dport 67 accept", "meta l4proto { tcp, udp } th dport 53 accept"),
    "remote": (),
}
COMMON_INPUT = (
    "icmp type { echo-request, destination-unreachable, time-exceeded } "
    "limit rate 50/second burst 100 packets accept",
    "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, echo-request, "
    "destination-unreachable, packet-too-big, time-exceeded } accept",
)


def ident(*parts: str) -> str:
    """An nftables identifier from slug parts ('-' is not safe everywhere in nft names)."""
    return "_".join(parts).replace("-", "_")


@dataclass(frozen=True)
class Chain:
    """A chain: `base` is its hook spec for base chains, None for regular chains."""

    name: str
    rules: tuple[str, ...]
    base: str | None = None


@dataclass(frozen=True)
class SetDef:
    """A named set and its declaration body; `static` sets hold exactly `elements` (from the
    configuration) and are refilled on every apply, the others hold run-time elements."""

    name: str
    body: str
    elements: tuple[str, ...] = ()
    static: bool = False
    kind: str = "set"  # or "map"


@dataclass(frozen=True)
class Ruleset:
    """The declarative content of table `inet simpul`."""

    sets: tuple[SetDef, ...]
    counters: tuple[str, ...]
    chains: tuple[Chain, ...]

    def document(self) -> str:
        """The ruleset as an nft table block, stable for diffs (no elements, no counter values)."""
        out = [f"table {FAMILY} {TABLE} {{"]
        for s in self.sets:
            elements = f" elements = {{ {', '.join(s.elements)} }};" if s.elements else ""
            out.append(f"\t{s.kind} {s.name} {{ {s.body}{elements} }}")
        for c in self.counters:
            out.append(f"\tcounter {c} {{ }}")
        for chain in self.chains:
            out.append(f"\tchain {chain.name} {{")
            if chain.base:
                out.append(f"\t\t{chain.base}")
            out += [f"\t\t{rule}" for rule in chain.rules]
            out.append("\t}")
        out.append("}")
        return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Client:
    """An authorized hotspot client as the store knows it."""

    mac: str
    ip: str
    expires_at: float
    idle_s: int | None = None  # the site's idle timeout (kernel-native)
    class_id: int | None = None  # minor of the client's HTB class, when its rate is limited


@dataclass(frozen=True)
class LiveState:
    """What the kernel holds now (from `netctl.apply.read_live`) plus the store's sessions."""

    now: float
    clients: tuple[Client, ...] = ()
    table_exists: bool = False
    chains: frozenset[str] = frozenset()
    sets: frozenset[str] = frozenset()
    maps: frozenset[str] = frozenset()
    counters: frozenset[str] = frozenset()
    auth_elements: frozenset[tuple[str, str]] = frozenset()
    auth_dl_elements: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rendered:
    """The declarative ruleset and the transaction that installs it over `live`."""

    ruleset: Ruleset
    script: str
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Zone:
    """One interface's zone as the renderer sees it."""

    kind: str  # management | opd | hotspot | remote | uplink
    key: str  # counter and chain stem, e.g. opd_dinkes
    interface: str
    slug: str = ""


def _zones(config: Config) -> list[_Zone]:
    zones = [_Zone("management", "management", config.zones.management.interface)]
    zones += [_Zone("opd", ident("opd", o.slug), o.interface, o.slug) for o in config.opds]
    zones += [
        _Zone("hotspot", ident("site", s.slug), s.interface, s.slug) for s in config.hotspot_sites
    ]
    zones += [
        _Zone("remote", ident("remote", r.slug), r.interface, r.slug) for r in config.remote_sites
    ]
    return zones


def _names(values: Iterable[str]) -> str:
    return "{ " + ", ".join(f'"{v}"' for v in values) + " }"


def _vmap(pairs: Iterable[tuple[str, str]]) -> str:
    return "{ " + ", ".join(f'"{k}" : {v}' for k, v in pairs) + " }"


def _proto_port(spec: str) -> str:
    """A port spec ('tcp/443', 'udp/5000-5010') as an nft concatenation `proto . port[-high]`."""
    proto, low, high = parse_port_spec(spec)
    return f"{proto} . {low}" if low == high else f"{proto} . {low}-{high}"


def _service_elements(config: Config, opd_slug: str) -> list[str]:
    services = {s.name: s for s in config.services}
    return [
        f"{services[name].address} . {_proto_port(spec)}"
        for name in config.opd(opd_slug).shared_services
        for spec in services[name].ports
    ]


def _input_chains(config: Config, zones: list[_Zone]) -> list[Chain]:
    uplinks = [u.interface for u in config.uplinks]
    dispatch = [(z.interface, f"jump in_{z.kind}") for z in zones]
    dispatch += [(name, "jump in_uplink") for name in uplinks]
    mgmt_services = [_proto_port(spec) for spec in config.zones.management.services]
    chains = [
        Chain(
            "input",
            (
                'iif "lo" accept',
                "ct state established,related accept",
                "ct state invalid drop",
                f"iifname vmap {_vmap(dispatch)}",
            ),
            "type filter hook input priority filter; policy drop;",
        ),
        Chain(
            "in_management",
            (
                *COMMON_INPUT,
                "meta l4proto { tcp, udp } th dport 53 accept",
                "meta l4proto . th dport { " + ", ".join(mgmt_services) + " } accept",
                REJECT,
            )
            if mgmt_services
            else (*COMMON_INPUT, "meta l4proto { tcp, udp } th dport 53 accept", REJECT),
        ),
        Chain(
            "in_uplink",
            (
                "icmp type echo-request limit rate 5/second accept",
                # IPv6 on an uplink needs neighbour discovery and the ISP's router adverts.
                "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept",
                "drop",
            ),
        ),
    ]
    portal = config.portal
    extra = {
        "hotspot": (f"tcp dport {{ {portal.http_port}, {portal.https_port} }} accept",),
        # The block page (blocked names point OPD clients at their gateway).
        "opd": (f"tcp dport {portal.http_port} accept",),
    }
    kinds = {z.kind for z in zones} - {"management"}
    for kind in sorted(kinds):
        rules = (*COMMON_INPUT, *ZONE_INPUT[kind], *extra.get(kind, ()), REJECT)
        chains.append(Chain(f"in_{kind}", rules))
    return chains


def _forward_chains(config: Config, zones: list[_Zone]) -> list[Chain]:
    """Zone <-> uplink traffic (the hot path) is dispatched by one `iifname . oifname` lookup;
    traffic between internal zones goes through each zone's `between_` chain."""
    pairs = [
        (f'"{z.interface}" . "{u.interface}"', f"jump from_{z.key}")
        for z in zones
        for u in config.uplinks
    ]
    pairs += [
        (f'"{u.interface}" . "{z.interface}"', f"jump to_{z.key}")
        for z in zones
        for u in config.uplinks
    ]
    internal = [(z.interface, f"jump between_{z.key}") for z in zones]
    chains = [
        Chain(
            "forward",
            (
                "ct state invalid drop",
                "iifname . oifname vmap { " + ", ".join(f"{k} : {v}" for k, v in pairs) + " }",
                f"iifname vmap {_vmap(internal)}",
            ),
            "type filter hook forward priority filter; policy drop;",
        ),
    ]
    for zone in zones:
        up = f'counter name "{zone.key}_up"'
        down = f'counter name "{zone.key}_down"'
        bypass = BYPASS_RULES if zone.kind in FILTERED_KINDS else ()
        if zone.kind == "hotspot":
            idle_s = config.site(zone.slug).access.idle_minutes * 60
            outbound: tuple[str, ...] = (
                f"ether saddr @{BLOCK_SET} drop",
                *bypass,
                # Before any accept: a cut flow stays cut for allowed devices and clients too
                # (and a just-authorized client's redirected connection, forgotten by netd,
                # is reset by the gateway, which closes the browser's socket).
                STRAY_TCP,
                f"ether saddr @{ALLOW_SET} ct mark set {BYPASS_MARK} {up} accept",
                # The client's own HTB class on the uplinks (no match: not rate-limited).
                f"meta priority set ip saddr map @{CLASS_MAP}",
                # Not idle and authorized; each packet starts the idle time again (the kernel
                # lets an idle client go by itself; netd then ends its session). The idle set
                # first: it has no counter, so an idle client's refused packets count nowhere.
                f"ip saddr @{IDLE_SET} ether saddr . ip saddr @{AUTH_SET} "
                f"update @{IDLE_SET} {{ ip saddr timeout {idle_s}s }} {up} jump {ACCT_UP_CHAIN}",
                f"ip daddr @{GARDEN_SET} {up} accept",
                f"ip daddr @{LEARNED_SET} {up} accept",
                # Refuse at once (a reset for TCP) so a phone notices the portal fast.
                "meta l4proto tcp reject with tcp reset",
                REJECT,
            )
            inbound = (
                f"meta priority set ip daddr map @{CLASS_MAP}",
                # The state first: a set lookup that matches counts, even if the rule fails.
                f"ct state established,related ip daddr @{AUTH_DL_SET} {down} "
                f"jump {ACCT_DOWN_CHAIN}",
                f"ct mark {BYPASS_MARK} ct state established,related {down} accept",
                f"ip saddr @{GARDEN_SET} ct state established,related {down} accept",
                f"ip saddr @{LEARNED_SET} ct state established,related {down} accept",
            )
            between: tuple[str, ...] = (REJECT,)
        else:
            out_class, in_class = _opd_classes(config, zone) if zone.kind == "opd" else ((), ())
            stray = (STRAY_TCP,) if zone.kind in FILTERED_KINDS else ()
            outbound = (*bypass, *stray, *out_class, f"{up} accept")
            inbound = (*in_class, f"ct state established,related {down} accept")
            between = ("accept",)
            if zone.kind != "management":
                between = ("ct state established,related accept",)
                elements = _service_elements(config, zone.slug) if zone.kind == "opd" else []
                if elements:
                    between += (
                        "ip daddr . meta l4proto . th dport { " + ", ".join(elements) + " } accept",
                    )
                between += (REJECT,)
        chains.append(Chain(f"from_{zone.key}", outbound))
        chains.append(Chain(f"to_{zone.key}", (*inbound, "drop")))
        chains.append(Chain(f"between_{zone.key}", between))
    return chains


def _accounting_chains() -> list[Chain]:
    """Where an authorized client's packet is counted for accounting, then accepted (also
    when its accounting element is missing: accounting never decides who gets through)."""
    return [
        Chain(ACCT_UP_CHAIN, (f"ether saddr . ip saddr @{ACCT_SET} accept", "accept")),
        Chain(ACCT_DOWN_CHAIN, (f"ip daddr @{ACCT_DL_SET} accept", "accept")),
    ]


def _opd_classes(config: Config, zone: _Zone) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Rules picking an OPD's HTB class (`netctl.bandwidth`): uploads on the uplinks, downloads
    on the shared download IFB; conferencing gets its own class in both directions."""
    if zone.slug not in bandwidth.shaped_opds(config):
        return (), ()
    mine = f"meta priority set 1:{bandwidth.opd_minor(config, zone.slug):x}"
    outbound, inbound = [mine], [mine]
    conference = config.qos.conference
    if conference is not None:
        talk = f"meta priority set 1:{bandwidth.CONFERENCE_MINOR:x}"
        if conference.ports:
            ports = "{ " + ", ".join(_proto_port(p) for p in conference.ports) + " }"
            outbound.append(f"meta l4proto . th dport {ports} {talk}")
            inbound.append(f"meta l4proto . th sport {ports} {talk}")
        if conference.addresses:
            nets = "{ " + ", ".join(str(n) for n in conference.addresses) + " }"
            outbound.append(f"ip daddr {nets} {talk}")
            inbound.append(f"ip saddr {nets} {talk}")
    return tuple(outbound), tuple(inbound)


def _internal_networks(config: Config) -> str:
    """The node's own address space (`Zones.networks`) as an nft set."""
    nets = collapse_addresses(config.zones.networks)
    return "{ " + ", ".join(str(n) for n in nets) + " }"


def _nat_chains(config: Config, zones: list[_Zone]) -> list[Chain]:
    uplinks = _names(u.interface for u in config.uplinks)
    hotspots = [s.interface for s in config.hotspot_sites]
    filtered = [z.interface for z in zones if z.kind in FILTERED_KINDS]
    prerouting = []
    if filtered:
        # DNS to the node's own networks (e.g. a domain controller in another OPD, reached as
        # a shared service) goes where it was sent (the forward chains decide); it is left
        # alone by its own rule, so that the redirect below stays family-neutral.
        prerouting.append(
            f"iifname {_names(filtered)} ip daddr {_internal_networks(config)} "
            "meta l4proto { tcp, udp } th dport 53 accept"
        )
        # DNS sent anywhere else lands on the gateway's front end (and gets the same verdict).
        prerouting.append(
            f"iifname {_names(filtered)} fib daddr type != local "
            "meta l4proto { tcp, udp } th dport 53 redirect to :53"
        )
    captive = []
    if hotspots:
        prerouting.append(f"iifname {_names(hotspots)} tcp dport 80 jump captive_redirect")
        captive = [
            Chain(
                "captive_redirect",
                (
                    f"ether saddr . ip saddr @{AUTH_SET} return",
                    f"ether saddr @{ALLOW_SET} return",
                    f"ether saddr @{BLOCK_SET} return",
                    f"ip daddr @{GARDEN_SET} return",
                    f"ip daddr @{LEARNED_SET} return",
                    # The portal itself (on any of the gateway's addresses) is reached directly.
                    "fib daddr type local return",
                    # Port 80 only: 443 is never hijacked (its certificate could not match).
                    f"meta l4proto tcp ct mark set {REDIRECT_MARK:#010x} "
                    f"redirect to :{config.portal.http_port}",
                ),
            ),
        ]
    chains = []
    if prerouting:
        chains.append(
            Chain(
                "prerouting_nat",
                tuple(prerouting),
                "type nat hook prerouting priority dstnat; policy accept;",
            )
        )
    masquerade = Chain(
        "postrouting_nat",
        (f"oifname {uplinks} masquerade",),
        "type nat hook postrouting priority srcnat; policy accept;",
    )
    return [*chains, *captive, masquerade]


def build_ruleset(config: Config, doh: Sequence[IPv4Network] = ()) -> Ruleset:
    """The declarative ruleset of `config`: sets, named counters and chains of `inet simpul`.
    `doh` are the public resolvers' own addresses (`simpul.filtering.addresses`)."""
    zones = _zones(config)
    counters = [f"{z.key}_{d}" for z in zones for d in ("up", "down")]
    sets = (
        SetDef(
            AUTH_SET,
            f"type ether_addr . ipv4_addr; flags timeout; counter; size {AUTH_SET_SIZE};",
        ),
        SetDef(AUTH_DL_SET, f"type ipv4_addr; flags timeout; counter; size {AUTH_SET_SIZE};"),
        SetDef(ACCT_SET, f"type ether_addr . ipv4_addr; counter; size {AUTH_SET_SIZE};"),
        SetDef(ACCT_DL_SET, f"type ipv4_addr; counter; size {AUTH_SET_SIZE};"),
        SetDef(IDLE_SET, f"type ipv4_addr; flags dynamic, timeout; size {AUTH_SET_SIZE};"),
        SetDef(
            CLASS_MAP,
            f"type ipv4_addr : classid; flags timeout; size {AUTH_SET_SIZE};",
            kind="map",
        ),
        SetDef(
            GARDEN_SET,
            "type ipv4_addr; flags interval; auto-merge;",
            tuple(str(net) for net in config.portal.walled_garden),
            static=True,
        ),
        SetDef(LEARNED_SET, f"type ipv4_addr; flags timeout; size {LEARNED_SET_SIZE};"),
        SetDef(ALLOW_SET, "type ether_addr;", tuple(config.portal.mac_allow), static=True),
        SetDef(BLOCK_SET, "type ether_addr;", tuple(config.portal.mac_block), static=True),
        SetDef(
            DOH_SET,
            "type ipv4_addr; flags interval; auto-merge;",
            tuple(str(net) for net in doh),
            static=True,
        ),
    )
    chains = [
        *_input_chains(config, zones),
        *(_accounting_chains() if config.hotspot_sites else []),
        *_forward_chains(config, zones),
        *_nat_chains(config, zones),
    ]
    return Ruleset(sets, tuple(counters), tuple(chains))


def _timeout(client: Client, now: float) -> int:
    return max(1, math.ceil(client.expires_at - now))


def learned_commands(addresses: Iterable[str], ttl_s: int, verb: str = "add") -> str:
    """Open `addresses` (answers for walled-garden names) for `ttl_s` seconds, or with
    `verb="delete"` take them out."""
    if verb == "delete":
        items = ", ".join(addresses)
    else:
        items = ", ".join(f"{a} timeout {ttl_s}s" for a in addresses)
    return f"{verb} element {FAMILY} {TABLE} {LEARNED_SET} {{ {items} }}"


def element_commands(clients: Iterable[Client], now: float, verb: str = "add") -> list[str]:
    """`add`/`delete element` commands for authorized clients (one command per set or map)."""
    live = [c for c in clients if verb == "delete" or c.expires_at > now]
    where = f"{FAMILY} {TABLE}"
    if verb == "delete":
        elements = {
            AUTH_SET: [f"{c.mac} . {c.ip}" for c in live],
            AUTH_DL_SET: [c.ip for c in live],
            IDLE_SET: [c.ip for c in live],
            CLASS_MAP: [c.ip for c in live],
        }
    else:
        elements = {
            AUTH_SET: [f"{c.mac} . {c.ip} timeout {_timeout(c, now)}s" for c in live],
            AUTH_DL_SET: [f"{c.ip} timeout {_timeout(c, now)}s" for c in live],
            IDLE_SET: [
                f"{c.ip} timeout {min(c.idle_s, _timeout(c, now))}s" for c in live if c.idle_s
            ],
            CLASS_MAP: [
                f"{c.ip} timeout {_timeout(c, now)}s : 1:{c.class_id:x}" for c in live if c.class_id
            ],
        }
    return [
        f"{verb} element {where} {name} {{ {', '.join(items)} }}"
        for name, items in elements.items()
        if items
    ]


def accounting_commands(
    pairs: Iterable[tuple[str, str]], ips: Iterable[str], verb: str = "add"
) -> list[str]:
    """`add`/`delete element` commands for the accounting elements of (MAC, IP) `pairs`
    (upload) and `ips` (download). Adding keeps an element that is there, with its counter;
    netd deletes one only once it has booked its final value (`netctl.accounting`)."""
    where = f"{FAMILY} {TABLE}"
    up = [f"{mac} . {ip}" for mac, ip in pairs]
    down = list(dict.fromkeys(ips))
    return [
        f"{verb} element {where} {name} {{ {', '.join(items)} }}"
        for name, items in ((ACCT_SET, up), (ACCT_DL_SET, down))
        if items
    ]


def grant_commands(clients: Iterable[Client], now: float) -> list[str]:
    """`add element` commands letting through `clients` not expired at `now`, then their
    accounting elements."""
    live = [c for c in clients if c.expires_at > now]
    pairs = [(c.mac, c.ip) for c in live]
    return element_commands(live, now) + accounting_commands(pairs, [c.ip for c in live])


def zone_counters(config: Config) -> dict[str, tuple[str, str, str]]:
    """Named counter -> (scope, name, direction) for accounting: scope `site` (hotspot),
    `opd`, `remote` or `zone` (management)."""
    scopes = {"hotspot": "site", "opd": "opd", "remote": "remote", "management": "zone"}
    return {
        f"{z.key}_{d}": (scopes[z.kind], z.slug or z.kind, d)
        for z in _zones(config)
        for d in ("up", "down")
    }


def render(config: Config, live: LiveState, doh: Sequence[IPv4Network] = ()) -> Rendered:
    """The ruleset for `config` and one transaction installing it over the kernel's `live` table."""
    ruleset = build_ruleset(config, doh)
    where = f"{FAMILY} {TABLE}"
    wanted_chains = {c.name for c in ruleset.chains}
    obsolete_chains = sorted(live.chains - wanted_chains)
    lines = [f"add table {where}"]
    present = live.sets | live.maps
    # Existing sets and maps stay as they are (with their elements and counters): declaring
    # them again fails when the kernel has added flags of its own (e.g. `dynamic` on a set
    # that rules update).
    lines += [
        f"add {s.kind} {where} {s.name} {{ {s.body} }}"
        for s in ruleset.sets
        if s.name not in present
    ]
    for s in ruleset.sets:
        if (s.static or s.name in REFILLED) and s.name in present:
            lines.append(f"flush {s.kind} {where} {s.name}")
        if s.static and s.elements:
            lines.append(f"add element {where} {s.name} {{ {', '.join(s.elements)} }}")
    lines += [f"add counter {where} {c}" for c in ruleset.counters]
    for chain in ruleset.chains:
        lines.append(
            f"add chain {where} {chain.name}" + (f" {{ {chain.base} }}" if chain.base else "")
        )
    lines += [f"flush chain {where} {name}" for name in sorted(wanted_chains & live.chains)]
    lines += [f"flush chain {where} {name}" for name in obsolete_chains]
    lines += [f"delete chain {where} {name}" for name in obsolete_chains]
    lines += [f"delete counter {where} {c}" for c in sorted(live.counters - set(ruleset.counters))]
    wanted_sets = {s.name for s in ruleset.sets}
    lines += [f"delete set {where} {s}" for s in sorted(live.sets - wanted_sets)]
    lines += [f"delete map {where} {m}" for m in sorted(live.maps - wanted_sets)]
    for chain in ruleset.chains:
        lines += [f"add rule {where} {chain.name} {rule}" for rule in chain.rules]

    # One device per address: should the store hold two open sessions on one IP, the newest
    # (last) wins, or the class map would get two values for one key and refuse the apply.
    by_ip = {c.ip: c for c in live.clients if c.expires_at > live.now}
    current = list(by_ip.values())
    wanted_pairs = {(c.mac, c.ip) for c in current}
    wanted_ips = {c.ip for c in current}
    stale = [Client(m, i, 0) for m, i in sorted(live.auth_elements - wanted_pairs)]
    if stale:
        lines.append(
            f"delete element {where} {AUTH_SET} {{ "
            + ", ".join(f"{c.mac} . {c.ip}" for c in stale)
            + " }"
        )
    stale_ips = sorted(live.auth_dl_elements - wanted_ips)
    if stale_ips:
        lines.append(f"delete element {where} {AUTH_DL_SET} {{ {', '.join(stale_ips)} }}")

    lines += grant_commands(current, live.now)
    stats = {
        "chains": len(ruleset.chains),
        "rules": sum(len(c.rules) for c in ruleset.chains),
        "counters": len(ruleset.counters),
        "clients": len(current),
        "stale_clients_removed": len(stale),
        "chains_removed": len(obsolete_chains),
    }
    return Rendered(ruleset, "\n".join(lines) + "\n", stats)
