"""A UDP delay proxy: a satellite hop in user space (this kernel has no netem).

A proxy listens on a local port and sends each datagram on to its upstream after the link's
one-way delay (± jitter, optionally dropped), and each reply back to the client after a delay
drawn the same way. Each client address gets its own upstream socket, so replies find their
client; it is closed after `IDLE_S` without traffic. Datagrams are held by event-loop timers,
not tasks or threads, so hundreds of proxies fit in one process:

    python -m monitoring.delay_proxy --delay-ms 300 --jitter-ms 25 \\
        127.0.0.1:40000=127.0.0.1:30000 127.0.0.1:40001=127.0.0.1:30001

prints `ready` once every proxy listens, and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import socket
import time
from dataclasses import dataclass

IDLE_S = 60.0
READ_BATCH = 64


@dataclass(frozen=True)
class Link:
    """One direction's behaviour, applied to both directions: delay ± jitter, loss share."""

    delay_s: float = 0.3
    jitter_s: float = 0.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        if self.delay_s < 0 or self.jitter_s < 0 or not 0 <= self.loss < 1:
            raise ValueError(f"not a usable link: {self}")


def _udp(bind: tuple[str, int] | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    if bind is not None:
        sock.bind(bind)
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> list[tuple[bytes, tuple[str, int]]]:
    out = []
    for _ in range(READ_BATCH):
        try:
            out.append(sock.recvfrom(65535))
        except (BlockingIOError, InterruptedError):
            break
        except OSError:  # an ICMP error reported on the socket: nothing to read
            continue
    return out


class DelayProxy:
    """One proxied UDP path: `listen` (a local address) to `upstream`."""

    def __init__(
        self,
        listen: tuple[str, int],
        upstream: tuple[str, int],
        link: Link,
        rng: random.Random | None = None,
    ) -> None:
        self.upstream = upstream
        self.link = link
        self.rng = rng or random.Random()
        self.forwarded = self.returned = self.dropped = 0
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._front = _udp(listen)
        self._clients: dict[tuple[str, int], tuple[socket.socket, float]] = {}
        self._loop.add_reader(self._front.fileno(), self._from_client)
        self._sweeper = self._loop.call_later(IDLE_S, self._sweep)

    @property
    def address(self) -> tuple[str, int]:
        """Where the proxy listens (the port is known after binding port 0)."""
        host, port = self._front.getsockname()
        return str(host), int(port)

    def _delay(self) -> float | None:
        """The delay for one datagram, or None to drop it."""
        if self.link.loss and self.rng.random() < self.link.loss:
            self.dropped += 1
            return None
        jitter = self.rng.uniform(-self.link.jitter_s, self.link.jitter_s)
        return max(0.0, self.link.delay_s + jitter)

    def _from_client(self) -> None:
        for data, client in _drain(self._front):
            delay = self._delay()
            if delay is not None:
                self._loop.call_later(delay, self._send_upstream, client, data)

    def _send_upstream(self, client: tuple[str, int], data: bytes) -> None:
        if self.closed:
            return
        entry = self._clients.get(client)
        if entry is None:
            sock = _udp()
            sock.connect(self.upstream)
            self._loop.add_reader(sock.fileno(), self._from_upstream, client, sock)
        else:
            sock = entry[0]
        self._clients[client] = (sock, time.monotonic())
        try:
            sock.send(data)
            self.forwarded += 1
        except OSError:
            self.dropped += 1

    def _from_upstream(self, client: tuple[str, int], sock: socket.socket) -> None:
        for data, _addr in _drain(sock):
            delay = self._delay()
            if delay is not None:
                self._loop.call_later(delay, self._send_back, client, data)

    def _send_back(self, client: tuple[str, int], data: bytes) -> None:
        if self.closed:
            return
        try:
            self._front.sendto(data, client)
            self.returned += 1
        except OSError:
            self.dropped += 1

    def _sweep(self) -> None:
        horizon = time.monotonic() - IDLE_S
        for client, (sock, last) in list(self._clients.items()):
            if last < horizon:
                self._forget(client, sock)
        self._sweeper = self._loop.call_later(IDLE_S, self._sweep)

    def _forget(self, client: tuple[str, int], sock: socket.socket) -> None:
        self._loop.remove_reader(sock.fileno())
        sock.close()
        del self._clients[client]

    def close(self) -> None:
        """Stop listening and close every socket (datagrams still held are dropped)."""
        self.closed = True
        self._sweeper.cancel()
        for client, (sock, _last) in list(self._clients.items()):
            self._forget(client, sock)
        self._loop.remove_reader(self._front.fileno())
        self._front.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}")
    return host, int(port)


def _pair(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    listen, sep, upstream = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"not LISTEN=UPSTREAM: {text!r}")
    return _address(listen), _address(upstream)


async def _serve(pairs: list[tuple[tuple[str, int], tuple[str, int]]], link: Link) -> None:
    proxies = [DelayProxy(listen, upstream, link) for listen, upstream in pairs]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        for proxy in proxies:
            proxy.close()


def main(argv: list[str] | None = None) -> None:
    """Run the proxies given on the command line until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m monitoring.delay_proxy", description=__doc__)
    parser.add_argument("pairs", nargs="+", type=_pair, metavar="LISTEN=UPSTREAM")
    parser.add_argument("--delay-ms", type=float, default=300.0, help="one-way delay")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="± uniform jitter")
    parser.add_argument("--loss", type=float, default=0.0, help="share of datagrams dropped")
    args = parser.parse_args(argv)
    link = Link(args.delay_ms / 1e3, args.jitter_ms / 1e3, args.loss)
    asyncio.run(_serve(args.pairs, link))


if __name__ == "__main__":
    main()
