"""The data plane in the lab, for real: NAT, zone isolation, the hotspot gate, management services,
reloads under load, and refused changes that leave the kernel as it was."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netctl.protocol import ApiError
from simpul.lab.topology import LAB_DNS
from tests.integration.helpers import (
    LAB_YAML,
    LabHandle,
    http_code,
    lab_data,
    mac_of,
    ns_run,
    ns_spawn,
    serve_http,
)

SIMPEG = "10.20.6.10"  # bkpsdm's shared service in examples/lab.yaml (tcp/8080)
MGMT = "10.255.0.1"
INTERNAL_ANSWER = "10.20.6.99"  # what BKPSDM's own DNS server says example.org is


@pytest.fixture(scope="module")
def simpeg(lab: LabHandle) -> Iterator[None]:
    """BKPSDM's SIMPEG server: the shared service on 8080 and an unshared port 9090."""
    ns = lab.ns("opd-bkpsdm")
    ns_run(ns, "ip", "addr", "add", f"{SIMPEG}/24", "dev", "eth0", check=True)
    servers = [serve_http(ns, SIMPEG, 8080), serve_http(ns, SIMPEG, 9090)]
    try:
        yield
    finally:
        for server in servers:
            server.kill()
            server.wait()
        ns_run(ns, "ip", "addr", "del", f"{SIMPEG}/24", "dev", "eth0")


@pytest.fixture(scope="module")
def management_services(lab: LabHandle) -> Iterator[None]:
    """Stand-ins for SSH (22) and the admin console (8443) on the gateway, on every address."""
    servers = [serve_http(lab.gw, "0.0.0.0", 22), serve_http(lab.gw, "0.0.0.0", 8443)]
    try:
        yield
    finally:
        for server in servers:
            server.kill()
            server.wait()


@pytest.fixture
def domain_controller(
    lab: LabHandle, simpeg: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A DNS server (an AD domain controller, say) on SIMPEG's address in BKPSDM's LAN, shared
    with disdik as service `dc` (udp/53, tcp/53); it answers example.org with an address of
    its own. The lab's configuration is put back afterwards."""
    data = lab_data()
    data["services"].append(
        {"name": "dc", "opd": "bkpsdm", "address": SIMPEG, "ports": ["udp/53", "tcp/53"]}
    )
    for opd in data["opds"]:
        if opd["slug"] == "disdik":
            opd["shared_services"] = [*opd["shared_services"], "dc"]
    ns = lab.ns("opd-bkpsdm")
    server = ns_spawn(
        ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
        "--no-hosts", "--bind-interfaces", f"--listen-address={SIMPEG}", "--port=53",
        f"--address=/example.org/{INTERNAL_ANSWER}", "--pid-file=", "--user=root",
    )  # fmt: skip
    tmp = tmp_path_factory.mktemp("dc")
    try:
        deadline = time.monotonic() + 10
        while not ns_run(ns, "ss", "-Hlun", "sport = :53").stdout.strip():
            assert time.monotonic() < deadline, "dnsmasq in bkpsdm did not start"
            time.sleep(0.05)
        lab.configure(tmp, data)
        yield
    finally:
        server.kill()
        server.wait()
        lab.configure(tmp, lab_data())


def dig_a(lab: LabHandle, host: str, server: str, name: str, *extra: str) -> tuple[str, list[str]]:
    """dig from a lab host at `server`: the status (TIMEOUT if no answer) and the A records."""
    out = ns_run(
        lab.ns(host), "dig", f"@{server}", name, "A", "+tries=1", "+time=2", "+noall",
        "+comments", "+answer", *extra,
    ).stdout  # fmt: skip
    status = next(
        (x.split("status: ")[1].split(",")[0] for x in out.splitlines() if "status: " in x),
        "TIMEOUT",
    )
    records = [line.split() for line in out.splitlines() if line and not line.startswith(";")]
    return status, [r[4] for r in records if len(r) == 5 and r[3] == "A"]


def test_dns_to_an_internal_server_is_not_redirected(
    lab: LabHandle, domain_controller: None
) -> None:
    """DNS to the node's own networks goes where it was sent, and the zones' rules decide:
    disdik (sharing `dc`) gets BKPSDM's server's own answer over UDP and TCP, diskominfo (not
    sharing it) gets none. DNS to the internet is still the gateway's (its verdict: DoH names
    are NXDOMAIN, though the internet's resolver knows dns.google)."""
    assert dig_a(lab, "opd-disdik", SIMPEG, "example.org") == ("NOERROR", [INTERNAL_ANSWER])
    assert dig_a(lab, "opd-disdik", SIMPEG, "example.org", "+tcp") == (
        "NOERROR",
        [INTERNAL_ANSWER],
    )
    assert dig_a(lab, "opd-diskominfo", SIMPEG, "example.org") == ("TIMEOUT", [])
    assert dig_a(lab, "opd-disdik", LAB_DNS, "dns.google")[0] == "NXDOMAIN"  # redirected
    assert dig_a(lab, "opd-disdik", LAB_DNS, "example.org") == ("NOERROR", ["198.51.100.40"])
    # what the internet's resolver itself says (from the management zone, never redirected)
    assert dig_a(lab, "noc", LAB_DNS, "dns.google")[0] == "NOERROR"


def test_opd_workstation_reaches_the_internet_through_nat(lab: LabHandle) -> None:
    ws = lab.ns("opd-diskominfo")
    assert lab.ip("opd-diskominfo").startswith("10.20.1.")  # by DHCP from dnsmasq
    assert http_code(ws, "http://example.org/") == "200"
    # The internet has no route back to 10.0.0.0/8: the answer came because of masquerade.
    assert "10." not in ns_run(lab.inet, "ip", "route").stdout
    conntrack = lab.nft("list", "counter", "inet", "simpul", "opd_diskominfo_up").stdout
    assert "bytes 0" not in conntrack


def test_opds_are_isolated_except_listed_shared_services(lab: LabHandle, simpeg: None) -> None:
    disdik, kominfo = lab.ns("opd-disdik"), lab.ns("opd-diskominfo")
    assert http_code(disdik, f"http://{SIMPEG}:8080/") == "200"  # listed for disdik
    assert http_code(disdik, f"http://{SIMPEG}:9090/") == "000"  # same host, other port
    assert http_code(kominfo, f"http://{SIMPEG}:8080/") == "000"  # not listed for diskominfo
    ping = ns_run(kominfo, "ping", "-c", "1", "-W", "1", lab.ip("opd-disdik"))
    assert ping.returncode != 0


def test_hotspot_client_is_gated_until_authorized(lab: LabHandle) -> None:
    phone = lab.ns("hs-1")
    ip, mac = lab.ip("hs-1"), mac_of(phone)
    assert ip.startswith("10.40.1.")  # DHCP on the RTM LAM bridge
    # Before authorization: DNS at the gateway answers, web requests go to the portal, the rest
    # of the internet is refused at once.
    assert ns_run(phone, "getent", "hosts", "example.org").stdout.split()[0] == "198.51.100.40"
    assert http_code(phone, "http://example.org/") == "302"
    started = time.monotonic()
    assert http_code(phone, "http://example.org:8080/", timeout_s=5) == "000"
    assert time.monotonic() - started < 1.0, "refusals must be quick so phones notice the portal"
    assert ns_run(phone, "ping", "-c", "1", "-W", "1", "198.51.100.40").returncode != 0
    lab.call("authorize", mac=mac, ip=ip, minutes=5)
    try:
        assert http_code(phone, "http://example.org/") == "200"
        clients = {c["ip"]: c for c in lab.call("clients")}  # type: ignore[union-attr]
        assert clients[ip]["in_kernel"] and clients[ip]["down_bytes"] > 0
    finally:
        lab.call("deauthorize", mac=mac, ip=ip)
    assert http_code(phone, "http://example.org/") == "302"


def test_authorization_is_bound_to_the_mac(lab: LabHandle) -> None:
    """Another device taking an authorized client's IP does not get through."""
    phone = lab.ns("hs-1")
    ip = lab.ip("hs-1")
    lab.call("authorize", mac="02:00:00:00:be:ef", ip=ip, minutes=5)
    try:
        assert http_code(phone, "http://example.org/") == "302"  # still sent to the portal
    finally:
        lab.call("deauthorize", mac="02:00:00:00:be:ef", ip=ip)


@pytest.mark.parametrize("host", ["hs-1", "opd-diskominfo", "site-rangsang-pesisir", "inet"])
@pytest.mark.parametrize("port", [22, 8443])
def test_only_management_reaches_management_services(
    lab: LabHandle, management_services: None, authorized: tuple[str, str], host: str, port: int
) -> None:
    uplink = str(lab.lab.config.uplinks[0].address.ip)
    gateway = str(lab.lab.plan.host(host).gateway or uplink)
    assert http_code(lab.ns(host), f"http://{gateway}:{port}/") == "000"
    assert http_code(lab.ns(host), f"http://{MGMT}:{port}/") == "000"
    assert http_code(lab.ns("noc"), f"http://{MGMT}:{port}/") == "200"


def test_reload_during_transfer_keeps_flow_client_and_counters(
    lab: LabHandle, authorized: tuple[str, str]
) -> None:
    mac, ip = authorized
    size = 30_000_000
    download = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns("hs-1"), "curl", "-s", "-o", "/dev/null", "-m", "30",
         "--limit-rate", "10M", "-w", "%{size_download}", f"http://bulk.example.net/bytes/{size}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        before = _client(lab, ip)
        assert before["down_bytes"] > 1_000_000, "the transfer should be under way"
        for _ in range(3):
            lab.call("apply")
            after = _client(lab, ip)
            assert after["down_bytes"] >= before["down_bytes"], "a reload must not reset counters"
            before = after
            time.sleep(0.3)
        out, _ = download.communicate(timeout=40)
    finally:
        download.kill()
        download.communicate()
    assert download.returncode == 0 and int(out) == size
    final = _client(lab, ip)
    assert final["in_kernel"] and final["mac"] == mac
    assert final["down_bytes"] >= size  # payload plus headers, all counted


def _client(lab: LabHandle, ip: str) -> dict[str, object]:
    clients = {c["ip"]: c for c in lab.call("clients")}  # type: ignore[union-attr]
    return clients[ip]


def test_restart_of_netd_restores_and_keeps_clients(
    lab: LabHandle, authorized: tuple[str, str]
) -> None:
    """kill -9 of netd: the kernel keeps forwarding; the new netd re-syncs from the store."""
    _mac, ip = authorized
    manifest = json.loads(lab.lab.paths.manifest.read_text())
    pid = manifest["processes"]["netd"]["pid"]
    ns_run(lab.gw, "kill", "-9", str(pid))
    assert http_code(lab.ns("hs-1"), "http://example.org/") == "200"
    lab.lab.restart_netd()
    assert _client(lab, ip)["in_kernel"]
    assert http_code(lab.ns("hs-1"), "http://example.org/") == "200"


def test_invalid_config_import_changes_nothing(lab: LabHandle, tmp_path: Path) -> None:
    ruleset = lab.nft("-s", "list", "ruleset").stdout
    bad = LAB_YAML.read_text().replace("subnet: 10.20.2.0/24", "subnet: 10.20.1.128/25")
    path = f"{tmp_path}/bad.yaml"
    with open(path, "w") as handle:
        handle.write(bad)
    env = {"SIMPUL_DB": str(lab.lab.paths.db), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "simpul.cli", "config", "import", path],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "opds[1].subnet" in proc.stderr and "overlaps 10.20.1.0/24" in proc.stderr
    assert "line " in proc.stderr
    assert lab.call("diff")["changed"] is False  # type: ignore[index]
    lab.call("apply")
    assert lab.nft("-s", "list", "ruleset").stdout == ruleset


def test_refused_apply_changes_nothing_in_the_kernel(lab: LabHandle) -> None:
    """A table the renderer cannot reconcile (a set of another type) is refused as a whole."""
    lab.nft("delete", "table", "inet", "simpul")
    subprocess.run(
        ["ip", "netns", "exec", lab.gw, "nft", "-f", "-"],
        input="table inet simpul { set hs_auth { type ipv4_addr; }\n chain keep { }\n}\n",
        text=True, check=True,
    )  # fmt: skip
    try:
        before = lab.nft("list", "ruleset").stdout
        with pytest.raises(ApiError) as refused:
            lab.call("apply")
        assert refused.value.code == "kernel-refused"
        assert lab.nft("list", "ruleset").stdout == before
    finally:
        lab.nft("delete", "table", "inet", "simpul")
        lab.call("apply")
    assert "chain forward" in lab.nft("list", "table", "inet", "simpul").stdout


def test_bad_client_requests_are_refused_and_change_nothing(lab: LabHandle) -> None:
    sessions = lab.call("status")["sessions"]  # type: ignore[index]
    for params in (
        {"mac": "not-a-mac", "ip": "10.40.1.50"},
        {"mac": "02:00:00:00:00:99", "ip": "10.20.1.50"},  # an OPD address, not a hotspot
        {"mac": "01:00:5e:00:00:01", "ip": "10.40.1.50"},  # multicast
        {"mac": "02:00:00:00:00:99", "ip": "10.40.1.1"},  # the gateway itself
        {"mac": "02:00:00:00:00:99", "ip": "10.40.1.50", "minutes": 0},
    ):
        with pytest.raises(ApiError) as refused:
            lab.call("authorize", **params)
        assert refused.value.code == "invalid"
    assert lab.call("status")["sessions"] == sessions  # type: ignore[index]


def test_dhcp_leases_are_real_and_dns_is_not_open_to_the_uplink(lab: LabHandle) -> None:
    leases = (lab.lab.paths.root / "netd" / "dnsmasq.leases").read_text()
    assert mac_of(lab.ns("hs-1")) in leases and lab.ip("hs-1") in leases
    uplink = str(lab.lab.config.uplinks[0].address.ip)
    query = ns_run(lab.inet, "busybox", "nslookup", "-timeout=1", "example.org", uplink)
    assert "198.51.100.40" not in query.stdout, "the gateway must not be an open resolver"
    inside = ns_run(lab.ns("opd-disdik"), "busybox", "nslookup", "example.org", "10.20.2.1")
    assert "198.51.100.40" in inside.stdout


def test_diff_shows_a_change_before_it_is_applied(lab: LabHandle, tmp_path: Path) -> None:
    """Letting diskominfo reach SIMPEG: `apply --diff` shows the new rule, `apply` makes it live.
    The lab's configuration (`lab_data`: examples/lab.yaml with the lab's resolver forwarder,
    which the plain file lacks) is imported back afterwards."""
    data = lab_data()
    (kominfo,) = [o for o in data["opds"] if o["slug"] == "diskominfo"]
    assert kominfo["shared_services"] == []
    kominfo["shared_services"] = ["simpeg"]
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(data))
    original = tmp_path / "lab.yaml"
    original.write_text(yaml.safe_dump(lab_data()))
    env = {"SIMPUL_DB": str(lab.lab.paths.db), "SIMPUL_SOCKET": str(lab.lab.paths.socket)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "simpul.cli", *args],
            capture_output=True, text=True, env={"PATH": "/usr/sbin:/usr/bin", **env}, check=True,
        )  # fmt: skip

    try:
        cli("config", "import", str(path))
        diff = cli("apply", "--diff").stdout
        assert "+\t\tip daddr . meta l4proto . th dport { 10.20.6.10 . tcp . 8080 } accept" in diff
        assert "chain between_opd_diskominfo" in diff
        cli("apply")
        assert "no change" in cli("apply", "--diff").stdout
    finally:
        cli("config", "import", str(original))
        cli("apply")
    assert "no change" in cli("apply", "--diff").stdout


def _cli_as(uid: int, gid: int, socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
         sys.executable, "-m", "simpul.cli", "--socket", str(socket), *args],
        capture_output=True, text=True, check=False, cwd="/",
        env={"PYTHONPATH": str(LAB_YAML.parents[1]), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_netd_socket_refuses_other_users(lab: LabHandle) -> None:
    """Only root and netd's group (the portal's) may use the socket (mode 0660)."""
    socket = lab.lab.paths.socket
    assert socket.stat().st_mode & 0o777 == 0o660
    stranger = _cli_as(12345, 12345, socket, "clients", "allow", "02:00:00:00:00:42", "10.40.1.42")
    assert stranger.returncode == 1
    assert "no permission" in stranger.stderr
    portal_user = _cli_as(
        65534, 65534, socket, "clients", "allow", "02:00:00:00:00:42", "10.40.1.42"
    )
    assert portal_user.returncode == 0, portal_user.stderr
    lab.call("deauthorize", mac="02:00:00:00:00:42", ip="10.40.1.42")
