"""What SNMP answers mean: engine errors named for a person, GETBULK walks, IF-MIB rows with
type checks, sysUpTime and profile readings."""

from __future__ import annotations

from typing import Any

import pytest
from pyasn1.codec.ber import encoder
from pysnmp.proto import errind, rfc1902, rfc1905
from pysnmp.proto.api import v2c

from monitoring.snmp import decode
from monitoring.snmp.decode import Failure, Oid, TableWalk
from monitoring.snmp.model import V3, Target, V2c
from monitoring.snmp.profiles import parse_profile

V2C_TARGET = Target("site-a", "10.9.1.2", credentials=V2c("s3cret"))
V3_TARGET = Target("site-b", "10.9.2.2", credentials=V3("nms", "authkey123", "privkey123"))


def test_timeout_v2c_names_the_community() -> None:
    error = decode.engine_error(errind.requestTimedOut, V2C_TARGET)
    assert error.kind == "timeout"
    assert error.message.startswith("no response from 10.9.1.2:161 after 3 tries of 4 s")
    assert "the community is wrong" in error.message


def test_timeout_v3_names_the_privacy_password() -> None:
    error = decode.engine_error(errind.requestTimedOut, V3_TARGET)
    assert error.kind == "timeout"
    assert "the v3 privacy password is wrong" in error.message


def test_timeout_with_junk_replies_is_garbage() -> None:
    error = decode.engine_error(errind.requestTimedOut, V2C_TARGET, garbage=3)
    assert error.kind == "garbage"
    assert error.message.startswith("3 reply datagram(s) from 10.9.1.2:161 were not SNMP")


@pytest.mark.parametrize(
    ("indication", "text"),
    [
        (errind.wrongDigest, "wrong auth password or protocol for v3 user nms"),
        (errind.unknownUserName, "the agent has no v3 user nms (usmStatsUnknownUserNames)"),
        (errind.decryptionError, "wrong privacy password or protocol for v3 user nms"),
        (errind.unsupportedSecurityLevel, "does not allow authPriv for v3 user nms"),
    ],
)
def test_usm_reports_are_auth_errors(indication: errind.ErrorIndication, text: str) -> None:
    error = decode.engine_error(indication, V3_TARGET)
    assert error.kind == "auth"
    assert text in error.message


def test_other_engine_errors_are_protocol_errors() -> None:
    error = decode.engine_error(errind.parseError, V2C_TARGET)
    assert error.kind == "protocol"
    assert "10.9.1.2:161" in error.message


def test_error_status_names_the_object() -> None:
    error = decode.status_error(5, 2, [(1, 3), (1, 3, 6, 1, 2, 1, 1, 3)])
    assert error.kind == "snmp-error"
    assert error.message == "the agent answered genErr at 1.3.6.1.2.1.1.3"
    assert decode.status_error(99, 0, []).message == "the agent answered error 99"


def test_is_snmp() -> None:
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiMessage.set_pdu(message, pdu)
    assert decode.is_snmp(encoder.encode(message))
    assert not decode.is_snmp(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert not decode.is_snmp(b"\x30\x03\x02\x01\x63")  # a BER sequence, version 99
    assert not decode.is_snmp(b"")


COL_A: Oid = (1, 3, 6, 1, 9, 1)
COL_B: Oid = (1, 3, 6, 1, 9, 2)


def test_table_walk_follows_each_column_to_its_end() -> None:
    walk = TableWalk([COL_A, COL_B])
    # max-repetitions 2: rows 1 and 2 of each column
    walk.feed(
        walk.pending,
        [
            ((*COL_A, 1), rfc1902.Integer(10)),
            ((*COL_B, 1), rfc1902.Integer(20)),
            ((*COL_A, 2), rfc1902.Integer(11)),
            ((*COL_B, 2), rfc1902.Integer(21)),
        ],
    )
    assert walk.pending == (COL_A, COL_B)
    assert walk.position == {COL_A: (*COL_A, 2), COL_B: (*COL_B, 2)}
    # column A has a third row; B has ended (the agent moved on to the next column)
    walk.feed(
        walk.pending,
        [
            ((*COL_A, 3), rfc1902.Integer(12)),
            ((*COL_B[:-1], 3, 1), rfc1902.Integer(0)),
            ((*COL_B, 1), rfc1902.Integer(20)),
            ((*COL_B[:-1], 3, 2), rfc1902.Integer(0)),
        ],
    )
    assert walk.pending == ()
    assert walk.rows[COL_A] == {(1,): 10, (2,): 11, (3,): 12}
    assert walk.rows[COL_B] == {(1,): 20, (2,): 21}
    assert walk.longest == 3


def test_table_walk_end_of_mib_view_ends_a_column() -> None:
    walk = TableWalk([COL_B])
    walk.feed(walk.pending, [((*COL_B, 1), rfc1902.Integer(1)), (COL_B, rfc1905.endOfMibView)])
    assert walk.pending == ()


def test_table_walk_rejects_oids_that_do_not_increase() -> None:
    walk = TableWalk([COL_A])
    walk.feed(walk.pending, [((*COL_A, 5), rfc1902.Integer(1))])
    with pytest.raises(Failure, match=r"the agent's OIDs do not increase at 1\.3\.6\.1\.9\.1\.5"):
        walk.feed(walk.pending, [((*COL_A, 5), rfc1902.Integer(1))])


def test_table_walk_rejects_an_empty_answer() -> None:
    walk = TableWalk([COL_A])
    with pytest.raises(Failure, match="no rows for a GETBULK"):
        walk.feed(walk.pending, [])


def _if_rows() -> dict[Oid, dict[Oid, Any]]:
    return {
        decode.IF_NAME: {(1,): rfc1902.OctetString(b"lo"), (2,): rfc1902.OctetString(b"eth0")},
        decode.IF_HC_IN_OCTETS: {(1,): rfc1902.Counter64(100), (2,): rfc1902.Counter64(2**40)},
        decode.IF_HC_OUT_OCTETS: {(1,): rfc1902.Counter64(100), (2,): rfc1902.Counter64(7)},
        decode.IF_HIGH_SPEED: {(1,): rfc1902.Gauge32(0), (2,): rfc1902.Gauge32(1000)},
        decode.IF_OPER_STATUS: {(1,): rfc1902.Integer(1), (2,): rfc1902.Integer(2)},
    }


def test_interfaces_from_64_bit_rows() -> None:
    lo, eth0 = decode.interfaces(_if_rows())
    assert (lo.name, lo.in_octets, lo.speed_mbps, lo.counter_bits) == ("lo", 100, None, 64)
    assert (eth0.name, eth0.in_octets, eth0.out_octets) == ("eth0", 2**40, 7)
    assert (eth0.oper_status, eth0.speed_mbps) == (2, 1000.0)
    assert not decode.needs_legacy(_if_rows())


def test_interfaces_fall_back_to_32_bit_counters() -> None:
    rows = _if_rows()
    rows[decode.IF_HC_IN_OCTETS] = {}
    rows[decode.IF_HC_OUT_OCTETS] = {}
    rows[decode.IF_NAME] = {}
    assert decode.needs_legacy(rows)
    rows[decode.IF_DESCR] = {(1,): rfc1902.OctetString(b"lo"), (2,): rfc1902.OctetString(b"ppp0")}
    rows[decode.IF_IN_OCTETS] = {(1,): rfc1902.Counter32(5), (2,): rfc1902.Counter32(6)}
    rows[decode.IF_OUT_OCTETS] = {(1,): rfc1902.Counter32(7), (2,): rfc1902.Counter32(8)}
    rows[decode.IF_SPEED] = {(2,): rfc1902.Gauge32(2_048_000)}
    _lo, ppp = decode.interfaces(rows)
    assert (ppp.name, ppp.in_octets, ppp.out_octets, ppp.counter_bits) == ("ppp0", 6, 8, 32)
    assert ppp.speed_mbps == pytest.approx(2.048)


def test_a_counter_of_the_wrong_type_fails_the_target() -> None:
    rows = _if_rows()
    rows[decode.IF_HC_IN_OCTETS][(2,)] = rfc1902.OctetString(b"12345")
    with pytest.raises(Failure) as caught:
        decode.interfaces(rows)
    assert caught.value.error.kind == "wrong-type"
    assert caught.value.error.message == "ifHCInOctets.2 is OctetString, not Counter64"


def test_uptime_needs_sys_uptime_0() -> None:
    assert decode.uptime_ticks(((1, 3, 6, 1, 2, 1, 1, 3, 0), rfc1902.TimeTicks(4200))) == 4200
    with pytest.raises(Failure) as caught:
        decode.uptime_ticks(((1, 3, 6, 1, 2, 1, 1, 4, 0), rfc1902.OctetString(b"root")))
    assert caught.value.error.kind == "no-such-object"
    assert "sysUpTime.0 is missing" in caught.value.error.message
    with pytest.raises(Failure, match=r"sysUpTime.0 is Integer32, not TimeTicks"):
        decode.uptime_ticks(((1, 3, 6, 1, 2, 1, 1, 3, 0), rfc1902.Integer32(5)))


PROFILE = parse_profile(
    """\
name: m
description: x
values:
  - {name: snr, column: 1.3.6.1.4.1.99.2, type: gauge, text: true, unit: dB}
  - {name: temp, oid: 1.3.6.1.4.1.99.3.0, type: gauge, scale: 0.1}
  - {name: errors, oid: 1.3.6.1.4.1.99.4.0, type: counter}
"""
)


def test_profile_readings_and_their_errors() -> None:
    snr, temp, errors = PROFILE.values
    assert decode.reading(snr, (1,), rfc1902.OctetString(b"11.5"), "7").value == 11.5
    assert decode.reading(temp, (1,), rfc1902.Integer32(415)).value == pytest.approx(41.5)
    assert decode.reading(errors, (1,), rfc1902.Counter32(9)).value == 9
    missing = decode.reading(temp, (1, 3, 6, 1, 4, 1, 99, 3, 0), rfc1905.noSuchObject)
    assert missing.value is None
    assert missing.error is not None
    assert missing.error.startswith("NoSuchObject at 1.3.6.1.4.1.99.3.0: the device does not")
    wrong = decode.reading(errors, (1,), rfc1902.Integer32(9))
    assert wrong.error == "errors is Integer32, not Counter32 or Counter64"
    text_expected = decode.reading(snr, (1,), rfc1902.Integer32(11))
    assert text_expected.error == "snr is Integer32, not OctetString"


def test_walked_profile_column_readings() -> None:
    snr = PROFILE.values[0]
    rows = {(4242,): rfc1902.OctetString(b"9.5 dB"), (4243,): rfc1902.OctetString(b"12")}
    readings = decode.column_readings(snr, rows)
    assert [(r.index, r.value) for r in readings] == [("4242", 9.5), ("4243", 12.0)]
    (empty,) = decode.column_readings(snr, {})
    assert empty.error is not None
    assert empty.error.startswith("no rows under 1.3.6.1.4.1.99.2: the device does not implement")
