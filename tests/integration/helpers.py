"""Helpers for the lab integration tests: run commands in lab hosts, serve HTTP, call netd."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from netctl.protocol import NetdClient
from simpul.lab.runner import Lab, Manifest
from simpul.lab.topology import LAB_DNS

ROOT = Path(__file__).resolve().parents[2]
LAB_YAML = ROOT / "examples" / "lab.yaml"
VIDEO_SECONDS = 4  # the test lab's welcome video time (examples/lab.yaml says 30)
PORTAL = "portal.wifi.merantikab.go.id"


def ns_run(
    ns: str, *argv: str, timeout: float = 15, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a command in a lab namespace."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def ns_spawn(ns: str, *argv: str) -> subprocess.Popen[bytes]:
    """Start a background command in a lab namespace (killed with the namespace at teardown)."""
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def http_code(ns: str, url: str, timeout_s: float = 3) -> str:
    """The HTTP status curl gets from `ns` ('000' when it cannot connect)."""
    proc = ns_run(
        ns, "curl", "-s", "-o", "/dev/null", "-m", str(timeout_s), "-w", "%{http_code}", url
    )
    return proc.stdout.strip() or "000"


def serve_http(ns: str, address: str, port: int) -> subprocess.Popen[bytes]:
    """A tiny HTTP server listening in `ns` on address:port, ready when this returns."""
    proc = ns_spawn(
        ns, sys.executable, "-m", "http.server", str(port), "--bind", address, "-d", "/tmp"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listening = ns_run(ns, "ss", "-Htln", f"sport = :{port}").stdout
        if listening.strip():
            return proc
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"http.server on {address}:{port} in {ns} did not start")


def wait_until(
    what: str,
    check: Callable[[], Any],
    timeout_s: float,
    *,
    interval_s: float = 0.5,
    log: Path | None = None,
) -> Any:
    """Poll `check` until it returns something true, and return that; fail naming `what`
    (and showing the end of `log`, when given) if it does not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
            ends = f"; {log.name} ends:\n{tail}" if tail else ""
            raise AssertionError(f"{what}: not within {timeout_s} s{ends}")
        time.sleep(interval_s)


def mac_of(ns: str, dev: str = "eth0") -> str:
    """The MAC address of a lab host's interface."""
    info = json.loads(ns_run(ns, "ip", "-j", "link", "show", "dev", dev, check=True).stdout)
    return str(info[0]["address"])


def lab_data(**access: object) -> dict[str, Any]:
    """examples/lab.yaml as the tests' lab runs it: a short video, and `access` (default: no
    per-device rate limits) on every hotspot site."""
    data = yaml.safe_load(LAB_YAML.read_text())
    data["portal"]["video_seconds"] = VIDEO_SECONDS
    data["resolver"] = {"forwarders": [LAB_DNS]}  # as `Lab` sets it
    for site in data["hotspot_sites"]:
        site["access"] = {"client_down_kbps": None, "client_up_kbps": None, **access}
    return data


class LabHandle:
    """The running test lab and shortcuts to it."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.prefix = lab.prefix
        self.gw = lab.plan.gateway_ns
        self.inet = lab.plan.inet_ns

    def ns(self, short: str) -> str:
        """A namespace by its short name (e.g. 'hs-1')."""
        return self.lab.plan.host(short).ns

    def ip(self, short: str) -> str:
        """A host's eth0 address (no prefix length)."""
        addr = self.lab.address_of(self.ns(short))
        assert addr is not None, f"{short} has no address"
        return str(addr.ip)

    def pid(self, daemon: str) -> int:
        """The pid of a daemon the lab started (from its manifest)."""
        return int(Manifest(self.lab.paths).data["processes"][daemon]["pid"])

    def netd(self) -> NetdClient:
        """A client of the lab's netd."""
        return NetdClient(str(self.lab.paths.socket))

    def call(self, api_method: str, **params: object) -> object:
        """One netd API call."""
        with self.netd() as client:
            return client.call(api_method, **params)

    def configure(self, tmp_path: Path, data: dict[str, Any]) -> None:
        """Replace the lab's configuration with `data` (as an admin would) and apply it."""
        from simpul.config import load_config_file
        from simpul.store import Store

        path = tmp_path / "variant.yaml"
        path.write_text(yaml.safe_dump(data))
        with Store(str(self.lab.paths.db)) as store:
            store.import_config(load_config_file(str(path)), actor="test", replace=True)
        self.call("apply")

    def nft(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`nft` in the gateway (for looking; the code under test never forks nft)."""
        return ns_run(self.gw, "nft", *args, check=check)
