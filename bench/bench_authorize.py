"""Authorizing one hotspot client: an in-process set element vs a forked `nft` per client.

With 10,000 clients already in hs_auth/hs_auth_dl, `bench.auth_worker` (run inside the lab's gateway
namespace) times N single-client authorizations through libnftables in-process (netd's way) and N
through a forked `nft add element …` (the peer: a script that shells out per client), alternating
in blocks. Then, from this (host) process, a few hundred clients of the site subnet 10.40.1.0/24
are authorized through netd's API socket: the whole path the portal sees (socket, SQLite session
and audit rows, the kernel transaction).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.harness import REPO, Result, Target, free_addresses, lab, percentile, say, summary

N = 2000  # authorizations each way
PREFILL = 10_000  # clients already in the set
BLOCK = 100  # alternate in-process / forked every BLOCK clients
API_CLIENTS = 250  # through netd's socket, inside 10.40.1.0/24
TARGET_P99_MS = 2.0
SITE = "rtm-lam"  # 10.40.1.0/24 in examples/lab.yaml


def worker(gateway_ns: str, *args: str, timeout_s: float = 600) -> dict[str, Any]:
    """Run bench.auth_worker inside the gateway namespace; its JSON document."""
    argv = ["ip", "netns", "exec", gateway_ns, sys.executable, "-m", "bench.auth_worker", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"auth_worker failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def _ms(samples_ns: list[int]) -> list[float]:
    return [s / 1e6 for s in samples_ns]


def api_clients(the_lab: Any, count: int) -> list[tuple[str, str]]:
    """(MAC, IP) pairs inside the site's subnet, clear of the gateway and the lab's own clients."""
    return [
        (f"02:5c:00:00:{i >> 8:02x}:{i & 0xFF:02x}", ip)
        for i, ip in enumerate(free_addresses(the_lab, SITE, count))
    ]


def api_path(the_lab: Any, count: int) -> tuple[list[float], dict[str, Any]]:
    """Milliseconds per NetdClient.call('authorize') from this process over the Unix socket."""
    from netctl.protocol import NetdClient

    samples = []
    with NetdClient(str(the_lab.paths.socket)) as client:
        client.call("ping")  # connect first: the timings are per request on one connection
        sessions_before = client.call("status")["sessions"]
        for mac, ip in api_clients(the_lab, count):
            start = time.perf_counter_ns()
            client.call("authorize", mac=mac, ip=ip, minutes=60, method="bench")
            samples.append((time.perf_counter_ns() - start) / 1e6)
        sessions_after = client.call("status")["sessions"]
    added = sessions_after - sessions_before
    if added != count:
        raise RuntimeError(f"netd holds {added} new sessions, not {count}")
    return samples, {"sessions_before": sessions_before, "sessions_after": sessions_after}


def run() -> list[Result]:
    """Bring the lab up, measure both ways and the API path, bring it down."""
    with lab() as the_lab:
        gw = the_lab.plan.gateway_ns
        say(f"worker in {gw}: {PREFILL} pre-filled, {N} authorizations each way")
        doc = worker(gw, "--n", str(N), "--prefill", str(PREFILL), "--block", str(BLOCK))
        counts = doc["set_elements"]
        if counts["after_prefill"] - counts["before"] != PREFILL:
            raise RuntimeError(f"pre-fill did not land: {counts}")
        say(f"pre-fill of {PREFILL} took {doc['prefill_ms']:.1f} ms; set sizes {counts}")
        say(f"netd API: {API_CLIENTS} authorizations in 10.40.1.0/24 with {PREFILL} in the set")
        api_ms, api_info = api_path(the_lab, API_CLIENTS)

    inproc = _ms(doc["samples_ns"]["in_process"])
    forked = _ms(doc["samples_ns"]["forked"])
    common = {
        "prefill": PREFILL,
        "n_each": N,
        "block": BLOCK,
        "prefill_ms": round(doc["prefill_ms"], 2),
        "set_elements": counts,
        "nft": doc["nft"],
        "in_process_ms": summary(inproc),
        "forked_ms": summary(forked),
        "samples_ms": {
            "in_process": [round(x, 4) for x in inproc],
            "forked": [round(x, 4) for x in forked],
            "netd_api": [round(x, 4) for x in api_ms],
        },
    }
    ours_label = "in-process libnftables"
    peer_label = "forked `nft add element`"
    return [
        Result(
            "authorize",
            f"p99, 1 client, {PREFILL // 1000}k in set",
            ours_label,
            percentile(inproc, 99),
            "ms",
            "lower",
            peer_label,
            percentile(forked, 99),
            Target("ours", "<=", TARGET_P99_MS),
            details=common,
        ),
        Result(
            "authorize",
            f"p50, 1 client, {PREFILL // 1000}k in set",
            ours_label,
            percentile(inproc, 50),
            "ms",
            "lower",
            peer_label,
            percentile(forked, 50),
        ),
        Result(
            "authorize",
            "p50, netd API (portal's path)",
            "NetdClient.call('authorize')",
            percentile(api_ms, 50),
            "ms",
            "lower",
            details={"api_ms": summary(api_ms), "clients": API_CLIENTS, **api_info},
        ),
        Result(
            "authorize",
            "p99, netd API (portal's path)",
            "NetdClient.call('authorize')",
            percentile(api_ms, 99),
            "ms",
            "lower",
        ),
    ]
