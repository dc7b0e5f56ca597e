"""Netlink to the kernel beyond nftables: connection tracking and tc (HTB) shaping.

pyroute2 is imported here and only here (its API moves between versions).

After a grant, connections nftables redirected to the portal while the client was captive must
not carry on: a browser's kept-alive or preconnected socket would keep showing the portal for
the site it asked for. Forgetting them makes their next packet a new flow, which now reaches
the real server (and its reset closes the browser's socket cleanly).

Shaping: each shaped device (a hotspot bridge for downloads, an uplink for uploads) has an HTB
root `1:` whose class `1:1` holds everything, `1:2` the unshaped default, and one class per
client below `1:1`; nftables picks the class with `meta priority set` from a map, so there is
no tc filter at all, let alone one per client.
"""

from __future__ import annotations

from collections.abc import Collection

from pyroute2 import Conntrack, IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

from netctl.render import REDIRECT_MARK


def forget_redirected(ips: Collection[str]) -> int:
    """Delete the TCP connections to `port` of the clients at `ips` that were redirected
    (destination NAT) by the captive-portal rules; returns how many.

    The redirect marks those connections, so one dump that the kernel filters by the mark
    (it walks its whole hash table for any dump) serves any number of clients.
    Raises OSError when conntrack cannot be reached.
    """
    try:
        return _forget(set(ips))
    except NetlinkError as exc:
        raise OSError(exc.code, f"conntrack: {exc}") from None


def _forget(ips: set[str]) -> int:
    forgotten = 0
    with Conntrack() as ct:
        entries = list(ct.dump_entries(mark=REDIRECT_MARK, mark_mask=0xFFFFFFFF))
        for entry in entries:
            orig = entry.tuple_orig
            if orig.saddr not in ips:
                continue  # another client, still captive
            ct.entry(
                "del",
                tuple_orig=NFCTAttrTuple(
                    saddr=orig.saddr,
                    daddr=orig.daddr,
                    proto=orig.proto,
                    sport=orig.sport,
                    dport=orig.dport,
                ),
            )
            forgotten += 1
    return forgotten


ROOT, ALL, DEFAULT = 0x10000, 0x10001, 0x10002
MAX_RATE_KBIT = 10_000_000  # "unlimited": 10 Gbit/s


def _burst_bytes(rate_kbit: int) -> int:
    # 20 ms of the rate, but at least one 64 KiB GSO super-packet, so rates stay accurate on
    # links that hand HTB segmentation-offloaded packets.
    return max(rate_kbit * 1000 // 8 // 50, 65_536)


def _htb_class(rate_kbit: int) -> dict[str, object]:
    burst = _burst_bytes(rate_kbit)
    return {
        "rate": f"{rate_kbit}kbit",
        "ceil": f"{rate_kbit}kbit",
        "burst": burst,
        "cburst": burst,
    }


_NUD_UNUSABLE = 0x01 | 0x20  # INCOMPLETE, FAILED


class Neighbours:
    """The kernel's neighbour (ARP) entries, asked one address at a time (RTM_GETNEIGH)."""

    def __init__(self) -> None:
        self.ipr = IPRoute()

    def mac_of(self, ip: str, device: str) -> str | None:
        """The MAC holding `ip` on `device`, or None if the kernel knows none."""
        try:
            found = self.ipr.link_lookup(ifname=device)
            if not found:
                return None
            replies = self.ipr.neigh("get", dst=ip, ifindex=found[0])
        except NetlinkError:
            return None
        for reply in replies:
            mac = reply.get_attr("NDA_LLADDR")
            if mac and not reply["state"] & _NUD_UNUSABLE:
                return str(mac).lower()
        return None


class Shaper:
    """HTB classes on the gateway's devices (in the calling thread's network namespace)."""

    def __init__(self) -> None:
        self.ipr = IPRoute()

    def close(self) -> None:
        """Close the netlink socket."""
        self.ipr.close()

    def _idx(self, device: str) -> int:
        # Looked up every time (~0.1 ms): a bridge or uplink re-created gets a new index.
        found = self.ipr.link_lookup(ifname=device)
        if not found:
            raise OSError(19, f"no device {device!r}")
        return int(found[0])

    def ensure_root(self, device: str, rate_kbit: int | None) -> None:
        """An HTB root on `device` (kept if there, so client classes survive a reload)."""
        idx = self._idx(device)
        rate = rate_kbit or MAX_RATE_KBIT
        try:
            qdiscs = self.ipr.get_qdiscs(idx)
        except NetlinkError as exc:
            raise OSError(exc.code, f"tc on {device}: {exc}") from None
        has_htb = any(
            q.get_attr("TCA_KIND") == "htb" and q["handle"] == ROOT and q["parent"] == 0xFFFFFFFF
            for q in qdiscs
        )
        try:
            if not has_htb:
                self.ipr.tc("replace", "htb", idx, ROOT, default=0x2)
            self.ipr.tc("replace-class", "htb", idx, ALL, parent=ROOT, **_htb_class(rate))
            self.ipr.tc("replace-class", "htb", idx, DEFAULT, parent=ALL, **_htb_class(rate))
        except NetlinkError as exc:
            raise OSError(exc.code, f"tc on {device}: {exc}") from None

    def remove_root(self, device: str) -> None:
        """Take Simpul's HTB off `device` (nothing to do if it has none)."""
        idx = self._idx(device)
        try:
            for q in self.ipr.get_qdiscs(idx):
                if q.get_attr("TCA_KIND") == "htb" and q["handle"] == ROOT:
                    self.ipr.tc("del", "htb", idx, ROOT)
        except NetlinkError as exc:
            raise OSError(exc.code, f"tc on {device}: {exc}") from None

    def set_client(self, device: str, minor: int, rate_kbit: int) -> None:
        """Create or change a client's class `1:minor` under `1:1`."""
        try:
            self.ipr.tc(
                "replace-class", "htb", self._idx(device), ROOT | minor, parent=ALL,
                **_htb_class(rate_kbit),
            )  # fmt: skip
        except NetlinkError as exc:
            raise OSError(exc.code, f"tc class 1:{minor:x} on {device}: {exc}") from None

    def remove_client(self, device: str, minor: int) -> None:
        """Delete a client's class (gone already is fine)."""
        try:
            self.ipr.tc("del-class", "htb", self._idx(device), ROOT | minor, parent=ALL)
        except NetlinkError as exc:
            if exc.code not in (2, 22):  # ENOENT, EINVAL: no such class
                raise OSError(exc.code, f"tc class 1:{minor:x} on {device}: {exc}") from None

    def client_minors(self, device: str) -> set[int]:
        """Minors of the client classes on `device`."""
        classes = self.ipr.get_classes(self._idx(device))
        return {c["handle"] & 0xFFFF for c in classes if c["parent"] == ALL} - {DEFAULT & 0xFFFF}
