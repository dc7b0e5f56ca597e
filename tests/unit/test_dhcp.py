"""The dnsmasq configuration rendered from the model (pure), checked by dnsmasq itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from netctl.dhcp import DNSMASQ, dhcp_tag, dnsmasq_command, render_dnsmasq
from simpul.config import Config, load_config_text

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
  - slug: diskominfo
    name: Diskominfo
    subnet: 10.10.4.0/22
    interface: opd-kominfo
    dhcp: {first_host: 100, last_host: 200, lease_minutes: 720}
hotspot_sites:
  - slug: alun-alun
    name: Alun-alun Selatpanjang
    subnet: 10.20.0.0/22
    interface: hs-alun
    kecamatan: Tebing Tinggi
    region_code: "14.10.01"
    location: {lat: 1.0, lon: 102.7}
  - slug: pelabuhan
    name: Pelabuhan Tanjung Harapan
    subnet: 10.20.4.0/24
    interface: hs-pelabuhan
    kecamatan: Tebing Tinggi
    region_code: "14.10.01"
    location: {lat: 1.0, lon: 102.7}
    dhcp: {enabled: false}
"""

PORTAL_OPTION = '114,"https://portal.wifi.local/api/captive"'


@pytest.fixture
def config() -> Config:
    return load_config_text(CONFIG)


def render(config: Config, hotspot_options: Sequence[str] = ()) -> str:
    return render_dnsmasq(
        config,
        lease_file="/var/lib/simpul/dnsmasq.leases",
        pid_file="/run/simpul/dnsmasq.pid",
        hotspot_options=hotspot_options,
    )


def lines(text: str) -> list[str]:
    """The configuration's directives: no comments, no blank lines."""
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_tags_come_from_slugs() -> None:
    assert dhcp_tag("opd", "dinas-kesehatan") == "opd_dinas_kesehatan"
    assert dhcp_tag("site", "alun-alun") == "site_alun_alun"


def test_renders_dhcp_only_config_line_by_line(config: Config) -> None:
    text = render(config)
    assert text.startswith("# Rendered by Simpul")
    assert lines(text) == [
        "port=0",
        "no-resolv",
        "no-hosts",
        "bind-dynamic",
        "except-interface=lo",
        "interface=opd-dinkes",
        "interface=opd-kominfo",
        "interface=hs-alun",
        "dhcp-authoritative",
        "no-ping",
        "dhcp-leasefile=/var/lib/simpul/dnsmasq.leases",
        "pid-file=/run/simpul/dnsmasq.pid",
        # 245 (.10-.254) + 101 (.100-.200) + 1013 (10.20.0.10-10.20.3.254)
        "dhcp-lease-max=1359",
        "dhcp-range=set:opd_dinas_kesehatan,10.10.1.10,10.10.1.254,255.255.255.0,60m",
        "dhcp-option=tag:opd_dinas_kesehatan,option:router,10.10.1.1",
        "dhcp-option=tag:opd_dinas_kesehatan,option:dns-server,10.10.1.1",
        "dhcp-range=set:opd_diskominfo,10.10.4.100,10.10.4.200,255.255.252.0,720m",
        "dhcp-option=tag:opd_diskominfo,option:router,10.10.4.1",
        "dhcp-option=tag:opd_diskominfo,option:dns-server,10.10.4.1",
        "dhcp-range=set:site_alun_alun,10.20.0.10,10.20.3.254,255.255.252.0,30m",
        "dhcp-option=tag:site_alun_alun,option:router,10.20.0.1",
        "dhcp-option=tag:site_alun_alun,option:dns-server,10.20.0.1",
    ]


def test_disabled_dhcp_is_left_out(config: Config) -> None:
    text = render(config)
    for absent in ("bappeda", "opd-bappeda", "pelabuhan", "hs-pelabuhan", "10.10.2.", "10.20.4."):
        assert absent not in text


def test_hotspot_options_go_to_every_hotspot_network_only(config: Config) -> None:
    text = render(config, hotspot_options=[PORTAL_OPTION, "option:domain-name,wifi.local"])
    assert lines(text)[-2:] == [
        f"dhcp-option=tag:site_alun_alun,{PORTAL_OPTION}",
        "dhcp-option=tag:site_alun_alun,option:domain-name,wifi.local",
    ]
    assert "tag:opd_dinas_kesehatan,114" not in text
    assert lines(render(config)) == [
        line for line in lines(text) if PORTAL_OPTION not in line and "domain-name" not in line
    ]


def test_no_dhcp_networks_renders_an_idle_server(config: Config) -> None:
    bare = config.model_copy(update={"opds": [], "hotspot_sites": []})
    text = render(bare)
    assert not [line for line in lines(text) if line.startswith(("interface=", "dhcp-range"))]
    assert "dhcp-lease-max" not in text


@pytest.mark.parametrize("field", ["lease_file", "pid_file"])
def test_refuses_multi_line_paths(config: Config, field: str) -> None:
    paths = {"lease_file": "/tmp/leases", "pid_file": "/tmp/pid", field: "/tmp/x\nport=53"}
    with pytest.raises(ValueError, match="single line"):
        render_dnsmasq(config, **paths)


def test_refuses_multi_line_hotspot_options(config: Config) -> None:
    with pytest.raises(ValueError, match="single line"):
        render(config, hotspot_options=["114,x\ndhcp-range=1.2.3.4,1.2.3.5"])


def test_command_runs_in_the_foreground_logging_to_stderr() -> None:
    assert dnsmasq_command("/run/simpul/dnsmasq.conf") == [
        DNSMASQ,
        "--keep-in-foreground",
        "--conf-file=/run/simpul/dnsmasq.conf",
        "--log-facility=-",
    ]


def dnsmasq_test(path: Path) -> subprocess.CompletedProcess[str]:
    """`dnsmasq --test` on a file (a syntax and value check that needs no privileges)."""
    binary = shutil.which("dnsmasq", path=f"{os.path.dirname(DNSMASQ)}:{os.defpath}")
    if binary is None:
        pytest.skip("dnsmasq is not installed")
    return subprocess.run(
        [binary, "--test", f"--conf-file={path}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_dnsmasq_accepts_the_rendered_config(config: Config, tmp_path: Path) -> None:
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(
        render_dnsmasq(
            config,
            lease_file=str(tmp_path / "leases"),
            pid_file=str(tmp_path / "pid"),
            hotspot_options=[PORTAL_OPTION],
        )
    )
    result = dnsmasq_test(conf)
    assert result.returncode == 0, result.stderr
    assert "syntax check OK" in result.stdout + result.stderr


def test_dnsmasq_check_would_catch_a_bad_range(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("port=0\ndhcp-range=set:x,10.0.0.300,10.0.0.5,255.255.255.0,60m\n")
    result = dnsmasq_test(conf)
    assert result.returncode != 0
    assert "bad dhcp-range" in result.stderr
