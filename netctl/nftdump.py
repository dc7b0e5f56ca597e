"""Read nftables counters straight from the kernel over netlink: the elements of one set with
their counters, and the table's named counters.

libnftables answers any `list` by first fetching its whole cache (every set's elements: with
10,000 clients, six sets of them) and then printing JSON: ~100 ms a listing. Accounting needs
only two sets and the counters, so it asks the kernel for exactly those dumps and decodes the
few attributes it needs with `struct`.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETSETELEM, NFT_MSG_GETOBJ = 13, 19
NFPROTO_INET = 1
NFT_OBJECT_COUNTER = 1
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_TYPE_MASK = 0x3FFF
# Attribute numbers (linux/netfilter/nf_tables.h)
LIST_TABLE, LIST_SET, LIST_ELEMENTS = 1, 2, 3  # NFTA_SET_ELEM_LIST_*
LIST_ELEM = 1  # NFTA_LIST_ELEM
ELEM_KEY, ELEM_EXPR, ELEM_EXPRESSIONS = 1, 7, 11  # NFTA_SET_ELEM_*
DATA_VALUE = 1  # NFTA_DATA_VALUE
EXPR_NAME, EXPR_DATA = 1, 2  # NFTA_EXPR_*
COUNTER_BYTES, COUNTER_PACKETS = 1, 2  # NFTA_COUNTER_*
OBJ_TABLE, OBJ_NAME, OBJ_TYPE, OBJ_DATA = 1, 2, 3, 4  # NFTA_OBJ_*

_HEADER = struct.Struct("=IHHII")
_NFGEN = struct.Struct("=BBH")
_ATTR = struct.Struct("=HH")
_U64 = struct.Struct(">Q")


def _attr(kind: int, payload: bytes) -> bytes:
    length = _ATTR.size + len(payload)
    return _ATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def _string(kind: int, text: str) -> bytes:
    return _attr(kind, text.encode() + b"\0")


def _attrs(
    data: bytes | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, int]]:
    """(type, payload start, payload end) of each attribute in data[start:end]."""
    end = len(data) if end is None else end
    while start + 4 <= end:
        length, kind = _ATTR.unpack_from(data, start)
        if length < 4 or start + length > end:
            return
        yield kind & NLA_TYPE_MASK, start + 4, start + length
        start += (length + 3) & ~3


def _counter(data: bytes, start: int, end: int) -> tuple[int, int]:
    """(packets, bytes) from a counter's attributes."""
    packets = nbytes = 0
    for kind, a, _b in _attrs(data, start, end):
        if kind == COUNTER_BYTES:
            nbytes = _U64.unpack_from(data, a)[0]
        elif kind == COUNTER_PACKETS:
            packets = _U64.unpack_from(data, a)[0]
    return packets, nbytes


def _expression_counter(data: bytes, start: int, end: int) -> tuple[int, int] | None:
    """(packets, bytes) if the expression at data[start:end] is a counter."""
    length, kind = _ATTR.unpack_from(data, start)  # NFTA_EXPR_NAME comes first
    if kind & NLA_TYPE_MASK != EXPR_NAME or data[start + 4 : start + length] != b"counter\0":
        return None
    for kind, a, b in _attrs(data, start, end):
        if kind == EXPR_DATA:
            return _counter(data, a, b)
    return None


class NftDump:
    """A netlink socket to nf_tables in the current network namespace."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.seq = 0

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def __enter__(self) -> NftDump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _dump(self, message: int, payload: bytes) -> Iterator[tuple[bytes, int, int]]:
        """Send a dump request; yield (buffer, attributes start, end) of each answer."""
        self.seq += 1
        body = _NFGEN.pack(NFPROTO_INET, 0, 0) + payload
        kind = (NFNL_SUBSYS_NFTABLES << 8) | message
        header = _HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP,
                              self.seq, 0)  # fmt: skip
        self.sock.send(header + body)
        while True:
            data = self.sock.recv(1 << 20)
            at = 0
            while at + _HEADER.size <= len(data):
                length, kind, _flags, seq, _pid = _HEADER.unpack_from(data, at)
                if length < _HEADER.size or at + length > len(data):
                    raise OSError(errno.EPROTO, "nf_tables: a malformed netlink answer")
                if seq == self.seq:
                    if kind == NLMSG_DONE:
                        return
                    if kind == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", data, at + _HEADER.size)[0]
                        if code:
                            raise OSError(code, f"nf_tables: {os.strerror(code)}")
                        return
                    yield data, at + _HEADER.size + _NFGEN.size, at + length
                at += (length + 3) & ~3

    def set_counters(self, table: str, name: str) -> dict[bytes, tuple[int, int]]:
        """Each element's key (raw bytes) -> (packets, bytes) of its counter, for set `name` of
        table `inet table`. OSError (ENOENT) when the table or set does not exist, (EPROTO)
        when the answer cannot be decoded."""
        try:
            return self._set_counters(table, name)
        except (struct.error, IndexError) as exc:
            raise OSError(errno.EPROTO, f"nf_tables: a malformed set element: {exc}") from None

    def _set_counters(self, table: str, name: str) -> dict[bytes, tuple[int, int]]:
        request = _string(LIST_TABLE, table) + _string(LIST_SET, name)
        out: dict[bytes, tuple[int, int]] = {}
        unpack = _ATTR.unpack_from
        for data, start, end in self._dump(NFT_MSG_GETSETELEM, request):
            for kind, a, b in _attrs(data, start, end):
                if kind != LIST_ELEMENTS:
                    continue
                # The hot loop (one pass per element), written out: no generator per level.
                while a + 4 <= b:
                    length = unpack(data, a)[0]
                    if length < 4 or a + length > b:
                        break
                    ea, eb = a + 4, a + length
                    a += (length + 3) & ~3
                    key, counter = None, (0, 0)
                    while ea + 4 <= eb:
                        xlen, ek = unpack(data, ea)
                        if xlen < 4 or ea + xlen > eb:
                            break
                        ek &= NLA_TYPE_MASK
                        if ek == ELEM_KEY:  # holds one NFTA_DATA_VALUE
                            vlen, vk = unpack(data, ea + 4)
                            if vk & NLA_TYPE_MASK == DATA_VALUE and 4 <= vlen <= xlen - 4:
                                key = bytes(data[ea + 8 : ea + 4 + vlen])
                        elif ek == ELEM_EXPR:
                            counter = _expression_counter(data, ea + 4, ea + xlen) or counter
                        elif ek == ELEM_EXPRESSIONS:
                            for _lk, la, lb in _attrs(data, ea + 4, ea + xlen):
                                counter = _expression_counter(data, la, lb) or counter
                        ea += (xlen + 3) & ~3
                    if key is not None:
                        out[key] = counter
        return out

    def named_counters(self, table: str) -> dict[str, tuple[int, int]]:
        """Named counter -> (packets, bytes) of table `inet table` (OSError as for sets)."""
        try:
            return self._named_counters(table)
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise OSError(errno.EPROTO, f"nf_tables: a malformed counter: {exc}") from None

    def _named_counters(self, table: str) -> dict[str, tuple[int, int]]:
        request = _string(OBJ_TABLE, table) + _attr(OBJ_TYPE, struct.pack(">I", NFT_OBJECT_COUNTER))
        out = {}
        for data, start, end in self._dump(NFT_MSG_GETOBJ, request):
            name, counter, table_name = "", (0, 0), ""
            for kind, a, b in _attrs(data, start, end):
                if kind == OBJ_NAME:
                    name = bytes(data[a:b]).rstrip(b"\0").decode()
                elif kind == OBJ_TABLE:
                    table_name = bytes(data[a:b]).rstrip(b"\0").decode()
                elif kind == OBJ_DATA:
                    counter = _counter(data, a, b)
            if name and table_name == table:
                out[name] = counter
        return out


def mac_ip_key(key: bytes) -> tuple[str, str]:
    """An `ether_addr . ipv4_addr` key (each field padded to 4 bytes) as (mac, ip)."""
    return key[:6].hex(":"), socket.inet_ntoa(key[8:12])


def ip_key(key: bytes) -> str:
    """An `ipv4_addr` key as a dotted quad."""
    return socket.inet_ntoa(key[:4])
