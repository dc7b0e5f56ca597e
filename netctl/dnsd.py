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
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Address, ip_address
from typing import Any

from netctl import dnswire
from netctl.protocol import encode
from simpul.config.load import config_to_data, parse_config
from simpul.config.model import Config
from simpul.filtering.engine import LoadedList, build_engine, load_lists
from simpul.filtering.policy import Group, PolicyEngine, Verdict, group_of

log = logging.getLogger("simpul.dnsd")

UPSTREAM_TIMEOUT_S = 4.0
TCP_IDLE_S = 10.0
MAX_TCP_CLIENTS = 256
FLUSH_INTERVAL_S = 10.0
# The sections the front end needs: never secrets (RADIUS, OTP tokens) or admins.
SECTIONS = (
    "node", "uplinks", "zones", "opds", "services", "hotspot_sites", "remote_sites",
    "policies", "schedules", "filtering",
)  # fmt: skip


def render_dnsd_config(
    config: Config, *, db: str, control: str, pid_file: str, port: int = 53
) -> str:
    """The JSON file netd writes for dnsd: the sections it needs and where its files are."""
    data = config_to_data(config)
    return json.dumps(
        {
            "config": {k: data[k] for k in SECTIONS},
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


# -- upstream ----------------------------------------------------------------------------------


class Upstream(asyncio.DatagramProtocol):
    """UDP to the gateway's Unbound: queries get fresh ids, answers go to their callbacks."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[int, float, Callable[[bytes | None], None]]] = {}
        self._next = int.from_bytes(os.urandom(2), "big")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, packet: bytes, done: Callable[[bytes | None], None]) -> None:
        """Forward `packet`; `done` gets the answer (original id restored) or None on timeout."""
        if self.transport is None or len(self.pending) >= 60_000:
            done(None)
            return
        while self._next in self.pending:
            self._next = (self._next + 1) & 0xFFFF
        new_id, self._next = self._next, (self._next + 1) & 0xFFFF
        original = dnswire.packet_id(packet)
        self.pending[new_id] = (original, time.monotonic() + UPSTREAM_TIMEOUT_S, done)
        self.transport.sendto(dnswire.with_id(packet, new_id))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            entry = self.pending.pop(dnswire.packet_id(data), None)
        except dnswire.DnsFormatError:
            return
        if entry is not None:
            entry[2](dnswire.with_id(data, entry[0]))

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

    def _finish(
        self, verdict: Verdict, now: datetime, response: bytes | None, query: dnswire.Query,
        packet: bytes, limit: int | None,
    ) -> bytes:  # fmt: skip
        if response is None:
            self.failed += 1
            return dnswire.error_response(packet, dnswire.SERVFAIL)
        cap = verdict.ttl_cap(now)
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

    def local_answer(
        self, query: dnswire.Query, packet: bytes, client: str
    ) -> tuple[Verdict | None, bytes | None, datetime]:
        """(verdict, the answer when given here, now); a None answer means: ask Unbound."""
        loaded = self.loaded
        now_ts = self.clock()
        now = datetime.fromtimestamp(now_ts, loaded.config.node.zoneinfo)
        if query.opcode != 0:
            return None, dnswire.error_response(packet, dnswire.NOTIMP), now
        group = loaded.group(client)
        if group.kind == "unknown":
            return None, dnswire.error_response(packet, dnswire.REFUSED), now
        verdict = loaded.engine.decide(group, query.qname, now)
        self.stats.count(now.date().isoformat(), group.key, verdict)
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
        address = block_address(loaded.config, group) if verdict.rcode == "page" else None
        rcode = dnswire.NOERROR if address is not None else dnswire.NXDOMAIN
        answer = dnswire.block_response(query, packet, rcode=rcode, ttl=ttl, address=address)
        return verdict, answer, now

    def handle_udp(self, packet: bytes, addr: Any, transport: asyncio.DatagramTransport) -> None:
        """Answer one UDP query (maybe later, when Unbound answers)."""
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

        def done(response: bytes | None) -> None:
            transport.sendto(
                self._finish(verdict, now, response, query, packet, query.udp_size), addr
            )

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
        return self._finish(verdict, now, response, query, packet, None)


class UdpServer(asyncio.DatagramProtocol):
    """One listening UDP socket."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            self.front.handle_udp(data, addr, self.transport)  # type: ignore[arg-type]
        except Exception:  # one bad packet must not stop the server
            log.exception("query from %s failed", addr)


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
        self.stats = Stats(self.settings["db"])
        self.upstream = Upstream()
        self.front: Front | None = None
        self.listeners: dict[str, tuple[asyncio.DatagramTransport, asyncio.Server]] = {}
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
        for host in sorted(wanted - set(self.listeners)):
            udp_sock = _udp_socket(host, self.port)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UdpServer(self.front),
                sock=udp_sock,  # type: ignore[arg-type]
            )
            server = await asyncio.start_server(tcp.handle, sock=_tcp_socket(host, self.port))
            self.listeners[host] = (transport, server)
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

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer until `stop` is set."""
        loop = asyncio.get_running_loop()
        filtering = self.loaded.config.filtering
        upstream_addr = ("127.0.0.1", filtering.resolver_port)
        upstream, _ = await loop.create_datagram_endpoint(
            lambda: self.upstream, remote_addr=upstream_addr
        )
        control: asyncio.Server | None = None
        try:
            self.front = Front(self.loaded, self.upstream, upstream_addr, self.stats)
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
            upstream.close()
            self.stats.close()

    def _schedule_reload(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self.reload())


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
