"""Accounting in the lab, exact to the byte: downloads by a hotspot client and an OPD
workstation are counted as the hosts themselves count them, through a ruleset reload and a
kill -9 of netd in the middle of the transfer; a session's last bytes are booked when it ends."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from simpul.lab.topology import LAB_BULK
from simpul.usage import queries
from simpul.usage.db import USAGE_DB, connect
from tests.integration.helpers import LabHandle, http_code, mac_of, ns_run, wait_until

OPD = "opd-diskominfo"
SIZE = 12_000_000  # bytes per download, at 6 MB/s: about 2 s


@contextmanager
def _host_counter_table(ns: str) -> Iterator[None]:
    """The host counts its own IP bytes to and from the bulk server (nftables in its
    namespace): what the gateway must have counted, header for header."""
    script = f"""
    table inet hostcount {{
        counter down {{ }}
        counter up {{ }}
        chain in {{
            type filter hook input priority 0;
            ip saddr {LAB_BULK} counter name "down"
        }}
        chain out {{
            type filter hook output priority 0;
            ip daddr {LAB_BULK} counter name "up"
        }}
    }}
    """
    subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True, check=True
    )
    try:
        yield
    finally:
        ns_run(ns, "nft", "delete", "table", "inet", "hostcount")


def _host_bytes(ns: str) -> dict[str, int]:
    out = json.loads(ns_run(ns, "nft", "-j", "list", "counters", check=True).stdout)
    return {
        o["counter"]["name"]: o["counter"]["bytes"]
        for o in out["nftables"]
        if "counter" in o and o["counter"]["table"] == "hostcount"
    }


@pytest.fixture
def counted_hosts(lab: LabHandle) -> Iterator[None]:
    with ExitStack() as stack:
        for host in ("hs-1", OPD):
            stack.enter_context(_host_counter_table(lab.ns(host)))
        yield


def _usage_db(lab: LabHandle) -> str:
    return str(lab.lab.paths.root / USAGE_DB)


def _booked(lab: LabHandle, scope: str, key: str) -> tuple[int, int]:
    """(down, up) bytes booked so far today and yesterday for scope/key (after a cycle now)."""
    lab.call("account")
    tz = lab.lab.config.node.zoneinfo
    now = time.time()
    db = connect(_usage_db(lab), readonly=True)
    try:
        rows = queries.totals(db, tz, now - 2 * 86400, now + 3600, scope=scope, key=key,
                              level="1d")  # fmt: skip
    finally:
        db.close()
    return sum(r.down_bytes for r in rows), sum(r.up_bytes for r in rows)


def _download(ns: str, size: int = SIZE) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "-m", "40",
         "--limit-rate", "6M", "-w", "%{size_download}", f"http://{LAB_BULK}/bytes/{size}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_downloads_are_counted_exactly_through_a_reload_and_a_kill_9_of_netd(
    lab: LabHandle, authorized: tuple[str, str], counted_hosts: None
) -> None:
    mac, ip = authorized
    site = lab.lab.config.site_of(IPv4Address(ip))
    assert site is not None
    keys = {"client": mac, "site": site.slug, "opd": "diskominfo"}  # scope: key
    before = {scope: _booked(lab, scope, key) for scope, key in keys.items()}
    host_before = {h: _host_bytes(lab.ns(h)) for h in ("hs-1", OPD)}
    transfers = [_download(lab.ns("hs-1")), _download(lab.ns(OPD))]
    try:
        time.sleep(0.6)
        lab.call("apply")  # a reload mid-transfer
        time.sleep(0.4)
        ns_run(lab.gw, "kill", "-9", str(lab.pid("netd")))  # and a crash
        time.sleep(0.4)
        lab.lab.restart_netd()
        outs = [t.communicate(timeout=45)[0] for t in transfers]
    finally:
        for t in transfers:
            t.kill()
            t.communicate()
    assert [int(o) for o in outs] == [SIZE, SIZE]
    time.sleep(0.5)  # TCP's closing handshake ends after curl does: let both sides see it
    seen = {h: _host_bytes(lab.ns(h)) for h in ("hs-1", OPD)}
    host = {
        h: (seen[h]["down"] - host_before[h]["down"], seen[h]["up"] - host_before[h]["up"])
        for h in seen
    }
    for h, (down, up) in host.items():
        # the payload plus TCP/IP headers and the HTTP response head: a few percent
        assert SIZE < down < SIZE * 1.05, (h, down)
        assert 0 < up < SIZE * 0.05, (h, up)
    after = {scope: _booked(lab, scope, key) for scope, key in keys.items()}
    booked = {k: (after[k][0] - before[k][0], after[k][1] - before[k][1]) for k in after}
    assert booked["client"] == host["hs-1"]  # exactly: not a byte twice, not one lost
    assert booked["site"] == host["hs-1"]  # the site's only client moving bytes
    assert booked["opd"] == host[OPD]


def test_a_sessions_last_bytes_are_booked_when_it_ends(lab: LabHandle) -> None:
    """The download ends, the session ends (deauthorize) before any cycle: settled, exact,
    and the accounting elements are gone from the kernel."""
    mac, ip = mac_of(lab.ns("hs-1")), lab.ip("hs-1")
    lab.call("authorize", mac=mac, ip=ip, minutes=30)
    with _host_counter_table(lab.ns("hs-1")):
        before = _booked(lab, "client", mac)
        start = _host_bytes(lab.ns("hs-1"))
        transfer = _download(lab.ns("hs-1"), 3_000_000)
        assert int(transfer.communicate(timeout=30)[0]) == 3_000_000
        # Let TCP's closing handshake finish: a late ACK from a client no longer authorized
        # would be answered by the gateway's own reset, which the host counts but nobody sent.
        time.sleep(0.5)
        lab.call("deauthorize", mac=mac, ip=ip)
        end = _host_bytes(lab.ns("hs-1"))
    booked = _booked(lab, "client", mac)
    assert booked[0] - before[0] == end["down"] - start["down"]
    assert booked[1] - before[1] == end["up"] - start["up"]
    elements = lab.nft("list", "set", "inet", "simpul", "hs_acct").stdout
    assert mac not in elements
    assert ip not in lab.nft("list", "set", "inet", "simpul", "hs_acct_dl").stdout


def test_the_exporter_runs_unprivileged_and_serves_the_management_side(lab: LabHandle) -> None:
    """The monitor's export loop and /metrics hold no privilege; Prometheus scrapes from the
    management network, never from a hotspot."""
    for name in ("exporter", "metrics"):
        status = Path(f"/proc/{lab.pid(name)}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert set(uid_line.split()[1:]) != {"0"}, name
        cap_line = next(line for line in status.splitlines() if line.startswith("CapEff:"))
        assert int(cap_line.split()[1], 16) == 0, name
    url = "http://10.255.0.1:9469/metrics"

    def scraped() -> str:
        body = ns_run(lab.ns("noc"), "curl", "-s", "-m", "2", url).stdout
        return body if "simpul_export_waiting_points" in body else ""

    body = wait_until("the exporter's figures on /metrics", scraped, 20)
    assert "simpul_export_waiting_points" in body  # the exporter has made its spool
    assert http_code(lab.ns("hs-1"), url, timeout_s=2) == "000"
