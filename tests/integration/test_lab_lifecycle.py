"""`simpul lab up` / `down`: idempotent, and nothing left behind, also after a crashed `up`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simpul.config import load_config_file
from simpul.lab.runner import NETNS_ETC, Lab, LabError, Manifest, namespaces, teardown
from tests.integration.helpers import LAB_YAML, ROOT

PREFIX = "spu-"


def _host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()}


@pytest.fixture
def fresh() -> Iterator[Lab]:
    """A lab with the `spu-` prefix, removed after the test whatever happened."""
    lab = Lab(load_config_file(str(LAB_YAML)), prefix=PREFIX)
    try:
        yield lab
    finally:
        lab.down()


def _assert_nothing_left(lab: Lab, pids: list[int], links_before: set[str]) -> None:
    assert namespaces(PREFIX) == []
    assert not any(p.name.startswith(PREFIX) for p in NETNS_ETC.glob("*"))
    assert not lab.paths.root.exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} still runs"
    assert _host_links() == links_before, "the host's own interfaces must not change"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def test_up_is_idempotent_and_down_leaves_nothing(fresh: Lab) -> None:
    links_before = _host_links()
    fresh.up(str(LAB_YAML))
    assert fresh.is_up()
    processes = Manifest(fresh.paths).data["processes"]
    pids = [p["pid"] for p in processes.values()]
    netd_pids = subprocess.run(
        ["ip", "netns", "pids", fresh.plan.gateway_ns], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(netd_pids) >= 3  # netd, dnsmasq, unbound
    fresh.up(str(LAB_YAML))  # a second up changes nothing
    assert [p["pid"] for p in Manifest(fresh.paths).data["processes"].values()] == pids
    assert fresh.plan.gateway_ns in namespaces(PREFIX)
    assert _host_links() == links_before  # veths were made inside namespaces only
    fresh.down()
    _assert_nothing_left(fresh, pids + [int(p) for p in netd_pids], links_before)


def test_a_failing_up_removes_what_it_made(fresh: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    links_before = _host_links()

    def broken(*_args: object) -> None:
        raise LabError("DHCP clients could not start (simulated)")

    monkeypatch.setattr(fresh, "_start_dhcp_clients", broken)
    with pytest.raises(LabError, match="simulated"):
        fresh.up(str(LAB_YAML))
    _assert_nothing_left(fresh, [], links_before)


def test_down_cleans_up_after_up_was_killed(fresh: Lab) -> None:
    """`up` killed half way (no chance to clean up): a later `down` still removes it all."""
    links_before = _host_links()
    script = (
        "import os, signal\n"
        "from simpul.config import load_config_file\n"
        "from simpul.lab.runner import Lab\n"
        f"lab = Lab(load_config_file({str(LAB_YAML)!r}), prefix={PREFIX!r})\n"
        "lab._start_dhcp_clients = lambda m: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"lab.up({str(LAB_YAML)!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False, timeout=60)
    assert proc.returncode == -9
    assert fresh.plan.gateway_ns in namespaces(PREFIX)
    pids = [p["pid"] for p in json.loads(fresh.paths.manifest.read_text())["processes"].values()]
    assert pids, "the manifest lists the daemons the killed up had started"
    removed = teardown(PREFIX, fresh.paths)
    assert fresh.plan.gateway_ns in removed
    _assert_nothing_left(fresh, pids, links_before)


def test_cli_refuses_clearly_without_root() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "simpul.cli", "lab", "down"],
        capture_output=True, text=True, env=env, cwd="/", check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "run it as root" in proc.stderr
