"""The DNS front end's wire format, cross-checked with scapy's DNS layer and fuzzed."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import struct
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dns import (
    DNS,
    DNSQR,
    DNSRR,
    DNSRROPT,
    DNSRRRSIG,
    DNSRRSOA,
    EDNS0TLV,
)

from netctl import dnswire as w
from netctl.dnswire import DnsFormatError

ADDR = ipaddress.IPv4Address("10.99.0.1")


def query(
    name: str = "www.example.com",
    qtype: int = w.TYPE_A,
    *,
    udp: int | None = None,
    do: bool = False,
    qid: int = 0x1234,
    rd: int = 1,
    cd: int = 0,
    opcode: int = 0,
) -> bytes:
    """A query built by scapy, with an OPT record when `udp` is given."""
    ar = [DNSRROPT(rclass=udp, z=0x8000 if do else 0)] if udp is not None else []
    pkt = DNS(id=qid, rd=rd, cd=cd, opcode=opcode, qd=DNSQR(qname=name, qtype=qtype), ar=ar)
    return bytes(pkt)


def raw_query(
    name_wire: bytes, *, rest: bytes = b"", counts: tuple[int, ...] = (1, 0, 0, 0)
) -> bytes:
    """A query assembled by hand from a wire-format name (for names scapy would not write)."""
    return struct.pack("!HH4H", 0xBEEF, 0x0100, *counts) + name_wire + b"\x00\x01\x00\x01" + rest


def big_response() -> DNS:
    """CNAME chain, A, RRSIG, AAAA, an A owned by a twice-compressed name, SOA, glue and OPT."""
    return DNS(
        id=0x4242,
        qr=1,
        rd=1,
        ra=1,
        qd=DNSQR(qname="www.Example.com", qtype="A"),
        an=[
            DNSRR(rrname="www.Example.com", type="CNAME", ttl=300, rdata="cdn.example.net"),
            DNSRR(rrname="cdn.example.net", type="A", ttl=60, rdata="192.0.2.1"),
            DNSRRRSIG(
                rrname="cdn.example.net",
                ttl=60,
                typecovered=1,
                algorithm=13,
                labels=3,
                originalttl=3600,
                expiration=1,
                inception=2,
                keytag=3,
                signersname="example.net",
                signature=b"s" * 64,
            ),
            DNSRR(rrname="cdn.example.net", type="AAAA", ttl=7, rdata="2001:db8::1"),
        ],
        ns=[
            DNSRRSOA(
                rrname="example.net",
                ttl=900,
                mname="ns.example.net",
                rname="h.example.net",
                minimum=30,
            )
        ],
        ar=[
            DNSRR(rrname="ns.example.net", type="A", ttl=7200, rdata="192.0.2.53"),
            DNSRROPT(
                rclass=1232,
                extrcode=1,
                version=0,
                z=0x8000,
                rdata=[EDNS0TLV(optcode=12, optdata=b"\0" * 20)],
            ),
        ],
    ).compress()


RESPONSE = bytes(big_response())


def sections(pkt: DNS) -> list:
    return list(pkt.an or []) + list(pkt.ns or []) + list(pkt.ar or [])


def without_ttl(rr) -> bytes:
    """The RR's own bytes (names decompressed) with a zero TTL; OPT records whole."""
    if rr.type == w.TYPE_OPT:
        return bytes(rr)
    rr = rr.copy()
    rr.ttl = 0
    return bytes(rr)


# ---------------------------------------------------------------- parse_query


@pytest.mark.parametrize("qtype", [w.TYPE_A, w.TYPE_AAAA, w.TYPE_HTTPS, w.TYPE_ANY, 15, 16, 65280])
@pytest.mark.parametrize(
    ("udp", "do", "size"),
    [
        (None, False, 512),
        (4096, True, 4096),
        (1232, False, 1232),
        (512, True, 512),
        (100, False, 512),
    ],
)
def test_parse_query_matches_scapy(qtype: int, udp: int | None, do: bool, size: int) -> None:
    packet = query("WWW.Example.COM", qtype, udp=udp, do=do, cd=1)
    q = w.parse_query(packet)
    ref = DNS(packet)
    assert q.id == ref.id == 0x1234
    assert q.flags == struct.unpack_from("!H", packet, 2)[0]
    assert q.opcode == 0
    assert q.qname == ref.qd[0].qname.decode().rstrip(".").lower() == "www.example.com"
    assert (q.qtype, q.qclass) == (qtype, w.CLASS_IN)
    assert q.question_end == 12 + len(b"\x03WWW\x07Example\x03COM\x00") + 4
    assert (q.edns, q.udp_size, q.do) == (udp is not None, size, do)
    assert q.rd and q.cd
    assert not w.parse_query(query(rd=0)).rd
    assert not w.parse_query(query()).cd


def test_parse_query_root_and_escaped_labels() -> None:
    assert w.parse_query(query(".", w.TYPE_NS)).qname == ""
    odd = b"\x03a.b\x02\xffZ\x03a b\x02a\\\x00"
    assert w.parse_query(raw_query(odd)).qname == "a\\046b.\\255z.a\\032b.a\\092"
    # A dot inside a label never reads like two labels; a backslash never reads like an escape.
    assert w.parse_query(raw_query(b"\x03a.b\x00")).qname != w.parse_query(query("a.b")).qname
    assert w.parse_query(raw_query(b"\x04\\046\x00")).qname == "\\092046"


def test_parse_query_name_limits() -> None:
    label63 = b"\x3f" + b"a" * 63
    longest = label63 * 3 + b"\x3d" + b"b" * 61 + b"\x00"  # 255 bytes on the wire
    assert len(longest) == 255
    assert w.parse_query(raw_query(longest)).qname.count(".") == 3
    with pytest.raises(DnsFormatError, match="255"):
        w.parse_query(raw_query(label63 * 4 + b"\x00"))
    for bad in (b"\x40" + b"a" * 64 + b"\x00", b"\x80\x00", b"\x41a\x00"):
        with pytest.raises(DnsFormatError, match="label type"):
            w.parse_query(raw_query(bad))


def test_parse_query_trailing_bytes_and_other_sections() -> None:
    q = w.parse_query(query(udp=4096, do=True) + b"junk after the last record")
    assert q.edns and q.do
    assert w.parse_query(query() + b"\x00" * 40).edns is False
    # OPT after an authority record, found by walking past it (its owner compressed).
    authority = b"\xc0\x0c" + struct.pack("!HHIH", w.TYPE_SOA, 1, 5, 3) + b"abc"
    opt = b"\x00" + struct.pack("!HHIH", w.TYPE_OPT, 2048, 0x8000, 0)
    q = w.parse_query(raw_query(b"\x01x\x00", rest=authority + opt, counts=(1, 0, 1, 1)))
    assert (q.edns, q.udp_size, q.do, q.qname) == (True, 2048, True, "x")


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (b"", "shorter than a DNS header"),
        (query()[:11], "shorter than a DNS header"),
        (bytes(DNS(id=1, qr=1, qd=DNSQR(qname="a.example"))), "QR=1"),
        (struct.pack("!6H", 1, 0, 0, 0, 0, 0), "QDCOUNT 0"),
        (raw_query(b"\x00", counts=(2, 0, 0, 0)) + b"\x00\x00\x01\x00\x01", "QDCOUNT 2"),
        (raw_query(b"\x00", counts=(1, 1, 0, 0)), "ANCOUNT 1"),
        (raw_query(b"\x01a\xc0\x0c"), "compression pointer in the question"),
        (raw_query(b"\x03abc")[:-4], "runs past the end"),
        (raw_query(b"\x03abc\x00")[:-1], "type and class"),
        (
            raw_query(
                b"\x00",
                rest=b"\x01a\x00" + struct.pack("!HHIH", 41, 4096, 0, 0),
                counts=(1, 0, 0, 1),
            ),
            "owner is not the root",
        ),
        (
            raw_query(
                b"\x00",
                rest=(b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 0)) * 2,
                counts=(1, 0, 0, 2),
            ),
            "more than one OPT",
        ),
        (
            raw_query(
                b"\x00", rest=b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 0), counts=(1, 0, 1, 0)
            ),
            "outside the additional",
        ),
        (
            raw_query(
                b"\x00",
                rest=b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 9) + b"12345678",
                counts=(1, 0, 0, 1),
            ),
            "data runs past the end",
        ),
        (
            raw_query(
                b"\x00", rest=b"\x00" + struct.pack("!HHI", 41, 4096, 0), counts=(1, 0, 0, 1)
            ),
            "header runs past the end",
        ),
        (raw_query(b"\x00", counts=(1, 0, 0, 1)), "runs past the end"),
    ],
)
def test_parse_query_rejects(packet: bytes, message: str) -> None:
    with pytest.raises(DnsFormatError, match=message):
        w.parse_query(packet)


def test_parse_query_other_opcodes() -> None:
    notify = bytes(
        DNS(
            id=9,
            opcode=4,
            aa=1,
            qd=DNSQR(qname="example.org", qtype="SOA"),
            an=DNSRRSOA(rrname="example.org", ttl=60),
        )
    )
    q = w.parse_query(notify)
    assert (q.opcode, q.qname, q.qtype) == (4, "example.org", w.TYPE_SOA)
    assert w.parse_query(query(opcode=2, udp=1400)).opcode == 2


def test_parse_query_size_limits() -> None:
    base = query(udp=4096, do=True)
    option_len = w.MAX_MESSAGE - len(base) - 4
    opt_rdata = struct.pack("!HH", 12, option_len) + b"\x00" * option_len
    packet = base[:-2] + struct.pack("!H", len(opt_rdata)) + opt_rdata
    assert len(packet) == 65535
    assert w.parse_query(packet).do
    with pytest.raises(DnsFormatError, match="longer than a DNS message"):
        w.parse_query(packet + b"\x00")


# ---------------------------------------------------------------- block / error responses


def check_header(reply: DNS, packet: bytes, *, rcode: int) -> None:
    ref = DNS(packet)
    assert reply.id == ref.id
    assert (reply.qr, reply.aa, reply.ra, reply.ad, reply.tc) == (1, 0, 1, 0, 0)
    assert (reply.rd, reply.opcode, reply.rcode) == (ref.rd, ref.opcode, rcode)


@pytest.mark.parametrize(("udp", "do"), [(None, False), (4096, False), (1400, True)])
def test_block_nxdomain(udp: int | None, do: bool) -> None:
    packet = query("Ads.Tracker.example", w.TYPE_AAAA, udp=udp, do=do, cd=1)
    q = w.parse_query(packet)
    reply = DNS(w.block_response(q, packet, rcode=w.NXDOMAIN, ttl=10))
    check_header(reply, packet, rcode=w.NXDOMAIN)
    assert reply.cd == 1
    assert reply.qd[0].qname == b"Ads.Tracker.example."  # echoed as asked, case and all
    assert reply.qd[0].qtype == w.TYPE_AAAA
    assert (reply.qdcount, reply.ancount, reply.nscount) == (1, 0, 1)
    soa = reply.ns[0]
    assert (soa.type, soa.rrname, soa.ttl) == (w.TYPE_SOA, b"Ads.Tracker.example.", 10)
    assert (soa.mname, soa.rname) == (b"blocked.simpul.invalid.", b"hostmaster.simpul.invalid.")
    timers = (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum)
    assert timers == (1, 3600, 600, 86400, 10)
    if udp is None:
        assert reply.arcount == 0
    else:
        assert reply.arcount == 1
        opt = reply.ar[0]
        assert (opt.type, opt.rclass, opt.version, opt.z) == (w.TYPE_OPT, 1232, 0, 0x8000 * do)


@pytest.mark.parametrize(
    ("qtype", "answered"),
    [(w.TYPE_A, True), (w.TYPE_ANY, True), (w.TYPE_AAAA, False), (w.TYPE_HTTPS, False)],
)
def test_block_noerror_address(qtype: int, answered: bool) -> None:
    packet = query("blocked.example", qtype, udp=1232, cd=0)
    q = w.parse_query(packet)
    data = w.block_response(q, packet, rcode=w.NOERROR, ttl=3, address=ADDR)
    reply = DNS(data)
    check_header(reply, packet, rcode=w.NOERROR)
    assert reply.cd == 0
    assert (reply.ancount, reply.nscount, reply.arcount) == (int(answered), 1, 1)
    if answered:
        a = reply.an[0]
        assert (a.rrname, a.type, a.rclass, a.ttl, a.rdata) == (
            b"blocked.example.",
            w.TYPE_A,
            w.CLASS_IN,
            3,
            "10.99.0.1",
        )
        assert data[len(packet) - 11 : len(packet) - 9] == b"\xc0\x0c"  # owner: pointer to qname
        assert w.answer_addresses(data) == [("blocked.example", "10.99.0.1", 3)]
    assert reply.ns[0].minimum == 3
    # NODATA with no address at all.
    assert DNS(w.block_response(q, packet, rcode=w.NOERROR, ttl=0)).ancount == 0


def test_block_rejects_bad_arguments() -> None:
    packet = query()
    q = w.parse_query(packet)
    for ttl in (-1, 11, 3600):
        with pytest.raises(ValueError, match="ttl"):
            w.block_response(q, packet, rcode=w.NXDOMAIN, ttl=ttl)
    with pytest.raises(ValueError, match="rcode"):
        w.block_response(q, packet, rcode=w.REFUSED, ttl=5)
    with pytest.raises(ValueError, match="no address"):
        w.block_response(q, packet, rcode=w.NXDOMAIN, ttl=5, address=ADDR)


@pytest.mark.parametrize("rcode", [w.FORMERR, w.SERVFAIL, w.NOTIMP, w.REFUSED])
def test_error_response_to_good_query(rcode: int) -> None:
    packet = query("Mail.example", w.TYPE_HTTPS, udp=4096, do=True, cd=1, opcode=rcode % 3)
    reply = DNS(w.error_response(packet, rcode))
    check_header(reply, packet, rcode=rcode)
    assert reply.cd == 0
    assert (reply.qdcount, reply.ancount, reply.nscount, reply.arcount) == (1, 0, 0, 1)
    assert (reply.qd[0].qname, reply.qd[0].qtype) == (b"Mail.example.", w.TYPE_HTTPS)
    assert (reply.ar[0].type, reply.ar[0].rclass, reply.ar[0].z) == (w.TYPE_OPT, 1232, 0x8000)
    plain = DNS(w.error_response(query(rd=0), rcode))
    assert (plain.qdcount, plain.arcount, plain.rd) == (1, 0, 0)


def test_error_response_to_bad_packets() -> None:
    assert w.error_response(b"", w.FORMERR) is None
    assert w.error_response(b"\x12\x34" + b"\x00" * 9, w.FORMERR) is None
    assert w.error_response(bytes(DNS(id=1, qr=1, qd=DNSQR())), w.FORMERR) is None
    header_only = b"\xab\xcd\x01\x00" + b"\xff" * 8
    reply = DNS(w.error_response(header_only, w.FORMERR))
    assert (reply.id, reply.rd, reply.qr, reply.rcode) == (0xABCD, 1, 1, w.FORMERR)
    assert (reply.qdcount, reply.arcount) == (0, 0)
    two_questions = raw_query(b"\x00", counts=(2, 0, 0, 0)) + b"\x00\x00\x01\x00\x01"
    assert DNS(w.error_response(two_questions, w.FORMERR)).qdcount == 0
    # The question reads but the additional section does not: question echoed, no OPT.
    two_opts = raw_query(
        b"\x01a\x00", rest=(b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 0)) * 2, counts=(1, 0, 0, 2)
    )
    reply = DNS(w.error_response(two_opts, w.FORMERR))
    assert (reply.qdcount, reply.arcount, reply.qd[0].qname) == (1, 0, b"a.")
    with pytest.raises(ValueError, match="rcode"):
        w.error_response(query(), 16)


# ---------------------------------------------------------------- responses


@pytest.mark.parametrize("max_ttl", [0, 30, 60, 899])
def test_clamp_ttls_matches_scapy(max_ttl: int) -> None:
    before = DNS(RESPONSE)
    out = w.clamp_ttls(RESPONSE, max_ttl)
    assert len(out) == len(RESPONSE)
    after = DNS(out)
    old, new = sections(before), sections(after)
    assert [rr.type for rr in new] == [5, 1, 46, 28, 6, 1, 41]
    for o, n in zip(old, new, strict=True):
        assert without_ttl(o) == without_ttl(n)
        if o.type != w.TYPE_OPT:
            assert n.ttl == min(o.ttl, max_ttl)
    assert (new[-1].extrcode, new[-1].version, new[-1].z) == (1, 0, 0x8000)
    assert new[2].originalttl == 3600
    # Only TTL bytes changed: each differing byte lies in 4 bytes that held a TTL above max_ttl
    # and now hold max_ttl.
    lowered = {o.ttl for o in old if o.type != w.TYPE_OPT and o.ttl > max_ttl}
    changed = [i for i, (a, b) in enumerate(zip(RESPONSE, out, strict=True)) if a != b]
    assert changed
    for i in changed:
        assert any(
            struct.unpack_from("!I", RESPONSE, t)[0] in lowered
            and out[t : t + 4] == struct.pack("!I", max_ttl)
            for t in range(i - 3, i + 1)
        )
    assert before.qd[0].qname == after.qd[0].qname and out[:12] == RESPONSE[:12]


def test_clamp_ttls_returns_input_when_nothing_to_lower() -> None:
    assert w.clamp_ttls(RESPONSE, 7200) is RESPONSE
    assert w.clamp_ttls(RESPONSE, 2**31 - 1) is RESPONSE
    nx = w.block_response(w.parse_query(query()), query(), rcode=w.NXDOMAIN, ttl=5)
    assert w.clamp_ttls(nx, 5) is nx
    assert DNS(w.clamp_ttls(nx, 2)).ns[0].ttl == 2
    with pytest.raises(ValueError, match="max_ttl"):
        w.clamp_ttls(RESPONSE, -1)


def test_min_ttl_and_addresses() -> None:
    assert w.min_ttl(RESPONSE) == 7
    assert w.min_ttl(w.clamp_ttls(RESPONSE, 3)) == 3
    nx = w.block_response(w.parse_query(query()), query(), rcode=w.NXDOMAIN, ttl=5)
    assert w.min_ttl(nx) is None
    assert w.answer_addresses(nx) == []
    assert w.answer_addresses(RESPONSE) == [
        ("cdn.example.net", "192.0.2.1", 60),
        ("cdn.example.net", "2001:db8::1", 7),
    ]


def test_answer_addresses_multi_level_compression_and_classes() -> None:
    resp = bytes(
        DNS(
            id=1,
            qr=1,
            qd=DNSQR(qname="example.net"),
            an=[
                DNSRR(rrname="Example.NET", type="NS", rdata="ns.example.net", ttl=5),
                DNSRR(rrname="ns.example.net", type="A", rdata="192.0.2.9", ttl=6),
                DNSRR(rrname="x.ns.example.net", type="A", rdata="192.0.2.10", ttl=8),
                DNSRR(rrname="x.ns.example.net", type="A", rclass=3, rdata="192.0.2.11", ttl=8),
            ],
        ).compress()
    )
    assert resp.count(b"\x02ns") == 1 and resp.count(b"\x01x") == 1  # compressed twice over
    assert w.answer_addresses(resp) == [
        ("ns.example.net", "192.0.2.9", 6),
        ("x.ns.example.net", "192.0.2.10", 8),
    ]
    bad = bytes(DNS(id=1, qr=1, an=DNSRR(rrname="a", type="A", rdata="192.0.2.9")))
    bad = bad[:-6] + b"\x00\x05" + bad[-4:] + b"\x00"
    with pytest.raises(DnsFormatError, match="A record with 5 bytes"):
        w.answer_addresses(bad)


def response_with_owner(owner: bytes, *, at_end: bytes = b"") -> bytes:
    """One question (x.example) and one A record whose owner name is `owner`, as given."""
    head = struct.pack("!6H", 7, 0x8180, 1, 1, 0, 0) + b"\x01x\x07example\x00\x00\x01\x00\x01"
    return head + owner + struct.pack("!HHIH", 1, 1, 300, 4) + b"\xc0\x00\x02\x01" + at_end


@pytest.mark.parametrize(
    "owner",
    [
        b"\xc0\x1b",  # to itself (offset 27)
        b"\xc0\x1d",  # forward
        b"\xff\xff",  # out of bounds
        b"\xc0\x05",  # into the header
        b"\x01a\xc0\x1b",  # back to the start of its own name: a loop through a label
        b"\x01a\x80\x00",  # reserved label type
        b"\x3fa",  # a label that runs off the end
        (b"\x3f" + b"a" * 63) * 4 + b"\x00",  # 257 bytes
    ],
)
def test_bad_owner_names(owner: bytes) -> None:
    packet = response_with_owner(owner)
    assert len(response_with_owner(b"")) == 27 + 14
    for fn in (w.min_ttl, w.answer_addresses, lambda p: w.clamp_ttls(p, 1)):
        with pytest.raises(DnsFormatError):
            fn(packet)


def test_pointer_chain_must_keep_going_back() -> None:
    # Name B at 27 is a pointer to 12; name C at 43 is "\x01b" and a pointer to B. Pointing C's
    # pointer at C itself is refused even though it points before the pointer.
    good = response_with_owner(b"\xc0\x0c") + b"\x01b\xc0\x1b" + struct.pack("!HHIH", 1, 1, 1, 4)
    good = good[:6] + b"\x00\x02" + good[8:] + b"\x7f\x00\x00\x01"
    assert w.answer_addresses(good) == [
        ("x.example", "192.0.2.1", 300),
        ("b.x.example", "127.0.0.1", 1),
    ]
    looping = bytearray(good)
    looping[46] = 43  # C's pointer now targets C itself
    with pytest.raises(DnsFormatError, match="does not point back"):
        w.answer_addresses(bytes(looping))


@pytest.mark.parametrize(
    ("hidden", "expected"),
    [
        (b"\x01a\xc0\x0c", "a.x.example"),  # a fine name in rdata, pointing back to the question
        (b"\x01a\xc0\x27", None),  # points at its own start: a loop
        (b"\x01a\xc0\x2b", None),  # forward, to the A record's owner
    ],
)
def test_owner_pointing_into_rdata(hidden: bytes, expected: str | None) -> None:
    """An owner compressed to a name inside another record's rdata, which no walk checks first."""
    head = struct.pack("!6H", 7, 0x8180, 1, 2, 0, 0) + b"\x01x\x07example\x00\x00\x01\x00\x01"
    null = b"\xc0\x0c" + struct.pack("!HHIH", 10, 1, 5, 4) + hidden  # rdata at 39 (0x27)
    a = b"\xc0\x27" + struct.pack("!HHIH", 1, 1, 6, 4) + b"\xc0\x00\x02\x07"  # owner at 43
    packet = head + null + a
    assert w.min_ttl(packet) == 5  # walking needs only the owner's first pointer
    if expected is None:
        with pytest.raises(DnsFormatError, match="does not point back"):
            w.answer_addresses(packet)
    else:
        assert w.answer_addresses(packet) == [(expected, "192.0.2.7", 6)]


def test_response_record_errors() -> None:
    ok = response_with_owner(b"\xc0\x0c")
    assert w.min_ttl(ok) == 300
    assert w.min_ttl(ok + b"trailing junk") == 300
    with pytest.raises(DnsFormatError, match="data runs past"):
        w.min_ttl(ok[:-1])
    with pytest.raises(DnsFormatError, match="header runs past"):
        w.clamp_ttls(ok[:35], 1)
    with pytest.raises(DnsFormatError, match="shorter than a DNS header"):
        w.clamp_ttls(b"\x00" * 11, 1)
    with pytest.raises(DnsFormatError, match="type and class"):
        w.min_ttl(ok[:26])
    with pytest.raises(DnsFormatError, match="cut off"):
        w.min_ttl(ok[:28])
    opt_in_answer = ok[:27] + b"\x00" + struct.pack("!HHIH", 41, 512, 0, 0)
    with pytest.raises(DnsFormatError, match="outside the additional"):
        w.clamp_ttls(opt_in_answer, 0)


def test_header_helpers() -> None:
    assert w.response_rcode(w.error_response(query(), w.REFUSED)) == w.REFUSED
    assert w.response_rcode(RESPONSE) == w.NOERROR
    with pytest.raises(DnsFormatError):
        w.response_rcode(b"\x00" * 4)
    assert w.packet_id(RESPONSE) == 0x4242 and w.packet_id(b"\x01\x02") == 0x0102
    with pytest.raises(DnsFormatError):
        w.packet_id(b"\x01")
    renumbered = w.with_id(RESPONSE, 0xFFFF)
    assert w.packet_id(renumbered) == 0xFFFF and renumbered[2:] == RESPONSE[2:]
    with pytest.raises(ValueError, match="id"):
        w.with_id(RESPONSE, 0x10000)
    with pytest.raises(DnsFormatError):
        w.with_id(b"", 1)
    assert w.tcp_frame(b"abc") == b"\x00\x03abc"
    assert len(w.tcp_frame(b"\x00" * 65535)) == 65537
    with pytest.raises(ValueError, match="longer"):
        w.tcp_frame(b"\x00" * 65536)


def test_truncated_for_udp() -> None:
    assert w.truncated_for_udp(RESPONSE, len(RESPONSE)) is RESPONSE
    cut = w.truncated_for_udp(RESPONSE, 100)
    reply = DNS(cut)
    assert reply.id == 0x4242 and reply.rcode == 0
    assert (reply.tc, reply.qr, reply.rd, reply.ra) == (1, 1, 1, 1)
    assert (reply.qdcount, reply.ancount, reply.nscount, reply.arcount) == (1, 0, 0, 1)
    assert reply.qd[0].qname == b"www.Example.com."
    opt = reply.ar[0]
    assert (opt.rclass, opt.extrcode, opt.z, opt.rdata[0].optcode) == (1232, 1, 0x8000, 12)
    assert len(cut) <= 100
    tight = w.truncated_for_udp(RESPONSE, 50)  # the padding option no longer fits
    assert len(tight) == 33 + 11 and tight[-2:] == b"\x00\x00"
    assert (DNS(tight).arcount, DNS(tight).ar[0].rclass, DNS(tight).ar[0].z) == (1, 1232, 0x8000)
    no_opt = w.truncated_for_udp(response_with_owner(b"\xc0\x0c"), 30)
    question = b"\x01x\x07example\x00\x00\x01\x00\x01"
    assert no_opt == struct.pack("!6H", 7, 0x8380, 1, 0, 0, 0) + question
    with pytest.raises(DnsFormatError):
        w.truncated_for_udp(RESPONSE[:-1], 100)


def test_responses_of_the_largest_size() -> None:
    many = DNS(
        id=3,
        qr=1,
        qd=DNSQR(qname="big.example"),
        an=[DNSRR(rrname="big.example", type="A", ttl=999, rdata="192.0.2.1")] * 4000,
    )
    packet = bytes(many.compress())
    packet += b"\x00" * (65535 - len(packet))
    assert len(packet) == 65535
    assert w.min_ttl(w.clamp_ttls(packet, 9)) == 9
    assert len(w.answer_addresses(packet)) == 4000
    assert len(w.truncated_for_udp(packet, 512)) == 12 + 17
    with pytest.raises(DnsFormatError, match="longer than a DNS message"):
        w.clamp_ttls(packet + b"\x00", 9)


# ---------------------------------------------------------------- property tests

FUZZ = settings(
    max_examples=1000,
    deadline=timedelta(milliseconds=500),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SEEDS = [
    query(),
    query("a.b.c.example.org", w.TYPE_HTTPS, udp=4096, do=True),
    RESPONSE,
    response_with_owner(b"\xc0\x0c"),
    w.block_response(w.parse_query(query(udp=1232)), query(udp=1232), rcode=0, ttl=5, address=ADDR),
    w.error_response(query(udp=512), w.REFUSED),
]


def survives(packet: bytes) -> None:
    """Every reader either answers or raises DnsFormatError for `packet`."""
    calls = [
        w.parse_query,
        lambda p: w.clamp_ttls(p, 30),
        w.min_ttl,
        w.answer_addresses,
        lambda p: w.truncated_for_udp(p, 40),
        lambda p: w.truncated_for_udp(p, 512),
        w.response_rcode,
        w.packet_id,
        lambda p: w.with_id(p, 1),
    ]
    for call in calls:
        with contextlib.suppress(DnsFormatError):
            call(packet)
    reply = w.error_response(packet, w.FORMERR)
    if reply is not None:
        assert w.min_ttl(reply) is None  # our own reply always reads back
    try:
        q = w.parse_query(packet)
    except DnsFormatError:
        return
    for rcode, address in ((w.NXDOMAIN, None), (w.NOERROR, ADDR)):
        answer = w.block_response(q, packet, rcode=rcode, ttl=4, address=address)
        assert w.clamp_ttls(answer, 4) is answer


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "byte", "cut", "extend", "insert", "delete"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and at < len(data):
            data[at] = draw(st.sampled_from([0, 1, 0x3F, 0x40, 0xC0, 0xFF]) | st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "extend":
            data += draw(st.binary(max_size=40))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_arbitrary_bytes(packet: bytes) -> None:
    survives(packet)


@FUZZ
@given(st.binary(max_size=200).map(lambda b: struct.pack("!6H", 1, 0, 1, 0, 1, 2) + b))
def test_fuzz_plausible_headers(packet: bytes) -> None:
    survives(packet)


@settings(FUZZ, max_examples=3000)
@given(mutants())
def test_fuzz_mutated_packets(packet: bytes) -> None:
    survives(packet)


def unescape(text: str) -> list[bytes]:
    """Labels of name text as `parse_query` writes it (inverse of its escaping)."""
    if not text:
        return []
    return [
        re.sub(rb"\\(\d{3})", lambda m: bytes([int(m[1])]), label.encode("ascii"))
        for label in text.split(".")
    ]


@FUZZ
@given(
    st.lists(st.binary(min_size=1, max_size=63), max_size=5).filter(
        lambda labels: sum(len(x) + 1 for x in labels) < 255
    ),
    st.integers(0, 0xFFFF),
)
def test_qname_text_is_faithful(labels: list[bytes], qtype: int) -> None:
    wire = b"".join(bytes([len(x)]) + x for x in labels) + b"\x00"
    packet = raw_query(wire)[:-4] + struct.pack("!HH", qtype, 1)
    q = w.parse_query(packet)
    assert unescape(q.qname) == [x.lower() for x in labels]
    assert q.qname.isascii() and q.qname.isprintable()
    assert (q.qtype, q.question_end) == (qtype, len(packet))


@settings(FUZZ, max_examples=60)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=7, max_size=7), st.integers(0, 2**31 - 1))
def test_clamp_random_ttls(ttls: list[int], max_ttl: int) -> None:
    pkt = big_response()
    records = sections(pkt)
    for rr, ttl in zip(records[:-1], ttls, strict=False):
        rr.ttl = ttl
    packet = bytes(pkt)
    out = w.clamp_ttls(packet, max_ttl)
    new = sections(DNS(out))
    assert [rr.ttl for rr in new[:-1]] == [min(t, max_ttl) for t in ttls[:6]]
    assert without_ttl(new[-1]) == without_ttl(records[-1])
    assert (out is packet) == all(t <= max_ttl for t in ttls[:6])
    assert w.min_ttl(out) == min(min(t, max_ttl) for t in ttls[:4])
