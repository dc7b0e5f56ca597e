"""Sockets of the DNS front end: batched UDP reads, the upstream to Unbound (ids and questions
matched), one-shot TCP queries to it, and the listening sockets."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from netctl import dnswire

log = logging.getLogger("simpul.dnsd")

UPSTREAM_TIMEOUT_S = 4.0
MAX_PENDING = 20_000  # queries waiting for Unbound

READ_BATCH = 64  # datagrams read per wake-up: one event-loop pass per packet is the cost


class UdpSocket:
    """A non-blocking UDP socket read in batches from the event loop (asyncio's datagram
    transport costs a loop pass per packet, which dominates a DNS server written in Python)."""

    def __init__(
        self, sock: socket.socket, received: Callable[[bytes, Any, UdpSocket], None]
    ) -> None:
        self.sock = sock
        self.received = received
        self.dropped = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        recvfrom = self.sock.recvfrom
        for _ in range(READ_BATCH):
            try:
                data, addr = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP unreachable reported on a connected socket
                continue
            try:
                self.received(data, addr, self)
            except Exception:  # one bad packet must not stop the server
                log.exception("packet from %s failed", addr)

    def sendto(self, data: bytes, addr: Any) -> None:
        """Send now; a full socket buffer drops the answer (the client asks again)."""
        try:
            self.sock.sendto(data, addr)
        except OSError:
            self.dropped += 1

    def close(self) -> None:
        """Stop reading and close."""
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()


class Upstream:
    """UDP to the gateway's Unbound: queries get fresh random ids, and an answer is taken only
    when its id and its question match a query still waiting (a late answer to a timed-out
    query can never reach, or be cached for, another one)."""

    def __init__(self) -> None:
        self.socket: UdpSocket | None = None
        # new id -> (the asker's id, the question as sent, deadline, callback)
        self.pending: dict[int, tuple[int, bytes, float, Callable[[bytes | None], None]]] = {}
        self.mismatched = 0

    def connect(self, address: tuple[str, int]) -> None:
        """Open the socket to Unbound (call from the event loop)."""
        self.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.connect(address)
        sock.setblocking(False)
        self.socket = UdpSocket(sock, self.received)

    def send(self, packet: bytes, question: bytes, done: Callable[[bytes | None], None]) -> None:
        """Forward `packet` (whose question section is `question`); `done` gets the answer
        (the asker's id restored) or None on timeout."""
        if self.socket is None or len(self.pending) >= MAX_PENDING:
            done(None)
            return
        new_id = secrets.randbelow(0x10000)
        while new_id in self.pending:
            new_id = secrets.randbelow(0x10000)
        original = dnswire.packet_id(packet)
        deadline = time.monotonic() + UPSTREAM_TIMEOUT_S
        self.pending[new_id] = (original, question, deadline, done)
        try:
            self.socket.sock.send(dnswire.with_id(packet, new_id))
        except OSError:
            self.pending.pop(new_id)
            done(None)

    def received(self, data: bytes, _addr: Any, _sock: UdpSocket) -> None:
        """An answer from Unbound."""
        try:
            entry = self.pending.get(dnswire.packet_id(data))
        except dnswire.DnsFormatError:
            return
        if entry is None:
            return
        original, question, _deadline, done = entry
        if data[12 : 12 + len(question)] != question:
            self.mismatched += 1
            return
        del self.pending[dnswire.packet_id(data)]
        done(dnswire.with_id(data, original))

    def close(self) -> None:
        """Close the socket."""
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def expire(self, now: float) -> None:
        """Give up on queries Unbound did not answer in time (the client gets SERVFAIL)."""
        late = [i for i, entry in self.pending.items() if entry[2] < now]
        for i in late:
            self.pending.pop(i)[3](None)


async def upstream_tcp(address: tuple[str, int], packet: bytes) -> bytes | None:
    """One query over TCP to Unbound (for TCP clients); None on failure."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(*address), UPSTREAM_TIMEOUT_S
        )
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(dnswire.tcp_frame(packet))
        size = int.from_bytes(
            await asyncio.wait_for(reader.readexactly(2), UPSTREAM_TIMEOUT_S), "big"
        )
        return await asyncio.wait_for(reader.readexactly(size), UPSTREAM_TIMEOUT_S)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    finally:
        writer.close()


def udp_socket(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to host:port (the address may come up later)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: the address may come up later
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def tcp_socket(host: str, port: int) -> socket.socket:
    """A non-blocking listening TCP socket on host:port (the address may come up later)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_IP, 15, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock
