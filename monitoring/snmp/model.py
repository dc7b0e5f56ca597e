"""Value objects of SNMP polling: what to poll (Target and its credentials) and what came back
(PollResult: interfaces, profile readings, or one clear per-target error)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from monitoring.snmp.profiles import Profile

# One satellite hop is 550-800 ms RTT and rain fade loses packets for seconds: a request gets
# 4 s before it is sent again, twice (LibreNMS's 500 ms ping and pysnmp's 1 s would flap).
VSAT_TIMEOUT_S = 4.0
VSAT_RETRIES = 2
DEFAULT_REPETITIONS = 10  # GETBULK rows per column until a target's table size is known

Level = Literal["ok", "warning", "critical"]
ErrorKind = Literal[
    "timeout",  # no answer at all (also a wrong v2c community or v3 privacy password)
    "auth",  # the agent refused our SNMPv3 credentials (a usmStats report)
    "garbage",  # datagrams came back that are not SNMP
    "snmp-error",  # an error-status in the response PDU (e.g. genErr)
    "no-such-object",  # the agent does not implement an object we must have
    "wrong-type",  # an object came back with a type other than its MIB's
    "protocol",  # any other SNMP engine failure (decoding, non-increasing OIDs, ...)
    "config",  # the target cannot be polled as configured
    "http",  # an HTTP status page could not be fetched
]


@dataclass(frozen=True)
class V2c:
    """SNMPv2c: a community string."""

    community: str = "public"


@dataclass(frozen=True)
class V3:
    """SNMPv3 authPriv. `engine_id` (the agent's, hex) is only needed when two targets share a
    user name with different keys: one engine keeps one key set per user name otherwise."""

    user: str
    auth_key: str
    priv_key: str
    auth_protocol: Literal["SHA", "SHA-256"] = "SHA"
    priv_protocol: Literal["AES"] = "AES"
    engine_id: str | None = None


@dataclass(frozen=True)
class Target:
    """One device to poll. `index` selects the row of the profile's table columns (e.g. an
    iDirect remote's DID on the hub's NMS proxy); without it those columns are walked."""

    name: str
    host: str
    port: int = 161
    credentials: V2c | V3 = field(default_factory=V2c)
    timeout_s: float = VSAT_TIMEOUT_S
    retries: int = VSAT_RETRIES
    max_repetitions: int = DEFAULT_REPETITIONS
    profile: Profile | None = None
    index: str | None = None


@dataclass(frozen=True)
class PollError:
    """Why a target gave no data, for a person to act on."""

    kind: ErrorKind
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class InterfaceSample:
    """One IF-MIB row: octet counters (64-bit ifHC* or, where absent, 32-bit ifTable ones)."""

    index: int
    name: str
    oper_status: int | None  # ifOperStatus: 1 up, 2 down, 3 testing, ...
    in_octets: int | None
    out_octets: int | None
    counter_bits: Literal[32, 64]
    speed_mbps: float | None  # ifHighSpeed (ifSpeed / 1e6 on 32-bit devices); None if 0


@dataclass(frozen=True)
class Reading:
    """One profile value as read: scaled value, enum label, threshold level or an error."""

    name: str
    index: str  # "" for a scalar, the row index for a table column
    value: float | int | str | None
    unit: str = ""
    label: str | None = None
    level: Level | None = None
    error: str | None = None


@dataclass(frozen=True)
class PollResult:
    """A target's data, or `error` (then the data fields are empty)."""

    target: str
    started: float  # wall clock (time.time) when the poll began
    at: float  # time.monotonic() when sysUpTime's response arrived (the sample's time)
    duration_s: float
    uptime_ticks: int | None = None  # sysUpTime, hundredths of a second
    interfaces: tuple[InterfaceSample, ...] = ()
    readings: tuple[Reading, ...] = ()
    error: PollError | None = None

    @property
    def ok(self) -> bool:
        """True when the target answered with usable data."""
        return self.error is None

    def interface(self, name: str) -> InterfaceSample | None:
        """The interface called `name` (ifName), if present."""
        return next((i for i in self.interfaces if i.name == name), None)
