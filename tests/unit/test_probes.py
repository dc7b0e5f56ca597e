"""ICMP probes: figures from replies (pure), and real echo requests in a network namespace of
our own (`unshare -rn`), unprivileged datagram sockets."""

from __future__ import annotations

import json

from monitoring.probes import ProbeResult
from tests.unit.netns import run_in_new_netns


def test_loss_rtt_and_jitter_from_the_replies() -> None:
    r = ProbeResult("10.60.1.2", 5, (600.0, 640.0, 620.0))
    assert r.received == 3 and r.loss_percent == 40.0
    assert r.rtt_ms == 620.0  # the median
    assert r.jitter_ms == 30.0  # |640-600| and |620-640|, averaged
    assert ProbeResult("10.60.1.2", 5, ()).rtt_ms is None
    assert ProbeResult("10.60.1.2", 0, (), "cannot send").loss_percent == 100.0


SCRIPT = r"""
import asyncio, json, subprocess
from monitoring.probes import probe_all
def sh(*a): subprocess.run(a, check=True)
sh("ip", "link", "set", "lo", "up")
before = asyncio.run(probe_all(["127.0.0.1"], count=1, spacing_s=0.01, timeout_s=0.2))
with open("/proc/sys/net/ipv4/ping_group_range", "w") as f:
    f.write("0 0")
# a neighbour that never answers: a veth whose other end has no address
sh("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
sh("ip", "addr", "add", "10.99.0.1/24", "dev", "d0")
sh("ip", "link", "set", "d0", "up"); sh("ip", "link", "set", "d1", "up")
found = asyncio.run(probe_all(["127.0.0.1", "10.99.0.2", "192.0.2.1"], count=3,
                              spacing_s=0.05, timeout_s=0.5))
print(json.dumps({"before": before["127.0.0.1"].error, **{
    a: [r.sent, r.received, r.error] for a, r in found.items()}}))
"""


def test_real_echo_requests_and_their_failures() -> None:
    result = run_in_new_netns(SCRIPT, "ip")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert "ping_group_range" in out["before"]  # a new namespace allows no group: said so
    assert out["127.0.0.1"] == [3, 3, None]
    assert out["10.99.0.2"] == [3, 0, None]  # sent, never answered: 100 % loss, no error
    sent, received, error = out["192.0.2.1"]
    assert (sent, received) == (0, 0) and "unreachable" in error.lower()
