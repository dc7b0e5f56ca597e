"""Fair use of a hotspot, decided from the configuration (pure): which devices are shaped and at
what rates per client, when a quota is used up, where a day starts for a daily allowance.
`netctl.netlink.Shaper` applies the rates.

Downloads are shaped on the client's hotspot bridge, uploads on every uplink; each client's class
is picked by nftables (`meta priority set ip saddr/daddr map @client_class`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from simpul.config import Config


def shaped_devices(config: Config) -> dict[str, int | None]:
    """Device -> its total rate in kbit/s (None: no limit) for every device that needs an HTB:
    a bridge with a site limit or shaped clients, an uplink with a limit or shaped uploads.
    Other devices get none (an HTB costs per packet even when it limits nothing)."""
    devices: dict[str, int | None] = {}
    any_shaped = False
    for site in config.hotspot_sites:
        shaped = is_shaped(config, site.slug)
        any_shaped |= shaped
        if site.bandwidth is not None or shaped:
            devices[site.interface] = (
                int(site.bandwidth.down_mbps * 1000) if site.bandwidth is not None else None
            )
    for uplink in config.uplinks:
        if uplink.bandwidth is not None or any_shaped:
            devices[uplink.interface] = (
                int(uplink.bandwidth.up_mbps * 1000) if uplink.bandwidth is not None else None
            )
    return devices


def shapeable_devices(config: Config) -> list[str]:
    """Every device an HTB may be on (to remove it where it is no longer needed)."""
    return [s.interface for s in config.hotspot_sites] + [u.interface for u in config.uplinks]


def is_shaped(config: Config, site_slug: str) -> bool:
    """Whether clients of the site get their own HTB class: for a rate limit, or to be slowed
    down when their quota is used up."""
    access = config.site(site_slug).access
    return (
        access.client_down_kbps is not None
        or access.client_up_kbps is not None
        or access.quota_mb is not None
    )


def client_classes(config: Config, site_slug: str, throttled: bool) -> list[tuple[str, int]]:
    """(device, rate kbit/s) of one client's classes: its bridge for downloads, every uplink for
    uploads; a throttled client (over its quota) gets the site's fair-use rate both ways."""
    site = config.site(site_slug)
    access = site.access
    down = access.throttle_kbps if throttled else access.client_down_kbps
    up = access.throttle_kbps if throttled else access.client_up_kbps
    classes = []
    if down is not None:
        classes.append((site.interface, down))
    if up is not None:
        classes += [(uplink.interface, up) for uplink in config.uplinks]
    return classes


def over_quota(config: Config, site_slug: str, bytes_moved: int) -> bool:
    """Whether a client of the site has used up its session's quota."""
    quota_mb = config.site(site_slug).access.quota_mb
    return quota_mb is not None and bytes_moved >= quota_mb * 1_000_000


def day_start(now: float, zone: ZoneInfo) -> float:
    """The start of the local day (the node's time zone) that holds `now`."""
    local = datetime.fromtimestamp(now, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp()
