"""The SNMP poller against Debian's real snmpd: a site's own interface counters through a veth
pair between two namespaces, SNMPv3 authPriv, clear errors (wrong community, wrong v3 password,
a garbage responder), restarts seen in sysUpTime, a vendor profile served by `pass`, and polls
through a 600 ms RTT delay proxy with the V-Sat defaults."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitoring.delay_proxy import DelayProxy, Link
from monitoring.snmp.model import V3, PollResult, Target, V2c
from monitoring.snmp.poller import Poller
from monitoring.snmp.profiles import load_profiles
from monitoring.snmp.rates import RESTARTED, device_restarted, interface_rates
from simpul.lab.snmpd import (
    Snmpd,
    free_udp_port,
    have_snmpd,
    in_netns,
    ip,
    namespaces,
    snmpd_conf,
    write_pass_program,
)

pytestmark = pytest.mark.skipif(not have_snmpd(), reason="needs net-snmp's snmpd and tools")

USER, AUTH, PRIV = "simpul", "auth-pass-123", "priv-pass-456"
PROFILES = load_profiles()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """snmpd on 127.0.0.1: community `public`, v3 user SHA/AES, the iDirect `pass` program."""
    directory = tmp_path_factory.mktemp("snmpd")
    program = write_pass_program(directory)
    conf = snmpd_conf(v3=[(USER, AUTH, PRIV)], extra=[f"pass .1.3.6.1.4.1.13732 {program}"])
    with Snmpd(directory, [f"udp:127.0.0.1:{free_udp_port()}"], conf) as snmpd:
        yield snmpd


def port_of(snmpd: Snmpd) -> int:
    return int(snmpd.addresses[0].rsplit(":", 1)[1])


def poll(targets: list[Target], poller_options: dict[str, Any] | None = None) -> list[PollResult]:
    async def run() -> list[PollResult]:
        async with Poller(**(poller_options or {})) as poller:
            return await poller.poll(targets)

    return asyncio.run(run())


def test_v2c_and_v3_auth_priv_read_the_same_agent(agent: Snmpd) -> None:
    port = port_of(agent)
    v2c, v3 = poll(
        [
            Target("site-v2c", "127.0.0.1", port, V2c("public")),
            Target("site-v3", "127.0.0.1", port, V3(USER, AUTH, PRIV)),
        ]
    )
    assert v2c.ok, v2c.error
    assert v3.ok, v3.error
    assert v2c.interface("lo") is not None
    assert [i.name for i in v2c.interfaces] == [i.name for i in v3.interfaces]
    assert all(i.counter_bits == 64 for i in v3.interfaces)
    assert v3.uptime_ticks is not None and v3.uptime_ticks >= 0


def test_wrong_credentials_are_clear_errors(agent: Snmpd) -> None:
    port = port_of(agent)
    wrong_auth, unknown_user, wrong_community = poll(
        [
            Target("bad-auth", "127.0.0.1", port, V3(USER, "not-the-password", PRIV)),
            Target("no-user", "127.0.0.1", port, V3("intruder", AUTH, PRIV)),
            Target("bad-comm", "127.0.0.1", port, V2c("private"), timeout_s=0.5, retries=1),
        ]
    )
    assert wrong_auth.error is not None and wrong_auth.error.kind == "auth"
    assert "wrong auth password" in wrong_auth.error.message
    assert "usmStatsWrongDigests" in wrong_auth.error.message
    assert unknown_user.error is not None and unknown_user.error.kind == "auth"
    assert "no v3 user intruder" in unknown_user.error.message
    assert wrong_community.error is not None and wrong_community.error.kind == "timeout"
    assert "after 2 tries of 0.5 s" in wrong_community.error.message
    assert "the community is wrong" in wrong_community.error.message


def test_vendor_profile_served_by_pass(agent: Snmpd) -> None:
    port = port_of(agent)
    remote, generic = poll(
        [
            Target("remote", "127.0.0.1", port, profile=PROFILES["idirect"], index="4242"),
            Target("router", "127.0.0.1", port, profile=PROFILES["generic"]),
        ]
    )
    assert remote.ok, remote.error
    values = {r.name: r for r in remote.readings}
    assert (values["state"].label, values["state"].level) == ("green", "ok")
    assert values["downstream_snr"].value == pytest.approx(11.2)
    assert values["downstream_snr"].level == "ok"
    assert values["tx_power"].value == pytest.approx(-12.5)
    assert values["rx_power"].value == pytest.approx(-40.1)
    assert values["temperature"].value == 38
    assert all(r.index == "4242" for r in remote.readings)
    assert generic.ok, generic.error
    names = {r.name for r in generic.readings if r.error is None}
    assert {"if_in_errors", "if_out_errors", "if_number", "tcp_established"} <= names


class Junk(asyncio.DatagramProtocol):
    """Answers every datagram with something that is not SNMP."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"\x00garbage\xff" * 3, addr)


def test_garbage_responder_fails_alone(agent: Snmpd) -> None:
    async def run() -> list[PollResult]:
        loop = asyncio.get_running_loop()
        junk, _ = await loop.create_datagram_endpoint(Junk, local_addr=("127.0.0.1", 0))
        junk_port = junk.get_extra_info("sockname")[1]
        try:
            async with Poller() as poller:
                return await poller.poll(
                    [
                        Target("before", "127.0.0.1", port_of(agent)),
                        Target("junk", "127.0.0.1", junk_port, timeout_s=0.5, retries=0),
                        Target("after", "127.0.0.1", port_of(agent), V3(USER, AUTH, PRIV)),
                    ]
                )
        finally:
            junk.close()

    before, junk, after = asyncio.run(run())
    assert before.ok and after.ok
    assert junk.error is not None and junk.error.kind == "garbage"
    assert "were not SNMP messages" in junk.error.message


def test_restart_is_seen_in_sys_uptime(tmp_path: Path) -> None:
    port = free_udp_port()
    with Snmpd(tmp_path, [f"udp:127.0.0.1:{port}"], snmpd_conf()) as snmpd:
        target = Target("site", "127.0.0.1", port)

        async def run() -> tuple[PollResult, PollResult, PollResult]:
            async with Poller() as poller:
                await asyncio.sleep(1.5)  # an uptime the restarted agent will not have
                first = await poller.poll_one(target)
                await asyncio.sleep(1.0)
                second = await poller.poll_one(target)
                await asyncio.to_thread(snmpd.restart)
                return first, second, await poller.poll_one(target)

        first, second, after = asyncio.run(run())
    assert first.ok and second.ok and after.ok
    assert not device_restarted(first, second)
    assert device_restarted(second, after)
    assert after.uptime_ticks is not None and second.uptime_ticks is not None
    assert after.uptime_ticks < second.uptime_ticks
    (lo,) = [r for r in interface_rates(second, after) if r.name == "lo"]
    assert (lo.rx.bps, lo.rx.reason, lo.tx.reason) == (None, RESTARTED, RESTARTED)


def test_polls_through_a_600_ms_rtt_hop(agent: Snmpd) -> None:
    async def run() -> tuple[list[PollResult], PollResult]:
        satellite = Link(delay_s=0.3, jitter_s=0.05)
        proxies = [DelayProxy(("127.0.0.1", 0), ("127.0.0.1", port_of(agent)), satellite)]
        proxies.append(DelayProxy(("127.0.0.1", 0), ("127.0.0.1", port_of(agent)), satellite))
        v2c_port, v3_port = (p.address[1] for p in proxies)
        try:
            async with Poller() as poller:
                vsat = await poller.poll(
                    [
                        Target("vsat-v2c", "127.0.0.1", v2c_port, profile=PROFILES["generic"]),
                        Target("vsat-v3", "127.0.0.1", v3_port, V3(USER, AUTH, PRIV)),
                    ]
                )
                # LibreNMS-like: 500 ms and no retry is shorter than one satellite round trip
                terrestrial = await poller.poll_one(
                    Target("lan-timeouts", "127.0.0.1", v2c_port, timeout_s=0.5, retries=0)
                )
            return vsat, terrestrial
        finally:
            for proxy in proxies:
                proxy.close()

    (v2c, v3), terrestrial = asyncio.run(run())
    assert v2c.ok, v2c.error
    assert v3.ok, v3.error
    assert 0.5 <= v2c.duration_s < 2.0  # one round trip: GETBULK and GET side by side
    assert 1.0 <= v3.duration_s < 4.0  # engine discovery, then the request
    assert {r.name for r in v2c.readings} >= {"if_number", "if_in_errors"}
    assert terrestrial.error is not None and terrestrial.error.kind == "timeout"


FRAME = 1000 + 8 + 20 + 14  # ping -s 1000: payload, ICMP, IPv4 and Ethernet headers
PINGS = 25


def test_site_interface_counters_through_a_veth_pair(tmp_path: Path) -> None:
    site, gateway = "spt-snmp-site", "spt-snmp-gw"
    with namespaces(site, gateway):
        ip("-n", site, "link", "add", "vsat0", "type", "veth", "peer", "name", "uplink0")
        ip("-n", site, "link", "set", "uplink0", "netns", gateway)
        ip("-n", site, "addr", "add", "10.77.0.2/30", "dev", "vsat0")
        ip("-n", gateway, "addr", "add", "10.77.0.1/30", "dev", "uplink0")
        # fixed neighbours: no ARP frames on the link but the pings
        mac = {ns: _mac(ns, dev) for ns, dev in ((site, "vsat0"), (gateway, "uplink0"))}
        ip("-n", site, "neigh", "add", "10.77.0.1", "lladdr", mac[gateway], "dev", "vsat0")
        ip("-n", gateway, "neigh", "add", "10.77.0.2", "lladdr", mac[site], "dev", "uplink0")
        ip("-n", site, "link", "set", "vsat0", "up")
        ip("-n", gateway, "link", "set", "uplink0", "up")
        # snmpd in the site answers on its own loopback: the polls never cross the veth
        conf = snmpd_conf()
        with Snmpd(tmp_path, ["udp:127.0.0.1:161"], conf, netns=site), in_netns(site):
            target = Target("site", "127.0.0.1", 161, timeout_s=1.0, retries=1)
            first, last = asyncio.run(_count_pings(target, gateway))
    assert first.ok and last.ok
    before, after = first.interface("vsat0"), last.interface("vsat0")
    assert before is not None and after is not None
    assert before.in_octets is not None and after.in_octets is not None
    assert before.out_octets is not None and after.out_octets is not None
    assert after.in_octets - before.in_octets == PINGS * FRAME  # the echo requests
    assert after.out_octets - before.out_octets == PINGS * FRAME  # the replies
    (vsat,) = [r for r in interface_rates(first, last) if r.name == "vsat0"]
    assert vsat.rx.octets == PINGS * FRAME
    assert vsat.rx.bps == pytest.approx(PINGS * FRAME * 8 / (last.at - first.at))
    assert vsat.tx.bps == pytest.approx(vsat.rx.bps)


def _mac(ns: str, dev: str) -> str:
    out = subprocess.run(
        ["ip", "-n", ns, "-br", "link", "show", "dev", dev], capture_output=True, text=True
    )
    return out.stdout.split()[2]


async def _count_pings(target: Target, gateway: str) -> tuple[PollResult, PollResult]:
    """A poll, PINGS pings from the gateway to the site, then polls until snmpd's interface
    cache (a few seconds) shows them: all of them, as nothing polls while they run."""
    async with Poller() as poller:
        first = await poller.poll_one(target)
        ping = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", gateway, "ping", "-q", "-c", str(PINGS), "-i", "0.01",
            "-s", "1000", "-W", "1", "10.77.0.2",
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        assert await ping.wait() == 0
        deadline = time.monotonic() + 10
        while True:
            await asyncio.sleep(0.5)
            last = await poller.poll_one(target)
            seen, start = last.interface("vsat0"), first.interface("vsat0")
            changed = seen and start and seen.in_octets != start.in_octets
            if changed or time.monotonic() > deadline:
                return first, last
