"""The gateway's IPv4 neighbour (ARP) table: which MAC address holds an IP on a hotspot network.

netd, not the portal, looks a client's MAC up here: the portal only knows the TCP peer's address,
so it cannot claim somebody else's MAC.
"""

from __future__ import annotations

from pathlib import Path

PROC_ARP = Path("/proc/net/arp")
_COMPLETE = 0x2


def parse_proc_arp(text: str) -> dict[str, str]:
    """IP -> MAC of complete entries in /proc/net/arp's text (pure)."""
    table = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        ip, _hw_type, flags, mac = fields[0], fields[1], fields[2], fields[3]
        try:
            complete = int(flags, 16) & _COMPLETE
        except ValueError:
            continue
        if complete and mac != "00:00:00:00:00:00":
            table[ip] = mac.lower()
    return table


def mac_of(ip: str, path: Path = PROC_ARP) -> str | None:
    """The MAC that holds `ip` in this network namespace, or None if the kernel does not know."""
    try:
        return parse_proc_arp(path.read_text()).get(ip)
    except OSError:
        return None
