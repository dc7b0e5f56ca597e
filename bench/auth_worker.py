"""Time single-client authorization in the current network namespace; print JSON samples.

Run inside the gateway namespace (libnftables works in the namespace of the calling process):

    ip netns exec spb-gw .venv/bin/python -m bench.auth_worker --n 2000 --prefill 10000

It pre-fills `--prefill` fake clients into hs_auth/hs_auth_dl in one transaction, then authorizes
`--n` new clients each way, one per call, alternating in blocks:

- in-process: `netctl.apply.Kernel.authorize([client])`, i.e. element_commands + one libnftables
  transaction in this process (what netd does);
- forked: `nft 'add element …; add element …'` as a subprocess per client, the same two commands
  (what a shell/PHP captive-portal script does).

Fake clients get locally administered MACs (02:5b:…) and addresses 10.40.3.2 upwards inside the
hotspot supernet 10.40.0.0/16, leaving the lab's site subnets 10.40.1.0/24 and 10.40.2.0/24 to its
real clients. The measured clients are deleted again at the end (the pre-fill stays unless
`--remove-prefill`), so the set holds the pre-fill afterwards.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

from netctl.apply import Kernel
from netctl.libnft import Nft
from netctl.render import AUTH_DL_SET, AUTH_SET, FAMILY, TABLE, Client, element_commands

FIRST_THIRD_OCTET = 3  # 10.40.3.0 upwards: clear of the lab's site subnets 10.40.1/24, 10.40.2/24
HOSTS_PER_OCTET = 250  # .2 … .251 of each /24


def fake_client(index: int, expires_at: float) -> Client:
    """The index-th fake client: a locally administered MAC and an address in 10.40.0.0/16."""
    third, fourth = divmod(index, HOSTS_PER_OCTET)
    if FIRST_THIRD_OCTET + third > 255:
        raise ValueError(f"fake client {index} does not fit in 10.40.0.0/16")
    mac = "02:5b:" + ":".join(f"{(index >> shift) & 0xFF:02x}" for shift in (24, 16, 8, 0))
    return Client(mac, f"10.40.{FIRST_THIRD_OCTET + third}.{2 + fourth}", expires_at)


def fake_clients(start: int, count: int, expires_at: float) -> Iterator[Client]:
    """Fake clients start … start+count-1."""
    for index in range(start, start + count):
        yield fake_client(index, expires_at)


def count_elements(nft: Nft, set_name: str) -> int:
    """How many elements a set of table inet simpul holds."""
    for obj in nft.query(f"list set {FAMILY} {TABLE} {set_name}"):
        if "set" in obj:
            return len(obj["set"].get("elem", []))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Pre-fill, measure, clean up, print one JSON document on stdout."""
    parser = argparse.ArgumentParser(prog="bench.auth_worker", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="clients authorized each way")
    parser.add_argument("--prefill", type=int, default=10000, help="clients already in the set")
    parser.add_argument("--block", type=int, default=100, help="clients per alternating block")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls each way first")
    parser.add_argument("--timeout-s", type=int, default=7200, help="element timeout")
    parser.add_argument("--remove-prefill", action="store_true", help="delete the pre-fill too")
    args = parser.parse_args(argv)

    nft_path = shutil.which("nft")
    if nft_path is None:
        print("nft is not installed", file=sys.stderr)
        return 2
    nft = Nft()
    kernel = Kernel(nft)
    if not kernel.table():
        print(f"no table {FAMILY} {TABLE} in this namespace: is netd running?", file=sys.stderr)
        return 2

    now = time.time()
    expires = now + args.timeout_s
    before = count_elements(nft, AUTH_SET)
    prefill = list(fake_clients(0, args.prefill, expires))
    t0 = time.perf_counter_ns()
    kernel.authorize(prefill, now)  # one transaction: both sets
    prefill_ns = time.perf_counter_ns() - t0
    after_prefill = count_elements(nft, AUTH_SET)
    after_prefill_dl = count_elements(nft, AUTH_DL_SET)

    pool = fake_clients(args.prefill, 2 * (args.n + args.warmup), expires)
    measured: list[Client] = []

    def in_process(client: Client) -> int:
        start = time.perf_counter_ns()
        kernel.authorize([client], time.time())
        return time.perf_counter_ns() - start

    def forked(client: Client) -> int:
        start = time.perf_counter_ns()
        proc = subprocess.run(
            [nft_path, "; ".join(element_commands([client], time.time()))],
            capture_output=True,
            check=False,
        )
        elapsed = time.perf_counter_ns() - start
        if proc.returncode != 0:
            raise RuntimeError(f"nft failed: {proc.stderr.decode().strip()}")
        return elapsed

    ways = {"in_process": in_process, "forked": forked}
    samples: dict[str, list[int]] = {"in_process": [], "forked": []}
    for fn in ways.values():
        for _ in range(args.warmup):
            client = next(pool)
            measured.append(client)
            fn(client)
    blocks = 0
    started = time.monotonic()
    while len(samples["in_process"]) < args.n or len(samples["forked"]) < args.n:
        order = ("in_process", "forked") if blocks % 2 == 0 else ("forked", "in_process")
        for way in order:
            for _ in range(min(args.block, args.n - len(samples[way]))):
                client = next(pool)
                measured.append(client)
                samples[way].append(ways[way](client))
        blocks += 1
    measure_s = time.monotonic() - started
    after_measure = count_elements(nft, AUTH_SET)

    # The measured clients were added to the two authorization sets only (no idle/class).
    nft.run("\n".join(element_commands(measured, 0, verb="delete")[:2]))
    if args.remove_prefill:
        nft.run("\n".join(element_commands(prefill, 0, verb="delete")))
    final = count_elements(nft, AUTH_SET)

    json.dump(
        {
            "kernel": platform.release(),
            "nft": subprocess.run(
                [nft_path, "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
            "prefill": args.prefill,
            "prefill_ms": prefill_ns / 1e6,
            "set_elements": {
                "before": before,
                "after_prefill": after_prefill,
                "after_prefill_dl": after_prefill_dl,
                "after_measure": after_measure,
                "final": final,
            },
            "n": args.n,
            "block": args.block,
            "blocks": blocks,
            "measure_s": round(measure_s, 2),
            "samples_ns": samples,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
