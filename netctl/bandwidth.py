"""How OPDs share the uplinks, decided from the configuration (pure). `netctl.netlink.Shaper`
applies the plan; nftables picks each packet's class with `meta priority set`.

Uploads are shaped on each uplink's HTB (the same tree as hotspot clients' upload classes).
Downloads leave through each OPD's own LAN device, so to share one downlink those devices hand
their egress to one IFB device (`DOWN_IFB`) whose HTB holds every OPD's download class. Each OPD
class is guaranteed its `bandwidth` and may borrow up to its `bandwidth_cap` (default: the whole
link) when others are idle; conferencing has its own class with priority.

Everything leaving an OPD LAN device goes through the IFB, also traffic that never crossed an
uplink: OPD to OPD (shared services), management to OPD, the gateway's own DNS answers, block
page and DHCP. Only what nftables classified goes into the shared class `1:1` (sized by the
downlink): the OPD and conferencing priorities are set in the `to_opd_*` chains, which only
uplink-to-OPD traffic reaches. Anything else lands in the IFB's default `1:3`, beside `1:1`,
unlimited (`netctl.netlink.Shaper.ensure_ifb`). So does the download of an OPD with neither a
guarantee nor a cap while others share: it is neither classified nor limited, and the shaped
OPDs' classes do not see it (their shares are of `1:1` only).
"""

from __future__ import annotations

from dataclasses import dataclass

from simpul.config import Config

DOWN_IFB = "simpul-down"  # the shared download queue of the OPD LANs
FIRST_OPD_MINOR = 0xF000  # client classes stay below (see simpul.store.LAST_CLASS_ID)
CONFERENCE_MINOR = 0xFFF0


@dataclass(frozen=True)
class HtbClass:
    """One class under the device's root class `1:1`."""

    minor: int
    rate_kbit: int
    ceil_kbit: int
    prio: int  # 0 is served first
    what: str


@dataclass(frozen=True)
class DevicePlan:
    """The OPD and conference classes of one device with its total rate."""

    device: str
    rate_kbit: int
    classes: tuple[HtbClass, ...]


def _kbit(mbps: float) -> int:
    return max(8, int(mbps * 1000))


def shaped_opds(config: Config) -> list[str]:
    """Slugs of the OPDs with a guarantee or a cap (only when some uplink has a capacity)."""
    if all(u.bandwidth is None for u in config.uplinks):
        return []
    return [o.slug for o in config.opds if o.bandwidth or o.bandwidth_cap]


def opd_minor(config: Config, slug: str) -> int:
    """The HTB minor of an OPD's classes (the same on every device)."""
    return FIRST_OPD_MINOR + [o.slug for o in config.opds].index(slug)


def _classes(config: Config, direction: str, total_kbit: int) -> tuple[HtbClass, ...]:
    classes = []
    for slug in shaped_opds(config):
        opd = config.opd(slug)
        guarantee = getattr(opd.bandwidth, direction) if opd.bandwidth else None
        cap = getattr(opd.bandwidth_cap, direction) if opd.bandwidth_cap else None
        ceil = min(_kbit(cap), total_kbit) if cap else total_kbit
        rate = min(_kbit(guarantee), ceil) if guarantee else min(8, ceil)
        classes.append(HtbClass(opd_minor(config, slug), rate, ceil, 1, f"opd {slug}"))
    conference = config.qos.conference
    if classes and conference is not None:
        share = max(8, total_kbit * conference.share_percent // 100)
        classes.append(HtbClass(CONFERENCE_MINOR, share, total_kbit, 0, "conferencing"))
    return tuple(classes)


def plans(config: Config) -> list[DevicePlan]:
    """Every device that carries OPD classes: uplinks with a capacity (uploads) and the
    download IFB (sized by the uplinks' total download capacity)."""
    if not shaped_opds(config):
        return []
    out = []
    for uplink in config.uplinks:
        if uplink.bandwidth is not None:
            total = _kbit(uplink.bandwidth.up_mbps)
            out.append(DevicePlan(uplink.interface, total, _classes(config, "up_mbps", total)))
    down = _kbit(sum(u.bandwidth.down_mbps for u in config.uplinks if u.bandwidth))
    out.append(DevicePlan(DOWN_IFB, down, _classes(config, "down_mbps", down)))
    return out


def redirected_devices(config: Config) -> list[str]:
    """OPD LAN devices whose egress goes through the download IFB."""
    return [o.interface for o in config.opds] if shaped_opds(config) else []
