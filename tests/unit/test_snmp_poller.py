"""The poller against small fake agents on 127.0.0.1 (no root): results and per-target errors,
one bad target never stopping the others, the 32-bit fallback, GETBULK sizing, profile values,
and http status pages."""

from __future__ import annotations

import asyncio
import bisect
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import rfc1902
from pysnmp.proto.api import v2c

from monitoring.snmp.decode import IF_ENTRY, IF_X_ENTRY, Oid
from monitoring.snmp.model import PollResult, Target
from monitoring.snmp.poller import Poller
from monitoring.snmp.profiles import parse_profile
from tests.unit.http_stub import QuietHandler, serving

UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)


def fast(name: str, port: int, **options: Any) -> Target:
    """A target on 127.0.0.1 that gives up quickly."""
    return Target(name, "127.0.0.1", port, timeout_s=0.3, retries=0, **options)


def if_mib(count: int, hc: bool = True) -> dict[Oid, Any]:
    """sysUpTime and `count` interfaces, with 64-bit columns or only ifTable's 32-bit ones."""
    mib: dict[Oid, Any] = {UPTIME: rfc1902.TimeTicks(12_345)}
    for i in range(1, count + 1):
        mib[(*IF_ENTRY, 2, i)] = rfc1902.OctetString(f"eth{i}".encode())
        mib[(*IF_ENTRY, 5, i)] = rfc1902.Gauge32(10_000_000)
        mib[(*IF_ENTRY, 8, i)] = rfc1902.Integer(1)
        mib[(*IF_ENTRY, 10, i)] = rfc1902.Counter32(1_000 * i)
        mib[(*IF_ENTRY, 16, i)] = rfc1902.Counter32(2_000 * i)
        if hc:
            mib[(*IF_X_ENTRY, 1, i)] = rfc1902.OctetString(f"eth{i}".encode())
            mib[(*IF_X_ENTRY, 6, i)] = rfc1902.Counter64(10**12 * i)
            mib[(*IF_X_ENTRY, 10, i)] = rfc1902.Counter64(2 * 10**12 * i)
            mib[(*IF_X_ENTRY, 15, i)] = rfc1902.Gauge32(10)
    return mib


class FakeAgent(asyncio.DatagramProtocol):
    """An SNMPv2c agent over a fixed MIB (GET and GETBULK), or a responder of `junk`."""

    def __init__(self, mib: dict[Oid, Any], error_status: int = 0, junk: bytes = b"") -> None:
        self.mib = dict(sorted(mib.items()))
        self.keys = list(self.mib)
        self.error_status = error_status
        self.junk = junk
        self.requests = 0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def _next(self, oid: Oid) -> tuple[Oid, Any]:
        i = bisect.bisect_right(self.keys, oid)
        return (
            (self.keys[i], self.mib[self.keys[i]])
            if i < len(self.keys)
            else (oid, v2c.EndOfMibView())
        )

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests += 1
        if self.junk:
            self.transport.sendto(self.junk, addr)
            return
        request, _rest = decoder.decode(data, asn1Spec=v2c.Message())
        pdu = v2c.apiMessage.get_pdu(request)
        oids = [tuple(oid) for oid, _value in v2c.apiPDU.get_varbinds(pdu)]
        if pdu.isSameTypeWith(v2c.GetBulkRequestPDU()):
            n = int(v2c.apiBulkPDU.get_non_repeaters(pdu))
            out = [self._next(oid) for oid in oids[:n]]
            positions = oids[n:]
            for _ in range(int(v2c.apiBulkPDU.get_max_repetitions(pdu))):
                row = [self._next(oid) for oid in positions]
                out += row
                positions = [oid for oid, _value in row]
        else:
            out = [(oid, self.mib.get(oid, v2c.NoSuchObject())) for oid in oids]
        response = v2c.apiMessage.get_response(request)
        answer = v2c.apiMessage.get_pdu(response)
        v2c.apiPDU.set_varbinds(answer, out)
        if self.error_status:
            v2c.apiPDU.set_error_status(answer, self.error_status)
            v2c.apiPDU.set_error_index(answer, 1)
        self.transport.sendto(encoder.encode(response), addr)


@asynccontextmanager
async def agents() -> AsyncIterator[Callable[[FakeAgent], Awaitable[int]]]:
    """`serve(agent)` starts an agent on a free 127.0.0.1 port (returned); all stop at the end."""
    started: list[asyncio.BaseTransport] = []

    async def serve(agent: FakeAgent) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: agent, local_addr=("127.0.0.1", 0)
        )
        started.append(transport)
        return int(transport.get_extra_info("sockname")[1])

    try:
        yield serve
    finally:
        for transport in started:
            transport.close()


def run(scenario: Callable[[], Any]) -> Any:
    return asyncio.run(scenario())


def test_one_bad_target_never_stops_the_others() -> None:
    async def scenario() -> list[PollResult]:
        wrong = if_mib(2)
        wrong[(*IF_X_ENTRY, 6, 2)] = rfc1902.OctetString(b"1234")
        no_uptime = {k: v for k, v in if_mib(1).items() if k != UPTIME}
        agent_list = [
            FakeAgent(if_mib(3)),
            FakeAgent(wrong),
            FakeAgent({}, junk=b"HTTP/1.1 400 Bad Request\r\n\r\n"),
            FakeAgent(if_mib(1), error_status=5),
            FakeAgent(no_uptime),
        ]
        names = ["good", "wrong-type", "garbage", "generr", "no-uptime"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
            silent.bind(("127.0.0.1", 0))
            async with agents() as serve, Poller() as poller:
                ports = [await serve(agent) for agent in agent_list]
                targets = [fast(name, port) for name, port in zip(names, ports, strict=True)]
                targets.append(fast("silent", silent.getsockname()[1]))
                return await poller.poll(targets)

    good, wrong, garbage, generr, no_uptime, silent = run(scenario)
    assert good.ok and good.uptime_ticks == 12_345
    assert [(i.name, i.in_octets, i.counter_bits) for i in good.interfaces] == [
        ("eth1", 10**12, 64),
        ("eth2", 2 * 10**12, 64),
        ("eth3", 3 * 10**12, 64),
    ]
    assert good.interfaces[0].speed_mbps == 10.0
    assert wrong.error is not None and wrong.error.kind == "wrong-type"
    assert wrong.error.message == "ifHCInOctets.2 is OctetString, not Counter64"
    assert garbage.error is not None and garbage.error.kind == "garbage"
    assert "were not SNMP messages" in garbage.error.message
    assert generr.error is not None and generr.error.kind == "snmp-error"
    assert generr.error.message == "the agent answered genErr at 1.3.6.1.2.1.1.3"
    assert no_uptime.error is not None and no_uptime.error.kind == "no-such-object"
    assert silent.error is not None and silent.error.kind == "timeout"
    assert "after 1 try of 0.3 s" in silent.error.message
    assert "the community is wrong" in silent.error.message


def test_32_bit_fallback_and_getbulk_sizing_are_remembered() -> None:
    async def scenario() -> tuple[FakeAgent, list[int], list[PollResult]]:
        agent = FakeAgent(if_mib(6, hc=False))
        counts, results = [], []
        async with agents() as serve, Poller() as poller:
            port = await serve(agent)
            target = fast("old-router", port, max_repetitions=2)
            for _ in range(2):
                before = agent.requests
                results.append(await poller.poll_one(target))
                counts.append(agent.requests - before)
        return agent, counts, results

    _agent, counts, (first, second) = run(scenario)
    assert first.ok and second.ok
    assert [(i.name, i.in_octets, i.out_octets, i.counter_bits) for i in first.interfaces][:2] == [
        ("eth1", 1_000, 2_000, 32),
        ("eth2", 2_000, 4_000, 32),
    ]
    assert first.interfaces[0].speed_mbps == 10.0
    # first poll: 4 GETBULKs of 2 rows for the 6 rows, then the same for the 32-bit columns;
    # afterwards one GETBULK sized for 6 rows carries every column
    assert counts[0] > 2
    assert counts[1] == 1
    assert second.interfaces == first.interfaces


def test_profile_values_come_with_the_walk() -> None:
    profile = parse_profile(
        """\
name: modem
description: test
values:
  - {name: snr, column: 1.3.6.1.4.1.99.2, type: gauge, text: true, unit: dB,
     thresholds: {warning: 7, critical: 5, direction: below}}
  - {name: temp, oid: 1.3.6.1.4.1.99.3.0, type: gauge, scale: 0.1}
  - {name: fan, oid: 1.3.6.1.4.1.99.4.0, type: gauge}
"""
    )

    async def scenario() -> tuple[PollResult, PollResult]:
        mib = if_mib(1)
        mib[(1, 3, 6, 1, 4, 1, 99, 2, 4242)] = rfc1902.OctetString(b"6.5 dB")
        mib[(1, 3, 6, 1, 4, 1, 99, 2, 4243)] = rfc1902.OctetString(b"12.0 dB")
        mib[(1, 3, 6, 1, 4, 1, 99, 3, 0)] = rfc1902.Integer32(415)
        async with agents() as serve, Poller() as poller:
            port = await serve(FakeAgent(mib))
            walked = await poller.poll_one(Target("hub", "127.0.0.1", port, profile=profile))
            one_row = await poller.poll_one(
                Target("remote", "127.0.0.1", port, profile=profile, index="4243")
            )
        return walked, one_row

    walked, one_row = run(scenario)
    assert walked.ok and one_row.ok
    by = {(r.name, r.index): r for r in walked.readings}
    assert by[("snr", "4242")].value == 6.5
    assert by[("snr", "4242")].level == "warning"
    assert by[("snr", "4243")].level == "ok"
    assert by[("temp", "")].value == 41.5
    assert by[("fan", "")].error is not None
    assert by[("fan", "")].error.startswith("NoSuchObject at 1.3.6.1.4.1.99.4.0")
    assert {(r.name, r.index, r.value) for r in one_row.readings if r.error is None} == {
        ("snr", "4243", 12.0),
        ("temp", "", 41.5),
    }


@contextmanager
def status_page(body: str) -> Iterator[int]:
    """An HTTP server on 127.0.0.1 answering every GET with `body`; yields its port."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.reply(200, body.encode())

    with serving(Handler) as port:
        yield port


def test_http_profile_reads_the_status_page() -> None:
    page = json.dumps({"modem": {"snr": 4.5, "state": "online"}, "tx": "Tx Power: -2.5 dBm"})
    with status_page(page) as port:
        profile = parse_profile(
            f"""\
name: web
kind: http
description: test
url: http://{{address}}:{port}/status.json
values:
  - {{name: snr, json: modem.snr, type: gauge, thresholds: {{critical: 5, direction: below}}}}
  - {{name: tx_power, regex: 'Tx Power: (-?[0-9.]+)', type: gauge}}
"""
        )

        async def scenario() -> list[PollResult]:
            async with Poller() as poller:
                return await poller.poll(
                    [
                        Target("modem", "127.0.0.1", profile=profile),
                        Target("gone", "127.0.0.9", profile=profile, timeout_s=0.5, retries=0),
                    ]
                )

        modem, gone = run(scenario)
    assert modem.ok
    assert [(r.name, r.value, r.level) for r in modem.readings] == [
        ("snr", 4.5, "critical"),
        ("tx_power", -2.5, None),
    ]
    assert gone.error is not None and gone.error.kind == "http"
    assert gone.error.message.startswith(f"http://127.0.0.9:{port}/status.json: ")
    assert gone.error.message.endswith("Connection refused (after 1 try)")
