"""The policy DNS front end: an asyncio DNS server on the gateway that decides per query.

For each query: client address -> group (OPD, hotspot site, ...) -> policy -> schedule now ->
category lists -> verdict (`simpul.filtering.policy`). Blocked names are answered here
(NXDOMAIN or the block page's address, TTL <= 10 s); allowed queries go, bytes untouched (EDNS,
DO and CD bits included), to the gateway's Unbound on loopback, and its answer's TTLs are clamped
so they expire when the verdict could change. Verdicts are never cached: only the name's list
membership is, which is the same for every asker.

It runs unprivileged (netd starts it with only CAP_NET_BIND_SERVICE), reads a JSON file netd
renders (`netctl.dns_child`), reloads it on SIGHUP without stopping to answer, keeps its own
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
import signal
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Address, ip_address
from typing import Any

from netctl import dnswire
from netctl.dns_stats import Stats
from netctl.dns_transport import (
    UdpSocket,
    Upstream,
    tcp_socket,
    udp_socket,
    upstream_tcp,
)
from netctl.protocol import ApiError, NetdClient, encode
from simpul.config.load import parse_config
from simpul.config.model import Config
from simpul.filtering.engine import LoadedList, build_engine, lists_changed, load_lists
from simpul.filtering.policy import (
    Group,
    PolicyEngine,
    Verdict,
    group_of,
    matches_pattern_list,
)
from simpul.filtering.schedule import parse_moment

log = logging.getLogger("simpul.dnsd")

TCP_IDLE_S = 10.0
MAX_TCP_CLIENTS = 256
FLUSH_INTERVAL_S = 10.0
MAX_CUT_NAMES = 4096  # per edge and group
MAX_OPENED = 65_536
ANSWER_CACHE_SIZE = 20_000
LIST_CHECK_INTERVAL_S = 60.0  # how often list files are checked for a refresh
ANSWER_CACHE_MAX_TTL_S = 3600
GARDEN_GRACE_S = 30  # a learned garden address outlives its DNS answer a little


# The sections the front end needs: never secrets (RADIUS, OTP tokens) or admins.
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
    """What makes Unbound's answer differ: the question as sent (case included), RD, AD and
    CD, and whether the asker speaks EDNS with DNSSEC."""
    flags = (query.flags & 0x0130) | (0x8000 if query.do else 0) | (0x4000 if query.edns else 0)
    return flags.to_bytes(2, "big") + packet[12 : query.question_end]


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
        # (edge timestamp, group) -> names answered before that edge, with their addresses
        self.cuts: dict[tuple[float, str], tuple[Group, dict[str, set[str]]]] = {}
        # walled-garden address -> until when netd has it open
        self.opened: dict[str, float] = {}

    def _learn(
        self, verdict: Verdict, group: Group, name: str, response: bytes, ttl_left: int | None
    ) -> asyncio.Future[Any] | None:
        """Remember what an allowed answer opens: addresses to cut at the verdict's edge, and
        walled-garden addresses to open before the answer goes out (returned future).

        The answer is our own Unbound's to this very question (ids and questions are
        matched), so its A records are the question's CNAME chain, scrubbed by Unbound."""
        if self.netd is None or verdict.blocked or group.kind not in ("opd", "hotspot"):
            return None
        config = self.loaded.config
        garden = group.kind == "hotspot" and matches_pattern_list(
            name, config.portal.walled_garden_names
        )
        cut = verdict.until is not None and group.policy is not None and group.policy.cut_flows
        if not (garden or cut):
            return None
        try:
            found = dnswire.answer_addresses(response)
        except dnswire.DnsFormatError:
            return None
        v4 = sorted({address for _owner, address, _ttl in found if ":" not in address})
        if not v4:
            return None
        if cut and verdict.until is not None:
            edge = verdict.until.timestamp()
            _group, names = self.cuts.setdefault((edge, group.key), (group, {}))
            if len(names) < MAX_CUT_NAMES:
                names.setdefault(name, set()).update(v4)
        if not garden:
            return None
        ttl = max(ttl for _owner, _address, ttl in found)
        if ttl_left is not None:
            ttl = min(ttl, ttl_left)
        until = self.clock() + ttl + GARDEN_GRACE_S
        if all(self.opened.get(a, 0) >= until - GARDEN_GRACE_S for a in v4):
            return None  # already open for long enough: no call, no waiting
        for address in v4:
            self.opened[address] = max(self.opened.get(address, 0), until)
        if len(self.opened) > MAX_OPENED:
            now = self.clock()
            self.opened = {a: t for a, t in self.opened.items() if t > now}
        return self.netd.call("garden_learn", addresses=v4, ttl_s=ttl + GARDEN_GRACE_S)

    def due_cuts(self, now: float) -> list[tuple[str, list[str]]]:
        """(subnet, addresses) to cut for edges that have come: only for names the current
        policy now blocks for that group (a later window may have allowed them again)."""
        out = []
        for key in [k for k in self.cuts if k[0] <= now]:
            group, names = self.cuts.pop(key)
            moment = datetime.fromtimestamp(now, self.loaded.config.node.zoneinfo)
            blocked = set()
            for name, addresses in names.items():
                if self.loaded.engine.decide(group, name, moment).blocked:
                    blocked |= addresses
            if blocked:
                out.append((self.loaded.subnet_of(group), sorted(blocked)))
        return out

    def forget_pending(self) -> None:
        """After a reload: answers and planned cuts were made under the old configuration."""
        self.cache.clear()
        self.cuts.clear()
        self.opened.clear()

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
            opening = (
                self._learn(verdict, group, query.qname, response, age_cap) if response else None
            )
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

        self.upstream.send(packet, packet[12 : query.question_end], done)

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
            opening = self._learn(verdict, self.loaded.group(client), query.qname, response, None)
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
            udp = UdpSocket(udp_socket(host, self.port), front.handle_udp)
            server = await asyncio.start_server(tcp.handle, sock=tcp_socket(host, self.port))
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
        old_port = self.loaded.config.filtering.resolver_port
        self.loaded = loaded
        self.reload_error = None
        self.reloads += 1
        _settle()
        front = self.front
        assert front is not None
        front.loaded = loaded
        front.forget_pending()
        port = loaded.config.filtering.resolver_port
        if port != old_port:
            self.upstream.connect(("127.0.0.1", port))
            front.upstream_addr = ("127.0.0.1", port)
        if settings.get("netd_socket") != self.settings.get("netd_socket"):
            if front.netd is not None:
                front.netd.close()
            front.netd = NetdLink(settings["netd_socket"]) if settings.get("netd_socket") else None
        self.settings = settings
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
            "cache_hits": front.cache_hits if front else 0,
            "cached_answers": len(front.cache) if front else 0,
            "upstream_mismatched": self.upstream.mismatched,
            "udp_send_dropped": sum(udp.dropped for udp, _tcp in self.listeners.values()),
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
        moment = parse_moment(str(at) if at else None, config.node.zoneinfo)
        group = self.loaded.group(str(params.get("client", "")))
        verdict = self.loaded.engine.decide(group, name, moment)
        return verdict.data(config.node.timezone)

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
        next_flush = next_purge = next_stat = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            now = time.time()
            # Each step on its own: one failing must not stop the others or the server.
            try:
                self.upstream.expire(time.monotonic())
                self._cut_due(now)
                if now >= next_stat:
                    next_stat = now + LIST_CHECK_INTERVAL_S
                    if lists_changed(self.loaded.lists):
                        log.info("a list file changed: reloading")
                        self._schedule_reload()
            except Exception:
                log.exception("housekeeping failed")
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
            os.chmod(control_path, 0o660)  # its group: the portal (block page) and root
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


def _read_settings(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        settings = json.load(handle)
    for key in ("config", "port", "db", "control", "pid_file"):
        if key not in settings:
            raise ValueError(f"{path}: missing {key!r}")
    return settings


async def run(args: argparse.Namespace) -> None:
    """Load, then answer until SIGTERM/SIGINT."""
    # netd sends SIGHUP on every apply; one arriving while the lists load (seconds for a
    # national list) must not end the process: remember it and reload once serving.
    hup = []
    signal.signal(signal.SIGHUP, lambda _sig, _frame: hup.append(True))
    daemon = Daemon(args.config, args.port)
    with open(daemon.settings["pid_file"], "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if hup:
        loop.call_soon(daemon._schedule_reload)
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
