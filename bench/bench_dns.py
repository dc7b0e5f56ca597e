"""The policy DNS front end (netctl/dnsd.py) against dnsmasq, both with a million names loaded.

`dns` builds two namespaces of its own, `spb-dns-srv` (the gateway) and `spb-dns-cli` (a client in
disdik's LAN, 10.20.2.50/24), joined by one veth pair created inside them, and runs in the gateway:

- an authoritative stand-in: dnsmasq on 127.0.0.1:5400 with `address=/name/203.0.113.x` for every
  allowed name of the query file and `local-ttl=3600` (like the lab's inet DNS);
- ours: Unbound from `netctl.resolver.render_unbound` on 127.0.0.1:`filtering.resolver_port`,
  forwarding to the stand-in, and `python -m netctl.dnsd` on the gateway addresses of every zone
  (10.20.2.1 is disdik's), with the shipped category lists plus a generated TrustPositif-shaped
  list of 1,000,000 names (plain format, category gambling);
- the peer: dnsmasq on 10.20.2.2:53 with the same million names, and the shipped gambling, adult
  and doh names, as `address=/name/` lines in a `conf-file` (the usual way to give dnsmasq a
  blocklist; published dnsmasq-format lists use `address=/name/` or `local=/name/`): the name and
  its subdomains answer NXDOMAIN. It forwards to the stand-in, `cache-size=10000`.

One query file for both: 1,000 allowed names (warmed first, so cached: Unbound's cache behind ours,
dnsmasq's own cache), about 10% names of the million and a few names of the shipped gambling, adult
and doh lists, which disdik's policy blocks at any hour. dnsperf runs in the client namespace
(`-c 8 -T 1 -q 100`, no rate limit): `ROUNDS` rounds of `ROUND_S` seconds each way, the order
alternating, the median round counting (queries/s and dnsperf's average latency; the CPU seconds
each process spent are recorded per round); then `LAT_S` seconds each at a fixed `LAT_QPS` with
`-v` (every query's latency, for p50/p99, also split into allowed and blocked names).

The rows named `dns-decide` time `PolicyEngine.decide()` in this process (no network) for the same
mix with the million names loaded, against a naive filter: a Python `set` of every list's names
walked over the name's suffixes. Set `BENCH_DNS_PROFILE=1` to run dnsd under cProfile (its figures
are then not representative); the top functions go to stderr and the JSON.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import yaml

from bench.bench_matcher import blocked_name
from bench.harness import LAB_CONFIG, REPO, Result, Target, median, percentile, say, summary
from simpul.lab.runner import stop_pids

NS_SRV = "spb-dns-srv"
NS_CLI = "spb-dns-cli"
OURS_ADDR = "10.20.2.1"  # disdik's gateway address, one of dnsd's listen addresses
PEER_ADDR = "10.20.2.2"
CLIENT_ADDR = "10.20.2.50"  # in disdik's LAN (10.20.2.0/24): policy "pendidikan" applies
STANDIN_PORT = 5400
BLOCK_PAGE = OURS_ADDR  # where ours points blocked names for disdik (block_answer: page)

NAMES = 1_000_000
ALLOWED = 1_000
QUERY_LINES = 10_000
BLOCKED_SHARE = 0.10  # of the query lines: names of the million
SHIPPED_LINES = 50  # of the query lines: names of the shipped gambling/adult/doh lists
PEER_CATEGORIES = ("gambling", "adult", "doh")  # blocked for disdik at any hour
LIST_NAME = "trustpositif-bench"

ROUNDS = 3  # alternating ours/peer, peer/ours, ...: the median round counts
ROUND_S = 5
LAT_S = 5
LAT_QPS = 2_000
CLIENTS = 8
THREADS = 1
OUTSTANDING = 100
TARGET_RATIO = 0.5
DECISIONS = 100_000
SEED = 7

TOOLS = ("ip", "dnsmasq", "unbound", "dnsperf", "dig")

ALLOWED_BASES = ("berita", "kabar", "sekolah", "toko", "portal", "dinas", "info", "pustaka")
ALLOWED_TLDS = ("go.id", "co.id", "ac.id", "sch.id", "com", "net", "org", "id")


# -- data ----------------------------------------------------------------------------------------


def _suffixes(name: str) -> Iterator[str]:
    """`name` and each enclosing name of at least two labels."""
    labels = name.split(".")
    for i in range(len(labels) - 1):
        yield ".".join(labels[i:])


def _shipped_names(lists_dir: Path, category: str) -> list[str]:
    from simpul.filtering.lists import read

    entries, _report = read(lists_dir / "categories" / f"{category}.txt", "plain")
    return [name for name, _kind in entries]


@dataclass
class Data:
    """The generated files and the names the query file asks."""

    root: Path
    lists_dir: Path
    config_path: Path
    peer_conf: Path
    standin_conf: Path
    queries: Path
    query_names: list[str]  # the query file's names, in its order
    allowed: dict[str, str] = field(default_factory=dict)  # name -> its stand-in address
    blocked_sample: list[str] = field(default_factory=list)  # names of the million asked
    shipped_sample: list[str] = field(default_factory=list)
    peer_entries: int = 0


def generate(root: Path) -> Data:
    """Lists, configurations and the query file under `root`."""
    rng = random.Random(SEED)
    lists_dir = root / "lists"
    shutil.copytree(REPO / "filter-lists", lists_dir)
    names: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < NAMES:
        name = blocked_name(rng)
        if name not in names:
            names.add(name)
            ordered.append(name)
    (lists_dir / f"{LIST_NAME}.txt").write_text(
        "# generated for bench/bench_dns.py: TrustPositif-shaped names\n"
        + "\n".join(ordered)
        + "\n"
    )

    shipped = {c: _shipped_names(lists_dir, c) for c in PEER_CATEGORIES}
    everything = set(names)
    for c in ("streaming-video", "drakor", "social-media", "games", *PEER_CATEGORIES):
        everything.update(_shipped_names(lists_dir, c))

    allowed: dict[str, str] = {}
    i = 0
    while len(allowed) < ALLOWED:
        if i % 50 == 0:  # a few under the policy's allow-list (belajar.id)
            name = f"{rng.choice(('akun', 'guru', 'siswa', 'rumah'))}{i}.belajar.id"
        else:
            prefix = rng.choice(("www", "cdn", "api", "m", "img", "static"))
            name = f"{prefix}.{rng.choice(ALLOWED_BASES)}{i}.{rng.choice(ALLOWED_TLDS)}"
        i += 1
        if any(s in everything for s in _suffixes(name)):
            continue
        n = len(allowed)
        allowed[name] = f"203.0.113.{1 + n % 250}" if n < 250 else f"198.51.100.{1 + n % 250}"

    n_blocked = round(QUERY_LINES * BLOCKED_SHARE)
    n_allowed = QUERY_LINES - n_blocked - SHIPPED_LINES
    blocked_sample = rng.sample(ordered, n_blocked)
    pool = [n for c in PEER_CATEGORIES for n in shipped[c]]
    shipped_sample = rng.sample(pool, min(SHIPPED_LINES, len(pool)))
    allowed_names = list(allowed)
    lines = [allowed_names[k % ALLOWED] for k in range(n_allowed)]
    lines += blocked_sample + [
        shipped_sample[k % len(shipped_sample)] for k in range(SHIPPED_LINES)
    ]
    rng.shuffle(lines)
    queries = root / "queries.txt"
    queries.write_text("".join(f"{n} A\n" for n in lines))

    peer_conf = root / "peer-blocklist.conf"
    peer_entries = 0
    with open(peer_conf, "w") as out:
        out.write("# the same names as ours blocks for disdik at any hour, dnsmasq's way\n")
        for name in ordered:
            out.write(f"address=/{name}/\n")
        peer_entries += len(ordered)
        for c in PEER_CATEGORIES:
            out.write("".join(f"address=/{n}/\n" for n in shipped[c]))
            peer_entries += len(shipped[c])
    standin_conf = root / "standin.conf"
    standin_conf.write_text(
        "# authoritative stand-in for the allowed names\nno-resolv\nno-hosts\nbind-interfaces\n"
        f"listen-address=127.0.0.1\nport={STANDIN_PORT}\nlocal-ttl=3600\n"
        + "".join(f"address=/{n}/{ip}\n" for n, ip in allowed.items())
    )

    config_path = root / "lab-dns.yaml"
    data = yaml.safe_load(Path(LAB_CONFIG).read_text())
    from simpul.config.model import SHIPPED_CATEGORIES

    filtering = data.setdefault("filtering", {})
    filtering["lists_dir"] = str(lists_dir)
    filtering["lists"] = [
        {"name": c, "category": c, "path": f"categories/{c}.txt", "format": "plain"}
        for c in SHIPPED_CATEGORIES
    ] + [{"name": LIST_NAME, "category": "gambling", "path": f"{LIST_NAME}.txt", "format": "plain"}]
    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return Data(
        root=root,
        lists_dir=lists_dir,
        config_path=config_path,
        peer_conf=peer_conf,
        standin_conf=standin_conf,
        queries=queries,
        query_names=lines,
        allowed=allowed,
        blocked_sample=blocked_sample,
        shipped_sample=shipped_sample,
        peer_entries=peer_entries,
    )


# -- processes and namespaces ---------------------------------------------------------------------


def _run(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _our_namespaces() -> list[str]:
    out = _run("ip", "-o", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("spb-dns-")]


def teardown_namespaces() -> list[str]:
    """Stop every process in our namespaces (they can only be ours), then delete them."""
    removed = []
    for ns in _our_namespaces():
        pids = _run("ip", "netns", "pids", ns, check=False).stdout.split()
        stop_pids([int(p) for p in pids if p.isdigit()])
        _run("ip", "netns", "del", ns, check=False)
        removed.append(ns)
    return removed


class Servers:
    """The processes of one run, each in its own session (Ctrl-C is ours to pass on)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, ns: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        log = self.root / f"{name}.log"
        self.logs[name] = log
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self.procs[name] = proc  # `ip netns exec` execs the command: the same pid
        return proc.pid

    def check(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}): {self.tail(name)}")

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, name: str, timeout_s: float = 10.0) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc.returncode

    def stop_all(self) -> None:
        for name in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(name)


@contextmanager
def namespaces() -> Iterator[None]:
    """spb-dns-srv and spb-dns-cli joined by a veth pair, always deleted afterwards."""
    left = teardown_namespaces()  # whatever an interrupted run left
    if left:
        say(f"removed leftovers: {', '.join(left)}")
    try:
        for ns in (NS_SRV, NS_CLI):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        # Created inside the namespaces: the host's interfaces are never touched.
        veth = ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", NS_CLI]
        _run("ip", "-n", NS_SRV, *veth)
        for ns, addresses in ((NS_SRV, (OURS_ADDR, PEER_ADDR)), (NS_CLI, (CLIENT_ADDR,))):
            for address in addresses:
                _run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
        yield
    finally:
        removed = teardown_namespaces()
        say(f"namespaces down ({', '.join(removed) or 'none'})")


# -- DNS helpers ----------------------------------------------------------------------------------


def dig(server: str, name: str, port: int = 53) -> tuple[str, list[str]]:
    """(status, A addresses) of `name` asked from the client namespace."""
    argv = ["ip", "netns", "exec", NS_CLI, "dig", f"@{server}", "-p", str(port), name, "A"]
    argv += ["+tries=1", "+time=2", "+noall", "+comments", "+answer"]
    out = _run(*argv, check=False, timeout=10).stdout
    status = re.search(r"status: (\w+)", out)
    addresses = re.findall(r"\sIN\s+A\s+([\d.]+)", out)
    return (status.group(1) if status else "TIMEOUT"), addresses


def wait_answering(servers: Servers, name: str, server: str, probe: str, timeout_s: float) -> float:
    """Seconds until `server` answers `probe` (the process `name` must stay up)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        servers.check(name)
        status, _ = dig(server, probe)
        if status != "TIMEOUT":
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer within {timeout_s:.0f} s: {servers.tail(name)}")


def control(path: str, method: str) -> Any:
    """One request to dnsd's control socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(json.dumps({"id": 1, "method": method}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data)
    if not reply.get("ok"):
        raise RuntimeError(f"dnsd {method}: {reply}")
    return reply["result"]


def memory(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile and RssShmem of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0]) * 1024
    return out


_STAT = {
    "sent": r"Queries sent:\s+(\d+)",
    "completed": r"Queries completed:\s+(\d+)",
    "lost": r"Queries lost:\s+(\d+)",
    "qps": r"Queries per second:\s+([\d.]+)",
    "run_s": r"Run time \(s\):\s+([\d.]+)",
    "avg_latency_s": r"Average Latency \(s\):\s+([\d.]+)",
    "min_latency_s": r"Average Latency \(s\):\s+[\d.]+ \(min ([\d.]+)",
    "max_latency_s": r"Average Latency \(s\):.*max ([\d.]+)\)",
    "stddev_latency_s": r"Latency StdDev \(s\):\s+([\d.]+)",
}


def dnsperf(server: str, queries: Path, *args: str, verbose: bool = False) -> dict[str, Any]:
    """Run dnsperf from the client namespace; its statistics (and per-query latencies with -v)."""
    argv = ["ip", "netns", "exec", NS_CLI, "dnsperf", "-s", server, "-d", str(queries), *args]
    if verbose:
        argv.append("-v")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dnsperf failed ({proc.returncode}): {proc.stderr.strip()}")
    out = proc.stdout
    stats: dict[str, Any] = {"argv": argv[4:]}
    for key, pattern in _STAT.items():
        m = re.search(pattern, out)
        stats[key] = float(m.group(1)) if m else None
    codes = re.search(r"Response codes:\s+(.*)", out)
    stats["rcodes"] = dict(
        (code, int(n)) for code, n in re.findall(r"(\w+) (\d+) \(", codes.group(1) if codes else "")
    )
    if verbose:  # "> NOERROR name A 0.000123" per query
        stats["latency"] = [
            (name, float(s) * 1e6)
            for name, s in re.findall(r"^> \S+ (\S+) \S+ ([\d.]+)$", out, re.MULTILINE)
        ]
    return stats


def _check_run(who: str, stats: dict[str, Any], servers: Servers | None = None) -> None:
    """Refuse figures made of failures (a server gone, SERVFAIL from a dead upstream, lost
    queries)."""
    if servers is not None:
        for name in ("dnsd", "unbound", "standin") if who == "ours" else ("peer", "standin"):
            servers.check(name)
    answered = sum(stats["rcodes"].values()) or 1
    bad = sum(n for code, n in stats["rcodes"].items() if code not in ("NOERROR", "NXDOMAIN"))
    if bad / answered > 0.01:
        raise RuntimeError(f"{who}: {bad} of {answered} answers failed: {stats['rcodes']}")
    if stats["sent"] and (stats["lost"] or 0) / stats["sent"] > 0.01:
        raise RuntimeError(f"{who}: {stats['lost']:.0f} of {stats['sent']:.0f} queries lost")


# -- the network benchmark -------------------------------------------------------------------------


def _profile_top(path: Path, n: int = 30) -> str:
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(str(path), stream=buf).sort_stats("tottime").print_stats(n)
    return buf.getvalue()


@dataclass
class Stack:
    """Ours and the peer, answering in spb-dns-srv."""

    servers: Servers
    ctl: str  # dnsd's control socket
    pids: dict[str, int]
    doc: dict[str, Any]


@contextmanager
def stack(data: Data, profile: bool = False) -> Iterator[Stack]:
    """Start the stand-in, Unbound, dnsd and the peer, check that they answer alike; always
    stop them afterwards."""
    from netctl.dns_child import render_dnsd_config
    from netctl.dnsd import listen_addresses
    from netctl.resolver import render_unbound
    from simpul.config import load_config_file

    config = load_config_file(str(data.config_path))
    if OURS_ADDR not in listen_addresses(config):
        raise RuntimeError(f"dnsd would not listen on {OURS_ADDR}: {listen_addresses(config)}")
    root = data.root
    resolver_port = config.filtering.resolver_port
    (root / "unbound.conf").write_text(
        render_unbound(
            config,
            forwarders=[f"127.0.0.1@{STANDIN_PORT}"],
            pid_file=str(root / "unbound.pid"),
            directory=str(root),
            port=resolver_port,
            listen=("127.0.0.1",),
        )
    )
    ctl = str(root / "dnsd.sock")
    (root / "dnsd.json").write_text(
        render_dnsd_config(
            config, db=str(root / "dnsd.db"), control=ctl, pid_file=str(root / "dnsd.pid"), port=53
        )
    )
    doc: dict[str, Any] = {"resolver_port": resolver_port, "listen": listen_addresses(config)}
    servers = Servers(root)
    try:
        pids = {}
        pids["standin"] = servers.start(
            "standin",
            NS_SRV,
            [
                "dnsmasq",
                "--keep-in-foreground",
                "--log-facility=-",
                f"--conf-file={data.standin_conf}",
                f"--pid-file={root / 'standin.pid'}",
            ],
        )
        pids["unbound"] = servers.start(
            "unbound", NS_SRV, ["unbound", "-d", "-c", str(root / "unbound.conf")]
        )
        dnsd = [sys.executable, "-m", "netctl.dnsd", "--config", str(root / "dnsd.json")]
        if profile:
            dnsd[1:1] = ["-m", "cProfile", "-o", str(root / "dnsd.prof")]
        t0 = time.monotonic()
        pids["dnsd"] = servers.start(
            "dnsd", NS_SRV, dnsd, {"PYTHONPATH": str(REPO), "TMPDIR": str(root)}
        )
        pids["peer"] = servers.start(
            "peer",
            NS_SRV,
            [
                "dnsmasq",
                "--keep-in-foreground",
                "--log-facility=-",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                f"--listen-address={PEER_ADDR}",
                "--port=53",
                f"--server=127.0.0.1#{STANDIN_PORT}",
                "--cache-size=10000",
                f"--conf-file={data.peer_conf}",
                f"--pid-file={root / 'peer.pid'}",
            ],
        )
        probe = next(iter(data.allowed))
        doc["dnsd_ready_s"] = round(wait_answering(servers, "dnsd", OURS_ADDR, probe, 90), 2)
        say(f"dnsd answering after {time.monotonic() - t0:.1f} s (pid {pids['dnsd']})")
        doc["peer_ready_s"] = round(wait_answering(servers, "peer", PEER_ADDR, probe, 90), 2)
        say(f"dnsmasq peer answering after {time.monotonic() - t0:.1f} s (pid {pids['peer']})")
        servers.check("unbound")
        servers.check("standin")

        # The same answers, one of each kind (ours points blocked names at the block page).
        checks = {}
        for kind, name in (
            ("allowed", probe),
            ("million", data.blocked_sample[0]),
            ("shipped", data.shipped_sample[0]),
        ):
            ours, peer = dig(OURS_ADDR, name), dig(PEER_ADDR, name)
            checks[kind] = {"name": name, "ours": ours, "peer": peer}
            want_ours = ("NOERROR", [data.allowed[name] if kind == "allowed" else BLOCK_PAGE])
            want_peer = ("NOERROR", [data.allowed[name]]) if kind == "allowed" else ("NXDOMAIN", [])
            if ours != want_ours or peer != want_peer:
                raise RuntimeError(
                    f"{kind} name {name}: ours {ours}, peer {peer}; "
                    f"expected {want_ours} and {want_peer}"
                )
        doc["answer_checks"] = checks
        status = control(ctl, "status")
        doc["dnsd_lists"] = {k: v["entries"] for k, v in status["lists"].items()}
        yield Stack(servers, ctl, pids, doc)
    finally:
        servers.stop_all()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_run(st: Stack, who: str, address: str, queries: Path, *args: str) -> dict[str, Any]:
    """dnsperf against `address`, with the CPU seconds each process spent meanwhile."""
    watched = ("dnsd", "unbound", "standin") if who == "ours" else ("peer",)
    before = {name: cpu_seconds(st.pids[name]) for name in watched}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    stats = dnsperf(address, queries, *args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {name: round(cpu_seconds(st.pids[name]) - before[name], 2) for name in watched}
    cpu["dnsperf"] = round(
        after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime, 2
    )
    stats["cpu_s"] = cpu
    return stats


def serve_and_measure(data: Data, profile: bool) -> dict[str, Any]:
    """Run dnsperf against both: warm-up, unlimited rate, then paced with every latency."""
    with stack(data, profile) as st:
        doc = st.doc
        say("answers check out; warming both caches (one pass of the query file each)")
        warm = ("-n", "1", "-c", "4", "-q", "50")
        doc["warm"] = {
            "ours": dnsperf(OURS_ADDR, data.queries, *warm),
            "peer": dnsperf(PEER_ADDR, data.queries, *warm),
        }
        runs: dict[str, Any] = {"ours_rounds": [], "peer_rounds": []}
        load = ("-l", str(ROUND_S), "-c", str(CLIENTS), "-T", str(THREADS), "-q", str(OUTSTANDING))
        for n in range(ROUNDS):
            order = (("ours", OURS_ADDR), ("peer", PEER_ADDR))
            for who, address in order if n % 2 == 0 else order[::-1]:
                stats = load_run(st, who, address, data.queries, *load)
                _check_run(who, stats, st.servers)
                runs[f"{who}_rounds"].append(stats)
                say(
                    f"round {n + 1}/{ROUNDS} {who} ({address}, {ROUND_S} s unlimited): "
                    f"{stats['qps']:,.0f} queries/s, average {stats['avg_latency_s'] * 1e3:.3f} ms;"
                    f" CPU s {stats['cpu_s']}"
                )
        paced = ("-l", str(LAT_S), "-c", "1", "-Q", str(LAT_QPS), "-q", "20")
        blocked = set(data.blocked_sample) | set(data.shipped_sample)
        for who, address in (("ours", OURS_ADDR), ("peer", PEER_ADDR)):
            say(f"dnsperf {who} ({address}): {LAT_S} s at {LAT_QPS:,}/s, every latency")
            runs[f"{who}_paced"] = stats = dnsperf(address, data.queries, *paced, verbose=True)
            _check_run(who, stats, st.servers)
            pairs = stats.pop("latency")
            stats["latency_us"] = [us for _name, us in pairs]
            by_kind = {
                "allowed": [us for name, us in pairs if name not in blocked],
                "blocked": [us for name, us in pairs if name in blocked],
            }
            stats["latency_by_kind_us"] = {k: summary(v) for k, v in by_kind.items() if v}
            lat = stats["latency_us"]
            say(
                f"  p50 {percentile(lat, 50):.0f} µs, p99 {percentile(lat, 99):.0f} µs "
                f"(allowed p99 {percentile(by_kind['allowed'], 99):.0f} µs, "
                f"blocked p99 {percentile(by_kind['blocked'], 99):.0f} µs)"
            )
        doc["runs"] = runs
        doc["dnsd_status"] = {k: v for k, v in control(st.ctl, "status").items() if k != "lists"}
        doc["memory"] = {name: memory(st.pids[name]) for name in ("dnsd", "peer", "unbound")}
        if profile:
            st.servers.stop("dnsd", timeout_s=30)
            doc["profile"] = _profile_top(data.root / "dnsd.prof")
            print(doc["profile"], file=sys.stderr)
    return doc


def _load_avg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def preflight() -> None:
    if os.geteuid() != 0:
        raise RuntimeError("the dns benchmark builds network namespaces: run it as root")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"missing tools: {', '.join(missing)}")


@contextmanager
def workdir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="spb-dns-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run() -> list[Result]:
    """dnsperf against dnsd and dnsmasq, 1M names each; memory of both."""
    preflight()
    profile = os.environ.get("BENCH_DNS_PROFILE", "") not in ("", "0")
    environment = {"load_before": _load_avg(), "foreign_netns": _foreign_namespaces()}
    with workdir() as root:
        t0 = time.monotonic()
        data = generate(root)
        say(
            f"generated {NAMES:,} names, {ALLOWED:,} allowed, {QUERY_LINES:,} query lines "
            f"in {time.monotonic() - t0:.1f} s"
        )
        with namespaces():
            doc = serve_and_measure(data, profile)
        environment["load_after"] = _load_avg()
        say(f"decision latency in-process: {DECISIONS:,} decide() calls, three passes")
        decisions = decide_rows(data)
    runs = doc["runs"]
    ours_qps, peer_qps = (median([r["qps"] for r in runs[f"{w}_rounds"]]) for w in ("ours", "peer"))
    ours_avg, peer_avg = (
        median([r["avg_latency_s"] * 1e3 for r in runs[f"{w}_rounds"]]) for w in ("ours", "peer")
    )
    ours_lat, peer_lat = runs["ours_paced"]["latency_us"], runs["peer_paced"]["latency_us"]
    mem = doc["memory"]
    setup = {
        "names": NAMES,
        "peer_entries": data.peer_entries,
        "allowed_names": ALLOWED,
        "query_lines": QUERY_LINES,
        "query_mix": {
            "allowed": QUERY_LINES - len(data.blocked_sample) - SHIPPED_LINES,
            "million": len(data.blocked_sample),
            "shipped": SHIPPED_LINES,
        },
        "dnsperf": {
            "clients": CLIENTS,
            "threads": THREADS,
            "outstanding": OUTSTANDING,
            "rounds": ROUNDS,
            "seconds_per_round": ROUND_S,
        },
        "profiled": profile,
        "environment": environment,
    }
    for key in ("ours_paced", "peer_paced"):
        runs[key]["latency_summary_us"] = summary(runs[key]["latency_us"])
        runs[key]["latency_us"] = [round(x) for x in runs[key]["latency_us"]]
    ours_label = "dnsd (+ Unbound cache)"
    peer_label = "dnsmasq 1M address=/…/"
    mib = 1 << 20
    return [
        Result(
            "dns",
            "queries/s (median round), 1M names",
            ours_label,
            ours_qps,
            "q/s",
            "higher",
            peer_label,
            peer_qps,
            Target("ratio", ">=", TARGET_RATIO),
            details={**setup, **doc},
        ),
        Result(
            "dns",
            "avg latency at full load (median)",
            ours_label,
            ours_avg,
            "ms",
            "lower",
            peer_label,
            peer_avg,
        ),
        Result(
            "dns",
            f"p50 latency at {LAT_QPS:,} q/s",
            ours_label,
            percentile(ours_lat, 50) / 1e3,
            "ms",
            "lower",
            peer_label,
            percentile(peer_lat, 50) / 1e3,
        ),
        Result(
            "dns",
            f"p99 latency at {LAT_QPS:,} q/s",
            ours_label,
            percentile(ours_lat, 99) / 1e3,
            "ms",
            "lower",
            peer_label,
            percentile(peer_lat, 99) / 1e3,
        ),
        Result(
            "dns",
            "VmRSS, 1M names loaded",
            "dnsd process",
            mem["dnsd"]["VmRSS"] / mib,
            "MiB",
            "lower",
            "dnsmasq process",
            mem["peer"]["VmRSS"] / mib,
            details={"memory_bytes": mem},
        ),
        *decisions,
    ]


def _foreign_namespaces() -> list[str]:
    out = _run("ip", "-o", "netns", "list", check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines() if not line.startswith("spb-dns-"))


# -- decision latency ------------------------------------------------------------------------------


def decide_rows(data: Data) -> list[Result]:
    """p50/p99 of PolicyEngine.decide() with 1M names loaded, against a naive set walk."""
    from simpul.config import load_config_file
    from simpul.filtering.engine import engine_for, list_path
    from simpul.filtering.lists import read
    from simpul.filtering.policy import group_of

    config = load_config_file(str(data.config_path))
    t0 = time.monotonic()
    engine, lists, _warnings = engine_for(config)
    load_s = time.monotonic() - t0
    say(f"engine with {sum(len(v.names) for v in lists.values()):,} entries in {load_s:.1f} s")
    naive: set[str] = set()  # every name of every list, as a naive filter holds them
    for spec in config.filtering.lists:
        entries, _report = read(list_path(config, spec), spec.format)
        naive.update(name for name, _kind in entries)
        del entries

    group = group_of(config, IPv4Address(CLIENT_ADDR))
    tz = config.node.zoneinfo
    mix = data.query_names
    names = [mix[i % len(mix)] for i in range(DECISIONS)]

    def walk(name: str) -> str | None:
        for suffix in _suffixes(name):
            if suffix in naive:
                return suffix
        return None

    def measure(
        label: str, gc_off: bool = False
    ) -> tuple[list[float], list[float], dict[str, int]]:
        clock = time.perf_counter_ns
        ours, peer = [], []
        actions: dict[str, int] = {}
        agree = 0
        gc.collect()
        if gc_off:
            gc.disable()
        try:
            for name in names:
                now = datetime.now(tz)
                t = clock()
                verdict = engine.decide(group, name, now)
                t1 = clock()
                hit = walk(name)
                t2 = clock()
                ours.append((t1 - t) / 1e3)
                peer.append((t2 - t1) / 1e3)
                actions[verdict.action] = actions.get(verdict.action, 0) + 1
                agree += (hit is not None) == verdict.blocked
        finally:
            gc.enable()
        say(
            f"decide() {label}: p50 {percentile(ours, 50):.1f} µs, p99 {percentile(ours, 99):.1f}"
            f" µs; set walk p99 {percentile(peer, 99):.2f} µs"
        )
        return ours, peer, {**actions, "agree_with_set": agree}

    warm_ours, warm_peer, warm_actions = measure("as in dnsd (classification LRU on)")
    # The tail above is mostly the cyclic GC's young collections; this pass shows the rest.
    nogc_ours, nogc_peer, _ = measure("LRU on, gc disabled (INFO only)", gc_off=True)
    engine.classifier.cache_size = 0  # every call classifies afresh: 8 lists' lookups
    engine.classifier._cache.clear()
    cold_ours, cold_peer, cold_actions = measure("classification LRU off")

    details = {
        "names": NAMES,
        "decisions": DECISIONS,
        "engine_load_s": round(load_s, 2),
        "naive_set_entries": len(naive),
        "group": group.key,
        "lru_on": {
            "ours_us": summary(warm_ours),
            "peer_us": summary(warm_peer),
            "actions": warm_actions,
        },
        "lru_on_gc_disabled": {"ours_us": summary(nogc_ours), "peer_us": summary(nogc_peer)},
        "lru_off": {
            "ours_us": summary(cold_ours),
            "peer_us": summary(cold_peer),
            "actions": cold_actions,
        },
    }
    ours_label = "PolicyEngine.decide()"
    peer_label = "set walk over suffixes"
    return [
        Result(
            "dns-decide",
            "p99 decision, 1M names",
            ours_label,
            percentile(warm_ours, 99),
            "µs",
            "lower",
            peer_label,
            percentile(warm_peer, 99),
            details=details,
        ),
        Result(
            "dns-decide",
            "p50 decision, 1M names",
            ours_label,
            percentile(warm_ours, 50),
            "µs",
            "lower",
            peer_label,
            percentile(warm_peer, 50),
        ),
        Result(
            "dns-decide",
            "p99 decision, no LRU",
            ours_label,
            percentile(cold_ours, 99),
            "µs",
            "lower",
            peer_label,
            percentile(cold_peer, 99),
        ),
        Result(
            "dns-decide",
            "p50 decision, no LRU",
            ours_label,
            percentile(cold_ours, 50),
            "µs",
            "lower",
            peer_label,
            percentile(cold_peer, 50),
        ),
    ]
