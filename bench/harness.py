"""A tiny benchmark harness: results against a peer, percentiles, a table printer, JSON output and
a lab that is always brought down.

A `Result` holds one figure of ours next to the peer's figure from the same run. Each benchmark
declares whether lower or higher is better; `ratio` is then oriented so that above 1 means ours is
better (lower is better: peer / ours, a speed-up; higher is better: ours / peer). A target applies
either to our own figure ("ours <= 2 ms") or to the ratio ("ratio >= 0.95").
"""

from __future__ import annotations

import json
import math
import operator
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LAB_CONFIG = str(REPO / "examples" / "lab.yaml")
LAB_PREFIX = "spb-"  # never the user's lab (sp-) nor the tests'

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    """A goal for our figure (`on="ours"`) or for the ratio (`on="ratio"`)."""

    on: Literal["ours", "ratio"]
    op: Literal["<=", ">="]
    value: float

    def met(self, ours: float, ratio: float | None) -> bool | None:
        """Whether the goal is met; None when it cannot be judged (no ratio)."""
        figure = ours if self.on == "ours" else ratio
        if figure is None or math.isnan(figure):
            return None
        return _OPS[self.op](figure, self.value)

    def describe(self, unit: str) -> str:
        """E.g. 'ours <= 2 ms' or 'ratio >= 0.95'."""
        if self.on == "ours":
            return f"ours {self.op} {_fmt(self.value)} {unit}"
        return f"ratio {self.op} {_fmt(self.value)}"


@dataclass
class Result:
    """One measured figure of ours, with the peer's figure from the same run."""

    name: str  # benchmark name, e.g. "authorize"
    metric: str  # what the figure is, e.g. "p99 latency"
    ours_label: str
    ours: float
    unit: str
    better: Literal["lower", "higher"]
    peer_label: str | None = None
    peer: float | None = None
    target: Target | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Above 1 means ours is better: peer/ours when lower is better, ours/peer otherwise."""
        if self.peer is None:
            return None
        num, den = (self.peer, self.ours) if self.better == "lower" else (self.ours, self.peer)
        return num / den if den else math.inf

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None: no target)."""
        return self.target.met(self.ours, self.ratio) if self.target else None

    @property
    def status(self) -> str:
        """PASS, MISS or INFO (no target)."""
        met = self.met
        return "INFO" if met is None else ("PASS" if met else "MISS")

    def to_json(self) -> dict[str, Any]:
        """Everything, including the derived ratio and status."""
        out = asdict(self)
        out["target"] = (
            {**asdict(self.target), "text": self.target.describe(self.unit)}
            if self.target
            else None
        )
        out.update(ratio=self.ratio, met=self.met, status=self.status)
        return out


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least p% of samples at or below it."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {p}")
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    """The middle sample (the lower middle for an even count: nearest-rank p50)."""
    return percentile(samples, 50)


def summary(samples: Sequence[float]) -> dict[str, float]:
    """n, min, p50, p90, p99, max and mean of samples."""
    return {
        "n": len(samples),
        "min": min(samples),
        "p50": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "max": max(samples),
        "mean": sum(samples) / len(samples),
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude >= 0.001:
        return f"{value:.3f}"
    return f"{value:.2e}"


def table(results: Sequence[Result]) -> str:
    """Results as one aligned text table: peer, ours, ratio, target and PASS/MISS/INFO."""
    header = ("benchmark", "metric", "peer", "peer fig.", "ours", "ratio", "target", "status")
    rows = [header]
    for r in results:
        rows.append(
            (
                r.name,
                r.metric,
                r.peer_label or "—",
                f"{_fmt(r.peer)} {r.unit}" if r.peer is not None else "—",
                f"{_fmt(r.ours)} {r.unit}",
                f"{_fmt(r.ratio)}x" if r.ratio is not None else "—",
                r.target.describe(r.unit) if r.target else "—",
                r.status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def write_json(name: str, results: Sequence[Result], elapsed_s: float, **extra: Any) -> Path:
    """bench/results/NAME.json with the results and where they were measured."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    doc = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_s": round(elapsed_s, 1),
        "host": {
            "kernel": platform.release(),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        },
        "results": [r.to_json() for r in results],
        **extra,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def say(message: str) -> None:
    """Progress on stderr (results go to stdout)."""
    print(f"  · {message}", file=sys.stderr, flush=True)


def unshaped_config(directory: Path) -> str:
    """examples/lab.yaml without any HTB shaping (no site, uplink, OPD or per-device rates): the
    forwarding cost of the rules themselves, not of a rate limit. Returns the file's path."""
    import yaml

    data = yaml.safe_load(Path(LAB_CONFIG).read_text())
    for uplink in data["uplinks"]:
        uplink.pop("bandwidth", None)
    for opd in data["opds"]:
        opd.pop("bandwidth", None)
        opd.pop("bandwidth_cap", None)
    for site in data["hotspot_sites"]:
        site.pop("bandwidth", None)
        site["access"] = {**site.get("access", {}), "client_down_kbps": None,
                          "client_up_kbps": None}  # fmt: skip
    path = directory / "lab-unshaped.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@contextmanager
def lab(
    prefix: str = LAB_PREFIX, clients_per_site: int = 1, config_path: str = LAB_CONFIG
) -> Iterator[Any]:
    """The lab of `config_path` (examples/lab.yaml by default) under `prefix`, fresh, and always
    brought down afterwards."""
    from simpul.config import load_config_file
    from simpul.lab.runner import Lab

    the_lab = Lab(load_config_file(config_path), prefix=prefix, clients_per_site=clients_per_site)
    the_lab.down()  # whatever an interrupted benchmark left under this prefix
    started = time.monotonic()
    try:
        the_lab.up(config_path, progress=lambda m: say(f"lab: {m}"))
        say(f"lab {prefix}* up in {time.monotonic() - started:.1f} s")
        yield the_lab
    finally:
        removed = the_lab.down()
        say(f"lab {prefix}* down ({len(removed)} namespaces removed)")


def free_addresses(the_lab: Any, slug: str, count: int) -> list[str]:
    """`count` addresses of the site's subnet from its start, clear of the gateway and of every
    address a lab host holds."""
    site = the_lab.config.site(slug)
    taken = {site.gateway_address.ip}
    for names in the_lab.plan.hotspot_clients.values():
        for ns in names:
            address = the_lab.address_of(ns)
            if address is not None:
                taken.add(address.ip)
    hosts: list[IPv4Address] = [a for a in site.subnet.hosts() if a not in taken]
    if len(hosts) < count:
        raise RuntimeError(f"{site.subnet} has only {len(hosts)} free addresses, {count} wanted")
    return [str(a) for a in hosts[:count]]
