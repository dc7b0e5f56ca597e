"""OPDs share the uplink by their guarantees, a cap holds, conferencing keeps its share, and
traffic that never crossed the uplink (management or the gateway to an OPD) is not held to the
downlink: real HTB on the uplink and on the shared download IFB, classes picked by nftables,
iperf3."""

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
LAN_PORT = 5401  # an iperf3 server on an OPD workstation


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


@pytest.fixture(scope="module")
def opd_server(shared: LabHandle) -> Iterator[str]:
    """An iperf3 server on disdik's workstation (a shaped OPD); its address."""
    host = "opd-disdik"
    address = shared.ip(host)
    server = ns_spawn(shared.ns(host), "iperf3", "--server", "--bind", address,
                      "--port", str(LAN_PORT))  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not ns_run(shared.ns(host), "ss", "-Htln", f"sport = :{LAN_PORT}").stdout.strip():
            assert time.monotonic() < deadline, "iperf3 on disdik did not start"
            time.sleep(0.05)
        yield address
    finally:
        server.kill()
        server.wait()


def lan_counters(lab: LabHandle) -> dict[str, int]:
    """Bytes sent per class of the download IFB."""
    listing = ns_run(lab.gw, "tc", "-s", "class", "show", "dev", "simpul-down", check=True).stdout
    sent: dict[str, int] = {}
    for block in listing.split("class htb ")[1:]:
        sent[block.split()[0]] = int(block.split("Sent ")[1].split()[0])
    return sent


@pytest.mark.parametrize("source", ["noc", "gw"])
def test_lan_traffic_to_an_opd_is_not_held_to_the_downlink(
    shared: LabHandle, opd_server: str, source: str
) -> None:
    """Management to an OPD, or the gateway itself (its DNS answers, block page, DHCP), leave
    through the OPD's device and so through the download IFB, but nftables gives them no OPD
    class: they land in the IFB's unlimited default 1:3, not in the downlink's 1:1."""
    ns = shared.gw if source == "gw" else shared.ns(source)
    before = lan_counters(shared)
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "iperf3", "-c", opd_server, "-p", str(LAN_PORT),
         "-t", "3", "-O", "1", "-J"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    mbps = float(json.loads(proc.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6
    after = lan_counters(shared)
    assert mbps > 5 * DOWN_MBPS, mbps  # the downlink is 20 Mbit/s
    moved = {c: after[c] - before.get(c, 0) for c in after}
    assert moved["1:3"] > mbps * 1e6 / 8  # at least a second's worth went through 1:3 ...
    assert moved["1:1"] < 1_000_000  # ... and next to nothing through the shared class
    # The OPDs' classes are in place all along (the uplink-to-OPD tests above use them).
    assert {"1:f000", "1:f001", "1:f002", "1:fff0"} <= set(after)
