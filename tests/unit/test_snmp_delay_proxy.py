"""The UDP delay proxy on 127.0.0.1: delay both ways, jitter bounds, loss, many proxies in one
loop, and its command line."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitoring.delay_proxy import DelayProxy, Link

ROOT = Path(__file__).resolve().parents[2]


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def _echo() -> tuple[Any, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    return transport, transport.get_extra_info("sockname")


async def _round_trips(addresses: list[tuple[str, int]], timeout: float = 5.0) -> list[float]:
    """Send one datagram to each address from its own socket; seconds until each echo."""
    loop = asyncio.get_running_loop()
    socks = []
    for address in addresses:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(address)
        socks.append(sock)
    try:
        t0 = time.monotonic()
        for sock in socks:
            sock.send(b"ping")

        async def wait(sock: socket.socket) -> float:
            await asyncio.wait_for(loop.sock_recv(sock, 64), timeout)
            return time.monotonic() - t0

        return list(await asyncio.gather(*(wait(s) for s in socks)))
    finally:
        for sock in socks:
            sock.close()


def test_delay_applies_both_ways() -> None:
    async def scenario() -> tuple[float, DelayProxy]:
        echo, upstream = await _echo()
        proxy = DelayProxy(("127.0.0.1", 0), upstream, Link(delay_s=0.15))
        try:
            (rtt,) = await _round_trips([proxy.address])
            return rtt, proxy
        finally:
            proxy.close()
            echo.close()

    rtt, proxy = asyncio.run(scenario())
    assert 0.3 <= rtt < 0.45
    assert (proxy.forwarded, proxy.returned, proxy.dropped) == (1, 1, 0)


def test_two_hundred_proxies_in_one_loop() -> None:
    async def scenario() -> list[float]:
        echo, upstream = await _echo()
        link = Link(delay_s=0.3, jitter_s=0.02)
        proxies = [
            DelayProxy(("127.0.0.1", 0), upstream, link, random.Random(i)) for i in range(200)
        ]
        try:
            return await _round_trips([p.address for p in proxies])
        finally:
            for proxy in proxies:
                proxy.close()
            echo.close()

    rtts = asyncio.run(scenario())
    assert len(rtts) == 200
    assert min(rtts) >= 0.56  # 2 x (300 - 20) ms
    assert max(rtts) < 0.8  # 2 x (300 + 20) ms, plus scheduling


def test_loss_drops_a_share_of_datagrams() -> None:
    async def scenario() -> DelayProxy:
        echo, upstream = await _echo()
        proxy = DelayProxy(("127.0.0.1", 0), upstream, Link(0.0, 0.0, 0.5), random.Random(7))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for _ in range(200):
                sock.sendto(b"x", proxy.address)
            await asyncio.sleep(0.3)
            return proxy
        finally:
            sock.close()
            proxy.close()
            echo.close()

    proxy = asyncio.run(scenario())
    assert proxy.forwarded + proxy.dropped >= 200
    assert 60 < proxy.forwarded < 140  # half of 200 each way, give or take
    assert proxy.returned < proxy.forwarded


def test_a_link_must_make_sense() -> None:
    with pytest.raises(ValueError, match="not a usable link"):
        Link(delay_s=-1)
    with pytest.raises(ValueError, match="not a usable link"):
        Link(loss=1.0)


def test_command_line_runs_until_terminated() -> None:
    async def scenario() -> float:
        echo, (host, port) = await _echo()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitoring.delay_proxy",
            "--delay-ms",
            "100",
            f"127.0.0.1:{free}={host}:{port}",
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"ready\n"
            (rtt,) = await _round_trips([("127.0.0.1", free)])
            return rtt
        finally:
            proc.terminate()
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            echo.close()

    assert 0.2 <= asyncio.run(scenario()) < 0.4
