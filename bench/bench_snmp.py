"""SNMP polling at scale: our poller (monitoring.snmp.poller: one pysnmp engine and socket,
asyncio, bounded concurrency) against what LibreNMS-style pollers do, net-snmp's `snmpbulkget`
forked per device, with the same parallelism and the same request.

`snmp` builds one namespace, `spb-snmp`, with 10 interfaces (lo, 4 veth pairs, an ifb), and runs
10 snmpd processes in it, each listening on 100 UDP ports of 127.0.0.1: 1,000 devices. Every poll
is one GETBULK (non-repeater sysUpTime; repeaters ifName, ifHCInOctets, ifHCOutOctets,
ifHighSpeed, ifOperStatus; max-repetitions 11): 51 values per device. The benchmark process
enters the namespace itself (setns), so its sockets and the peer's processes live there.

- `1,000 devices`: one round is every device polled once. Ours keeps one `Poller` across rounds
  (as the monitor daemon does); its first round (registering 1,000 targets, learning each
  table's size) is reported on its own. The peer: `xargs -P 100 snmpbulkget -Cn1 -Cr11 ...`,
  numeric OIDs and no MIB loading (its cheapest form: LibreNMS also parses MIBs and forks a
  walk per table). `ROUNDS` rounds each, alternating; the median counts. CPU: our process's
  user+system seconds against the peer's children's.
- `200 V-Sat sites`: the first 200 devices behind 200 delay proxies (one process,
  `python -m monitoring.delay_proxy`, 300 ± 25 ms each way: 550-650 ms RTT), polled with the
  V-Sat defaults (4 s x 2 retries; the peer `-t 4 -r 2`), same parallelism.

Every round is checked: all devices answered with all 51 values (ours: results without error and
10 interfaces; the peer: 10 ifHCInOctets lines per device and no timeout).
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.harness import REPO, Result, Target, median, say
from monitoring.snmp import model
from monitoring.snmp.model import PollResult
from monitoring.snmp.poller import MAX_CONCURRENT, Poller
from simpul.lab.snmpd import Snmpd, in_netns, ip, namespaces, snmpd_conf

NS = "spb-snmp"
AGENTS = 10
PORTS_PER_AGENT = 100
DEVICES = AGENTS * PORTS_PER_AGENT
AGENT_BASE_PORT = 30000
INTERFACES = 10  # lo, 4 veth pairs, one ifb
VALUES = 1 + 5 * INTERFACES
REPETITIONS = INTERFACES + 1  # the row after the last tells the table has ended
PARALLEL = MAX_CONCURRENT
ROUNDS = 3
SITES = 200
PROXY_BASE_PORT = 40000
DELAY_MS, JITTER_MS = 300, 25
TARGET_SCALE_S = 15.0
TARGET_VSAT_S = 5.0

OIDS = (
    "1.3.6.1.2.1.1.3",  # sysUpTime (non-repeater)
    "1.3.6.1.2.1.31.1.1.1.1",  # ifName
    "1.3.6.1.2.1.31.1.1.1.6",  # ifHCInOctets
    "1.3.6.1.2.1.31.1.1.1.10",  # ifHCOutOctets
    "1.3.6.1.2.1.31.1.1.1.15",  # ifHighSpeed
    "1.3.6.1.2.1.2.2.1.8",  # ifOperStatus
)
HC_IN_LINE = ".1.3.6.1.2.1.31.1.1.1.6."


def preflight() -> None:
    if os.geteuid() != 0:
        raise RuntimeError("the snmp benchmark builds a network namespace: run it as root")
    missing = [t for t in ("ip", "snmpbulkget", "xargs") if shutil.which(t) is None]
    if not os.access("/usr/sbin/snmpd", os.X_OK):
        missing.append("snmpd")
    if missing:
        raise RuntimeError(f"missing tools: {', '.join(missing)}")


@contextmanager
def devices(root: Path) -> Iterator[list[int]]:
    """The namespace with its interfaces and 10 snmpd x 100 ports; yields the ports."""
    with namespaces(NS, prefix="spb-snmp"), ExitStack() as stack:
        for i in range(4):
            ip("-n", NS, "link", "add", f"va{i}", "type", "veth", "peer", "name", f"vb{i}")
        ip("-n", NS, "link", "add", "ifb9", "type", "ifb")
        for dev in (*(f"va{i}" for i in range(4)), *(f"vb{i}" for i in range(4)), "ifb9"):
            ip("-n", NS, "link", "set", dev, "up")
        ports = []
        for a in range(AGENTS):
            mine = [AGENT_BASE_PORT + a * PORTS_PER_AGENT + i for i in range(PORTS_PER_AGENT)]
            addresses = [f"udp:127.0.0.1:{port}" for port in mine]
            stack.enter_context(Snmpd(root / f"agent{a}", addresses, snmpd_conf(), netns=NS))
            ports += mine
        say(f"{AGENTS} snmpd x {PORTS_PER_AGENT} ports in {NS}, {INTERFACES} interfaces each")
        yield ports


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check_ours(results: Sequence[PollResult], what: str) -> None:
    bad = [r for r in results if not r.ok or len(r.interfaces) != INTERFACES]
    if bad:
        raise RuntimeError(
            f"{what}: {len(bad)} devices failed, e.g. {bad[0].target}: {bad[0].error}"
        )


async def ours_round(
    poller: Poller, targets: Sequence[model.Target], what: str
) -> dict[str, float]:
    """One poll of every target: wall and CPU seconds."""
    cpu, t0 = _cpu_self(), time.monotonic()
    results = await poller.poll(targets)
    wall = time.monotonic() - t0
    _check_ours(results, what)
    durations = sorted(r.duration_s for r in results)
    return {
        "wall_s": wall,
        "cpu_s": _cpu_self() - cpu,
        "p50_device_s": durations[len(durations) // 2],
        "max_device_s": durations[-1],
    }


async def peer_round(
    ports: Sequence[int], timeout_s: int, retries: int, state: Path, what: str
) -> dict[str, float]:
    """`snmpbulkget` forked per device by `xargs -P`: wall and CPU seconds."""
    argv = [
        "xargs", "-P", str(PARALLEL), "-I{}",
        "snmpbulkget", "-v2c", "-c", "public", "-m", "", "-On", "-t", str(timeout_s),
        "-r", str(retries), "-Cn1", f"-Cr{REPETITIONS}", "127.0.0.1:{}", *OIDS,
    ]  # fmt: skip
    env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(state)}
    cpu, t0 = _cpu_children(), time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    out, err = await proc.communicate("\n".join(map(str, ports)).encode())
    wall = time.monotonic() - t0
    counters = sum(1 for line in out.decode().splitlines() if line.startswith(HC_IN_LINE))
    if proc.returncode != 0 or counters != len(ports) * INTERFACES:
        raise RuntimeError(
            f"{what}: peer got {counters} of {len(ports) * INTERFACES} counters, exit "
            f"{proc.returncode}: {err.decode()[-500:]}"
        )
    return {"wall_s": wall, "cpu_s": _cpu_children() - cpu}


async def alternating(
    poller: Poller, targets: Sequence[model.Target], ports: Sequence[int], root: Path, what: str
) -> dict[str, list[dict[str, float]]]:
    """ROUNDS rounds of ours (`targets`) and of the peer (the same devices, `ports`), the order
    alternating: each side's figures per round."""
    rounds: dict[str, list[dict[str, float]]] = {"ours": [], "peer": []}
    for i in range(ROUNDS):
        for who in ("ours", "peer") if i % 2 == 0 else ("peer", "ours"):
            if who == "ours":
                figures = await ours_round(poller, targets, f"{what}: ours round {i}")
            else:
                figures = await peer_round(ports, 4, 2, root, f"{what}: peer round {i}")
            rounds[who].append(figures)
            say(f"  round {i} {who}: {figures['wall_s']:.2f} s, CPU {figures['cpu_s']:.2f} s")
    return rounds


def _targets(ports: Sequence[int], **options: Any) -> list[model.Target]:
    return [model.Target(f"dev{port}", "127.0.0.1", port, **options) for port in ports]


async def measure(ports: Sequence[int], root: Path) -> dict[str, Any]:
    """Both benchmarks inside the namespace; raw figures per round."""
    doc: dict[str, Any] = {}
    targets = _targets(ports, max_repetitions=REPETITIONS)
    async with Poller() as poller:
        say(f"1,000 devices: ours, first round (cold engine), {PARALLEL} in flight")
        doc["scale_cold"] = await ours_round(poller, targets, "ours cold")
        say(f"  {doc['scale_cold']['wall_s']:.2f} s")
        doc["scale"] = await alternating(poller, targets, ports, root, "1,000 devices")

    pairs = [
        f"127.0.0.1:{PROXY_BASE_PORT + i}=127.0.0.1:{port}" for i, port in enumerate(ports[:SITES])
    ]
    proxy = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitoring.delay_proxy", "--delay-ms", str(DELAY_MS),
        "--jitter-ms", str(JITTER_MS), *pairs,
        cwd=REPO, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proxy.stdout is not None
        if await asyncio.wait_for(proxy.stdout.readline(), 30) != b"ready\n":
            raise RuntimeError("the delay proxies did not start")
        site_ports = [PROXY_BASE_PORT + i for i in range(SITES)]
        sites = _targets(site_ports)  # the V-Sat defaults: 4 s x 2 retries, learned GETBULK size
        say(f"{SITES} V-Sat sites through delay proxies, {DELAY_MS} ± {JITTER_MS} ms each way")
        async with Poller() as poller:
            doc["vsat_cold"] = await ours_round(poller, sites, "vsat ours cold")
            say(f"  first round (cold): {doc['vsat_cold']['wall_s']:.2f} s")
            doc["vsat"] = await alternating(poller, sites, site_ports, root, "vsat")
    finally:
        proxy.terminate()
        await proxy.wait()
    return doc


def run() -> list[Result]:
    """1,000 devices x 51 values, and 200 sites at 600 ms RTT: ours against forked snmpbulkget."""
    preflight()
    with (
        tempfile.TemporaryDirectory(prefix="spb-snmp-") as tmp,
        devices(Path(tmp)) as ports,
        in_netns(NS),
    ):
        doc = asyncio.run(measure(ports, Path(tmp)))
    scale, vsat = doc["scale"], doc["vsat"]

    def med(rounds: list[dict[str, float]], key: str = "wall_s") -> float:
        return median([r[key] for r in rounds])

    setup = {
        "devices": DEVICES,
        "values_per_device": VALUES,
        "parallel": PARALLEL,
        "rounds": ROUNDS,
        "max_repetitions": REPETITIONS,
        "sites": SITES,
        "one_way_delay_ms": [DELAY_MS - JITTER_MS, DELAY_MS + JITTER_MS],
    }
    ours_label = f"Poller (1 pysnmp engine, {PARALLEL} in flight)"
    peer_label = f"snmpbulkget per device (xargs -P {PARALLEL})"
    return [
        Result(
            "snmp",
            f"{DEVICES:,} devices x {VALUES} values, wall (median)",
            ours_label,
            med(scale["ours"]),
            "s",
            "lower",
            peer_label,
            med(scale["peer"]),
            Target("ours", "<=", TARGET_SCALE_S),
            details={**setup, **doc},
        ),
        Result(
            "snmp",
            f"{SITES} sites at ~600 ms RTT, wall (median)",
            ours_label,
            med(vsat["ours"]),
            "s",
            "lower",
            peer_label,
            med(vsat["peer"]),
            Target("ours", "<=", TARGET_VSAT_S),
        ),
        Result(
            "snmp",
            f"CPU for {DEVICES:,} polls (median)",
            "poller process",
            med(scale["ours"], "cpu_s"),
            "s",
            "lower",
            "snmpbulkget + xargs processes",
            med(scale["peer"], "cpu_s"),
        ),
        Result(
            "snmp",
            f"{DEVICES:,} devices, first poll (cold engine)",
            ours_label,
            doc["scale_cold"]["wall_s"],
            "s",
            "lower",
            peer_label,
            med(scale["peer"]),
        ),
        Result(
            "snmp",
            f"{SITES} sites, first poll (cold, GETBULK size unknown)",
            ours_label,
            doc["vsat_cold"]["wall_s"],
            "s",
            "lower",
            peer_label,
            med(vsat["peer"]),
        ),
    ]
