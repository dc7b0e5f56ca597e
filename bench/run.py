"""Run benchmarks: `python -m bench.run [NAME...]` (all of them without names).

Each result is printed as soon as its benchmark ends and written to bench/results/NAME.json; a
summary table of everything follows. Exits 0 when every benchmark ran, even if a target was missed
(that shows as MISS), 1 when a benchmark failed with an error, 2 on an unknown name.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from collections.abc import Callable

from bench import (
    bench_accounting,
    bench_authorize,
    bench_console,
    bench_dns,
    bench_export,
    bench_forward,
    bench_matcher,
    bench_portal,
    bench_snmp,
)
from bench.harness import Result, table, write_json

REGISTRY: dict[str, Callable[[], list[Result]]] = {
    "authorize": bench_authorize.run,
    "forward": bench_forward.run,
    "probe": bench_portal.probe_run,
    "storm": bench_portal.storm_run,
    "grant": bench_portal.grant_run,
    "dns": bench_dns.run,
    "matcher": bench_matcher.run,
    "accounting": bench_accounting.run,
    "export": bench_export.run,
    "snmp": bench_snmp.run,
    "console": bench_console.run,
}


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM/SIGHUP unwind like Ctrl-C so every `finally` (lab down) runs.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks in order; print and save their results."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(REGISTRY))
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)

    everything: list[Result] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in args.names or list(REGISTRY):
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        try:
            results = REGISTRY[name]()
        except KeyboardInterrupt:
            print(f"{name}: interrupted", flush=True)
            return 130
        except Exception:
            traceback.print_exc()
            print(f"{name}: ERROR after {time.monotonic() - t0:.1f} s", flush=True)
            failed.append(name)
            continue
        elapsed = time.monotonic() - t0
        path = write_json(name, results, elapsed)
        print(table(results))
        print(f"{name}: {elapsed:.1f} s, written to {path}\n", flush=True)
        everything.extend(results)

    if len(args.names or REGISTRY) > 1 and everything:
        print("== summary")
        print(table(everything))
    misses = sum(1 for r in everything if r.status == "MISS")
    print(
        f"\ntotal {time.monotonic() - started:.1f} s; "
        f"{sum(1 for r in everything if r.status == 'PASS')} PASS, {misses} MISS"
        + (f", ERROR in: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
