"""Matching DNS names against a national block list: simpul's DomainSet vs a plain Python set.

`python bench/bench_matcher.py [--names 6700000]` generates a TrustPositif-shaped list (gambling-
style names of 1-3 labels under common TLDs, 5% `*.name` wildcards) as an RPZ zone and as a plain
file, plus a second version of the list with 5% of its names replaced (a daily refresh). Each side
is then measured in a fresh worker process so its memory figures are clean, all from
/proc/self/status minus the same figures taken after imports, before loading:

- load: seconds for `DomainSet.load(zone)`; the peer reads the same zone naively into a `set` of
  owner names (what a simple implementation does);
- resident: VmRSS once every table page has been touched (DomainSet maps its tables lazily from a
  temporary file, so right after loading they are not yet resident: we report the warm figure);
- refresh peak: VmHWM while the second list is loaded with the first still held (after resetting
  the peak), before swapping; ours also writes temporary files (spooled hashes, then the new
  tables): page cache, not in VmRSS, listed on their own line;
- match(): p50/p99 of single lookups (perf_counter_ns around each call) over hits, 5-label
  subdomain hits under wildcard entries and 5-label misses.

Run with `--worker` it is that worker (internal). `run()` is the entry point for bench/run.py.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import REPO, Result, Target, percentile, say, table

NAMES = 6_700_000  # TrustPositif's size
LOOKUPS = 100_000
WILDCARDS = 0.05  # share of "*.name" entries
REPLACED = 0.05  # share of names that differ in the refreshed list
TARGET_LOAD_S = 10.0
TARGET_RESIDENT_MB = 120.0
TARGET_P99_US = 10.0
MB = 1 << 20

LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORDS = (
    "slot", "judi", "gacor", "togel", "poker", "casino", "bet", "maxwin", "hoki", "zeus", "qq",
    "online", "jp", "bola", "toto", "sbo", "pragmatic", "scatter", "rtp", "link", "alternatif",
    "daftar", "login", "situs", "agen", "bandar", "domino", "ceme", "mpo", "koi", "slot88", "4d",
)  # fmt: skip
TLDS = (
    "com", "net", "xyz", "site", "online", "id", "org", "info", "top", "vip", "live", "me", "co",
    "io", "club", "store", "shop", "pro", "biz", "cc", "co.id", "web.id", "my.id", "or.id",
)  # fmt: skip
ZONE_HEADER = """$TTL 2h
@ IN SOA localhost. root.localhost. (
        2024070101 ; serial
        1h 15m 30d 2h )
  IN NS localhost.
"""


MISS_TLDS = ("dev", "app", "asia", "tv")  # never in the generated list


def _label(rng: random.Random) -> str:
    word = rng.choice(WORDS)
    syllables = "".join(rng.choices(LETTERS, k=rng.randint(2, 7)))
    glue = "-" if rng.random() < 0.3 else ""
    label = f"{word}{glue}{syllables}" if rng.random() < 0.5 else f"{syllables}{glue}{word}"
    return label + str(rng.randrange(1000)) if rng.random() < 0.5 else label


def blocked_name(rng: random.Random, tlds: tuple[str, ...] = TLDS) -> str:
    """A TrustPositif-shaped name: 1-3 gambling-style labels under a common TLD."""
    labels = rng.choices((1, 2, 3), (6, 3, 1))[0]
    return ".".join(_label(rng) for _ in range(labels)) + "." + rng.choice(tlds)


def generate(directory: Path, n: int, seed: int = 1) -> dict[str, Any]:
    """Write zone.rpz, plain.txt, zone2.rpz (5% replaced) and queries.json into `directory`."""
    rng = random.Random(seed)
    wild_sample: list[str] = []
    exact_sample: list[str] = []
    keep = max(1, n // LOOKUPS)  # every keep-th entry is a candidate hit
    with (
        open(directory / "zone.rpz", "w") as zone,
        open(directory / "plain.txt", "w") as plain,
        open(directory / "zone2.rpz", "w") as zone2,
    ):
        zone.write(ZONE_HEADER)
        zone2.write(ZONE_HEADER)
        for i in range(n):
            name = blocked_name(rng)
            entry = f"*.{name}" if rng.random() < WILDCARDS else name
            zone.write(f"{entry} CNAME .\n")
            plain.write(f"{entry}\n")
            if rng.random() < REPLACED:
                zone2.write(f"{blocked_name(rng)} CNAME .\n")
            else:
                zone2.write(f"{entry} CNAME .\n")
            if i % keep == 0:
                (wild_sample if entry[0] == "*" else exact_sample).append(name)
    # Hits: listed exact names (1-3 labels plus the TLD); subdomain hits: 5 labels under wildcard
    # entries; misses: 5 labels under TLDs the list does not use (every suffix is probed).
    miss_rng = random.Random(seed + 1)
    third = LOOKUPS // 3
    queries = {
        "hit": [exact_sample[i % len(exact_sample)] for i in range(third)],
        "subdomain hit": [_pad_labels(wild_sample[i % len(wild_sample)], 5) for i in range(third)],
        "miss": [
            _pad_labels(blocked_name(miss_rng, MISS_TLDS), 5) for _ in range(LOOKUPS - 2 * third)
        ],
    }
    (directory / "queries.json").write_text(json.dumps(queries))
    return {"names": n, "files": {p.name: p.stat().st_size for p in directory.iterdir()}}


def _pad_labels(name: str, labels: int) -> str:
    missing = max(1, labels - name.count(".") - 1)
    return ".".join(["www", "cdn", "img", "m"][:missing]) + "." + name


# The workers (fresh processes)


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile and RssShmem of this process, in bytes."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    except OSError:
        return False
    return True


class _Peer:
    """The naive way: every owner name of the zone in a set of str, walked per query."""

    def __init__(self, path: str) -> None:
        names = set()
        with open(path) as f:
            for line in f:
                tokens = line.split()
                if len(tokens) >= 3 and tokens[1].upper() == "CNAME":
                    names.add(tokens[0].lower())
        self.names = names

    def match(self, name: str) -> str | None:
        names = self.names
        if name in names:
            return name
        labels = name.split(".")
        for i in range(1, len(labels) - 1):
            wildcard = "*." + ".".join(labels[i:])
            if wildcard in names:
                return wildcard
        return None


def _warm(ds: Any) -> None:
    """Touch every page of a DomainSet's mapped tables (the steady state after much traffic)."""
    for table_ in (ds._exact, ds._subtree, ds._subdomains):
        if table_ is not None:
            sum(table_.keys[::1024])  # 4-byte items: one per 4 KiB page
            sum(table_.checks[::2048])


def _lookups(
    match: Any, queries: dict[str, list[str]]
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Microseconds per `match(q)` call, and how many matched, by query category."""
    latency: dict[str, list[float]] = {}
    found: dict[str, int] = {}
    clock = time.perf_counter_ns
    for category, names in queries.items():
        samples = []
        hits = 0
        for q in names:
            t = clock()
            m = match(q)
            samples.append((clock() - t) / 1000)
            hits += m is not None
        latency[category] = samples
        found[category] = hits
    return latency, found


def worker(side: str, list_path: str, refresh_path: str | None, queries_path: str) -> dict:
    """Measure one side in this (fresh) process; a JSON-able document."""
    queries = json.loads(Path(queries_path).read_text())
    reports: list[Any] = []
    if side == "ours":
        from simpul.filtering.matcher import DomainSet

        def load(path: str) -> Any:
            names, report = DomainSet.load(path)
            reports.append(report)
            return names

        warm = _warm
    else:
        load, warm = _Peer, lambda _s: None
    gc.collect()
    doc: dict[str, Any] = {"side": side, "list": list_path, "baseline": _status()}
    t0 = time.perf_counter()
    names = load(list_path)
    doc["load_s"] = time.perf_counter() - t0
    doc["after_load"] = _status()
    warm(names)
    doc["warm"] = _status()
    doc["entries"] = len(names) if side == "ours" else len(names.names)
    if side == "ours":
        doc["nbytes"] = names.nbytes
    latency, found = _lookups(names.match, queries)
    doc["latency_us"] = {
        c: {"p50": percentile(s, 50), "p99": percentile(s, 99), "n": len(s)}
        for c, s in latency.items()
    }
    every = [x for s in latency.values() for x in s]
    doc["latency_us"]["all"] = {"p50": percentile(every, 50), "p99": percentile(every, 99)}
    doc["found"] = found
    if refresh_path:
        doc["peak_reset"] = _reset_peak()
        doc["before_refresh"] = _status()
        t0 = time.perf_counter()
        new = load(refresh_path)
        doc["refresh_s"] = time.perf_counter() - t0
        doc["during_refresh"] = _status()
        names = new  # the swap
        del new
        gc.collect()
        warm(names)
        doc["after_swap"] = _status()
    if reports:  # the temporary files a load writes: spooled hashes and the tables
        r = reports[-1]
        doc["temp_files_mb"] = (8 * (r.entries + r.duplicates) + 6 * r.entries) / MB
    return doc


def _run_worker(side: str, directory: Path, list_name: str, refresh: bool) -> dict:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", side]
    argv += ["--list", str(directory / list_name), "--queries", str(directory / "queries.json")]
    if refresh:
        argv += ["--refresh", str(directory / "zone2.rpz")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(directory)}
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} worker failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def _mb(doc: dict, at: str, key: str = "VmRSS") -> float:
    return (doc[at][key] - doc["baseline"][key]) / MB


def run(names: int = NAMES) -> list[Result]:
    """Generate the lists, measure both sides in fresh processes; the results."""
    with tempfile.TemporaryDirectory(prefix="simpul-bench-matcher-") as tmp:
        directory = Path(tmp)
        say(f"generating {names:,} names (zone, plain file, refreshed zone, queries)")
        t0 = time.perf_counter()
        info = generate(directory, names)
        say(f"generated in {time.perf_counter() - t0:.0f} s: {info['files']}")
        say("ours: DomainSet.load(zone.rpz), then the refreshed zone")
        ours = _run_worker("ours", directory, "zone.rpz", refresh=True)
        say("ours: DomainSet.load(plain.txt)")
        ours_plain = _run_worker("ours", directory, "plain.txt", refresh=False)
        say("peer: a set of the zone's owner names, then the refreshed zone")
        peer = _run_worker("peer", directory, "zone.rpz", refresh=True)

    def result(metric: str, unit: str, o: float, p: float | None, **kw: Any) -> Result:
        peer_label = "Python set" if p is not None else None
        return Result("matcher", metric, "DomainSet", o, unit, "lower", peer_label, p, **kw)

    details = {"names": names, "ours": ours, "ours_plain": ours_plain, "peer": peer}
    results = [
        result(
            "load time (RPZ zone)",
            "s",
            ours["load_s"],
            peer["load_s"],
            target=Target("ours", "<=", TARGET_LOAD_S),
            details=details,
        ),
        result("load time (plain list)", "s", ours_plain["load_s"], None),
        result(
            "resident after load, warm",
            "MB",
            _mb(ours, "warm"),
            _mb(peer, "warm"),
            target=Target("ours", "<=", TARGET_RESIDENT_MB),
        ),
        result(
            "  of which anonymous", "MB", _mb(ours, "warm", "RssAnon"), _mb(peer, "warm", "RssAnon")
        ),
        result(
            "resident right after load (lazy map)",
            "MB",
            _mb(ours, "after_load"),
            _mb(peer, "after_load"),
        ),
        result(
            "peak during load (VmHWM)",
            "MB",
            _mb(ours, "after_load", "VmHWM"),
            _mb(peer, "after_load", "VmHWM"),
        ),
        result(
            "refresh: peak with old set held",
            "MB",
            _mb(ours, "during_refresh", "VmHWM"),
            _mb(peer, "during_refresh", "VmHWM"),
            target=Target("ours", "<=", 2 * _mb(ours, "warm")),
        ),
        result(
            "refresh: resident after swap, warm",
            "MB",
            _mb(ours, "after_swap"),
            _mb(peer, "after_swap"),
        ),
        result("refresh: load time", "s", ours["refresh_s"], peer["refresh_s"]),
        result("refresh: temp files written (page cache)", "MB", ours["temp_files_mb"], None),
    ]
    for category in ("hit", "subdomain hit", "miss", "all"):
        o, p = ours["latency_us"][category], peer["latency_us"][category]
        results.append(result(f"match() p50, {category}", "µs", o["p50"], p["p50"]))
        results.append(
            result(
                f"match() p99, {category}", "µs", o["p99"], p["p99"],
                target=Target("ours", "<=", TARGET_P99_US) if category == "all" else None,
            )
        )  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: the benchmark, or (--worker) one measured side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=NAMES, help="list size (default %(default)s)")
    parser.add_argument("--worker", choices=("ours", "peer"), help=argparse.SUPPRESS)
    parser.add_argument("--list", help=argparse.SUPPRESS)
    parser.add_argument("--refresh", help=argparse.SUPPRESS)
    parser.add_argument("--queries", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.list, args.refresh, args.queries)))
        return 0
    results = run(args.names)
    print(table(results))
    ours, peer = results[0].details["ours"], results[0].details["peer"]
    print(f"\nentries: ours {ours['entries']:,}, peer {peer['entries']:,}; "
          f"DomainSet.nbytes {ours['nbytes'] / MB:.1f} MB; "
          f"hits found: ours {ours['found']}, peer {peer['found']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
