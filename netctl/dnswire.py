"""DNS wire format for the policy DNS front end. Pure: bytes in, bytes out, standard library only.

The front end reads one question from each query (`parse_query`), answers blocked names itself
(`block_response`, `error_response`) and forwards everything else as the raw bytes it received.
Responses from the resolver are patched in place, never re-encoded: `clamp_ttls` rewrites only the
TTL fields of resource-record headers, so EDNS options, DNSSEC records and compression survive
byte for byte.

Every reader checks bounds before it indexes and refuses compression pointers that do not point
strictly backwards (before the start of the name, or of the name part, that holds them), so a
hostile packet ends in `DnsFormatError` and never in a loop, an IndexError or a struct.error.
Bytes after the last record a header announces are ignored, in queries and responses alike.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass


class DnsFormatError(ValueError):
    """A packet that is not a well-formed DNS message (the text says what is wrong)."""


NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_AAAA = 28
TYPE_OPT = 41
TYPE_HTTPS = 65
TYPE_ANY = 255
CLASS_IN = 1

HEADER = 12
MAX_UDP_NO_EDNS = 512
EDNS_UDP_SIZE = 1232
"""The UDP payload size we advertise in the OPT records we write."""
MAX_MESSAGE = 65535
MAX_NAME = 255
BLOCK_TTL_MAX = 10

_QR = 0x8000
_OPCODE = 0x7800
_TC = 0x0200
_RD = 0x0100
_RA = 0x0080
_CD = 0x0010
_DO = 0x8000

_HDR = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")  # type, class, ttl, rdlength: the fixed part after an owner name
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_QTAIL = struct.Struct("!HH")
_POINTER_TO_QNAME = b"\xc0\x0c"

# Label bytes written as they are in name text; the rest become \DDD (dig's escape, always decimal).
_SAFE = bytes(b for b in range(0x21, 0x7F) if b not in b".\\")
_SAFE_SET = frozenset(_SAFE)
_ESCAPED = tuple(chr(b) if b in _SAFE_SET else f"\\{b:03d}" for b in range(256))


@dataclass(frozen=True, slots=True)
class Query:
    """The one question of a query and what the front end needs of its header and EDNS."""

    id: int
    flags: int
    opcode: int
    qname: str
    qtype: int
    qclass: int
    question_end: int
    edns: bool
    udp_size: int
    do: bool

    @property
    def rd(self) -> bool:
        """Recursion desired."""
        return bool(self.flags & _RD)

    @property
    def cd(self) -> bool:
        """Checking disabled (the client validates DNSSEC itself)."""
        return bool(self.flags & _CD)


def _name_text(labels: list[bytes]) -> str:
    """Lowercase dotted text of `labels`, no trailing dot, "" for the root; odd bytes as \\DDD."""
    if not labels:
        return ""
    raw = b".".join(labels).lower()
    if len(raw.translate(None, _SAFE)) == len(labels) - 1:  # only the joining dots are unsafe
        return raw.decode("ascii")
    return ".".join("".join([_ESCAPED[b] for b in label.lower()]) for label in labels)


def _question(packet: bytes) -> tuple[list[bytes], int]:
    """The labels of the name at offset 12 (no compression allowed) and the offset just past it."""
    labels: list[bytes] = []
    end = len(packet)
    pos = HEADER
    while True:
        if pos >= end:
            raise DnsFormatError("the question name runs past the end of the packet")
        n = packet[pos]
        if n == 0:
            break
        if n > 63:
            if n >= 0xC0:
                raise DnsFormatError("compression pointer in the question name")
            raise DnsFormatError(f"label type {n >> 6:#x} in the question name")
        nxt = pos + 1 + n
        if nxt > HEADER + MAX_NAME - 1:
            raise DnsFormatError("question name longer than 255 bytes")
        labels.append(packet[pos + 1 : nxt])
        pos = nxt
    return labels, pos + 1


def _skip_name(packet: bytes, pos: int, end: int) -> int:
    """The offset past the name at `pos`, without following its pointer (checked: backwards)."""
    start = pos
    while True:
        if pos >= end:
            raise DnsFormatError("name runs past the end of the packet")
        n = packet[pos]
        if n == 0:
            return pos + 1
        if n < 64:
            pos += n + 1
            if pos - start > MAX_NAME - 1:
                raise DnsFormatError("name longer than 255 bytes")
            continue
        if n < 0xC0:
            raise DnsFormatError(f"label type {n >> 6:#x} in a name")
        if pos + 1 >= end:
            raise DnsFormatError("compression pointer cut off by the end of the packet")
        target = ((n & 0x3F) << 8) | packet[pos + 1]
        if target >= start or target < HEADER:
            raise DnsFormatError(f"compression pointer at {pos} to {target} does not point back")
        return pos + 2


def _read_name(packet: bytes, pos: int) -> list[bytes]:
    """The labels of the (possibly compressed) name at `pos`.

    Each pointer must point before the start of the part of the name that holds it, so the
    chain of targets strictly decreases and the walk ends.
    """
    labels: list[bytes] = []
    end = len(packet)
    part = pos
    length = 1
    while True:
        if pos >= end:
            raise DnsFormatError("name runs past the end of the packet")
        n = packet[pos]
        if n == 0:
            return labels
        if n < 64:
            length += n + 1
            if length > MAX_NAME:
                raise DnsFormatError("name longer than 255 bytes")
            nxt = pos + 1 + n
            labels.append(packet[pos + 1 : nxt])  # if cut short, the next turn sees the end
            pos = nxt
            continue
        if n < 0xC0:
            raise DnsFormatError(f"label type {n >> 6:#x} in a name")
        if pos + 1 >= end:
            raise DnsFormatError("compression pointer cut off by the end of the packet")
        target = ((n & 0x3F) << 8) | packet[pos + 1]
        if target >= part or target < HEADER:
            raise DnsFormatError(f"compression pointer at {pos} to {target} does not point back")
        pos = part = target


_Record = tuple[int, int, int, int, int, int]  # owner offset, type, class, ttl, rdata offset, rdlen


def _records(
    packet: bytes, pos: int, ancount: int, nscount: int, arcount: int
) -> tuple[list[_Record], int]:
    """Every record of the three sections from `pos`, and the index of the OPT record (or -1).

    Checks that each record fits in the packet and that OPT appears at most once, in the
    additional section, with the root as owner (RFC 6891).
    """
    end = len(packet)
    records: list[_Record] = []
    opt = -1
    first_additional = ancount + nscount
    for i in range(first_additional + arcount):
        owner = pos
        # _skip_name inlined for the common owner: a bare pointer.
        if pos + 1 < end and packet[pos] >= 0xC0:
            target = ((packet[pos] & 0x3F) << 8) | packet[pos + 1]
            if target >= owner or target < HEADER:
                raise DnsFormatError(
                    f"compression pointer at {pos} to {target} does not point back"
                )
            pos += 2
        else:
            pos = _skip_name(packet, pos, end)
        rdata = pos + 10
        if rdata > end:
            raise DnsFormatError("resource record header runs past the end of the packet")
        rtype, rclass, ttl, rdlen = _RR.unpack_from(packet, pos)
        pos = rdata + rdlen
        if pos > end:
            raise DnsFormatError("resource record data runs past the end of the packet")
        if rtype == TYPE_OPT:
            if i < first_additional:
                raise DnsFormatError("OPT record outside the additional section")
            if opt >= 0:
                raise DnsFormatError("more than one OPT record")
            if rdata - owner != 11:
                raise DnsFormatError("OPT record whose owner is not the root")
            opt = i
        records.append((owner, rtype, rclass, ttl, rdata, rdlen))
    return records, opt


def _response_records(response: bytes) -> tuple[int, int, list[_Record], int]:
    """The answer count, the offset past the questions, every record and the OPT index."""
    end = len(response)
    if end < HEADER:
        raise DnsFormatError(f"{end} bytes is shorter than a DNS header")
    if end > MAX_MESSAGE:
        raise DnsFormatError(f"{end} bytes is longer than a DNS message can be")
    _, _, qdcount, ancount, nscount, arcount = _HDR.unpack_from(response)
    pos = HEADER
    for _ in range(qdcount):
        pos = _skip_name(response, pos, end) + 4
        if pos > end:
            raise DnsFormatError("question type and class run past the end of the packet")
    records, opt = _records(response, pos, ancount, nscount, arcount)
    return ancount, pos, records, opt


def parse_query(packet: bytes) -> Query:
    """The question, header and EDNS facts of a query; DnsFormatError unless it is well formed.

    Well formed: 12..65535 bytes, QR=0, QDCOUNT=1, an uncompressed question name (labels of at
    most 63 bytes, at most 255 bytes in all), ANCOUNT=0 for a standard query (other opcodes parse
    whatever their sections hold, so the caller can answer NOTIMP), and authority and additional
    records that fit in the packet with at most one OPT record, in the additional section, owned
    by the root. Bytes after the last announced record are ignored.
    """
    end = len(packet)
    if end < HEADER:
        raise DnsFormatError(f"{end} bytes is shorter than a DNS header")
    if end > MAX_MESSAGE:
        raise DnsFormatError(f"{end} bytes is longer than a DNS message can be")
    qid, flags, qdcount, ancount, nscount, arcount = _HDR.unpack_from(packet)
    if flags & _QR:
        raise DnsFormatError("QR=1: a response, not a query")
    if qdcount != 1:
        raise DnsFormatError(f"QDCOUNT {qdcount}, a query asks exactly one question")
    opcode = (flags & _OPCODE) >> 11
    if ancount and opcode == 0:
        raise DnsFormatError(f"ANCOUNT {ancount} in a query")
    labels, pos = _question(packet)
    question_end = pos + 4
    if question_end > end:
        raise DnsFormatError("question type and class run past the end of the packet")
    qtype, qclass = _QTAIL.unpack_from(packet, pos)
    edns = do = False
    udp_size = MAX_UDP_NO_EDNS
    if ancount or nscount or arcount:
        records, opt = _records(packet, question_end, ancount, nscount, arcount)
        if opt >= 0:
            _, _, size, ttl, _, _ = records[opt]
            edns = True
            udp_size = max(size, MAX_UDP_NO_EDNS)
            do = bool(ttl & _DO)
    return Query(
        qid, flags, opcode, _name_text(labels), qtype, qclass, question_end, edns, udp_size, do
    )


def _opt_record(do: bool) -> bytes:
    """Our OPT record: root owner, UDP size 1232, version 0, DO as given, no options."""
    return b"\x00" + _RR.pack(TYPE_OPT, EDNS_UDP_SIZE, _DO if do else 0, 0)


def _check_rcode(rcode: int) -> None:
    if not 0 <= rcode <= 15:
        raise ValueError(f"rcode {rcode} does not fit the header's 4 bits")


def error_response(packet: bytes, rcode: int) -> bytes | None:
    """A reply with `rcode` (FORMERR, SERVFAIL, REFUSED, NOTIMP...) to whatever of `packet` reads.

    Header id, opcode and RD are copied; QR=1, RA=1. The question is echoed when the header
    announces one question and it parses; there are no records, except an OPT record of our own
    (UDP size 1232, the query's DO bit copied as RFC 3225 asks) when the query's sections parse
    and hold one. None when `packet` is shorter than a header or is itself a response (QR=1):
    never answer a response.
    """
    _check_rcode(rcode)
    if len(packet) < HEADER:
        return None
    qid, flags, qdcount, ancount, nscount, arcount = _HDR.unpack_from(packet)
    if flags & _QR:
        return None
    question = b""
    opt = b""
    if qdcount == 1:
        try:
            _, pos = _question(packet)
            if pos + 4 <= len(packet):
                question = packet[HEADER : pos + 4]
                records, i = _records(packet, pos + 4, ancount, nscount, arcount)
                if i >= 0:
                    opt = _opt_record(bool(records[i][3] & _DO))
        except DnsFormatError:
            pass
    flags = _QR | (flags & (_OPCODE | _RD)) | _RA | rcode
    header = _HDR.pack(qid, flags, 1 if question else 0, 0, 0, 1 if opt else 0)
    return header + question + opt


_SOA_NAMES = b"\x07blocked\x06simpul\x07invalid\x00\x0ahostmaster\x06simpul\x07invalid\x00"
_SOA_TIMERS = struct.Struct("!IIIII")  # serial, refresh, retry, expire, minimum


def block_response(
    query: Query,
    packet: bytes,
    *,
    rcode: int,
    ttl: int,
    address: ipaddress.IPv4Address | None = None,
) -> bytes:
    """A synthesized answer to `query` (parsed from `packet`): NXDOMAIN, NODATA or one A record.

    The question is echoed from `packet`; AA=0, RA=1, AD=0, RD and CD copied. With rcode
    NXDOMAIN there is no answer (`address` must then be None); with NOERROR and an `address` an
    A record for the question name (a pointer to offset 12) answers qtype A or ANY in class IN or
    ANY, every other question gets NODATA (NOERROR, no answer). The authority section holds one
    SOA, owned by the question name, with TTL and minimum `ttl`, so a negative answer is cached at
    most `ttl` seconds (RFC 2308). An OPT record (UDP size 1232, DO copied) when the query had
    one. ValueError for another rcode or a `ttl` outside 0..10.
    """
    if rcode not in (NOERROR, NXDOMAIN):
        raise ValueError(f"rcode {rcode}: a block answer is NOERROR or NXDOMAIN")
    if rcode == NXDOMAIN and address is not None:
        raise ValueError("an NXDOMAIN answer has no address")
    if not 0 <= ttl <= BLOCK_TTL_MAX:
        raise ValueError(f"ttl {ttl} is not 0..{BLOCK_TTL_MAX}")
    if len(packet) < query.question_end:
        raise ValueError("packet is shorter than the query's question")
    answer = b""
    if (
        address is not None
        and query.qtype in (TYPE_A, TYPE_ANY)
        and query.qclass in (CLASS_IN, TYPE_ANY)
    ):
        answer = _POINTER_TO_QNAME + _RR.pack(TYPE_A, CLASS_IN, ttl, 4) + address.packed
    soa_rdata = _SOA_NAMES + _SOA_TIMERS.pack(1, 3600, 600, 86400, ttl)
    soa = _POINTER_TO_QNAME + _RR.pack(TYPE_SOA, CLASS_IN, ttl, len(soa_rdata)) + soa_rdata
    opt = _opt_record(query.do) if query.edns else b""
    flags = _QR | (query.flags & (_OPCODE | _RD | _CD)) | _RA | rcode
    header = _HDR.pack(query.id, flags, 1, 1 if answer else 0, 1, 1 if opt else 0)
    return header + packet[HEADER : query.question_end] + answer + soa + opt


def clamp_ttls(response: bytes, max_ttl: int) -> bytes:
    """`response` with every record TTL above `max_ttl` lowered to `max_ttl`.

    Answer, authority and additional sections; the OPT record's TTL field (extended rcode,
    version, flags) is left alone, and so is all rdata (an RRSIG keeps its original TTL). Returns
    the `response` object itself when nothing needs lowering. DnsFormatError for a malformed
    response; ValueError for a `max_ttl` outside 0..2**31-1.
    """
    if not 0 <= max_ttl <= 0x7FFFFFFF:
        raise ValueError(f"max_ttl {max_ttl} is not 0..2**31-1")
    _, _, records, _ = _response_records(response)
    out: bytearray | None = None
    for _, rtype, _, ttl, rdata, _ in records:
        if ttl > max_ttl and rtype != TYPE_OPT:
            if out is None:
                out = bytearray(response)
            _U32.pack_into(out, rdata - 6, max_ttl)
    return response if out is None else bytes(out)


def min_ttl(response: bytes) -> int | None:
    """The smallest TTL of the answer-section records, None without any; DnsFormatError if bad."""
    ancount, _, records, _ = _response_records(response)
    return min((r[3] for r in records[:ancount]), default=None)


def answer_addresses(response: bytes) -> list[tuple[str, str, int]]:
    """(owner, address, ttl) of every class-IN A and AAAA record in the answer section.

    Owners are decompressed and written like `Query.qname` (lowercase, no trailing dot);
    addresses in their standard text. No check that the records belong to the question's CNAME
    chain: the resolver's answer is taken as written. DnsFormatError for a malformed response,
    including an A or AAAA record whose rdata is not 4 or 16 bytes.
    """
    ancount, _, records, _ = _response_records(response)
    found: list[tuple[str, str, int]] = []
    names: dict[int, str] = {}
    for owner, rtype, rclass, ttl, rdata, rdlen in records[:ancount]:
        if rclass != CLASS_IN or rtype not in (TYPE_A, TYPE_AAAA):
            continue
        if rtype == TYPE_A:
            if rdlen != 4:
                raise DnsFormatError(f"A record with {rdlen} bytes of data")
            text = ".".join(map(str, response[rdata : rdata + 4]))
        else:
            if rdlen != 16:
                raise DnsFormatError(f"AAAA record with {rdlen} bytes of data")
            text = str(ipaddress.IPv6Address(response[rdata : rdata + 16]))
        name = names.get(owner)
        if name is None:
            name = names[owner] = _name_text(_read_name(response, owner))
        found.append((name, text, ttl))
    return found


def response_rcode(response: bytes) -> int:
    """The header's 4-bit rcode (without any OPT extension); DnsFormatError without a header."""
    if len(response) < HEADER:
        raise DnsFormatError(f"{len(response)} bytes is shorter than a DNS header")
    return response[3] & 0x0F


def packet_id(packet: bytes) -> int:
    """The header id; DnsFormatError when `packet` is shorter than 2 bytes."""
    if len(packet) < 2:
        raise DnsFormatError(f"{len(packet)} bytes hold no DNS id")
    return (packet[0] << 8) | packet[1]


def with_id(packet: bytes, new_id: int) -> bytes:
    """The same packet with the header id replaced; DnsFormatError when shorter than 2 bytes."""
    if not 0 <= new_id <= 0xFFFF:
        raise ValueError(f"DNS id {new_id} is not 0..65535")
    if len(packet) < 2:
        raise DnsFormatError(f"{len(packet)} bytes hold no DNS id")
    return _U16.pack(new_id) + packet[2:]


def truncated_for_udp(response: bytes, limit: int) -> bytes:
    """`response` if it fits in `limit` bytes, else its header and question with TC=1.

    The truncated reply keeps the questions and the OPT record (its options dropped if they
    alone would not fit), with ANCOUNT and NSCOUNT 0, so the client retries over TCP. Only the
    question can make it exceed `limit`, which is never the case for a limit of 512 or more and
    one question. DnsFormatError for a malformed response too long to pass as is.
    """
    if len(response) <= limit:
        return response
    _, qend, records, opt = _response_records(response)
    opt_bytes = b""
    if opt >= 0:
        owner, _, _, _, rdata, rdlen = records[opt]
        opt_bytes = response[owner : rdata + rdlen]
        if qend + len(opt_bytes) > limit:
            opt_bytes = response[owner : rdata - 2] + b"\x00\x00"
    qid, flags, qdcount, _, _, _ = _HDR.unpack_from(response)
    header = _HDR.pack(qid, flags | _TC, qdcount, 0, 0, 1 if opt_bytes else 0)
    return header + response[HEADER:qend] + opt_bytes


def tcp_frame(message: bytes) -> bytes:
    """`message` with the 2-byte length prefix of DNS over TCP; ValueError above 65535 bytes."""
    if len(message) > MAX_MESSAGE:
        raise ValueError(f"{len(message)} bytes is longer than a DNS message can be")
    return _U16.pack(len(message)) + message
