"""The SNMP poller: one pysnmp SnmpEngine (one UDP socket) for every target, at most
`max_concurrent` targets in flight, satellite-aware timeouts per target.

Each SNMP target costs one round trip when all is well: a GETBULK with sysUpTime as non-repeater
and the IF-MIB columns (plus the profile's walked columns) as repeaters, and, at the same time, a
GET of the profile's scalars. The GETBULK's max-repetitions follows the row count seen last time,
so the walk ends in that one answer. A device without 64-bit counters is remembered and gets the
32-bit ifTable columns in the same GETBULK from then on. `http` profiles fetch a status page
instead. Whatever goes wrong, a target ends as a `PollResult` with a clear `error`; one bad
target never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC192_SHA256,
    USM_PRIV_CFB128_AES,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
)
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator

from monitoring.snmp import decode
from monitoring.snmp.decode import Failure, Oid, TableWalk, VarBind
from monitoring.snmp.http_status import extract, status_url
from monitoring.snmp.model import V3, PollError, PollResult, Reading, Target, V2c

log = logging.getLogger("simpul.monitor.snmp")

MAX_CONCURRENT = 100
MAX_REPETITIONS = 50  # the most rows asked per column in one GETBULK
RECEIVE_BUFFER = 4 << 20  # bursts of answers from many agents at once
MAX_CACHED_OBJECTS = 20_000
_AUTH = {"SHA": USM_AUTH_HMAC96_SHA, "SHA-256": USM_AUTH_HMAC192_SHA256}
_PRIV = {"AES": USM_PRIV_CFB128_AES}


class Poller:
    """Polls targets through one SNMP engine; use as `async with Poller() as poller:`."""

    def __init__(self, max_concurrent: int = MAX_CONCURRENT) -> None:
        self.max_concurrent = max_concurrent
        self._engine: SnmpEngine | None = None
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._lcd = CommandGeneratorLcdConfigurator()
        self._transports: dict[tuple[str, int, float, int], UdpTransportTarget] = {}
        self._users: dict[tuple[str, str | None], tuple[V3, str]] = {}  # -> keys, first target
        self._legacy: set[str] = set()  # targets without 64-bit interface counters
        self._repetitions: dict[str, int] = {}  # per target: rows seen last time + 1
        self._garbage: Counter[tuple[str, int]] = Counter()  # non-SNMP datagrams by sender
        self._objects: dict[Oid, ObjectType] = {}

    async def __aenter__(self) -> Poller:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Create the engine and its UDP socket (call from the running event loop)."""
        engine = SnmpEngine()
        dispatcher = AsyncioDispatcher()
        engine.register_transport_dispatcher(dispatcher)
        # Sees every datagram before pysnmp drops what it cannot parse: the only way to tell
        # "something answers, but not SNMP" from "nothing answers".
        dispatcher.register_routing_callback(self._route)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind(("0.0.0.0", 0))
        sock.setblocking(False)
        transport = udp.UdpAsyncioTransport().open_server_mode(sock=sock)
        config.add_transport(engine, udp.DOMAIN_NAME, transport)
        self._engine = engine

    def close(self) -> None:
        """Close the socket and the engine."""
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None

    def _route(self, _domain: Any, address: Any, message: bytes) -> None:
        if not decode.is_snmp(message):
            self._garbage[(address[0], address[1])] += 1

    @property
    def engine(self) -> SnmpEngine:
        """The running engine."""
        if self._engine is None:
            raise RuntimeError("the poller is not started")
        return self._engine

    async def poll(self, targets: Sequence[Target]) -> list[PollResult]:
        """Poll every target (at most `max_concurrent` at once); results in the same order."""
        for target in targets:
            # Registering every target before the first request: pysnmp rebuilds its address
            # map on the first answer after each change, which interleaved costs O(n^2).
            if not _is_http(target):
                with contextlib.suppress(Failure):  # poll_one reports it
                    await self._prepare(target)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self.poll_one(target)) for target in targets]
        return [task.result() for task in tasks]

    async def poll_one(self, target: Target) -> PollResult:
        """Poll one target; never raises for the target's own failures."""
        async with self._semaphore:
            started, t0 = time.time(), time.monotonic()
            try:
                if _is_http(target):
                    return await self._poll_http(target, started, t0)
                return await self._poll_snmp(target, started, t0)
            except Failure as exc:
                error = exc.error
            except Exception as exc:  # one broken target must not stop the others
                log.exception("polling %s failed", target.name)
                error = PollError("protocol", f"{type(exc).__name__}: {exc}")
            now = time.monotonic()
            return PollResult(target.name, started, now, now - t0, error=error)

    # -- SNMP -------------------------------------------------------------------------------------

    def _auth(self, target: Target) -> CommunityData | UsmUserData:
        creds = target.credentials
        if isinstance(creds, V2c):
            return CommunityData(creds.community, mpModel=1)
        known, first = self._users.setdefault((creds.user, creds.engine_id), (creds, target.name))
        if known != creds:
            raise Failure(
                PollError(
                    "config",
                    f"v3 user {creds.user!r} has other keys here than on target {first!r}, and "
                    f"one SNMP engine holds one key set per user name: if this password is a "
                    f"typo, fix it; if the devices really differ, set engine_id on them",
                )
            )
        engine_id = bytes.fromhex(creds.engine_id) if creds.engine_id else None
        return UsmUserData(
            creds.user,
            creds.auth_key,
            creds.priv_key,
            authProtocol=_AUTH[creds.auth_protocol],
            privProtocol=_PRIV[creds.priv_protocol],
            securityEngineId=engine_id,
        )

    async def _prepare(self, target: Target) -> tuple[CommunityData | UsmUserData, Any]:
        auth = self._auth(target)
        key = (target.host, target.port, target.timeout_s, target.retries)
        transport = self._transports.get(key)
        if transport is None:
            try:
                transport = await UdpTransportTarget.create(
                    (target.host, target.port), timeout=target.timeout_s, retries=target.retries
                )
            except Exception as exc:  # pysnmp wraps resolver errors in PySnmpError
                raise Failure(PollError("config", str(exc))) from None
            self._transports[key] = transport
            self._lcd.configure(self.engine, auth, transport)
        return auth, transport

    def _check(
        self,
        target: Target,
        answer: tuple[Any, Any, Any, Any],
        requested: Sequence[Oid],
        since: int,
    ) -> list[VarBind]:
        indication, status, index, varbinds = answer
        if indication:
            garbage = self._garbage[(target.host, target.port)] - since
            raise Failure(decode.engine_error(indication, target, garbage))
        if status:
            raise Failure(decode.status_error(int(status), int(index), requested))
        return [(tuple(oid), value) for oid, value in varbinds]

    def _varbinds(self, oids: Sequence[Oid]) -> list[ObjectType]:
        """Request varbinds. pysnmp resolves each against its MIB view, once per ObjectType:
        reusing them saves about a tenth of the CPU of a poll."""
        if len(self._objects) > MAX_CACHED_OBJECTS:
            self._objects.clear()
        out = []
        for oid in oids:
            obj = self._objects.get(oid)
            if obj is None:
                obj = self._objects[oid] = ObjectType(ObjectIdentity(oid))
            out.append(obj)
        return out

    async def _bulk(
        self, target: Target, non_repeaters: Sequence[Oid], repeaters: Sequence[Oid], reps: int
    ) -> list[VarBind]:
        auth, transport = await self._prepare(target)
        requested = [*non_repeaters, *repeaters]
        since = self._garbage[(target.host, target.port)]
        answer = await bulk_cmd(
            self.engine,
            auth,
            transport,
            ContextData(),
            len(non_repeaters),
            reps,
            *self._varbinds(requested),
            lookupMib=False,
        )
        return self._check(target, answer, requested, since)

    async def _get(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        auth, transport = await self._prepare(target)
        since = self._garbage[(target.host, target.port)]
        answer = await get_cmd(
            self.engine,
            auth,
            transport,
            ContextData(),
            *self._varbinds(oids),
            lookupMib=False,
        )
        varbinds = self._check(target, answer, oids, since)
        if len(varbinds) != len(oids):
            raise Failure(PollError("protocol", "the GET answer has a different varbind count"))
        return varbinds

    async def _walk(
        self, target: Target, columns: Sequence[Oid], reps: int, with_uptime: bool = True
    ) -> tuple[float, VarBind | None, TableWalk]:
        """Walk `columns` by GETBULK, sysUpTime riding as non-repeater on the first request."""
        walk = TableWalk(columns)
        at, uptime = 0.0, None
        while walk.pending:
            requested = walk.pending
            first = walk.rounds == 0
            non_repeaters = [decode.SYS_UPTIME] if first and with_uptime else []
            positions = [walk.position[column] for column in requested]
            varbinds = await self._bulk(target, non_repeaters, positions, reps)
            if first:
                at = time.monotonic()
                uptime = varbinds[0] if non_repeaters and varbinds else None
            walk.feed(requested, varbinds[len(non_repeaters) :])
        return at, uptime, walk

    async def _poll_snmp(self, target: Target, started: float, t0: float) -> PollResult:
        profile = target.profile
        walked = list(profile.columns()) if profile and target.index is None else []
        fixed = list(profile.scalars()) if profile else []
        if profile and target.index is not None:
            fixed += profile.columns()
        legacy = target.name in self._legacy
        columns = [*decode.IF_COLUMNS, *(decode.LEGACY_COLUMNS if legacy else ())]
        columns += [spec.address() for spec in walked]
        reps = self._repetitions.get(target.name, target.max_repetitions)
        jobs: list[Any] = [self._walk(target, columns, reps)]
        if fixed:  # at the same time: one round trip for both
            jobs.append(self._get(target, [spec.address(target.index) for spec in fixed]))
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        at, uptime, walk = outcomes[0]
        ticks = decode.uptime_ticks(uptime)
        rows = walk.rows
        if not legacy and decode.needs_legacy(rows):
            self._legacy.add(target.name)
            extra = await self._walk(target, decode.LEGACY_COLUMNS, reps, with_uptime=False)
            rows = {**rows, **extra[2].rows}
        self._repetitions[target.name] = min(max(walk.longest + 1, 2), MAX_REPETITIONS)
        index = target.index or ""
        readings: list[Reading] = []
        for spec, (oid, value) in zip(fixed, outcomes[1] if fixed else [], strict=True):
            readings.append(decode.reading(spec, oid, value, index if spec.column else ""))
        for spec in walked:
            readings += decode.column_readings(spec, rows[spec.address()])
        return PollResult(
            target.name,
            started,
            at,
            time.monotonic() - t0,
            uptime_ticks=ticks,
            interfaces=decode.interfaces(rows),
            readings=tuple(readings),
        )

    # -- HTTP -------------------------------------------------------------------------------------

    async def _poll_http(self, target: Target, started: float, t0: float) -> PollResult:
        assert target.profile is not None, "an http target has a profile"
        url = status_url(target.profile, target.host)
        problem = ""
        for _attempt in range(target.retries + 1):
            try:
                body = await asyncio.to_thread(_fetch, url, target.timeout_s)
            except (OSError, ValueError) as exc:
                problem = str(getattr(exc, "reason", exc))
                continue
            now = time.monotonic()
            readings = extract(target.profile, body)
            return PollResult(target.name, started, now, now - t0, readings=readings)
        raise Failure(PollError("http", f"{url}: {problem} (after {decode.tries(target.retries)})"))


def _is_http(target: Target) -> bool:
    return target.profile is not None and target.profile.kind == "http"


def _fetch(url: str, timeout_s: float) -> str:
    """GET `url`; the body as text. Raises OSError (urllib's errors are OSErrors)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return str(response.read().decode("utf-8", "replace"))
