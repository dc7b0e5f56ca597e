"""Rules that relate several parts of a configuration: overlaps, references, zones, regions.

Pure: `cross_checks(config)` returns (location, message) pairs; an empty list means valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network

from simpul.config.model import Config

Loc = tuple[str | int, ...]
Found = tuple[Loc, str]


def _duplicates(config: Config) -> Iterator[Found]:
    keyed = {
        "uplinks": ("name", config.uplinks),
        "opds": ("slug", config.opds),
        "services": ("name", config.services),
        "hotspot_sites": ("slug", config.hotspot_sites),
        "remote_sites": ("slug", config.remote_sites),
        "policies": ("name", config.policies),
        "schedules": ("name", config.schedules),
        "admins": ("username", config.admins),
    }
    for section, (key, items) in keyed.items():
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            value = getattr(item, key)
            if value in seen:
                yield (
                    (section, index, key),
                    f"{value!r} is already used by {section}[{seen[value]}]",
                )
            else:
                seen[value] = index


def _networks(config: Config) -> list[tuple[Loc, IPv4Network]]:
    nets: list[tuple[Loc, IPv4Network]] = [
        (("zones", "management", "address"), config.zones.management.address.network)
    ]
    nets += [(("opds", i, "subnet"), o.subnet) for i, o in enumerate(config.opds)]
    nets += [(("hotspot_sites", i, "subnet"), s.subnet) for i, s in enumerate(config.hotspot_sites)]
    nets += [(("remote_sites", i, "subnet"), s.subnet) for i, s in enumerate(config.remote_sites)]
    nets += [
        (("uplinks", i, "address"), u.address.network)
        for i, u in enumerate(config.uplinks)
        if u.address != "dhcp"
    ]
    return nets


def _loc_text(loc: Loc) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _overlaps(config: Config) -> Iterator[Found]:
    nets = _networks(config)
    for i, (loc_a, net_a) in enumerate(nets):
        for loc_b, net_b in nets[i + 1 :]:
            if net_a.overlaps(net_b):
                yield loc_b, f"{net_b} overlaps {net_a} of {_loc_text(loc_a)}"


def _interfaces(config: Config) -> Iterator[Found]:
    owners: list[tuple[Loc, str]] = [
        (("zones", "management", "interface"), config.zones.management.interface)
    ]
    owners += [(("uplinks", i, "interface"), u.interface) for i, u in enumerate(config.uplinks)]
    owners += [(("opds", i, "interface"), o.interface) for i, o in enumerate(config.opds)]
    owners += [
        (("hotspot_sites", i, "interface"), s.interface) for i, s in enumerate(config.hotspot_sites)
    ]
    owners += [
        (("remote_sites", i, "interface"), s.interface) for i, s in enumerate(config.remote_sites)
    ]
    seen: dict[str, Loc] = {}
    for loc, name in owners:
        if name in seen:
            yield loc, f"interface {name!r} is already used by {_loc_text(seen[name])}"
        else:
            seen[name] = loc


def _vlans(config: Config) -> Iterator[Found]:
    seen: dict[int, Loc] = {}
    tagged = [(("opds", i, "vlan"), o.vlan) for i, o in enumerate(config.opds)]
    tagged += [(("hotspot_sites", i, "vlan"), s.vlan) for i, s in enumerate(config.hotspot_sites)]
    for loc, vlan in tagged:
        if vlan is None:
            continue
        if vlan in seen:
            yield loc, f"VLAN {vlan} is already used by {_loc_text(seen[vlan])}"
        else:
            seen[vlan] = loc


def _zones(config: Config) -> Iterator[Found]:
    zones = config.zones
    for i, opd in enumerate(config.opds):
        if not opd.subnet.subnet_of(zones.opd.supernet):
            yield (
                ("opds", i, "subnet"),
                (f"{opd.subnet} is outside the OPD zone {zones.opd.supernet} (zones.opd.supernet)"),
            )
    for i, site in enumerate(config.hotspot_sites):
        if not site.subnet.subnet_of(zones.hotspot.supernet):
            yield (
                ("hotspot_sites", i, "subnet"),
                (
                    f"{site.subnet} is outside the hotspot zone {zones.hotspot.supernet} "
                    "(zones.hotspot.supernet)"
                ),
            )
    for i, remote in enumerate(config.remote_sites):
        if zones.remote is None:
            yield ("remote_sites", i), "remote sites need zones.remote with a supernet"
        elif not remote.subnet.subnet_of(zones.remote.supernet):
            yield (
                ("remote_sites", i, "subnet"),
                (
                    f"{remote.subnet} is outside the remote zone {zones.remote.supernet} "
                    "(zones.remote.supernet)"
                ),
            )
        reserved = {remote.gateway_address.ip}
        if remote.subnet.prefixlen < 31:
            reserved |= {remote.subnet.network_address, remote.subnet.broadcast_address}
        if remote.router not in remote.subnet or remote.router in reserved:
            yield (
                ("remote_sites", i, "router"),
                (
                    f"{remote.router} must be a host of {remote.subnet} other than the gateway's "
                    f"{remote.gateway_address.ip}"
                ),
            )
    spaces = [("OPD", zones.opd.supernet), ("hotspot", zones.hotspot.supernet)]
    if zones.remote is not None:
        spaces.append(("remote", zones.remote.supernet))
    management = zones.management.address.network
    for i, (name, supernet) in enumerate(spaces):
        if supernet.overlaps(management):
            yield (
                ("zones", name.lower(), "supernet"),
                (f"{supernet} overlaps the management network {management}"),
            )
        for other, other_net in spaces[:i]:
            if supernet.overlaps(other_net):
                yield (
                    ("zones", name.lower(), "supernet"),
                    (
                        f"{supernet} overlaps the {other} zone {other_net} "
                        f"(zones.{other.lower()}.supernet)"
                    ),
                )


def _small_subnets(config: Config) -> Iterator[Found]:
    for section, items in (("opds", config.opds), ("hotspot_sites", config.hotspot_sites)):
        for i, item in enumerate(items):
            if item.subnet.prefixlen > 29:
                yield (section, i, "subnet"), f"{item.subnet} is too small for a LAN (at most /29)"
            dhcp = item.dhcp
            hosts = item.subnet.num_addresses - 2
            last = dhcp.last_host if dhcp.last_host is not None else hosts
            if dhcp.enabled and not (dhcp.first_host <= last <= hosts):
                yield (
                    (section, i, "dhcp"),
                    (
                        f"the DHCP range (hosts {dhcp.first_host}-{last}) does not fit "
                        f"{item.subnet}, which has hosts 1-{hosts}"
                    ),
                )


def _references(config: Config) -> Iterator[Found]:
    opds = {o.slug for o in config.opds}
    services = {s.name: s for s in config.services}
    policies = {p.name for p in config.policies}
    sites = {s.slug for s in config.remote_sites} | {s.slug for s in config.hotspot_sites}
    for i, service in enumerate(config.services):
        if service.opd not in opds:
            yield ("services", i, "opd"), f"no OPD has slug {service.opd!r}"
            continue
        owner = config.opd(service.opd)
        if service.address not in owner.subnet:
            yield (
                ("services", i, "address"),
                (f"{service.address} is not inside {owner.slug}'s subnet {owner.subnet}"),
            )
    for i, opd in enumerate(config.opds):
        for j, name in enumerate(opd.shared_services):
            if name not in services:
                yield ("opds", i, "shared_services", j), f"no service is named {name!r}"
            elif services[name].opd == opd.slug:
                yield (
                    ("opds", i, "shared_services", j),
                    (f"{name!r} is {opd.slug}'s own service; list only other OPDs' services"),
                )
    for section, items in (("opds", config.opds), ("hotspot_sites", config.hotspot_sites)):
        for i, item in enumerate(items):
            if item.policy is not None and item.policy not in policies:
                yield (section, i, "policy"), f"no policy is named {item.policy!r}"
    for i, target in enumerate(config.monitoring.targets):
        if target.site is not None and target.site not in sites:
            yield ("monitoring", "targets", i, "site"), f"no site has slug {target.site!r}"


def _regions(config: Config) -> Iterator[Found]:
    regency = config.node.region_code
    if regency.count(".") != 1:
        yield (
            ("node", "region_code"),
            (f"{regency!r} is not a regency code: use province.regency, e.g. '14.10'"),
        )
        return
    for section, items in (
        ("hotspot_sites", config.hotspot_sites),
        ("remote_sites", config.remote_sites),
    ):
        for i, item in enumerate(items):
            code = item.region_code
            if code.count(".") < 2:
                yield (
                    (section, i, "region_code"),
                    (
                        f"{code!r} is too coarse: give the kecamatan or desa code, "
                        f"e.g. '{regency}.01'"
                    ),
                )
            elif not code.startswith(regency + "."):
                yield (
                    (section, i, "region_code"),
                    (f"{code!r} is not inside this node's regency {regency} (node.region_code)"),
                )


def _addresses(config: Config) -> Iterator[Found]:
    for i, uplink in enumerate(config.uplinks):
        if uplink.address == "dhcp":
            if uplink.gateway is not None:
                yield (
                    ("uplinks", i, "gateway"),
                    "a gateway is learnt by DHCP; remove it or set an address",
                )
        elif uplink.gateway is not None and uplink.gateway not in uplink.address.network:
            yield (
                ("uplinks", i, "gateway"),
                (f"{uplink.gateway} is not on the uplink's network {uplink.address.network}"),
            )


def _portal(config: Config) -> Iterator[Found]:
    portal = config.portal
    gateways = {s.gateway_address.ip for s in config.hotspot_sites}
    if portal.address is not None and portal.address not in gateways:
        yield (
            ("portal", "address"),
            (
                f"{portal.address} is not a hotspot site's gateway address "
                f"({', '.join(sorted(str(g) for g in gateways)) or 'no hotspot sites'})"
            ),
        )
    if portal.http_port == portal.https_port:
        yield ("portal", "https_port"), "must differ from portal.http_port"
    for i, site in enumerate(config.hotspot_sites):
        needs = {"otp": ("otp", "SMS/WhatsApp gateway"), "radius": ("radius", "RADIUS server")}
        for method, (field, what) in needs.items():
            if method in site.access.methods and getattr(portal, field) is None:
                yield (
                    ("hotspot_sites", i, "access", "methods"),
                    (f"offers {method!r} but portal.{field} names no {what}"),
                )
    for i, mac in enumerate(portal.mac_allow):
        if mac in portal.mac_block:
            yield ("portal", "mac_allow", i), f"{mac} is also in portal.mac_block"
    files = [v.file for v in portal.videos]
    for i, name in enumerate(files):
        if name in files[:i]:
            yield ("portal", "videos", i, "file"), f"{name!r} is listed twice"


def _filtering(config: Config) -> Iterator[Found]:
    seen: dict[str, int] = {}
    for i, item in enumerate(config.filtering.lists):
        if item.name in seen:
            yield (
                ("filtering", "lists", i, "name"),
                f"{item.name!r} is already used by filtering.lists[{seen[item.name]}]",
            )
        seen.setdefault(item.name, i)
    categories = sorted({item.category for item in config.filtering.lists})
    known = ", ".join(categories)
    schedules = {s.name for s in config.schedules}
    for p, policy in enumerate(config.policies):
        for r, rule in enumerate(policy.rules):
            for c, category in enumerate(rule.categories):
                if category not in categories:
                    yield (
                        ("policies", p, "rules", r, "categories", c),
                        f"no list has category {category!r} (categories: {known})",
                    )
            if rule.schedule is not None and rule.schedule not in schedules:
                yield (
                    ("policies", p, "rules", r, "schedule"),
                    f"no schedule is named {rule.schedule!r}",
                )
    days = [d.date for d in config.filtering.extra_days]
    for i, day in enumerate(days):
        if day in days[:i]:
            yield ("filtering", "extra_days", i, "date"), f"{day} is listed twice"


def _bandwidth(config: Config) -> Iterator[Found]:
    shaped = [(i, o) for i, o in enumerate(config.opds) if o.bandwidth or o.bandwidth_cap]
    if not shaped:
        return
    if all(u.bandwidth is None for u in config.uplinks):
        i, _ = shaped[0]
        yield (
            ("opds", i, "bandwidth"),
            "sharing the uplinks needs their capacity: give the uplinks a bandwidth",
        )
        return
    down = sum(u.bandwidth.down_mbps for u in config.uplinks if u.bandwidth)
    up = sum(u.bandwidth.up_mbps for u in config.uplinks if u.bandwidth)
    for i, opd in shaped:
        guarantee, cap = opd.bandwidth, opd.bandwidth_cap
        if (
            guarantee
            and cap
            and (cap.down_mbps < guarantee.down_mbps or cap.up_mbps < guarantee.up_mbps)
        ):
            yield ("opds", i, "bandwidth_cap"), "must be at least the guaranteed bandwidth"
        for what, limit, value in (
            ("down_mbps", down, (cap or guarantee).down_mbps),  # type: ignore[union-attr]
            ("up_mbps", up, (cap or guarantee).up_mbps),  # type: ignore[union-attr]
        ):
            if value > limit:
                yield (
                    ("opds", i, "bandwidth_cap" if cap else "bandwidth", what),
                    (f"{value:g} Mbit/s is more than the uplinks carry ({limit:g})"),
                )
    for what, limit in (("down_mbps", down), ("up_mbps", up)):
        total = sum(getattr(o.bandwidth, what) for _, o in shaped if o.bandwidth)
        if total > limit:
            yield (
                ("opds",),
                (
                    f"the OPDs' guaranteed {what} add up to {total:g} Mbit/s, "
                    f"more than the uplinks carry ({limit:g})"
                ),
            )


def _monitoring(config: Config) -> Iterator[Found]:
    monitoring = config.monitoring
    for section, items in (("targets", monitoring.targets), ("webhooks", monitoring.webhooks)):
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.name in seen:
                yield (
                    ("monitoring", section, i, "name"),
                    f"{item.name!r} is already used by monitoring.{section}[{seen[item.name]}]",
                )
            seen.setdefault(item.name, i)
    targets = {t.name for t in monitoring.targets}
    sites = {s.slug for s in config.remote_sites} | {s.slug for s in config.hotspot_sites}
    for i, window in enumerate(monitoring.maintenance):
        if window.target is not None and window.target not in targets:
            yield (
                ("monitoring", "maintenance", i, "target"),
                f"no target is named {window.target!r}",
            )
        if window.site is not None and window.site not in sites:
            yield ("monitoring", "maintenance", i, "site"), f"no site has slug {window.site!r}"


CHECKS = (
    _duplicates,
    _overlaps,
    _interfaces,
    _vlans,
    _zones,
    _small_subnets,
    _references,
    _regions,
    _addresses,
    _portal,
    _filtering,
    _bandwidth,
    _monitoring,
)


def cross_checks(config: Config) -> list[Found]:
    """Every cross-object problem of `config`, in a stable order."""
    return [found for check in CHECKS for found in check(config)]
