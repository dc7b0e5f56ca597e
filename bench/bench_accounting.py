"""One accounting cycle at a regency's scale: 10,000 authorized hotspot clients and 50 OPDs.

The benchmark makes its own network namespace (`spb-acct`, with a veth as the uplink) and runs a
worker in it (libnftables works in the caller's namespace) that:

- loads the ruleset netd renders for examples/lab.yaml grown to 50 OPDs and a hotspot site of
  10,000 clients, with their sessions in a store on disk (SQLite, as on the node);
- books once (untimed: every meter is new), then, each round, writes new counter values into
  every accounting element (so every client has bytes to book: the worst case) and times one
  cycle: ours, `netctl.accounting.Accounting.cycle` (in-process libnftables reads, booking, one
  SQLite transaction into the usage database), and the peer, the same booking fed by forked
  `nft -j list set …`/`nft -j list counters` (what a script-driven accounting does);
- notes whether every round read at least every client's and OPD's counters (`booked_ok`).

Target: our cycle ≤ 250 ms (p50 over the rounds). `run()` is the entry point for bench/run.py;
`python -m bench.bench_accounting --worker` is the worker (internal).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.harness import REPO, Result, Target, median, percentile, say, summary

NS = "spb-acct"
CLIENTS = 10_000
OPDS = 50
ROUNDS = 7
TARGET_MS = 250.0


def grown_config() -> dict[str, Any]:
    """examples/lab.yaml with OPDs up to `OPDS` and a site big enough for `CLIENTS`."""
    import yaml

    data = yaml.safe_load((REPO / "examples" / "lab.yaml").read_text())
    data["opds"] = data["opds"][:1]
    base = dict(data["opds"][0])
    for k in ("bandwidth", "bandwidth_cap", "shared_services", "vlan"):
        base.pop(k, None)
    for i in range(1, OPDS):
        data["opds"].append(
            base | {"slug": f"opd-{i}", "name": f"OPD {i}", "subnet": f"10.20.{100 + i}.0/24",
                    "interface": f"opd{i}"}
        )  # fmt: skip
    data["services"] = []
    site = dict(data["hotspot_sites"][0])
    site |= {"slug": "bench", "name": "Bench", "subnet": "10.40.64.0/18", "interface": "hs-bench"}
    site.pop("vlan", None)
    data["hotspot_sites"].append(site)
    return data


def client(index: int) -> tuple[str, str]:
    """The index-th client's MAC and address in 10.40.64.0/18."""
    third, fourth = divmod(index, 250)
    return (
        f"02:5c:00:00:{index >> 8 & 0xFF:02x}:{index & 0xFF:02x}",
        f"10.40.{64 + third}.{2 + fourth}",
    )


def _bump(nft: Any, clients: list[tuple[str, str]], round_no: int) -> None:
    """Give every accounting element a bigger counter (replaced, not grown: booked as the new
    values)."""
    from netctl.render import ACCT_DL_SET, ACCT_SET, FAMILY, TABLE

    where = f"{FAMILY} {TABLE}"
    up = ", ".join(f"{m} . {i}" for m, i in clients)
    down = ", ".join(i for _m, i in clients)
    ups, downs = [], []
    for n, (m, i) in enumerate(clients):
        u, d = (n % 97 + 1) * 1000 * round_no, (n % 89 + 1) * 10_000 * round_no
        ups.append(f"{m} . {i} counter packets {round_no * 10} bytes {u}")
        downs.append(f"{i} counter packets {round_no * 20} bytes {d}")
    nft.run(
        f"delete element {where} {ACCT_SET} {{ {up} }}\n"
        f"delete element {where} {ACCT_DL_SET} {{ {down} }}\n"
        f"add element {where} {ACCT_SET} {{ {', '.join(ups)} }}\n"
        f"add element {where} {ACCT_DL_SET} {{ {', '.join(downs)} }}\n"
    )


class ForkedNft:
    """The peer's reads: `nft -j list …` forked per listing and parsed (the keys packed as the
    kernel's, so the same booking follows)."""

    @staticmethod
    def _query(*command: str) -> list[dict[str, Any]]:
        out = subprocess.run(["nft", "-j", *command], capture_output=True, text=True, check=True)
        return [o for o in json.loads(out.stdout)["nftables"] if "metainfo" not in o]

    def set_counters(self, table: str, name: str) -> dict[bytes, tuple[int, int]]:
        out = {}
        for obj in self._query("list", "set", "inet", table, name):
            for item in obj.get("set", {}).get("elem", []):
                elem = item["elem"]
                value = elem["val"]
                if isinstance(value, dict):
                    mac, ip = value["concat"]
                    key = bytes.fromhex(mac.replace(":", "")) + b"\0\0" + socket.inet_aton(ip)
                else:
                    key = socket.inet_aton(value)
                counter = elem.get("counter", {})
                out[key] = (counter.get("packets", 0), counter.get("bytes", 0))
        return out

    def named_counters(self, table: str) -> dict[str, tuple[int, int]]:
        return {
            o["counter"]["name"]: (o["counter"]["packets"], o["counter"]["bytes"])
            for o in self._query("list", "counters", "table", "inet", table)
            if "counter" in o
        }


def worker(rounds: int) -> dict[str, Any]:
    """Set up, then time `rounds` cycles each way (inside the namespace)."""
    from netctl.accounting import Accounting
    from netctl.apply import Kernel
    from netctl.libnft import Nft
    from netctl.render import Client
    from simpul.config import parse_config
    from simpul.store import Store
    from simpul.usage.db import UsageDb

    config = parse_config(grown_config())
    now = time.time()
    clients = [client(i) for i in range(CLIENTS)]
    nft = Nft()
    Kernel(nft).apply(config, [Client(m, i, now + 86400) for m, i in clients], now)
    with tempfile.TemporaryDirectory(prefix="simpul-bench-acct-", dir="/var/tmp") as tmp:
        store = Store(os.path.join(tmp, "simpul.db"))
        store.import_config(config, actor="bench")
        with store.transaction() as db:
            db.executemany(
                "INSERT INTO session (mac, ip, site, method, started_at, expires_at) "
                "VALUES (?, ?, 'bench', 'bench', ?, ?)",
                [(m, i, now - 60, now + 86400) for m, i in clients],
            )
        sessions = store.open_sessions()
        out: dict[str, Any] = {"ours": [], "peer": [], "booked_ok": True, "opds": len(config.opds)}
        sides = {
            "ours": Accounting(UsageDb(os.path.join(tmp, "ours.db")), nft, boot="bench"),
            "peer": Accounting(
                UsageDb(os.path.join(tmp, "peer.db")), nft, ForkedNft(), boot="bench"
            ),
        }  # type: ignore[arg-type]
        for side in sides.values():
            side.cycle(config, sessions, time.time(), store)  # every meter new: untimed
        for r in range(1, rounds + 1):
            for name in ("ours", "peer") if r % 2 else ("peer", "ours"):
                _bump(nft, clients, 100 + r * 2 + (name == "peer"))
                t0 = time.perf_counter()
                record = sides[name].cycle(config, sessions, time.time(), store)
                out[name].append((time.perf_counter() - t0) * 1000)
                out["booked_ok"] &= record.readings >= 2 * CLIENTS + 4 * OPDS
        out["readings"] = record.readings
        store.close()
    return out


def run() -> list[Result]:
    """Make the namespace, run the worker, tear down; the results."""
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "-n", NS, "link", "add", "wan0", "type", "veth", "peer", "wanp"],
                       check=True)  # fmt: skip
        say(f"accounting: {CLIENTS:,} clients, {OPDS} OPDs, {ROUNDS} rounds each way")
        proc = subprocess.run(
            ["ip", "netns", "exec", NS, sys.executable, "-m", "bench.bench_accounting",
             "--worker", "--rounds", str(ROUNDS)],
            cwd=REPO, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"accounting worker failed: {proc.stderr[-2000:]}")
        out = json.loads(proc.stdout.splitlines()[-1])
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)
    details = {"ours_ms": summary(out["ours"]), "peer_ms": summary(out["peer"]),
               "readings": out["readings"], "opds": out["opds"], "clients": CLIENTS,
               "samples": {"ours": out["ours"], "peer": out["peer"]}}  # fmt: skip
    label, peer_label = "Accounting.cycle (libnftables)", "same booking, forked nft -j"
    return [
        Result("accounting", f"one cycle, {CLIENTS:,} clients + {OPDS} OPDs (p50)", label,
               median(out["ours"]), "ms", "lower", peer_label, median(out["peer"]),
               target=Target("ours", "<=", TARGET_MS), details=details),
        Result("accounting", "one cycle (worst of the rounds)", label,
               percentile(out["ours"], 100), "ms", "lower", peer_label,
               percentile(out["peer"], 100)),
        Result("accounting", "readings per cycle", label, float(out["readings"]), "counters",
               "higher", None, None),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_accounting", description=__doc__)
    parser.add_argument("--worker", action="store_true", help="(internal) the timed worker")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.rounds)))
        return 0
    from bench.harness import table

    print(table(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
