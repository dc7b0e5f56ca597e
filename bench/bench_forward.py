"""TCP forwarding through the gateway: the full ruleset with 10,000 authorized clients vs none.

A hotspot client of the lab (spb-hs-1, authorized through netd with its real MAC and IP) runs
iperf3 against the bulk server 203.0.113.10 in spb-inet, through spb-gw:

- ours: table inet simpul as netd applies it (forward filter with the hs_auth concatenation lookup,
  conntrack, masquerade) and 10,000 more clients in hs_auth/hs_auth_dl;
- peer: the same namespaces and links with table inet simpul deleted (plain routing, no conntrack,
  no NAT); spb-inet then gets a route back to the hotspot supernet via the gateway's uplink address,
  removed again afterwards;
- reference (INFO lines, no target): the least any NAT gateway does, a table with only conntrack
  (`ct state established,related accept`) and masquerade, to tell the cost of being a stateful NAT
  gateway at all from the cost of Simpul's own rules.

Rounds rotate the configurations (each takes each position once over three rounds) so drift of the
machine hits all of them; each configuration's figure is the median over rounds. Download (iperf3
-R: the server sends to the client, what a citizen mostly does) and upload are both measured. When
the ruleset is needed again it is restored through netd's `apply` and the 10,000 clients are put
back (netd's apply removes elements the store does not know).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_authorize import worker
from bench.harness import Result, Target, lab, median, say, unshaped_config
from simpul.lab.topology import LAB_BULK

ROUNDS = 3
SECONDS = 5  # measured seconds per run
OMIT = 1  # seconds of TCP slow start left out (iperf3 -O)
PREFILL = 10_000
TARGET_RATIO = 0.95
DIRECTIONS = {"download": True, "upload": False}  # name -> iperf3 -R
CONFIGS = ("ruleset", "bare", "nat_min")
NAT_MIN_TABLE = "simpul_bench_nat"  # family ip, only while measuring the reference


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; raise with its stderr when `check` and it fails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=120)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def iperf(client_ns: str, reverse: bool) -> dict[str, float]:
    """One iperf3 TCP run from `client_ns` to the bulk server: receiver bits/s and retransmits."""
    argv = ["ip", "netns", "exec", client_ns, "iperf3", "-c", LAB_BULK]
    argv += ["-t", str(SECONDS), "-O", str(OMIT), "-J"] + (["-R"] if reverse else [])
    for attempt in range(3):
        proc = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=SECONDS + OMIT + 60
        )
        try:
            doc = json.loads(proc.stdout)
        except json.JSONDecodeError:
            doc = {"error": proc.stderr.strip() or proc.stdout.strip()}
        if proc.returncode == 0 and "error" not in doc:
            end = doc["end"]
            return {
                "bits_per_second": float(end["sum_received"]["bits_per_second"]),
                "retransmits": int(end["sum_sent"].get("retransmits", 0)),
            }
        if "busy" in str(doc.get("error")) and attempt < 2:
            time.sleep(1)  # the server is still closing the previous test
            continue
        raise RuntimeError(f"iperf3 from {client_ns} failed: {doc.get('error')}")
    raise AssertionError("unreachable")


def auth_elements(gateway_ns: str) -> int:
    """Elements in hs_auth of the gateway (0 when the table is absent)."""
    proc = sh("ip", "netns", "exec", gateway_ns, "nft", "-j", "list", "set", "inet", "simpul",
              "hs_auth", check=False)  # fmt: skip
    if proc.returncode != 0:
        return 0
    for obj in json.loads(proc.stdout).get("nftables", []):
        if "set" in obj:
            return len(obj["set"].get("elem", []))
    return 0


def table_present(gateway_ns: str) -> bool:
    """Whether table inet simpul exists in the gateway."""
    return sh("ip", "netns", "exec", gateway_ns, "nft", "list", "table", "inet", "simpul",
              check=False).returncode == 0  # fmt: skip


class Bench:
    """The lab, the measured client and the switches between the configurations."""

    def __init__(self, the_lab: Any) -> None:
        from netctl.protocol import NetdClient

        self.lab = the_lab
        self.gw = the_lab.plan.gateway_ns
        self.inet = the_lab.plan.inet_ns
        self.client_ns = the_lab.plan.hotspot_clients["rtm-lam"][0]
        self.netd = NetdClient(str(the_lab.paths.socket))
        uplink = the_lab.config.uplinks[0]
        self.route = [
            str(the_lab.config.zones.hotspot.supernet),
            "via",
            str(uplink.address.ip),
        ]
        self.route_added = False
        self.nat_min_added = False
        link = json.loads(sh("ip", "-n", self.client_ns, "-j", "link", "show", "eth0").stdout)
        address = the_lab.address_of(self.client_ns)
        if address is None:
            raise RuntimeError(f"{self.client_ns} has no address")
        self.mac, self.ip = link[0]["address"], str(address.ip)

    def authorize_client(self) -> None:
        """Authorize the measured client through netd (its real MAC . IP)."""
        result = self.netd.call("authorize", mac=self.mac, ip=self.ip, minutes=120, method="bench")
        say(f"authorized {self.client_ns} {result['mac']} {result['ip']} ({result['site']})")

    def fill(self) -> None:
        """Put the 10,000 extra clients into the sets (one transaction, in the gateway)."""
        doc = worker(self.gw, "--n", "0", "--warmup", "0", "--prefill", str(PREFILL))
        say(f"{PREFILL} clients added in {doc['prefill_ms']:.0f} ms")

    def client_bytes(self) -> tuple[int, int]:
        """The measured client's (up, down) bytes from its set elements."""
        for c in self.netd.call("clients"):
            if (c["mac"], c["ip"]) == (self.mac, self.ip) and c["in_kernel"]:
                return c["up_bytes"], c["down_bytes"]
        raise RuntimeError(f"{self.client_ns} is not in the kernel's hs_auth")

    def ruleset(self) -> None:
        """Full ruleset with PREFILL + 1 clients; restored through netd when it was removed."""
        self.drop_route()
        self.drop_nat_min()
        if not table_present(self.gw):
            result = self.netd.call("apply")
            say(f"ruleset restored by netd apply ({result['rules']} rules, "
                f"{result['clients']} store client(s))")  # fmt: skip
            self.fill()
        elements = auth_elements(self.gw)
        if elements < PREFILL + 1:
            raise RuntimeError(f"hs_auth holds {elements} elements, wanted {PREFILL + 1}")

    def bare(self) -> None:
        """No table inet simpul; a route back to the hotspot clients in the internet namespace."""
        self.drop_nat_min()
        if table_present(self.gw):
            sh("ip", "netns", "exec", self.gw, "nft", "delete", "table", "inet", "simpul")
        if not self.route_added:
            sh("ip", "-n", self.inet, "route", "add", *self.route)
            self.route_added = True

    def nat_min(self) -> None:
        """Only conntrack and masquerade (the reference): no table inet simpul, no extra route."""
        self.drop_route()
        if table_present(self.gw):
            sh("ip", "netns", "exec", self.gw, "nft", "delete", "table", "inet", "simpul")
        if not self.nat_min_added:
            uplink = self.lab.config.uplinks[0].interface
            script = (
                f"table ip {NAT_MIN_TABLE} {{\n"
                "  chain filter_forward {\n"
                "    type filter hook forward priority filter; policy accept;\n"
                "    ct state established,related accept; accept; }\n"
                "  chain nat_postrouting { type nat hook postrouting priority srcnat;\n"
                f'    oifname "{uplink}" masquerade; }}\n'
                "}\n"
            )
            proc = subprocess.run(
                ["ip", "netns", "exec", self.gw, "nft", "-f", "-"],
                input=script,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"nft refused the reference table: {proc.stderr.strip()}")
            self.nat_min_added = True

    def drop_nat_min(self) -> None:
        """Remove the reference table (if it is there)."""
        if self.nat_min_added:
            sh("ip", "netns", "exec", self.gw, "nft", "delete", "table", "ip", NAT_MIN_TABLE,
               check=False)  # fmt: skip
            self.nat_min_added = False

    def drop_route(self) -> None:
        """Remove the peer's return route (if it is there)."""
        if self.route_added:
            sh("ip", "-n", self.inet, "route", "del", *self.route, check=False)
            self.route_added = False

    def restore(self) -> None:
        """Leave the lab as netd made it: no extra route, the ruleset applied."""
        try:
            self.drop_route()
            self.drop_nat_min()
            if not table_present(self.gw):
                self.netd.call("apply")
        finally:
            self.netd.close()


def run() -> list[Result]:
    """Bring the lab up, run rotating rounds, bring it down."""
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        d: {c: [] for c in CONFIGS} for d in DIRECTIONS
    }
    checks: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        lab(config_path=unshaped_config(Path(tmp))) as the_lab,
    ):
        bench = Bench(the_lab)
        try:
            bench.authorize_client()
            bench.fill()
            for rnd in range(ROUNDS):
                order = CONFIGS[rnd % len(CONFIGS) :] + CONFIGS[: rnd % len(CONFIGS)]
                for config in order:
                    getattr(bench, config)()
                    before = bench.client_bytes() if config == "ruleset" else None
                    for direction, reverse in DIRECTIONS.items():
                        figure = iperf(bench.client_ns, reverse)
                        runs[direction][config].append(figure)
                        say(f"round {rnd + 1}/{ROUNDS} {config:7} {direction:8} "
                            f"{figure['bits_per_second'] / 1e9:6.2f} Gbit/s "
                            f"({figure['retransmits']} retransmits)")  # fmt: skip
                    if before is not None:
                        after = bench.client_bytes()
                        checks.append({"round": rnd + 1, "up_bytes": after[0] - before[0],
                                       "down_bytes": after[1] - before[1]})  # fmt: skip
                        if after[0] <= before[0] or after[1] <= before[1]:
                            raise RuntimeError(f"the client's set counters did not grow: {checks}")
        finally:
            bench.restore()

    results = []
    for direction in DIRECTIONS:
        ours = [r["bits_per_second"] / 1e9 for r in runs[direction]["ruleset"]]
        peer = [r["bits_per_second"] / 1e9 for r in runs[direction]["bare"]]
        results.append(
            Result(
                "forward",
                f"TCP {direction}, median of {ROUNDS}×{SECONDS}s",
                f"ruleset + {PREFILL // 1000}k clients",
                median(ours),
                "Gbit/s",
                "higher",
                "no ruleset (plain routing)",
                median(peer),
                Target("ratio", ">=", TARGET_RATIO),
                details={
                    "runs": runs[direction],
                    "client_counter_growth": checks if direction == "download" else [],
                    "iperf3": f"-t {SECONDS} -O {OMIT}" + (" -R" if DIRECTIONS[direction] else ""),
                },
            )
        )
    for direction in DIRECTIONS:
        ours = [r["bits_per_second"] / 1e9 for r in runs[direction]["ruleset"]]
        reference = [r["bits_per_second"] / 1e9 for r in runs[direction]["nat_min"]]
        results.append(
            Result(
                "forward",
                f"TCP {direction}, vs minimal NAT",
                f"ruleset + {PREFILL // 1000}k clients",
                median(ours),
                "Gbit/s",
                "higher",
                "conntrack + masquerade only",
                median(reference),
            )
        )
    return results
