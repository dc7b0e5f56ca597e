"""The Unbound configuration rendered from the model (pure), checked by unbound-checkconf."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from netctl.resolver import UNBOUND, client_networks, render_unbound, unbound_command
from simpul.config import Config, config_to_data, load_config_text, parse_config

CONFIG = """
node: {name: meranti, regency: Kabupaten Kepulauan Meranti, region_code: "14.10", timezone: WIB}
uplinks:
  - {name: vsat, interface: wan0, address: 203.0.113.2/30, gateway: 203.0.113.1}
zones:
  management: {interface: mgmt0, address: 10.99.0.1/24}
  opd: {supernet: 10.10.0.0/16}
  hotspot: {supernet: 10.20.0.0/16}
  remote: {supernet: 10.30.0.0/16}
opds:
  - {slug: dinas-kesehatan, name: Dinas Kesehatan, subnet: 10.10.1.0/24, interface: opd-dinkes}
  - slug: bappeda
    name: Bappeda
    subnet: 10.10.2.0/24
    interface: opd-bappeda
    dhcp: {enabled: false}
hotspot_sites:
  - slug: alun-alun
    name: Alun-alun Selatpanjang
    subnet: 10.20.0.0/22
    interface: hs-alun
    kecamatan: Tebing Tinggi
    region_code: "14.10.01"
    location: {lat: 1.0, lon: 102.7}
remote_sites:
  - slug: merbau
    name: Kantor Camat Merbau
    kecamatan: Merbau
    region_code: "14.10.02"
    location: {lat: 1.0, lon: 102.5}
    interface: vsat-merbau
    subnet: 10.30.1.0/30
    router: 10.30.1.2
"""

ACCESS = [
    "access-control: 0.0.0.0/0 refuse",
    "access-control: ::0/0 refuse",
    "access-control: 127.0.0.0/8 allow",
    "access-control: 10.99.0.0/24 allow",
    "access-control: 10.10.1.0/24 allow",
    "access-control: 10.10.2.0/24 allow",
    "access-control: 10.20.0.0/22 allow",
    "access-control: 10.30.1.0/30 allow",
]
# the portal's name answers with the (only) hotspot site's gateway
PORTAL = [
    'local-zone: "portal.wifi.local." static',
    'local-data: "portal.wifi.local. 60 IN A 10.20.0.1"',
]
SECOND_SITE = {
    "slug": "pelabuhan",
    "name": "Pelabuhan Tanjung Harapan",
    "subnet": "10.20.8.0/24",
    "interface": "hs-pelabuhan",
    "kecamatan": "Tebing Tinggi",
    "region_code": "14.10.01",
    "location": {"lat": 1.0, "lon": 102.7},
}


@pytest.fixture
def config() -> Config:
    return load_config_text(CONFIG)


def lines(text: str) -> list[str]:
    """The configuration's statements, stripped: no comments, no blank lines."""
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def test_client_networks_are_every_zone_network(config: Config) -> None:
    assert [str(n) for n in client_networks(config)] == [
        "10.99.0.0/24",
        "10.10.1.0/24",
        "10.10.2.0/24",
        "10.20.0.0/22",
        "10.30.1.0/30",
    ]


def test_lab_config_forwards_without_validation(config: Config) -> None:
    text = render_unbound(
        config,
        forwarders=["172.31.0.53", "172.31.0.54@5353"],
        pid_file="/run/simpul/unbound.pid",
        directory="/var/lib/simpul",
        port=5353,
        listen=["10.99.0.1", "127.0.0.1"],
    )
    assert text.startswith("# Rendered by Simpul")
    assert lines(text) == [
        "server:",
        "interface: 10.99.0.1",
        "interface: 127.0.0.1",
        "port: 5353",
        "do-daemonize: no",
        'username: ""',
        'chroot: ""',
        'directory: "/var/lib/simpul"',
        'pidfile: "/run/simpul/unbound.pid"',
        "use-syslog: no",
        'logfile: ""',
        "verbosity: 1",
        "do-ip4: yes",
        "do-ip6: no",
        "ip-freebind: yes",
        "so-reuseport: yes",
        "hide-identity: yes",
        "hide-version: yes",
        "prefetch: yes",
        *ACCESS,
        *PORTAL,
        'module-config: "iterator"',
        "do-not-query-localhost: no",
        "remote-control:",
        "control-enable: no",
        "forward-zone:",
        'name: "."',
        "forward-addr: 172.31.0.53",
        "forward-addr: 172.31.0.54@5353",
    ]


def test_production_config_iterates_and_validates(config: Config) -> None:
    text = render_unbound(
        config, forwarders=[], pid_file="/run/simpul/unbound.pid", directory="/var/lib/simpul"
    )
    statements = lines(text)
    assert statements[:4] == [
        "server:",
        "interface: 0.0.0.0",
        "interface-automatic: yes",
        "port: 53",
    ]
    assert 'module-config: "validator iterator"' in statements
    assert "auto-trust-anchor-file" not in "\n".join(statements)
    assert "unbound-anchor" in text  # the comment says where production's anchor comes from
    assert [s for s in statements if s.startswith("access-control")] == ACCESS
    assert [s for s in statements if s.startswith("local-")] == PORTAL
    assert "forward-zone:" not in statements
    assert "do-not-query-localhost: no" not in statements
    assert statements[-2:] == ["remote-control:", "control-enable: no"]


def edited(config: Config, portal: dict[str, object], *, sites: int = 1) -> Config:
    """`config` with these portal settings and `sites` hotspot sites (0, 1 or 2)."""
    data = config_to_data(config)
    data["portal"].update(portal)
    data["hotspot_sites"] = (data["hotspot_sites"] + [SECOND_SITE])[:sites]
    return parse_config(data, "edited")


@pytest.mark.parametrize(
    ("portal", "sites", "expected"),
    [
        ({}, 1, PORTAL),
        (
            {"hostname": "portal.wifi.merantikab.go.id"},
            1,
            [
                'local-zone: "portal.wifi.merantikab.go.id." static',
                'local-data: "portal.wifi.merantikab.go.id. 60 IN A 10.20.0.1"',
            ],
        ),
        ({}, 2, PORTAL),  # the first site's gateway
        (
            {"address": "10.20.8.1"},
            2,
            [
                'local-zone: "portal.wifi.local." static',
                'local-data: "portal.wifi.local. 60 IN A 10.20.8.1"',
            ],
        ),
        ({"address": "10.20.0.1", "https_port": 8443}, 2, PORTAL),  # ports are not DNS
        ({}, 0, []),  # no hotspot site, no portal address: no portal name
    ],
    ids=["default", "hostname", "two-sites", "address", "port", "no-hotspot"],
)
@pytest.mark.parametrize("forwarders", [["172.31.0.53"], []], ids=["lab", "production"])
def test_portal_name_points_at_the_gateway(
    config: Config,
    portal: dict[str, object],
    sites: int,
    expected: list[str],
    forwarders: list[str],
) -> None:
    changed = edited(config, portal, sites=sites)
    text = render_unbound(changed, forwarders=forwarders, pid_file="/run/u.pid", directory="/tmp")
    statements = lines(text)
    assert [s for s in statements if s.startswith("local-")] == expected
    if expected:  # in server:, right after the access lists
        last_access = max(i for i, s in enumerate(statements) if s.startswith("access-control"))
        assert statements[last_access + 1 : last_access + 3] == expected
        assert statements.index("remote-control:") > last_access + 2
    else:
        assert "local-zone" not in text and "local-data" not in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"forwarders": ["dns.example"]}, "forwarder 'dns.example' is not an IP address"),
        ({"forwarders": ["10.0.0.53@0"]}, "port after '@'"),
        ({"listen": ["0.0.0.0\nserver:"]}, "listen address"),
        ({"listen": ["10.0.0.1@53"]}, "listen address"),
        ({"port": 0}, "port 0"),
        ({"pid_file": '/run/x"y'}, "pid_file"),
        ({"directory": "/var/lib\n"}, "directory"),
    ],
)
def test_refuses_bad_values(config: Config, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"forwarders": [], "pid_file": "/run/u.pid", "directory": "/tmp"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        render_unbound(config, **args)  # type: ignore[arg-type]


def test_command_runs_in_the_foreground() -> None:
    assert unbound_command("/run/simpul/unbound.conf") == [
        UNBOUND,
        "-d",
        "-c",
        "/run/simpul/unbound.conf",
    ]


def checkconf(path: Path) -> subprocess.CompletedProcess[str]:
    """`unbound-checkconf` on a file (it needs no privileges, but `directory` must exist)."""
    binary = shutil.which("unbound-checkconf", path=f"{os.path.dirname(UNBOUND)}:{os.defpath}")
    if binary is None:
        pytest.skip("unbound-checkconf is not installed")
    return subprocess.run(
        [binary, str(path)], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("forwarders", [["172.31.0.53", "127.0.0.1@5300"], []])
@pytest.mark.parametrize(
    ("portal", "sites"),
    [({}, 1), ({"hostname": "portal.wifi.merantikab.go.id", "address": "10.20.8.1"}, 2), ({}, 0)],
    ids=["portal", "portal-address", "no-hotspot"],
)
def test_unbound_checkconf_accepts_the_rendered_config(
    config: Config, tmp_path: Path, forwarders: list[str], portal: dict[str, object], sites: int
) -> None:
    conf = tmp_path / "unbound.conf"
    conf.write_text(
        render_unbound(
            edited(config, portal, sites=sites),
            forwarders=forwarders,
            pid_file=str(tmp_path / "unbound.pid"),
            directory=str(tmp_path),
        )
    )
    result = checkconf(conf)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no errors" in result.stdout


def test_unbound_checkconf_would_catch_a_typo(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("server:\n    acces-control: 10.0.0.0/8 allow\n")
    result = checkconf(conf)
    assert result.returncode != 0
    assert "acces-control" in result.stdout + result.stderr
