"""OPDs share the uplink by their guarantees, a cap holds, conferencing keeps its share: real
HTB on the uplink and on the shared download IFB, classes picked by nftables, iperf3."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simpul.lab.topology import LAB_BULK
from tests.integration.helpers import LabHandle, lab_data, ns_run, ns_spawn

DOWN_MBPS = 20
GUARANTEE = {"disdik": 12, "diskominfo": 6}
CAP_MBPS = 5  # bkpsdm's
SECONDS = 6


def shared_uplink() -> dict:
    """The lab with a 20/20 Mbit/s uplink: disdik guaranteed 12, diskominfo 6, bkpsdm capped
    at 5; conferencing keeps 20 % (4 Mbit/s)."""
    data = lab_data()
    data["uplinks"][0]["bandwidth"] = {"down_mbps": DOWN_MBPS, "up_mbps": DOWN_MBPS}
    for opd in data["opds"]:
        opd.pop("bandwidth_cap", None)
        opd["bandwidth"] = None
        if opd["slug"] in GUARANTEE:
            g = GUARANTEE[opd["slug"]]
            opd["bandwidth"] = {"down_mbps": g, "up_mbps": g}
        if opd["slug"] == "bkpsdm":
            opd["bandwidth_cap"] = {"down_mbps": CAP_MBPS, "up_mbps": CAP_MBPS}
    for site in data["hotspot_sites"]:
        site.pop("bandwidth", None)
    return data


@pytest.fixture(scope="module")
def shared(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """The lab reconfigured for sharing, with extra iperf3 servers; restored afterwards."""
    tmp = tmp_path_factory.mktemp("bandwidth")
    servers = [
        ns_spawn(lab.inet, "iperf3", "--server", "--bind", LAB_BULK, "--port", str(port))
        for port in (5301, 5302, 8801)
    ]
    try:
        lab.configure(tmp, shared_uplink())
        time.sleep(0.5)
        yield lab
    finally:
        for server in servers:
            server.kill()
            server.wait()
        lab.configure(tmp, lab_data())


def download(lab: LabHandle, host: str, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", lab.ns(host), "iperf3", "-c", LAB_BULK, "-p", str(port), "-R",
         "-t", str(SECONDS), "-O", "1", "-J", *extra],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def received_mbps(proc: subprocess.Popen[str]) -> float:
    out, _ = proc.communicate(timeout=SECONDS + 20)
    result = json.loads(out)
    assert "error" not in result, result.get("error")
    end = result["end"]
    summary = end.get("sum_received") or end["sum"]
    return float(summary["bits_per_second"]) / 1e6


def test_the_download_queue_is_shared_and_classified(shared: LabHandle) -> None:
    gw = shared.gw
    qdiscs = ns_run(gw, "tc", "qdisc", "show", "dev", "simpul-down", check=True).stdout
    assert "htb 1: root" in qdiscs
    for opd in ("disdik", "diskominfo", "bkpsdm"):
        device = shared.lab.config.opd(opd).interface
        filters = ns_run(gw, "tc", "filter", "show", "dev", device, "egress", check=True).stdout
        assert "Redirect to device simpul-down" in filters


def test_two_opds_share_by_their_guarantees(shared: LabHandle) -> None:
    a = download(shared, "opd-disdik", 5301)
    b = download(shared, "opd-diskominfo", 5302)
    disdik, kominfo = received_mbps(a), received_mbps(b)
    total = disdik + kominfo
    assert total == pytest.approx(DOWN_MBPS, rel=0.15), (disdik, kominfo)
    expected = GUARANTEE["disdik"] / sum(GUARANTEE.values())
    assert disdik / total == pytest.approx(expected, rel=0.10), (disdik, kominfo)


def test_a_capped_opd_stays_within_its_cap(shared: LabHandle) -> None:
    alone = received_mbps(download(shared, "opd-bkpsdm", 5301))
    assert alone == pytest.approx(CAP_MBPS, rel=0.10)


def test_conferencing_keeps_its_share_under_load(shared: LabHandle) -> None:
    bulk = download(shared, "opd-disdik", 5301)
    time.sleep(1)
    call = download(shared, "opd-disdik", 8801, "-u", "-b", "2M")
    out, _ = call.communicate(timeout=SECONDS + 20)
    received_mbps(bulk)
    result = json.loads(out)["end"]["sum"]
    assert result["lost_percent"] < 2.0, result
    assert float(result["bits_per_second"]) / 1e6 == pytest.approx(2.0, rel=0.10)


def test_uploads_use_the_uplink_classes(shared: LabHandle, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["ip", "netns", "exec", shared.ns("opd-bkpsdm"), "iperf3", "-c", LAB_BULK, "-p", "5302",
         "-t", "4", "-O", "1", "-J"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    sent = float(json.loads(proc.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6
    assert sent == pytest.approx(CAP_MBPS, rel=0.10)
    classes = ns_run(shared.gw, "tc", "-s", "class", "show", "dev", "wan0", check=True).stdout
    assert "class htb 1:f002" in classes  # bkpsdm is the third OPD
