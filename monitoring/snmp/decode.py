"""What an SNMP answer means: engine errors named for a person, GETBULK walks of several columns
at once, type checks, and IF-MIB rows and profile values built from varbinds. Pure: varbinds in
(OID tuples and pysnmp values), value objects out; failures raise `Failure`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import errind, rfc1902, rfc1905
from pysnmp.proto.api import verdec
from pysnmp.proto.error import ProtocolError

from monitoring.snmp.model import InterfaceSample, PollError, Reading, Target, V2c
from monitoring.snmp.profiles import ValueSpec, make_reading, unread

Oid = tuple[int, ...]
VarBind = tuple[Oid, Any]

SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3)  # asked with GETNEXT: the answer is sysUpTime.0
IF_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_DESCR, IF_SPEED, IF_OPER_STATUS = (*IF_ENTRY, 2), (*IF_ENTRY, 5), (*IF_ENTRY, 8)
IF_IN_OCTETS, IF_OUT_OCTETS = (*IF_ENTRY, 10), (*IF_ENTRY, 16)
IF_NAME, IF_HIGH_SPEED = (*IF_X_ENTRY, 1), (*IF_X_ENTRY, 15)
IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS = (*IF_X_ENTRY, 6), (*IF_X_ENTRY, 10)

# Always walked: ifXTable's name, 64-bit counters and speed, and ifTable's status (every
# interface has an ifTable row, so it is also the list of interfaces).
IF_COLUMNS: tuple[Oid, ...] = (
    IF_NAME,
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
    IF_HIGH_SPEED,
    IF_OPER_STATUS,
)
# Walked only for devices without the 64-bit columns (old or tiny agents).
LEGACY_COLUMNS: tuple[Oid, ...] = (IF_DESCR, IF_SPEED, IF_IN_OCTETS, IF_OUT_OCTETS)

MAX_ROUNDS = 64  # GETBULK round trips for one walk: a table longer than this is a broken agent

_ABSENT = (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)
_GAUGES = (rfc1902.Integer32, rfc1902.Unsigned32, rfc1902.Gauge32)
_COUNTERS = (rfc1902.Counter32, rfc1902.Counter64)
_NAMES = {
    IF_NAME: "ifName",
    IF_HC_IN_OCTETS: "ifHCInOctets",
    IF_HC_OUT_OCTETS: "ifHCOutOctets",
    IF_HIGH_SPEED: "ifHighSpeed",
    IF_OPER_STATUS: "ifOperStatus",
    IF_DESCR: "ifDescr",
    IF_SPEED: "ifSpeed",
    IF_IN_OCTETS: "ifInOctets",
    IF_OUT_OCTETS: "ifOutOctets",
}

# error-status values of RFC 3416
_ERROR_STATUS = (
    "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
    "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue",
    "resourceUnavailable", "commitFailed", "undoFailed", "authorizationError", "notWritable",
    "inconsistentName",
)  # fmt: skip

# The USM reports of RFC 3414 (section 3.2) that pysnmp turns into error indications.
_USM_REPORTS: tuple[tuple[type[errind.ErrorIndication], str], ...] = (
    (errind.WrongDigest, "authentication failed: wrong auth password or protocol for v3 user "
     "{user} (the agent reported usmStatsWrongDigests)"),
    (errind.UnknownUserName, "the agent has no v3 user {user} (usmStatsUnknownUserNames)"),
    (errind.UnsupportedSecurityLevel, "the agent does not allow authPriv for v3 user {user} "
     "(usmStatsUnsupportedSecLevels)"),
    (errind.DecryptionError, "the agent could not decrypt our request: wrong privacy password "
     "or protocol for v3 user {user} (usmStatsDecryptionErrors)"),
    (errind.NotInTimeWindow, "the agent's engine boots/time disagree with ours "
     "(usmStatsNotInTimeWindows)"),
    (errind.UnknownEngineID, "the agent does not know the engine ID we used "
     "(usmStatsUnknownEngineIDs): check the target's engine_id"),
)  # fmt: skip


class Failure(Exception):
    """The target gives no data this time; `error` says why."""

    def __init__(self, error: PollError) -> None:
        super().__init__(str(error))
        self.error = error


def oid_str(oid: Oid) -> str:
    """Dotted text of an OID."""
    return ".".join(map(str, oid))


def tries(retries: int) -> str:
    """'1 try', '3 tries': the requests made with `retries` retries."""
    return f"{retries + 1} tr{'y' if retries == 0 else 'ies'}"


def is_snmp(datagram: bytes) -> bool:
    """Whether a datagram starts like an SNMP message of a known version (v1, v2c, v3)."""
    try:
        return int(verdec.decode_message_version(datagram)) in (0, 1, 3)
    except ProtocolError:
        return False


def engine_error(indication: Exception, target: Target, garbage: int = 0) -> PollError:
    """A person's reading of pysnmp's error indication for `target`. `garbage` counts the
    datagrams from the target's address that were not SNMP while the request was pending."""
    where = f"{target.host}:{target.port}"
    if isinstance(indication, errind.RequestTimedOut):
        if garbage:
            return PollError(
                "garbage",
                f"{garbage} reply datagram(s) from {where} were not SNMP messages and no valid "
                f"response came: something other than an SNMP agent answers on that port",
            )
        if isinstance(target.credentials, V2c):
            hint = (
                "the community is wrong (agents silently drop requests with an unknown "
                "community, so a wrong one looks exactly like this)"
            )
        else:
            hint = (
                "the v3 privacy password is wrong (the agent cannot decrypt the request and "
                "drops it)"
            )
        return PollError(
            "timeout",
            f"no response from {where} after {tries(target.retries)} of {target.timeout_s:g} s: "
            f"the device or its link is down, or {hint}",
        )
    user = getattr(target.credentials, "user", "?")
    for kind, text in _USM_REPORTS:
        if isinstance(indication, kind):
            return PollError("auth", text.format(user=user))
    return PollError("protocol", f"SNMP engine error from {where}: {indication}")


def status_error(status: int, index: int, requested: Sequence[Oid]) -> PollError:
    """An error-status in a response PDU (index counts requested varbinds from 1)."""
    name = _ERROR_STATUS[status] if 0 <= status < len(_ERROR_STATUS) else f"error {status}"
    at = f" at {oid_str(requested[index - 1])}" if 0 < index <= len(requested) else ""
    return PollError("snmp-error", f"the agent answered {name}{at}")


def _type_name(value: Any) -> str:
    return type(value).__name__


def _expect(value: Any, kinds: tuple[type, ...], what: str) -> Any:
    if isinstance(value, _ABSENT):
        raise Failure(PollError("no-such-object", f"{what}: {_type_name(value)}"))
    if not isinstance(value, kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise Failure(PollError("wrong-type", f"{what} is {_type_name(value)}, not {expected}"))
    return value


def uptime_ticks(varbind: VarBind | None) -> int:
    """sysUpTime.0 from the GETNEXT of sysUpTime (a GETBULK non-repeater)."""
    if varbind is None:
        raise Failure(PollError("protocol", "the response has no sysUpTime varbind"))
    oid, value = varbind
    if oid != (*SYS_UPTIME, 0) or isinstance(value, _ABSENT):
        raise Failure(
            PollError(
                "no-such-object",
                f"sysUpTime.0 is missing (the agent's next object was {oid_str(oid)}): "
                f"without it a device restart cannot be told from a counter reset",
            )
        )
    return int(_expect(value, (rfc1902.TimeTicks,), "sysUpTime.0"))


class TableWalk:
    """GETBULK bookkeeping for several columns walked side by side: each column continues from
    its last OID until the agent's answer leaves it. Rows are kept per column by index."""

    def __init__(self, columns: Sequence[Oid]) -> None:
        self.position: dict[Oid, Oid] = {column: column for column in columns}
        self.rows: dict[Oid, dict[Oid, Any]] = {column: {} for column in columns}
        self.rounds = 0

    @property
    def pending(self) -> tuple[Oid, ...]:
        """Columns not finished, in request order."""
        return tuple(self.position)

    def feed(self, requested: Sequence[Oid], varbinds: Sequence[VarBind]) -> None:
        """Take the repeaters of one response to a GETBULK of `requested` (at their positions)."""
        self.rounds += 1
        progressed = False
        width = len(requested)
        for i, (oid, value) in enumerate(varbinds):
            column = requested[i % width]
            last = self.position.get(column)
            if last is None:
                continue  # this column ended earlier in this response
            if isinstance(value, rfc1905.EndOfMibView) or oid[: len(column)] != column:
                del self.position[column]
                progressed = True
                continue
            if oid <= last:
                raise Failure(
                    PollError("protocol", f"the agent's OIDs do not increase at {oid_str(oid)}")
                )
            self.rows[column][oid[len(column) :]] = value
            self.position[column] = oid
            progressed = True
        if self.position and not progressed:
            raise Failure(PollError("protocol", "the agent returned no rows for a GETBULK"))
        if self.position and self.rounds >= MAX_ROUNDS:
            raise Failure(
                PollError("protocol", f"a table did not end after {MAX_ROUNDS} GETBULK rounds")
            )

    @property
    def longest(self) -> int:
        """Rows of the longest column."""
        return max((len(rows) for rows in self.rows.values()), default=0)


def _index(suffix: Oid, column: Oid) -> int:
    if len(suffix) != 1:
        raise Failure(
            PollError("protocol", f"{_NAMES[column]} has a row index of {len(suffix)} parts")
        )
    return suffix[0]


def needs_legacy(rows: Mapping[Oid, Mapping[Oid, Any]]) -> bool:
    """Whether some interface lacks the 64-bit counters (so the 32-bit ones must be read)."""
    return any(
        index not in rows[IF_HC_IN_OCTETS] or index not in rows[IF_HC_OUT_OCTETS]
        for index in rows[IF_OPER_STATUS]
    )


def _text(value: Any, what: str) -> str:
    octets = _expect(value, (univ.OctetString,), what).asOctets()
    return str(octets.decode("utf-8", "replace"))


def interfaces(rows: Mapping[Oid, Mapping[Oid, Any]]) -> tuple[InterfaceSample, ...]:
    """IF-MIB rows as samples: 64-bit counters where present, else 32-bit (when walked)."""

    def cell(column: Oid, suffix: Oid, kinds: tuple[type, ...]) -> Any:
        value = rows.get(column, {}).get(suffix)
        what = f"{_NAMES[column]}.{oid_str(suffix)}"
        return None if value is None else _expect(value, kinds, what)

    out = []
    for suffix, status in rows[IF_OPER_STATUS].items():
        index = _index(suffix, IF_OPER_STATUS)
        oper = int(_expect(status, (rfc1902.Integer32,), f"ifOperStatus.{index}"))
        name = cell(IF_NAME, suffix, (univ.OctetString,))
        if name is None:
            name = cell(IF_DESCR, suffix, (univ.OctetString,))
        hc_in = cell(IF_HC_IN_OCTETS, suffix, (rfc1902.Counter64,))
        hc_out = cell(IF_HC_OUT_OCTETS, suffix, (rfc1902.Counter64,))
        if hc_in is not None and hc_out is not None:
            bits, in_octets, out_octets = 64, hc_in, hc_out
            speed = cell(IF_HIGH_SPEED, suffix, _GAUGES)
            speed_mbps = float(speed) if speed else None
        else:
            bits = 32
            in_octets = cell(IF_IN_OCTETS, suffix, (rfc1902.Counter32,))
            out_octets = cell(IF_OUT_OCTETS, suffix, (rfc1902.Counter32,))
            speed = cell(IF_SPEED, suffix, _GAUGES)
            speed_mbps = float(speed) / 1e6 if speed else None
        out.append(
            InterfaceSample(
                index=index,
                name=_text(name, f"ifName.{index}") if name is not None else f"if{index}",
                oper_status=oper,
                in_octets=None if in_octets is None else int(in_octets),
                out_octets=None if out_octets is None else int(out_octets),
                counter_bits=bits,  # type: ignore[arg-type]
                speed_mbps=speed_mbps,
            )
        )
    return tuple(sorted(out, key=lambda i: i.index))


def _raw(spec: ValueSpec, value: Any) -> int | str:
    what = spec.name
    if spec.text:
        return _text(value, what)
    kinds = _COUNTERS if spec.type == "counter" else _GAUGES
    return int(_expect(value, kinds, what))


def reading(spec: ValueSpec, oid: Oid, value: Any, index: str = "") -> Reading:
    """One profile value from its varbind; a missing object or a wrong type is the reading's
    error (the rest of the target's data stands)."""
    if isinstance(value, _ABSENT):
        return unread(
            spec,
            f"{_type_name(value)} at {oid_str(oid)}: the device does not implement it "
            f"(wrong profile, or wrong row index?)",
            index,
        )
    try:
        return make_reading(spec, _raw(spec, value), index)
    except Failure as exc:
        return unread(spec, exc.error.message, index)


def column_readings(spec: ValueSpec, rows: Mapping[Oid, Any]) -> tuple[Reading, ...]:
    """A walked profile column as one reading per row; an empty column is one error."""
    column = spec.address()
    if not rows:
        error = f"no rows under {spec.column}: the device does not implement it (wrong profile?)"
        return (unread(spec, error),)
    return tuple(
        reading(spec, (*column, *suffix), value, oid_str(suffix)) for suffix, value in rows.items()
    )
