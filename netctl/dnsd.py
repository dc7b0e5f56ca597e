"""The policy DNS front end: an asyncio DNS server on the gateway that decides per query.

For each query: client address -> group (OPD, hotspot site, ...) -> policy -> schedule now ->
category lists -> verdict (`simpul.filtering.policy`). Blocked names are answered here
(NXDOMAIN or the block page's address, TTL <= 10 s); allowed queries go, bytes untouched (EDNS,
DO and CD bits included), to the gateway's Unbound on loopback, and its answer's TTLs are clamped
so they expire when the verdict could change. Verdicts are never cached: only the name's list
membership is, which is the same for every asker.

It runs unprivileged (netd starts it with only CAP_NET_BIND_SERVICE), reads a JSON file netd
renders (`render_dnsd_config`), reloads it on SIGHUP without stopping to answer, keeps its own
SQLite file of per-group, per-category counters and optional query logs, and answers
`explain`/`status` on a Unix socket for the block page, the CLI and the admin console.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import pwd
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Address, ip_address
from typing import Any

from netctl import dnswire
from netctl.protocol import ApiError, NetdClient, encode
from simpul.config.load import config_to_data, parse_config
from simpul.config.model import Config
from simpul.filtering.engine import LoadedList, build_engine, load_lists
from simpul.filtering.policy import Group, PolicyEngine, Verdict, group_of

log = logging.getLogger("simpul.dnsd")

UPSTREAM_TIMEOUT_S = 4.0
TCP_IDLE_S = 10.0
MAX_TCP_CLIENTS = 256
FLUSH_INTERVAL_S = 10.0
MAX_CUT_ADDRESSES = 4096  # per edge and subnet
ANSWER_CACHE_SIZE = 20_000
ANSWER_CACHE_MAX_TTL_S = 3600
GARDEN_GRACE_S = 30  # a learned garden address outlives its DNS answer a little
# The sections the front end needs: never secrets (RADIUS, OTP tokens) or admins.
SECTIONS = (
    "node", "uplinks", "zones", "opds", "services", "hotspot_sites", "remote_sites",
    "policies", "schedules", "filtering", "qos",
)  # fmt: skip


def render_dnsd_config(
    config: Config,
    *,
    db: str,
    control: str,
    pid_file: str,
    port: int = 53,
    netd_socket: str | None = None,
) -> str:
    """The JSON file netd writes for dnsd: the sections it needs, where its files are, and
    netd's socket (to open walled-garden addresses and cut flows at schedule edges)."""
    data = config_to_data(config)
    return json.dumps(
        {
            "config": {
                **{k: data[k] for k in SECTIONS},
                # The walled garden's names; never the OTP token or the RADIUS secret.
                "portal": {k: v for k, v in data["portal"].items() if k not in ("otp", "radius")},
            },
            "netd_socket": netd_socket,
            "port": port,
            "db": db,
            "control": control,
            "pid_file": pid_file,
        },
        indent=1,
        sort_keys=True,
    )


def dnsd_command(conf_path: str, user: str) -> list[str]:
    """The argv that runs the front end as `user` with only the right to bind port 53."""
    gid = pwd.getpwnam(user).pw_gid
    return [
        "setpriv", f"--reuid={user}", f"--regid={gid}", "--clear-groups",
        "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
        "--bounding-set=-all,+net_bind_service",
        sys.executable, "-m", "netctl.dnsd", "--config", conf_path,
    ]  # fmt: skip


def listen_addresses(config: Config) -> list[str]:
    """The gateway's own address in every zone, and loopback."""
    addresses = [config.zones.management.address.ip]
    addresses += [o.gateway_address.ip for o in config.opds]
    addresses += [s.gateway_address.ip for s in config.hotspot_sites]
    addresses += [r.gateway_address.ip for r in config.remote_sites]
    return ["127.0.0.1", *sorted({str(a) for a in addresses})]


def block_address(config: Config, group: Group) -> IPv4Address | None:
    """Where a blocked name points for `group` (its gateway, where the block page is)."""
    if group.kind == "opd" and group.slug:
        return config.opd(group.slug).gateway_address.ip
    return None


# -- statistics --------------------------------------------------------------------------------

STATS_SCHEMA = """
CREATE TABLE IF NOT EXISTS dns_counts (
    day TEXT NOT NULL, grp TEXT NOT NULL, category TEXT NOT NULL, action TEXT NOT NULL,
    queries INTEGER NOT NULL, PRIMARY KEY (day, grp, category, action)
);
CREATE TABLE IF NOT EXISTS query_log (
    ts REAL NOT NULL, grp TEXT NOT NULL, client TEXT NOT NULL, name TEXT NOT NULL,
    qtype INTEGER NOT NULL, action TEXT NOT NULL, category TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS query_log_ts ON query_log (ts);
"""


class Stats:
    """Counters per (day, group, category, action) and per-client query logs, flushed to SQLite
    every few seconds (a crash loses at most that much)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(STATS_SCHEMA)
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.log: list[tuple[float, str, str, str, int, str, str, str]] = []

    def count(self, day: str, group: str, verdict: Verdict) -> None:
        """Count one answered query."""
        key = (day, group, verdict.category or "-", verdict.action)
        self.counts[key] = self.counts.get(key, 0) + 1

    def record(
        self, ts: float, group: str, client: str, name: str, qtype: int, verdict: Verdict
    ) -> None:
        """Keep one query in the per-client log."""
        self.log.append(
            (ts, group, client, name, qtype, verdict.action, verdict.category or "-",
             verdict.reason)
        )  # fmt: skip

    def flush(self) -> None:
        """Write what was counted since the last flush, in one transaction."""
        if not self.counts and not self.log:
            return
        counts, self.counts = self.counts, {}
        entries, self.log = self.log, []
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO dns_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET queries = queries + excluded.queries",
                [(*k, n) for k, n in counts.items()],
            )
            self.db.executemany("INSERT INTO query_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)", entries)

    def purge(self, keep_days: dict[str, int], now: float) -> int:
        """Drop query-log entries older than each group's retention (0: drop all)."""
        removed = 0
        with self.db:
            groups = [g for (g,) in self.db.execute("SELECT DISTINCT grp FROM query_log")]
            for grp in groups:
                cutoff = now - keep_days.get(grp, 0) * 86400
                removed += self.db.execute(
                    "DELETE FROM query_log WHERE grp = ? AND ts < ?", (grp, cutoff)
                ).rowcount
        return removed

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        self.db.close()


# -- sockets -----------------------------------------------------------------------------------

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


# -- upstream ----------------------------------------------------------------------------------


class Upstream:
    """UDP to the gateway's Unbound: queries get fresh ids, answers go to their callbacks."""

    def __init__(self) -> None:
        self.socket: UdpSocket | None = None
        self.pending: dict[int, tuple[int, float, Callable[[bytes | None], None]]] = {}
        self._next = int.from_bytes(os.urandom(2), "big")

    def connect(self, address: tuple[str, int]) -> None:
        """Open the socket to Unbound (call from the event loop)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.connect(address)
        sock.setblocking(False)
        self.socket = UdpSocket(sock, self.received)

    def send(self, packet: bytes, done: Callable[[bytes | None], None]) -> None:
        """Forward `packet`; `done` gets the answer (original id restored) or None on timeout."""
        if self.socket is None or len(self.pending) >= 60_000:
            done(None)
            return
        while self._next in self.pending:
            self._next = (self._next + 1) & 0xFFFF
        new_id, self._next = self._next, (self._next + 1) & 0xFFFF
        original = dnswire.packet_id(packet)
        self.pending[new_id] = (original, time.monotonic() + UPSTREAM_TIMEOUT_S, done)
        try:
            self.socket.sock.send(dnswire.with_id(packet, new_id))
        except OSError:
            self.pending.pop(new_id)
            done(None)

    def received(self, data: bytes, _addr: Any, _sock: UdpSocket) -> None:
        """An answer from Unbound."""
        try:
            entry = self.pending.pop(dnswire.packet_id(data), None)
        except dnswire.DnsFormatError:
            return
        if entry is not None:
            entry[2](dnswire.with_id(data, entry[0]))

    def close(self) -> None:
        """Close the socket."""
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def expire(self, now: float) -> None:
        """Give up on queries Unbound did not answer in time (the client gets SERVFAIL)."""
        late = [i for i, (_, deadline, _) in self.pending.items() if deadline < now]
        for i in late:
            self.pending.pop(i)[2](None)


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


# -- the front end -----------------------------------------------------------------------------


@dataclass
class Loaded:
    """What a configuration becomes: the engine and where blocked names point."""

    config: Config
    engine: PolicyEngine
    lists: dict[str, LoadedList]
    warnings: list[str]
    groups: dict[str, Group] = field(default_factory=dict)
    log_days: dict[str, int] = field(default_factory=dict)
    block_addresses: dict[str, IPv4Address | None] = field(default_factory=dict)

    def group(self, client: str) -> Group:
        """The group of a client address (cached per address)."""
        found = self.groups.get(client)
        if found is None:
            try:
                address = ip_address(client)
            except ValueError:
                return Group("unknown")
            if not isinstance(address, IPv4Address):
                mapped = getattr(address, "ipv4_mapped", None)
                if mapped is None:
                    return Group("unknown")
                address = mapped
            found = group_of(self.config, address)
            if len(self.groups) < 100_000:
                self.groups[client] = found
        return found

    def block_address(self, group: Group) -> IPv4Address | None:
        """Where `group`'s blocked names point (cached: it is asked per blocked query)."""
        if group.key not in self.block_addresses:
            self.block_addresses[group.key] = block_address(self.config, group)
        return self.block_addresses[group.key]

    def subnet_of(self, group: Group) -> str:
        """The subnet of an OPD or hotspot group."""
        if group.kind == "opd":
            return str(self.config.opd(str(group.slug)).subnet)
        return str(self.config.site(str(group.slug)).subnet)


def load(config: Config, previous: Loaded | None = None) -> Loaded:
    """Load lists (reusing unchanged ones) and the calendar for `config`."""
    lists = load_lists(config, previous.lists if previous else None)
    engine, warnings = build_engine(config, lists)
    log_days: dict[str, int] = {}
    policies = {p.name: p for p in config.policies}
    for opd in config.opds:
        if opd.policy and policies[opd.policy].query_log_days:
            log_days[f"opd:{opd.slug}"] = policies[opd.policy].query_log_days
    for site in config.hotspot_sites:
        if site.policy and policies[site.policy].query_log_days:
            log_days[f"hotspot:{site.slug}"] = policies[site.policy].query_log_days
    return Loaded(config, engine, lists, warnings, log_days=log_days)


class NetdLink:
    """netd's API for the front end: one connection, used from one worker thread so the
    event loop never waits on it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dnsd-netd")
        self._client: NetdClient | None = None

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        if self._client is None:
            self._client = NetdClient(self.path, timeout_s=5.0)
        try:
            return self._client.call(method, **params)
        except ApiError as exc:
            if exc.code == "unavailable":
                self._client.close()
                self._client = None
            log.warning("netd %s: %s", method, exc)
            return None

    def call(self, method: str, **params: Any) -> asyncio.Future[Any]:
        """Call `method` in the worker thread; the future's result is None on failure."""
        return asyncio.get_running_loop().run_in_executor(self.pool, self._call, method, params)

    def close(self) -> None:
        """Stop the worker and close the connection."""
        self.pool.shutdown(wait=True)
        if self._client is not None:
            self._client.close()


def _cache_key(query: dnswire.Query, packet: bytes) -> bytes:
    """What makes Unbound's answer differ: the question as sent (case included), RD and CD,
    and whether the asker speaks EDNS with DNSSEC."""
    flags = (query.flags & 0x0110) | (0x8000 if query.do else 0) | (0x4000 if query.edns else 0)
    return flags.to_bytes(2, "big") + packet[12 : query.question_end]


def _in_garden(name: str, patterns: list[str]) -> bool:
    return any(
        name.endswith(p[1:]) if p.startswith("*.") else name == p or name.endswith("." + p)
        for p in patterns
    )


class Front:
    """Decides and answers queries; the UDP and TCP servers hand it packets."""

    def __init__(self, loaded: Loaded, upstream: Upstream, upstream_addr: tuple[str, int],
                 stats: Stats, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.loaded = loaded
        self.upstream = upstream
        self.upstream_addr = upstream_addr
        self.stats = stats
        self.clock = clock
        self.answered = 0
        self.blocked = 0
        self.malformed = 0
        self.failed = 0
        self.cache: dict[bytes, tuple[float, bytes]] = {}
        self.cache_hits = 0
        self._last: tuple[float, datetime, str] = (-1.0, datetime.min, "")
        self.netd: NetdLink | None = None
        # (edge timestamp, subnet) -> addresses answered for names blocked from that edge on
        self.cuts: dict[tuple[float, str], set[str]] = {}

    def _learn(
        self, verdict: Verdict, group: Group, name: str, response: bytes
    ) -> asyncio.Future[Any] | None:
        """Remember what an allowed answer opens: addresses to cut at the verdict's edge, and
        walled-garden addresses to open before the answer goes out (returned future)."""
        if self.netd is None or verdict.blocked or group.kind not in ("opd", "hotspot"):
            return None
        config = self.loaded.config
        garden = group.kind == "hotspot" and _in_garden(name, config.portal.walled_garden_names)
        cut = verdict.until is not None and group.policy is not None and group.policy.cut_flows
        if not (garden or cut):
            return None
        try:
            found = dnswire.answer_addresses(response)
        except dnswire.DnsFormatError:
            return None
        v4 = [address for _owner, address, _ttl in found if ":" not in address]
        if not v4:
            return None
        if cut and verdict.until is not None:
            subnet = self.loaded.subnet_of(group)
            kept = self.cuts.setdefault((verdict.until.timestamp(), subnet), set())
            if len(kept) < MAX_CUT_ADDRESSES:
                kept.update(v4)
        if garden:
            ttl = max(ttl for _owner, _address, ttl in found)
            return self.netd.call("garden_learn", addresses=v4, ttl_s=ttl + GARDEN_GRACE_S)
        return None

    def _remember(self, key: bytes, response: bytes) -> None:
        """Keep a positive, untruncated answer of Unbound's for its smallest TTL (answers,
        not verdicts: every query is still decided and clamped for its asker)."""
        try:
            if dnswire.response_rcode(response) != dnswire.NOERROR or response[2] & 0x02:
                return
            ttl = dnswire.min_ttl(response)
        except dnswire.DnsFormatError:
            return
        if not ttl:
            return
        cache = self.cache
        if len(cache) >= ANSWER_CACHE_SIZE:
            for old in list(cache)[: ANSWER_CACHE_SIZE // 4]:  # the oldest quarter
                del cache[old]
        cache[key] = (self.clock() + min(ttl, ANSWER_CACHE_MAX_TTL_S), response)

    def due_cuts(self, now: float) -> list[tuple[str, list[str]]]:
        """(subnet, addresses) whose edge has come, removed from what is kept."""
        due = [key for key in self.cuts if key[0] <= now]
        return [(key[1], sorted(self.cuts.pop(key))) for key in due]

    def _finish(
        self, verdict: Verdict, now: datetime, response: bytes | None, query: dnswire.Query,
        packet: bytes, limit: int | None, age_cap: int | None = None,
    ) -> bytes:  # fmt: skip
        """Unbound's (or the cache's) answer clamped to the verdict's edge (and, from the
        cache, to what is left of its TTL) and cut to the asker's UDP size."""
        if response is None:
            self.failed += 1
            return dnswire.error_response(packet, dnswire.SERVFAIL)
        cap = verdict.ttl_cap(now)
        if age_cap is not None:
            cap = age_cap if cap is None else min(cap, age_cap)
        try:
            if cap is not None:
                response = dnswire.clamp_ttls(response, cap)
            if limit is not None:
                response = dnswire.truncated_for_udp(response, limit)
        except dnswire.DnsFormatError:
            self.failed += 1
            return dnswire.error_response(packet, dnswire.SERVFAIL)
        self.answered += 1
        return response

    def _moment(self, now_ts: float) -> tuple[datetime, str]:
        """The node's local time and day for a timestamp (the datetime is rebuilt once per
        millisecond, the day's text once per second: both cost more than a decision)."""
        if now_ts - self._last[0] >= 0.001 or now_ts < self._last[0]:
            now = datetime.fromtimestamp(now_ts, self.loaded.config.node.zoneinfo)
            day = self._last[2] if int(now_ts) == int(self._last[0]) else now.date().isoformat()
            self._last = (now_ts, now, day)
        return self._last[1], self._last[2]

    def local_answer(
        self, query: dnswire.Query, packet: bytes, client: str
    ) -> tuple[Verdict | None, bytes | None, datetime]:
        """(verdict, the answer when given here, now); a None answer means: ask Unbound."""
        loaded = self.loaded
        now_ts = self.clock()
        now, day = self._moment(now_ts)
        if query.opcode != 0:
            return None, dnswire.error_response(packet, dnswire.NOTIMP), now
        group = loaded.group(client)
        if group.kind == "unknown":
            return None, dnswire.error_response(packet, dnswire.REFUSED), now
        verdict = loaded.engine.decide(group, query.qname, now)
        self.stats.count(day, group.key, verdict)
        if group.key in loaded.log_days:
            self.stats.record(now_ts, group.key, client, query.qname, query.qtype, verdict)
        if not verdict.blocked:
            return verdict, None, now
        self.blocked += 1
        self.answered += 1
        ttl = loaded.config.filtering.block_ttl
        cap = verdict.ttl_cap(now)
        if cap is not None:
            ttl = min(ttl, cap)
        address = loaded.block_address(group) if verdict.rcode == "page" else None
        rcode = dnswire.NOERROR if address is not None else dnswire.NXDOMAIN
        answer = dnswire.block_response(query, packet, rcode=rcode, ttl=ttl, address=address)
        return verdict, answer, now

    def handle_udp(self, packet: bytes, addr: Any, transport: UdpSocket) -> None:
        """Answer one UDP query (from the answer cache, or later, when Unbound answers)."""
        try:
            query = dnswire.parse_query(packet)
        except dnswire.DnsFormatError:
            self.malformed += 1
            reply = dnswire.error_response(packet, dnswire.FORMERR)
            if reply is not None:
                transport.sendto(reply, addr)
            return
        verdict, answer, now = self.local_answer(query, packet, addr[0])
        if answer is not None or verdict is None:
            if answer is not None:
                transport.sendto(answer, addr)
            return

        group = self.loaded.group(addr[0])

        def deliver(response: bytes | None, age_cap: int | None = None) -> None:
            answer = self._finish(verdict, now, response, query, packet, query.udp_size, age_cap)
            opening = self._learn(verdict, group, query.qname, response) if response else None
            if opening is None:
                transport.sendto(answer, addr)
            else:  # the client may connect at once: open the garden first
                opening.add_done_callback(lambda _f: transport.sendto(answer, addr))

        key = _cache_key(query, packet)
        cached = self.cache.get(key)
        if cached is not None:
            expires, response = cached
            left = int(expires - self.clock())
            if left > 0:
                self.cache_hits += 1
                deliver(dnswire.with_id(response, query.id), left)
                return
            del self.cache[key]

        def done(response: bytes | None) -> None:
            if response is not None:
                self._remember(key, response)
            deliver(response)

        self.upstream.send(packet, done)

    async def handle_tcp_message(self, packet: bytes, client: str) -> bytes | None:
        """Answer one query that came over TCP."""
        try:
            query = dnswire.parse_query(packet)
        except dnswire.DnsFormatError:
            self.malformed += 1
            return dnswire.error_response(packet, dnswire.FORMERR)
        verdict, answer, now = self.local_answer(query, packet, client)
        if answer is not None or verdict is None:
            return answer
        response = await upstream_tcp(self.upstream_addr, packet)
        answer = self._finish(verdict, now, response, query, packet, None)
        if response is not None:
            opening = self._learn(verdict, self.loaded.group(client), query.qname, response)
            if opening is not None:
                await opening
        return answer


class TcpServer:
    """DNS over TCP: length-prefixed messages, several per connection, bounded clients."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.clients = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection."""
        peer = writer.get_extra_info("peername") or ("", 0)
        if self.clients >= MAX_TCP_CLIENTS:
            writer.close()
            return
        self.clients += 1
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_S)
                    size = int.from_bytes(head, "big")
                    packet = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_S)
                except (TimeoutError, asyncio.IncompleteReadError):
                    return
                reply = await self.front.handle_tcp_message(packet, peer[0])
                if reply is None:
                    return
                writer.write(dnswire.tcp_frame(reply))
                await writer.drain()
        except Exception:
            log.exception("TCP client %s failed", peer)
        finally:
            self.clients -= 1
            writer.close()


def _udp_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: the address may come up later
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def _tcp_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_IP, 15, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


# -- the daemon --------------------------------------------------------------------------------


class Daemon:
    """Listeners, reloads, housekeeping and the control socket around a `Front`."""

    def __init__(self, conf_path: str, port: int | None = None) -> None:
        self.conf_path = conf_path
        self.settings = _read_settings(conf_path)
        self.port = port if port is not None else int(self.settings["port"])
        config = parse_config(self.settings["config"], source=conf_path)
        self.loaded = load(config)
        for warning in self.loaded.warnings:
            log.warning("%s", warning)
        _settle()
        self.stats = Stats(self.settings["db"])
        self.upstream = Upstream()
        self.front: Front | None = None
        self.listeners: dict[str, tuple[UdpSocket, asyncio.Server]] = {}
        self.reload_error: str | None = None
        self.reloads = 0
        self._reloading: asyncio.Task[None] | None = None

    async def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.front is not None
        wanted = set(listen_addresses(self.loaded.config))
        for host in sorted(set(self.listeners) - wanted):
            transport, server = self.listeners.pop(host)
            transport.close()
            server.close()
        tcp = TcpServer(self.front)
        front = self.front
        for host in sorted(wanted - set(self.listeners)):
            udp = UdpSocket(_udp_socket(host, self.port), front.handle_udp)
            server = await asyncio.start_server(tcp.handle, sock=_tcp_socket(host, self.port))
            self.listeners[host] = (udp, server)
        log.info("answering on %s port %d", ", ".join(sorted(self.listeners)), self.port)

    async def reload(self) -> None:
        """Read the configuration file again; keep answering with the old one until the new
        one is loaded, and keep the old one if the new one cannot be used."""
        try:
            settings = _read_settings(self.conf_path)
            config = parse_config(settings["config"], source=self.conf_path)
            loaded = await asyncio.to_thread(load, config, self.loaded)
        except Exception as exc:
            self.reload_error = f"{type(exc).__name__}: {exc}"
            log.error("reload refused, keeping the running policy: %s", self.reload_error)
            return
        self.loaded = loaded
        self.reload_error = None
        self.reloads += 1
        _settle()
        assert self.front is not None
        self.front.loaded = loaded
        await self._listen(asyncio.get_running_loop())
        log.info("reloaded: %d lists", len(loaded.lists))

    def status(self) -> dict[str, Any]:
        """Counts, lists and reload state for the control socket."""
        front = self.front
        return {
            "pid": os.getpid(),
            "listening": sorted(self.listeners),
            "port": self.port,
            "answered": front.answered if front else 0,
            "blocked": front.blocked if front else 0,
            "malformed": front.malformed if front else 0,
            "failed": front.failed if front else 0,
            "reloads": self.reloads,
            "reload_error": self.reload_error,
            "warnings": self.loaded.warnings,
            "lists": {
                name: {
                    "category": item.spec.category,
                    "path": item.path,
                    "entries": len(item.names),
                    "bytes": item.names.nbytes,
                    "bad_lines": item.report.bad,
                    "summary": item.report.summary(),
                }
                for name, item in self.loaded.lists.items()
            },
        }

    def explain(self, params: dict[str, Any]) -> dict[str, Any]:
        """The verdict for a client (or an OPD/hotspot group) asking a name, and its chain."""
        name = str(params.get("name", "")).lower().rstrip(".")
        if not name:
            raise ValueError("name is required")
        config = self.loaded.config
        at = params.get("at")
        moment = (
            datetime.fromisoformat(at).astimezone(config.node.zoneinfo)
            if at
            else datetime.now(config.node.zoneinfo)
        )
        group = self.loaded.group(str(params.get("client", "")))
        verdict = self.loaded.engine.decide(group, name, moment)
        return verdict_data(verdict, config)

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "ping": lambda _p: {"pid": os.getpid()},
            "status": lambda _p: self.status(),
            "explain": self.explain,
        }
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                try:
                    request = json.loads(line)
                    method = methods[request["method"]]
                    reply = {"id": request.get("id"), "ok": True,
                             "result": method(request.get("params") or {})}  # fmt: skip
                except (ValueError, KeyError, TypeError) as exc:
                    reply = {"id": None, "ok": False,
                             "error": {"code": "invalid", "message": str(exc)}}  # fmt: skip
                writer.write(encode(reply))
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        next_flush = next_purge = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            self.upstream.expire(time.monotonic())
            now = time.time()
            self._cut_due(now)
            if now < next_flush:
                continue
            next_flush = now + FLUSH_INTERVAL_S
            try:
                self.stats.flush()
                if now >= next_purge:
                    self.stats.purge(self.loaded.log_days, now)
                    next_purge = now + 3600
            except sqlite3.Error as exc:
                log.error("cannot write statistics: %s", exc)

    def _cut_due(self, now: float) -> None:
        """At a window's start, ask netd to end flows to what it has just blocked."""
        front = self.front
        if front is None or front.netd is None:
            return
        for subnet, addresses in front.due_cuts(now):
            for start in range(0, len(addresses), 1024):
                front.netd.call(
                    "cut_flows", subnet=subnet, addresses=addresses[start : start + 1024]
                )
            log.info("window edge: cutting flows from %s to %d addresses", subnet, len(addresses))

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer until `stop` is set."""
        loop = asyncio.get_running_loop()
        filtering = self.loaded.config.filtering
        upstream_addr = ("127.0.0.1", filtering.resolver_port)
        self.upstream.connect(upstream_addr)
        control: asyncio.Server | None = None
        try:
            self.front = Front(self.loaded, self.upstream, upstream_addr, self.stats)
            if self.settings.get("netd_socket"):
                self.front.netd = NetdLink(self.settings["netd_socket"])
            await self._listen(loop)
            control_path = self.settings["control"]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(control_path)
            control = await asyncio.start_unix_server(self._control, path=control_path)
            os.chmod(control_path, 0o666)
            loop.add_signal_handler(signal.SIGHUP, self._schedule_reload)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._housekeeping(stop))
                await stop.wait()
        finally:
            if control is not None:
                control.close()
            for transport, server in self.listeners.values():
                transport.close()
                server.close()
            self.listeners.clear()
            self.upstream.close()
            self.stats.close()
            if self.front is not None and self.front.netd is not None:
                self.front.netd.close()

    def _schedule_reload(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self.reload())


def _settle() -> None:
    """After a load: what is loaded lives until the next reload, so the cyclic garbage
    collector need not walk it on every few thousand queries (its pauses were the p99)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def verdict_data(verdict: Verdict, config: Config) -> dict[str, Any]:
    """A verdict as JSON-able data with its human chain."""
    tz = config.node.timezone
    return {
        "action": verdict.action,
        "reason": verdict.reason,
        "group": verdict.group,
        "policy": verdict.policy,
        "rule": verdict.rule,
        "list": verdict.hit.list if verdict.hit else None,
        "entry": verdict.hit.entry if verdict.hit else verdict.entry,
        "category": verdict.category,
        "schedule": verdict.schedule,
        "window": verdict.window,
        "until": verdict.until.isoformat() if verdict.until else None,
        "timezone": tz,
        "chain": verdict.chain(tz),
    }


def _read_settings(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        settings = json.load(handle)
    for key in ("config", "port", "db", "control", "pid_file"):
        if key not in settings:
            raise ValueError(f"{path}: missing {key!r}")
    return settings


async def run(args: argparse.Namespace) -> None:
    """Load, then answer until SIGTERM/SIGINT."""
    daemon = Daemon(args.config, args.port)
    with open(daemon.settings["pid_file"], "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await daemon.serve(stop)


def main(argv: list[str] | None = None) -> None:
    """Entry point: `python -m netctl.dnsd --config FILE`."""
    parser = argparse.ArgumentParser(prog="simpul-dnsd", description=__doc__)
    parser.add_argument("--config", required=True, help="the JSON file netd renders")
    parser.add_argument("--port", type=int, default=None, help="override the listening port")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s dnsd %(levelname)s %(message)s"
    )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
