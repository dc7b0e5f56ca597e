"""The DNS front end in-process on loopback, against a stand-in upstream (no root needed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRROPT

from netctl import dnswire
from netctl.dns_child import render_dnsd_config
from netctl.dnsd import Daemon, listen_addresses
from simpul.config.load import config_to_data, load_config_file, parse_config
from simpul.filtering.policy import group_named

ROOT = Path(__file__).resolve().parents[2]
WIB = ZoneInfo("Asia/Jakarta")


def lab_config(portal: dict[str, Any] | None = None, **filtering: Any) -> Any:
    data = config_to_data(load_config_file(str(ROOT / "examples" / "lab.yaml")))
    data["filtering"].update(filtering)
    data["portal"].update(portal or {})
    # A window around the fixed test moment (Thursday 2026-11-26 09:12 WIB).
    data["schedules"] = [{
        "name": "jam-kerja",
        "windows": [{"days": ["thu", "fri"], "start": "07:30", "end": "16:00"}],
    }]  # fmt: skip
    return parse_config(data)


class FakeUnbound(asyncio.DatagramProtocol):
    """Answers every query with one A record (TTL 3600) and counts what it was asked."""

    def __init__(self) -> None:
        self.asked: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.silent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.asked.append(data)
        if self.silent:
            return
        query = DNS(data)
        reply = DNS(
            id=query.id, qr=1, rd=query.rd, ra=1, qd=query.qd,
            an=[DNSRR(rrname=query.qd[0].qname, type="A", ttl=3600, rdata="192.0.2.77")],
            ar=query.ar,
        )  # fmt: skip
        assert self.transport is not None
        self.transport.sendto(bytes(reply), addr)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running:
    def __init__(self, daemon: Daemon, upstream: FakeUnbound, port: int, moment: list[float]):
        self.daemon = daemon
        self.upstream = upstream
        self.port = port
        self.moment = moment

    async def ask(self, name: str, source: str = "127.0.0.1", qtype: str = "A",
                  edns: bool = False, raw: bytes | None = None, server: str | None = None
                  ) -> DNS | None:  # fmt: skip
        """A UDP query from `source` (bound with FREEBIND) to the front end."""
        packet = raw if raw is not None else bytes(DNS(
            id=4242, rd=1, qd=DNSQR(qname=name, qtype=qtype),
            ar=[DNSRROPT(rclass=1232, z=0x8000)] if edns else [],
        ))  # fmt: skip
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_IP, 15, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
        try:
            await loop.sock_sendto(sock, packet, (server or source, self.port))
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 3)
        except TimeoutError:
            return None
        finally:
            sock.close()
        return DNS(data)


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, portal: dict[str, Any] | None = None, **filtering: Any
) -> AsyncIterator[Running]:
    """The front end on loopback ports with a fake Unbound, at Thursday 09:12 WIB."""
    config = lab_config(portal, **filtering)
    upstream_port = free_port()
    config = config.model_copy(update={"filtering": config.filtering.model_copy(
        update={"resolver_port": upstream_port})})  # fmt: skip
    unbound = FakeUnbound()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: unbound, local_addr=("127.0.0.1", upstream_port)
    )
    conf = tmp_path / "dnsd.json"
    conf.write_text(render_dnsd_config(
        config, db=str(tmp_path / "dns.db"), control=str(tmp_path / "control.sock"),
        pid_file=str(tmp_path / "dnsd.pid"), port=free_port(),
    ))  # fmt: skip
    daemon = Daemon(str(conf))
    moment = [datetime(2026, 11, 26, 9, 12, tzinfo=WIB).timestamp()]
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(daemon.serve(stop))
        try:
            for _ in range(200):
                if daemon.front is not None and daemon.listeners:
                    break
                await asyncio.sleep(0.01)
            assert daemon.front is not None
            daemon.front.clock = lambda: moment[0]
            seat(daemon)
            yield Running(daemon, unbound, daemon.port, moment)
        finally:
            stop.set()
            transport.close()


def run(tmp_path: Path, scenario: Callable[[Running], Awaitable[None]], **filtering: Any) -> None:
    """Run one scenario against a fresh front end."""

    async def main() -> None:
        async with serving(tmp_path, **filtering) as front:
            await scenario(front)

    asyncio.run(main())


LAB = lab_config()
# Without root there are no OPD LANs here: loopback addresses stand for their hosts.
DISDIK = "127.0.0.2"
KOMINFO = "127.0.0.3"
SERVER = "127.0.0.1"
DISDIK_GW = str(LAB.opd("disdik").gateway_address.ip)


def seat(daemon: Daemon) -> None:
    """Let the stand-in addresses count as the OPD hosts they stand for."""
    loaded = daemon.loaded
    loaded.groups[DISDIK] = group_named(loaded.config, "opd", "disdik")
    loaded.groups[KOMINFO] = group_named(loaded.config, "opd", "diskominfo")


def test_listens_on_every_zone_gateway_and_loopback() -> None:
    addresses = listen_addresses(LAB)
    assert addresses[0] == "127.0.0.1"
    assert DISDIK_GW in addresses and str(LAB.zones.management.address.ip) in addresses


def test_rendered_config_carries_no_secrets() -> None:
    data = config_to_data(load_config_file(str(ROOT / "examples" / "lab.yaml")))
    rendered = render_dnsd_config(parse_config(data), db="d", control="c", pid_file="p")
    assert "secret" not in rendered and "token" not in rendered
    assert set(json.loads(rendered)["config"]) >= {"policies", "schedules", "filtering"}


def test_blocked_for_one_group_forwarded_for_another(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        blocked = await front.ask("www.youtube.com", source=DISDIK, server=SERVER)
        assert blocked is not None and blocked.rcode == 0
        assert blocked.an[0].rdata == DISDIK_GW and blocked.an[0].ttl <= 10
        assert front.upstream.asked == []  # never asked Unbound
        allowed = await front.ask("www.youtube.com", source=KOMINFO, server=SERVER)
        assert allowed is not None and allowed.an[0].rdata == "192.0.2.77"
        assert allowed.an[0].ttl == 3600  # not scheduled for Kominfo: untouched
        assert len(front.upstream.asked) == 1

    run(tmp_path, scenario)


def test_allowed_answers_expire_at_the_next_edge(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        front.moment[0] = datetime(2026, 11, 26, 15, 59, 0, tzinfo=WIB).timestamp()
        gaming = await front.ask("www.youtube.com", source=KOMINFO, server=SERVER)
        assert gaming.an[0].ttl == 3600
        front.moment[0] = datetime(2026, 11, 26, 16, 0, 0, tzinfo=WIB).timestamp()
        after = await front.ask("www.youtube.com", source=DISDIK, server=SERVER)
        # Allowed from 16:00 until Friday 07:30 (15.5 h), so Unbound's TTL stands (served
        # from the front end's answer cache, a minute older)...
        assert after.an[0].ttl == 3600 - 60
        assert len(front.upstream.asked) == 1 and front.daemon.front.cache_hits == 1
        front.moment[0] = datetime(2026, 11, 27, 7, 25, 0, tzinfo=WIB).timestamp()
        before_work = await front.ask("www.youtube.com", source=DISDIK, server=SERVER)
        # ... but five minutes before work, it must be gone by 07:30.
        assert before_work is not None and before_work.an[0].ttl == 300

    run(tmp_path, scenario)


def test_edns_and_dnssec_bits_reach_unbound_untouched(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        answer = await front.ask("example.org", source=KOMINFO, server=SERVER, edns=True)
        assert answer is not None
        sent = DNS(front.upstream.asked[-1])
        assert sent.ar[0].rclass == 1232 and sent.ar[0].z & 0x8000  # the DO bit
        # The id Unbound saw is the front end's own; the client gets its id back.
        assert answer.id == 4242

    run(tmp_path, scenario)


def test_canary_and_doh_names_nxdomain(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        for name in ("use-application-dns.net", "dns.google", "mask.icloud.com"):
            answer = await front.ask(name, source=KOMINFO, server=SERVER)
            assert answer is not None and answer.rcode == 3, name

    run(tmp_path, scenario)


def test_unknown_sources_are_refused(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        answer = await front.ask("example.org", source="127.0.0.9", server=SERVER)
        # Loopback is the gateway itself (the management group): allowed.
        assert answer is not None and answer.rcode == 0
        packet = bytes(DNS(id=5, rd=1, qd=DNSQR(qname="example.org")))
        assert front.daemon.front is not None
        verdict, reply, _now = front.daemon.front.local_answer(
            dnswire.parse_query(packet), packet, "203.0.113.5"
        )
        assert verdict is None and DNS(reply).rcode == 5

    run(tmp_path, scenario)


def test_malformed_packets_get_formerr_or_silence(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        header_only = struct.pack(">HHHHHH", 7, 0x0100, 2, 0, 0, 0)
        answer = await front.ask("", source=KOMINFO, server=SERVER, raw=header_only)
        assert answer is not None and answer.rcode == 1 and answer.id == 7
        assert await front.ask("", source=KOMINFO, server=SERVER, raw=b"\x01") is None
        fine = await front.ask("example.org", source=KOMINFO, server=SERVER)
        assert fine is not None and fine.rcode == 0
        assert front.daemon.front.malformed == 2

    run(tmp_path, scenario)


def test_upstream_silence_becomes_servfail(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        front.upstream.silent = True
        loop = asyncio.get_running_loop()
        pending = loop.create_task(front.ask("example.org", source=KOMINFO, server=SERVER))
        await asyncio.sleep(0.2)
        front.daemon.upstream.expire(loop.time() + 3600)
        answer = await pending
        assert answer is not None and answer.rcode == 2

    run(tmp_path, scenario)


def test_tcp_queries_are_answered(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        reader, writer = await asyncio.open_connection(SERVER, front.port, local_addr=(DISDIK, 0))
        query = bytes(DNS(id=9, rd=1, qd=DNSQR(qname="www.youtube.com")))
        writer.write(dnswire.tcp_frame(query) * 2)  # pipelined
        for _ in range(2):
            size = int.from_bytes(await reader.readexactly(2), "big")
            answer = DNS(await reader.readexactly(size))
            assert answer.id == 9 and answer.an[0].rdata == DISDIK_GW
        writer.close()

    run(tmp_path, scenario)


def test_counts_are_flushed_per_group_and_category(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        await front.ask("www.youtube.com", source=DISDIK, server=SERVER)
        await front.ask("www.youtube.com", source=KOMINFO, server=SERVER)
        front.daemon.stats.flush()
        with sqlite3.connect(tmp_path / "dns.db") as db:
            rows = set(db.execute("SELECT grp, category, action, queries FROM dns_counts"))
        assert rows == {
            ("opd:disdik", "streaming-video", "block", 1),
            ("opd:diskominfo", "streaming-video", "allow", 1),
        }

    run(tmp_path, scenario)


def test_explain_and_reload(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        explained = front.daemon.explain(
            {"client": DISDIK, "name": "www.youtube.com", "at": "2026-11-26T09:12:00+07:00"}
        )
        assert explained["action"] == "block" and explained["window"] == "thu-fri 07:30-16:00"
        # A broken configuration file is refused; the running policy stays.
        conf = tmp_path / "dnsd.json"
        good = conf.read_text()
        settings = json.loads(good)
        settings["config"]["policies"][0]["rules"][0]["categories"] = ["nope"]
        conf.write_text(json.dumps(settings))
        await front.daemon.reload()
        assert "nope" in front.daemon.reload_error
        blocked = await front.ask("www.youtube.com", source=DISDIK, server=SERVER)
        assert blocked.an[0].rdata == DISDIK_GW
        # A good one is taken, and unchanged lists are not loaded again.
        lists_before = front.daemon.loaded.lists
        settings = json.loads(good)
        for policy in settings["config"]["policies"]:
            if policy["name"] == "pendidikan":
                policy["allow"] = ["youtube.com"]
        conf.write_text(json.dumps(settings))
        await front.daemon.reload()
        seat(front.daemon)
        assert front.daemon.reload_error is None
        assert all(front.daemon.loaded.lists[n] is lists_before[n] for n in lists_before)
        allowed = await front.ask("www.youtube.com", source=DISDIK, server=SERVER)
        assert allowed.an[0].rdata == "192.0.2.77"

    run(tmp_path, scenario)


class FakeNetd:
    """Records what the front end asks of netd; answers at once."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, method: str, **params: Any) -> asyncio.Future[Any]:
        self.calls.append((method, params))
        future = asyncio.get_running_loop().create_future()
        future.set_result({})
        return future

    def close(self) -> None:
        pass


PHONE = "127.0.0.4"


def test_walled_garden_names_are_opened_before_the_answer(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        daemon = front.daemon
        assert daemon.front is not None
        netd = daemon.front.netd = FakeNetd()  # type: ignore[assignment]
        site = daemon.loaded.config.hotspot_sites[0].slug
        daemon.loaded.groups[PHONE] = group_named(daemon.loaded.config, "hotspot", site)
        answer = await front.ask("www.merantikab.go.id", source=PHONE, server=SERVER)
        assert answer is not None and answer.an[0].rdata == "192.0.2.77"
        assert netd.calls == [("garden_learn", {"addresses": ["192.0.2.77"], "ttl_s": 3600 + 30})]
        # Other names, and OPD clients asking garden names, open nothing.
        await front.ask("example.org", source=PHONE, server=SERVER)
        await front.ask("merantikab.go.id", source=KOMINFO, server=SERVER)
        assert len(netd.calls) == 1

    data_portal = {"walled_garden_names": ["merantikab.go.id"]}
    run_with_portal(tmp_path, scenario, data_portal)


def test_flows_to_names_a_window_blocks_are_cut_at_its_start(tmp_path: Path) -> None:
    async def scenario(front: Running) -> None:
        daemon = front.daemon
        assert daemon.front is not None
        netd = daemon.front.netd = FakeNetd()  # type: ignore[assignment]
        front.moment[0] = datetime(2026, 11, 27, 7, 0, tzinfo=WIB).timestamp()
        allowed = await front.ask("www.youtube.com", source=DISDIK, server=SERVER)
        assert allowed is not None and allowed.an[0].ttl == 1800
        await front.ask("example.org", source=DISDIK, server=SERVER)  # never blocked
        edge = datetime(2026, 11, 27, 7, 30, tzinfo=WIB).timestamp()
        daemon._cut_due(edge - 1)
        assert netd.calls == []
        daemon._cut_due(edge)
        disdik = str(daemon.loaded.config.opd("disdik").subnet)
        assert netd.calls == [("cut_flows", {"subnet": disdik, "addresses": ["192.0.2.77"]})]
        daemon._cut_due(edge + 60)
        assert len(netd.calls) == 1

    run(tmp_path, scenario)


def run_with_portal(
    tmp_path: Path, scenario: Callable[[Running], Awaitable[None]], portal: dict[str, Any]
) -> None:
    """Like `run`, with portal settings changed."""

    async def main() -> None:
        async with serving(tmp_path, portal=portal) as front:
            await scenario(front)

    asyncio.run(main())


def test_query_logs_only_where_a_policy_asks_and_only_for_its_days(tmp_path: Path) -> None:
    from netctl.dns_stats import Stats
    from simpul.filtering.policy import Verdict

    stats = Stats(str(tmp_path / "dns.db"))
    verdict = Verdict("block", "rule", "opd:disdik", "pendidikan", rule=2)
    day = 86400.0
    stats.record(10 * day, "opd:disdik", "10.20.2.50", "youtube.com", 1, verdict)
    stats.record(10 * day, "hotspot:rtm-lam", "10.40.1.50", "youtube.com", 1, verdict)
    stats.record(16 * day, "opd:disdik", "10.20.2.50", "viu.com", 1, verdict)
    stats.flush()
    # disdik keeps 7 days; a group without a setting keeps nothing.
    assert stats.purge({"opd:disdik": 7}, now=18 * day) == 2
    rows = stats.db.execute("SELECT grp, name FROM query_log").fetchall()
    assert rows == [("opd:disdik", "viu.com")]
    stats.close()


def test_log_days_come_from_the_policies() -> None:
    from netctl.dnsd import load

    data = config_to_data(load_config_file(str(ROOT / "examples" / "lab.yaml")))
    for policy in data["policies"]:
        if policy["name"] == "pendidikan":
            policy["query_log_days"] = 14
    loaded = load(parse_config(data))
    assert loaded.log_days == {"opd:disdik": 14}


def test_dns_stats_reports_per_group_and_category(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from netctl.dns_stats import Stats
    from simpul.cli import main
    from simpul.filtering.policy import ListHit, Verdict

    stats = Stats(str(tmp_path / "dns.db"))
    video = ListHit("streaming-video", "streaming-video", "youtube.com")
    for _ in range(3):
        stats.count("2026-11-26", "opd:disdik", Verdict("block", "rule", "opd:disdik", hit=video))
    stats.count("2026-11-26", "opd:disdik", Verdict("allow", "default", "opd:disdik"))
    stats.count("2026-11-25", "opd:disdik", Verdict("allow", "default", "opd:disdik"))
    stats.close()
    runner = CliRunner()
    args = ["dns", "stats", "--dns-db", str(tmp_path / "dns.db"), "--from", "2026-11-26", "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"group": "opd:disdik", "category": "-", "allowed": 1, "blocked": 0},
        {"group": "opd:disdik", "category": "streaming-video", "allowed": 0, "blocked": 3},
    ]
    bad = runner.invoke(main, ["dns", "stats", "--dns-db", str(tmp_path / "dns.db"), "--from", "x"])
    assert bad.exit_code == 1 and "YYYY-MM-DD" in bad.output


def test_upstream_takes_only_answers_to_the_question_it_asked() -> None:
    from netctl.dns_transport import Upstream

    upstream = Upstream()
    got: list[bytes | None] = []
    question = bytes(DNS(id=1, qd=DNSQR(qname="merantikab.go.id")))
    upstream.pending[77] = (1234, question[12:], 1e18, got.append)
    other = bytes(DNS(id=77, qr=1, qd=DNSQR(qname="attacker.example"),
                      an=[DNSRR(rrname="attacker.example", rdata="203.0.113.66")]))  # fmt: skip
    upstream.received(other, None, None)  # type: ignore[arg-type]
    assert got == [] and upstream.mismatched == 1 and 77 in upstream.pending
    right = bytes(DNS(id=77, qr=1, qd=DNSQR(qname="merantikab.go.id"),
                      an=[DNSRR(rrname="merantikab.go.id", rdata="198.51.100.10")]))  # fmt: skip
    upstream.received(right, None, None)  # type: ignore[arg-type]
    assert len(got) == 1 and DNS(got[0]).id == 1234 and 77 not in upstream.pending
