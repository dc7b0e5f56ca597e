"""ICMP echo probes: RTT, loss and jitter of a link, from an unprivileged process.

Datagram ICMP sockets (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`) need no CAP_NET_RAW: the
kernel fills in the identifier and checksum and hands each socket only the replies to its own
requests, for groups in `net.ipv4.ping_group_range` (Debian's systemd allows every group; a new
network namespace allows none until it is set). Many targets are probed at once on one event
loop: one socket each, `count` requests `spacing_s` apart, each answered within `timeout_s` or
lost (a V-Sat round trip is 550-800 ms: the default timeout is 4 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import struct
import time
from dataclasses import dataclass
from itertools import pairwise

ECHO_REQUEST, ECHO_REPLY = 8, 0
PAYLOAD = b"simpul-probe" + bytes(20)  # 32 bytes of payload, a common ping size
_HEADER = struct.Struct("!BBHHH")


class ProbeError(OSError):
    """The probe could not be sent at all (not a lost reply)."""


@dataclass(frozen=True)
class ProbeResult:
    """One round of echo requests to `address`: replies' RTTs in ms, in sending order."""

    address: str
    sent: int
    rtts_ms: tuple[float, ...]
    error: str | None = None

    @property
    def received(self) -> int:
        """Replies that came back in time."""
        return len(self.rtts_ms)

    @property
    def loss_percent(self) -> float:
        """Requests without a timely reply, in percent (100 when nothing could be sent)."""
        return 100.0 if self.sent == 0 else 100.0 * (self.sent - self.received) / self.sent

    @property
    def rtt_ms(self) -> float | None:
        """The median RTT, None when nothing came back."""
        return statistics.median(self.rtts_ms) if self.rtts_ms else None

    @property
    def jitter_ms(self) -> float | None:
        """Mean absolute difference of consecutive RTTs (RFC 3550's idea, unsmoothed)."""
        if len(self.rtts_ms) < 2:
            return None
        pairs = pairwise(self.rtts_ms)
        return statistics.fmean(abs(b - a) for a, b in pairs)


def _socket() -> socket.socket:
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    except PermissionError:
        low, high = open("/proc/sys/net/ipv4/ping_group_range").read().split()  # noqa: SIM115
        raise ProbeError(
            f"ICMP sockets are not allowed for group {os.getgid()} here (ping_group_range is "
            f"{low} {high}): set net.ipv4.ping_group_range to include it"
        ) from None
    sock.setblocking(False)
    return sock


async def probe(
    address: str, count: int = 5, spacing_s: float = 0.2, timeout_s: float = 4.0
) -> ProbeResult:
    """Send `count` echo requests to `address` and collect the replies. A failure to send
    (no route, a bad address) is `error` in the result, never raised."""
    loop = asyncio.get_running_loop()
    try:
        sock = _socket()
    except ProbeError as exc:
        return ProbeResult(address, 0, (), str(exc))
    sent_at: dict[int, float] = {}
    rtts: dict[int, float] = {}
    done = asyncio.Event()

    def readable() -> None:
        while True:
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued for the socket (e.g. unreachable)
                continue
            arrived = time.monotonic()
            if len(data) < _HEADER.size:
                continue
            kind, _code, _sum, _ident, seq = _HEADER.unpack_from(data)
            if kind == ECHO_REPLY and seq in sent_at and seq not in rtts:
                rtts[seq] = (arrived - sent_at[seq]) * 1000
                if len(rtts) == count:
                    done.set()

    loop.add_reader(sock.fileno(), readable)
    error = None
    try:
        for seq in range(count):
            if seq:
                await asyncio.sleep(spacing_s)
            packet = _HEADER.pack(ECHO_REQUEST, 0, 0, 0, seq) + PAYLOAD
            try:
                sock.sendto(packet, (address, 0))
            except OSError as exc:
                error = f"cannot send to {address}: {exc.strerror or exc}"
                break
            sent_at[seq] = time.monotonic()
        if sent_at and not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return ProbeResult(address, len(sent_at), tuple(rtts[s] for s in sorted(rtts)), error)


async def probe_all(
    addresses: list[str], count: int = 5, spacing_s: float = 0.2, timeout_s: float = 4.0
) -> dict[str, ProbeResult]:
    """Probe every address at once; results by address."""
    results = await asyncio.gather(*(probe(a, count, spacing_s, timeout_s) for a in addresses))
    return dict(zip(addresses, results, strict=True))
