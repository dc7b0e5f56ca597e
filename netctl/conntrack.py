"""The kernel's connection tracking, through netlink (pyroute2 is imported here and only here).

After a grant, connections nftables redirected to the portal while the client was captive must
not carry on: a browser's kept-alive or preconnected socket would keep showing the portal for
the site it asked for. Forgetting them makes their next packet a new flow, which now reaches
the real server (and its reset closes the browser's socket cleanly).
"""

from __future__ import annotations

import socket

from pyroute2 import Conntrack
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple


def forget_redirected(ip: str, port: int = 80) -> int:
    """Delete `ip`'s TCP connections to `port` that were redirected (destination NAT) by the
    captive portal rules; returns how many. The kernel filters the dump by source address.

    Raises OSError when conntrack cannot be reached.
    """
    try:
        return _forget(ip, port)
    except NetlinkError as exc:
        raise OSError(exc.code, f"conntrack: {exc}") from None


def _forget(ip: str, port: int) -> int:
    forgotten = 0
    with Conntrack() as ct:
        wanted = NFCTAttrTuple(saddr=ip, proto=socket.IPPROTO_TCP, dport=port)
        entries = list(ct.dump_entries(tuple_orig=wanted))
        for entry in entries:
            orig, reply = entry.tuple_orig, entry.tuple_reply
            if reply.saddr == orig.daddr:
                continue  # not redirected: a walled-garden or portal connection
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
