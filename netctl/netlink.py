"""Netlink to the kernel beyond nftables: connection tracking and tc (HTB) shaping.

pyroute2 is imported here and only here (its API moves between versions).

After a grant, connections nftables redirected to the portal while the client was captive must
not carry on: a browser's kept-alive or preconnected socket would keep showing the portal for
the site it asked for. Forgetting them makes their next packet one that starts no connection,
which the gateway resets (nftables' stray-TCP rule): the browser's socket closes cleanly. The
same holds for flows cut at a filtering window's start (`cut_connections`).

Shaping: each shaped device (a hotspot bridge for downloads, an uplink for uploads) has an HTB
root `1:` whose class `1:1` holds everything, `1:2` the unshaped default, and one class per
client (and per OPD, see `netctl.bandwidth`) below `1:1`; nftables picks the class with `meta
priority set`, so there is no tc filter per client or OPD. The OPDs' download IFB defaults to
`1:3`, beside `1:1`, so LAN traffic is never shaped.
"""

from __future__ import annotations

from collections.abc import Collection
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pyroute2 import Conntrack, IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

from netctl.bandwidth import FIRST_OPD_MINOR
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


def cut_connections(subnet: IPv4Network, addresses: Collection[str]) -> int:
    """Delete the tracked connections from `subnet` to `addresses`; returns how many.
    (Once, at a schedule edge: the dump walks the whole table.) Raises OSError."""
    targets = set(addresses)
    cut = 0
    try:
        with Conntrack() as ct:
            for entry in list(ct.dump_entries()):
                orig = entry.tuple_orig
                if orig.proto not in (6, 17) or orig.daddr not in targets:
                    continue  # TCP and UDP flows only (a port-less tuple cannot be named)
                if IPv4Address(orig.saddr) not in subnet:
                    continue
                try:
                    ct.entry(
                        "del",
                        tuple_orig=NFCTAttrTuple(
                            saddr=orig.saddr, daddr=orig.daddr, proto=orig.proto,
                            sport=orig.sport, dport=orig.dport,
                        ),
                    )  # fmt: skip
                except NetlinkError as exc:
                    if exc.code != 2:  # ENOENT: it ended by itself meanwhile
                        raise
                    continue
                cut += 1
    except NetlinkError as exc:
        raise OSError(exc.code, f"conntrack: {exc}") from None
    return cut


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
LAN = 0x10003  # the download IFB's default class, beside `1:1`: LAN traffic, never shaped
MAX_RATE_KBIT = 10_000_000  # "unlimited": 10 Gbit/s


def _burst_bytes(rate_kbit: int) -> int:
    # 20 ms of the rate, but at least one 64 KiB GSO super-packet, so rates stay accurate on
    # links that hand HTB segmentation-offloaded packets.
    return max(rate_kbit * 1000 // 8 // 50, 65_536)


def _htb_class(rate_kbit: int, ceil_kbit: int | None = None, prio: int = 0) -> dict[str, object]:
    ceil = ceil_kbit or rate_kbit
    return {
        "rate": f"{rate_kbit}kbit",
        "ceil": f"{ceil}kbit",
        "burst": _burst_bytes(rate_kbit),
        "cburst": _burst_bytes(ceil),
        "prio": prio,
    }


CLSACT_EGRESS = 0xFFFFFFF3  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)
ETH_P_ALL = 0x0003


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
    """HTB classes on the gateway's devices (in the calling thread's network namespace).

    A hotspot bridge or an uplink (`ensure_root`): root `1:`, `1:1` holding everything, its
    default `1:2` and the client, OPD and conferencing classes under `1:1`.

    The OPDs' shared download IFB (`ensure_ifb`) gets everything leaving every OPD LAN device,
    also what never crossed the uplink (OPD to OPD, management to OPD, the gateway's own DNS
    answers, block page and DHCP). So its default is `1:3`, beside `1:1` and not under it, at
    MAX_RATE_KBIT: only packets nftables gave an OPD's or conferencing's class (`meta priority
    set`, in the uplink-to-OPD chains) share the downlink in `1:1`.
    """

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
        """Create or change a client's class `1:minor` under `1:1` (its rate is also its cap)."""
        self.set_class(device, minor, rate_kbit, rate_kbit, 0)

    def remove_client(self, device: str, minor: int) -> None:
        """Delete a client's class (gone already is fine)."""
        try:
            self.ipr.tc("del-class", "htb", self._idx(device), ROOT | minor, parent=ALL)
        except NetlinkError as exc:
            if exc.code not in (2, 22):  # ENOENT, EINVAL: no such class
                raise OSError(exc.code, f"tc class 1:{minor:x} on {device}: {exc}") from None

    def minors(self, device: str) -> set[int]:
        """Minors of the classes under `1:1` on `device` (clients', OPDs', conferencing)."""
        classes = self.ipr.get_classes(self._idx(device))
        return {c["handle"] & 0xFFFF for c in classes if c["parent"] == ALL} - {DEFAULT & 0xFFFF}

    def client_minors(self, device: str) -> set[int]:
        """Minors of the client classes on `device`."""
        return {m for m in self.minors(device) if m < FIRST_OPD_MINOR}

    def set_class(self, device: str, minor: int, rate_kbit: int, ceil_kbit: int, prio: int) -> None:
        """Create or change a shared class `1:minor`: guaranteed `rate`, borrowing up to `ceil`."""
        try:
            self.ipr.tc(
                "replace-class", "htb", self._idx(device), ROOT | minor, parent=ALL,
                **_htb_class(rate_kbit, ceil_kbit, prio),
            )  # fmt: skip
        except NetlinkError as exc:
            raise OSError(exc.code, f"tc class 1:{minor:x} on {device}: {exc}") from None

    def ensure_ifb(self, name: str, rate_kbit: int) -> None:
        """The shared download IFB `name`, up (created if missing), with its own HTB root `1:`:
        `1:1` at `rate_kbit` (the downlink) for the classes `set_class` puts under it, and the
        default `1:3` directly under the root, unlimited (LAN traffic, not from an uplink).

        The root is kept if it is already so (the OPD classes survive a reload); a root with
        another default (e.g. one `ensure_root` made) is replaced, and its classes with it.
        """
        try:
            if not self.ipr.link_lookup(ifname=name):
                self.ipr.link("add", ifname=name, kind="ifb")
            idx = self._idx(name)
            self.ipr.link("set", index=idx, state="up")
            roots = [
                q
                for q in self.ipr.get_qdiscs(idx)
                if q["handle"] == ROOT and q["parent"] == 0xFFFFFFFF
            ]
            kept = [q for q in roots if self._htb_default(q) == LAN & 0xFFFF]
            if not kept:
                if roots:
                    self.ipr.tc("del", roots[0].get_attr("TCA_KIND"), idx, ROOT)
                self.ipr.tc("replace", "htb", idx, ROOT, default=LAN & 0xFFFF)
            self.ipr.tc("replace-class", "htb", idx, ALL, parent=ROOT, **_htb_class(rate_kbit))
            self.ipr.tc("replace-class", "htb", idx, LAN, parent=ROOT, **_htb_class(MAX_RATE_KBIT))
        except NetlinkError as exc:
            raise OSError(exc.code, f"ifb {name}: {exc}") from None

    @staticmethod
    def _htb_default(qdisc: Any) -> int | None:
        """The default class minor of an HTB qdisc message (None: not HTB)."""
        if qdisc.get_attr("TCA_KIND") != "htb":
            return None
        options = qdisc.get_attr("TCA_OPTIONS")
        init = options.get_attr("TCA_HTB_INIT") if options is not None else None
        return int(init["defcls"]) if init is not None else None

    def remove_link(self, name: str) -> None:
        """Delete device `name` if it exists."""
        found = self.ipr.link_lookup(ifname=name)
        if found:
            try:
                self.ipr.link("del", index=found[0])
            except NetlinkError as exc:
                raise OSError(exc.code, f"delete {name}: {exc}") from None

    def redirect_egress(self, device: str, ifb: str) -> None:
        """Send everything leaving `device` through `ifb`'s queue first (kept if already so)."""
        idx = self._idx(device)
        try:
            has_clsact = any(q.get_attr("TCA_KIND") == "clsact" for q in self.ipr.get_qdiscs(idx))
            if has_clsact and self.ipr.get_filters(idx, parent=CLSACT_EGRESS):
                return
            if not has_clsact:
                self.ipr.tc("add", "clsact", idx)
            self.ipr.tc(
                "add-filter", "u32", idx, ":1", parent=CLSACT_EGRESS, protocol=ETH_P_ALL,
                target=ALL, keys=["0x0/0x0+0"],
                action={"kind": "mirred", "direction": "egress", "action": "redirect",
                        "ifindex": self._idx(ifb)},
            )  # fmt: skip
        except NetlinkError as exc:
            raise OSError(exc.code, f"redirect {device} to {ifb}: {exc}") from None

    def stop_redirect(self, device: str) -> None:
        """Undo `redirect_egress` (nothing to do if the device has no clsact)."""
        found = self.ipr.link_lookup(ifname=device)
        if not found:
            return
        try:
            for q in self.ipr.get_qdiscs(found[0]):
                if q.get_attr("TCA_KIND") == "clsact":
                    self.ipr.tc("del", "clsact", found[0])
        except NetlinkError as exc:
            raise OSError(exc.code, f"tc on {device}: {exc}") from None
