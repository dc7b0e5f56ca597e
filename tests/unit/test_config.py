"""Configuration loading: every kind of invalid config is refused with its path, words and line.

Invalid variants are built from examples/lab.yaml by exact text edits (each edit must match once),
so a test that stops matching the example fails loudly instead of testing nothing. Expected lines
are found in the edited text by a snippet, never hard-coded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import yaml

from simpul.config import (
    Config,
    ConfigError,
    Problem,
    config_to_data,
    dump_config_yaml,
    load_config_file,
    load_config_text,
    parse_config,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LAB = EXAMPLES / "lab.yaml"
MERANTI = EXAMPLES / "meranti.yaml"
LAB_TEXT = LAB.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# helpers


def edit(*changes: tuple[str, str], text: str = LAB_TEXT) -> str:
    """Apply exact text replacements; each `old` must occur exactly once before it is replaced."""
    for old, new in changes:
        count = text.count(old)
        assert count == 1, f"edit anchor {old!r} occurs {count} times in the example"
        text = text.replace(old, new)
    return text


def kominfo_dhcp(value: str) -> tuple[str, str]:
    """An edit giving diskominfo (opds[0]) the DHCP settings `value` (a YAML flow mapping)."""
    anchor = "    policy: pegawai-kominfo\n    shared_services: []\n    dhcp: {first_host: 50}\n"
    return anchor, anchor.replace("{first_host: 50}", value)


HOSTNAME = "  hostname: portal.wifi.merantikab.go.id\n"
NEWS_URL = "news_url: https://merantikab.go.id/"
VIDEO_TITLE = "      title: Info Kabupaten Kepulauan Meranti\n"
GARDEN = "walled_garden: [198.51.100.10/32]"
NOT_A_DOMAIN = ("is not a domain such as 'youtube.com'",)
NOT_A_HOSTNAME = ("is not a lowercase DNS name", "'portal.wifi.example.id'")
NOT_A_URL = ("is not an http(s) URL",)
VIDEO_FILE = r"'^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(?:mp4|webm)$'"
POSTER_FILE = r"'^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(?:jpg|jpeg|png|webp)$'"


def portal_setting(lines: str) -> tuple[str, str]:
    """An edit adding `lines` (YAML, already indented) to the portal section."""
    return HOSTNAME, HOSTNAME + lines


def garden_names(value: str) -> tuple[str, str]:
    """An edit adding `walled_garden_names: value` (a YAML flow list) after the garden."""
    return GARDEN, f"{GARDEN}\n  walled_garden_names: {value}"


def line_of(text: str, snippet: str, nth: int | None = None) -> int:
    """1-based line of the line holding `snippet` (unique unless `nth` picks an occurrence)."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if snippet in line]
    if nth is None:
        assert len(hits) == 1, f"snippet {snippet!r} is on lines {hits}, expected exactly one"
        return hits[0]
    return hits[nth]


@dataclass(frozen=True)
class Want:
    """One expected problem: its path, words its message must contain, and the line it names."""

    path: str
    words: tuple[str, ...]
    at: str | None = None  # snippet on the expected line; None: the problem carries no line
    nth: int | None = None  # which occurrence of `at`, when it is not unique


def problems_of(text: str, *, check_source: bool = True) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source="lab.yaml")
    # a duplicate key loses the source: see test_duplicate_key_error_names_the_file
    if check_source:
        assert info.value.source == "lab.yaml"
    return info.value.problems


def assert_problems(text: str, wants: list[Want]) -> None:
    problems = problems_of(text)
    assert [p.path for p in problems] == [w.path for w in wants], [str(p) for p in problems]
    for problem, want in zip(problems, wants, strict=True):
        for word in want.words:
            assert word in problem.message, (word, str(problem))
        expected_line = None if want.at is None else line_of(text, want.at, want.nth)
        assert problem.line == expected_line, str(problem)


# --------------------------------------------------------------------------------------------
# the examples


@pytest.mark.parametrize("path", [LAB, MERANTI], ids=["lab", "meranti"])
def test_example_files_validate(path: Path) -> None:
    config = load_config_file(str(path))
    assert config.node.name == "meranti-pusat"
    assert config.node.region_code == "14.10"
    assert config.node.zoneinfo.key == "Asia/Jakarta"
    assert config.portal.hostname == "portal.wifi.merantikab.go.id"
    uplink = config.uplinks[0]
    assert (uplink.name, uplink.interface, str(uplink.address), str(uplink.gateway)) == (
        "isp1",
        "wan0",
        "192.0.2.2/24",
        "192.0.2.1",
    )
    assert str(config.zones.management.address) == "10.255.0.1/24"
    # one monitoring target per remote site, polling that site's router
    routers = {site.slug: site.router for site in config.remote_sites}
    assert {t.site: t.address for t in config.monitoring.targets} == routers
    for admin in config.admins:
        assert admin.password_hash is None


def test_meranti_example_is_whole() -> None:
    config = load_config_file(str(MERANTI))
    assert [o.slug for o in config.opds] == [
        "diskominfo",
        "disdik",
        "dinkes",
        "bappedalitbang",
        "setda",
        "bkpsdm",
        "disdukcapil",
    ]
    assert len(config.hotspot_sites) == 10
    assert {"rtm-lam", "taman-cik-puan"} <= {s.slug for s in config.hotspot_sites}
    assert [s.slug for s in config.remote_sites] == [
        "rangsang-pesisir",
        "pulau-merbau",
        "rangsang-barat",
        "tasik-putri-puyu",
    ]
    assert all(s.link_type == "vsat" for s in config.remote_sites)
    assert {p.name for p in config.policies} == {
        "pegawai-umum",
        "pegawai-kominfo",
        "pendidikan",
        "hotspot-umum",
    }
    assert {s.policy for s in config.hotspot_sites} == {"hotspot-umum"}
    assert config.portal.video_seconds == 30
    owners = {s.name: s.opd for s in config.services}
    assert owners == {"simpeg": "bkpsdm", "e-office": "setda", "siak": "disdukcapil"}


def test_lab_is_the_subset_of_meranti() -> None:
    """Same-slug objects agree, except shared_services (lab-only services), simpeg's port and
    the portal's media, walled garden, OTP gateway and RADIUS server (the lab's own video, fake
    news site, recording SMS gateway and FreeRADIUS)."""
    lab = load_config_file(str(LAB))
    meranti = load_config_file(str(MERANTI))
    for section in ("node", "uplinks", "zones"):
        assert getattr(lab, section) == getattr(meranti, section), section
    lab_only = {"videos": [], "walled_garden": [], "otp": None, "radius": None}
    assert lab.portal.model_copy(update=lab_only) == meranti.portal
    assert lab.portal.otp is not None
    assert (str(lab.portal.otp.url), lab.portal.otp.channel) == (
        "http://198.51.100.70:8025/send",
        "sms",
    )
    assert [v.model_dump() for v in lab.portal.videos] == [
        {
            "file": "meranti-info.webm",
            "poster": "meranti-info.jpg",
            "title": "Info Kabupaten Kepulauan Meranti",
        }
    ]
    assert [str(n) for n in lab.portal.walled_garden] == ["198.51.100.10/32"]
    assert lab.policies == meranti.policies
    for opd in lab.opds:
        full = meranti.opd(opd.slug)
        assert opd.model_copy(update={"shared_services": full.shared_services}) == full
    for site in lab.hotspot_sites:
        assert site == meranti.site(site.slug)
    remote = {s.slug: s for s in meranti.remote_sites}
    for site in lab.remote_sites:
        assert site == remote[site.slug]
    targets = {t.name: t for t in meranti.monitoring.targets}
    for target in lab.monitoring.targets:
        assert target == targets[target.name]
    # what the lab tests: disdik may reach simpeg in bkpsdm's LAN, diskominfo may not
    (simpeg,) = lab.services
    assert (simpeg.name, simpeg.opd, str(simpeg.address), simpeg.ports) == (
        "simpeg",
        "bkpsdm",
        "10.20.6.10",
        ["tcp/8080"],
    )
    assert lab.opd("disdik").shared_services == ["simpeg"]
    assert "simpeg" not in lab.opd("diskominfo").shared_services
    expected = {
        "diskominfo": ("opd-kominfo", "10.20.1.0/24"),
        "disdik": ("opd-disdik", "10.20.2.0/24"),
        "bkpsdm": ("opd-bkpsdm", "10.20.6.0/24"),
    }
    assert {o.slug: (o.interface, str(o.subnet)) for o in lab.opds} == expected
    assert {s.slug: (s.interface, str(s.subnet)) for s in lab.hotspot_sites} == {
        "rtm-lam": ("hs-rtmlam", "10.40.1.0/24"),
        "taman-cik-puan": ("hs-cikpuan", "10.40.2.0/24"),
    }
    assert {s.slug: (s.interface, str(s.subnet), str(s.router)) for s in lab.remote_sites} == {
        "rangsang-pesisir": ("vsat-rpesisir", "10.60.1.0/30", "10.60.1.2"),
        "pulau-merbau": ("vsat-pmerbau", "10.60.2.0/30", "10.60.2.2"),
    }


@pytest.mark.parametrize("path", [LAB, MERANTI], ids=["lab", "meranti"])
def test_dump_round_trips_to_an_equal_config(path: Path) -> None:
    config = load_config_file(str(path))
    text = dump_config_yaml(config)
    again = load_config_text(text, source="dumped")
    assert isinstance(again, Config)
    assert again == config
    assert dump_config_yaml(again) == text  # stable output
    assert parse_config(config_to_data(config)) == config


# --------------------------------------------------------------------------------------------
# invalid configurations, one kind per case

INVALID = [
    # unknown and missing fields
    pytest.param(
        [("    vlan: 102\n", "    vlna: 102\n")],
        [Want("opds[1].vlna", ("unknown field",), "vlna: 102")],
        id="unknown-field-typo",
    ),
    pytest.param(
        [("policies:\n", "policys:\n")],
        [Want("policys", ("unknown field",), "policys:")],
        id="unknown-top-level-section",
    ),
    pytest.param(
        [("bandwidth: {down_mbps: 50, up_mbps: 20}", "bandwidth: {down_mbps: 50, upmbps: 20}")],
        [
            Want("opds[1].bandwidth.up_mbps", ("is required",), "upmbps: 20"),
            Want("opds[1].bandwidth.upmbps", ("unknown field",), "upmbps: 20"),
        ],
        id="unknown-field-in-flow-mapping",
    ),
    pytest.param(
        [("    vlan: 102\n", "    Vlan: 102\n")],
        [Want("opds[1].Vlan", ("unknown field",), "Vlan: 102")],
        id="unknown-field-capitalised",
    ),
    pytest.param(
        [("    name: Dinas Pendidikan\n", "")],
        [Want("opds[1].name", ("is required",), "- slug: disdik")],
        id="missing-field-in-list-item",
    ),
    pytest.param(
        [("    router: 10.60.2.2\n", "")],
        [Want("remote_sites[1].router", ("is required",), "- slug: pulau-merbau")],
        id="missing-remote-router",
    ),
    pytest.param(
        [("  name: meranti-pusat\n", "")],
        [Want("node.name", ("is required",), "node:")],
        id="missing-field-in-mapping",
    ),
    pytest.param(
        [("  opd:\n    supernet: 10.20.0.0/16\n", "")],
        [Want("zones.opd", ("is required",), "zones:")],
        id="missing-section-in-mapping",
    ),
    # overlapping subnets
    pytest.param(
        [("subnet: 10.40.2.0/24", "subnet: 10.40.1.128/25")],
        [
            Want(
                "hotspot_sites[1].subnet",
                ("10.40.1.128/25 overlaps 10.40.1.0/24", "hotspot_sites[0].subnet"),
                "subnet: 10.40.1.128/25",
            )
        ],
        id="overlapping-hotspot-subnets",
    ),
    pytest.param(
        [
            ("subnet: 10.60.2.0/30", "subnet: 10.60.1.0/30"),
            ("router: 10.60.2.2", "router: 10.60.1.2"),
        ],
        [
            Want(
                "remote_sites[1].subnet",
                ("10.60.1.0/30 overlaps 10.60.1.0/30", "remote_sites[0].subnet"),
                "subnet: 10.60.1.0/30",
                nth=1,
            )
        ],
        id="overlapping-remote-subnets",
    ),
    pytest.param(
        [
            (
                "address: 192.0.2.2/24\n    gateway: 192.0.2.1",
                "address: 10.255.0.2/24\n    gateway: 10.255.0.254",
            )
        ],
        [
            Want(
                "uplinks[0].address",
                ("10.255.0.0/24 overlaps 10.255.0.0/24", "zones.management.address"),
                "address: 10.255.0.2/24",
            )
        ],
        id="uplink-overlaps-management",
    ),
    # duplicates
    pytest.param(
        [("- slug: taman-cik-puan", "- slug: rtm-lam")],
        [
            Want(
                "hotspot_sites[1].slug",
                ("'rtm-lam'", "already used", "hotspot_sites[0]"),
                "- slug: rtm-lam",
                nth=1,
            )
        ],
        id="duplicate-slug",
    ),
    pytest.param(
        [
            ("  - name: pendidikan\n", "  - name: pegawai-umum\n"),
            ("    policy: pendidikan\n", "    policy: pegawai-umum\n"),
        ],
        [
            Want(
                "policies[2].name",
                ("'pegawai-umum'", "already used", "policies[0]"),
                "- name: pegawai-umum",
                nth=1,
            )
        ],
        id="duplicate-policy-name",
    ),
    pytest.param(
        [("interface: opd-bkpsdm", "interface: opd-disdik")],
        [
            Want(
                "opds[2].interface",
                ("'opd-disdik'", "already used", "opds[1].interface"),
                "interface: opd-disdik",
                nth=1,
            )
        ],
        id="duplicate-interface",
    ),
    pytest.param(
        [("interface: hs-cikpuan", "interface: wan0")],
        [
            Want(
                "hotspot_sites[1].interface",
                ("'wan0'", "already used", "uplinks[0].interface"),
                "interface: wan0",
                nth=1,
            )
        ],
        id="interface-taken-by-uplink",
    ),
    pytest.param(
        [("vlan: 202", "vlan: 101")],
        [
            Want(
                "hotspot_sites[1].vlan",
                ("VLAN 101", "already used", "opds[0].vlan"),
                "vlan: 101",
                nth=1,
            )
        ],
        id="duplicate-vlan",
    ),
    # references
    pytest.param(
        [("shared_services: [simpeg]", "shared_services: [simpeg, sipd]")],
        [Want("opds[1].shared_services[1]", ("no service", "'sipd'"), "[simpeg, sipd]")],
        id="unknown-shared-service",
    ),
    pytest.param(
        [
            (
                "    policy: pegawai-umum\n    shared_services: []",
                "    policy: pegawai-umum\n    shared_services: [simpeg]",
            )
        ],
        [
            Want(
                "opds[2].shared_services[0]",
                ("'simpeg'", "bkpsdm's own service"),
                "shared_services: [simpeg]",
                nth=1,
            )
        ],
        id="opd-lists-its-own-service",
    ),
    pytest.param(
        [("    policy: pendidikan\n", "    policy: pendidkan\n")],
        [Want("opds[1].policy", ("no policy", "'pendidkan'"), "policy: pendidkan")],
        id="unknown-opd-policy",
    ),
    pytest.param(
        [
            (
                "    policy: hotspot-umum\n\n  - slug: taman-cik-puan",
                "    policy: hotspot-umun\n\n  - slug: taman-cik-puan",
            )
        ],
        [Want("hotspot_sites[0].policy", ("no policy", "'hotspot-umun'"), "hotspot-umun")],
        id="unknown-hotspot-policy",
    ),
    pytest.param(
        [("    opd: bkpsdm\n", "    opd: bkpsd\n")],
        [Want("services[0].opd", ("no OPD", "'bkpsd'"), "opd: bkpsd")],
        id="service-owner-unknown",
    ),
    pytest.param(
        [("site: pulau-merbau", "site: pulau-merbou")],
        [Want("monitoring.targets[1].site", ("no site", "'pulau-merbou'"), "site: pulau-merbou")],
        id="monitoring-site-unknown",
    ),
    # zones and addresses
    pytest.param(
        [("subnet: 10.20.2.0/24", "subnet: 10.30.2.0/24")],
        [
            Want(
                "opds[1].subnet",
                ("10.30.2.0/24", "outside the OPD zone 10.20.0.0/16"),
                "subnet: 10.30.2.0/24",
            )
        ],
        id="opd-subnet-outside-zone",
    ),
    pytest.param(
        [("subnet: 10.40.2.0/24", "subnet: 10.41.2.0/24")],
        [
            Want(
                "hotspot_sites[1].subnet",
                ("10.41.2.0/24", "outside the hotspot zone 10.40.0.0/16"),
                "subnet: 10.41.2.0/24",
            )
        ],
        id="hotspot-subnet-outside-zone",
    ),
    pytest.param(
        [("subnet: 10.20.1.0/24", "subnet: 10.40.100.0/24")],
        [Want("opds[0].subnet", ("outside the OPD zone",), "subnet: 10.40.100.0/24")],
        id="opd-subnet-in-hotspot-zone",
    ),
    pytest.param(
        [("address: 10.20.6.10", "address: 10.20.2.10")],
        [
            Want(
                "services[0].address",
                ("10.20.2.10", "not inside bkpsdm's subnet 10.20.6.0/24"),
                "address: 10.20.2.10",
            )
        ],
        id="service-address-outside-owner-subnet",
    ),
    pytest.param(
        [("gateway: 192.0.2.1", "gateway: 198.51.100.1")],
        [
            Want(
                "uplinks[0].gateway",
                ("198.51.100.1", "not on the uplink's network 192.0.2.0/24"),
                "gateway: 198.51.100.1",
            )
        ],
        id="uplink-gateway-off-net",
    ),
    pytest.param(
        [("router: 10.60.2.2", "router: 10.60.2.6")],
        [
            Want(
                "remote_sites[1].router",
                ("10.60.2.6", "must be a host of 10.60.2.0/30"),
                "router: 10.60.2.6",
            )
        ],
        id="remote-router-outside-subnet",
    ),
    pytest.param(
        [("router: 10.60.2.2", "router: 10.60.2.1")],
        [
            Want(
                "remote_sites[1].router",
                ("other than the gateway's 10.60.2.1",),
                "router: 10.60.2.1",
            )
        ],
        id="remote-router-is-gateway",
    ),
    pytest.param(
        [("router: 10.60.2.2", "router: 10.60.2.3")],
        [Want("remote_sites[1].router", ("must be a host of 10.60.2.0/30",), "router: 10.60.2.3")],
        id="remote-router-is-broadcast",
    ),
    pytest.param(
        [("router: 10.60.2.2", "router: 10.60.2.0")],
        [Want("remote_sites[1].router", ("must be a host of 10.60.2.0/30",), "router: 10.60.2.0")],
        id="remote-router-is-network-address",
    ),
    pytest.param(
        [kominfo_dhcp("{first_host: 300}")],
        [
            Want(
                "opds[0].dhcp",
                ("DHCP range (hosts 300-254)", "does not fit 10.20.1.0/24"),
                "first_host: 300",
            )
        ],
        id="dhcp-first-host-beyond-subnet",
    ),
    pytest.param(
        [kominfo_dhcp("{first_host: 50, last_host: 40}")],
        [Want("opds[0].dhcp", ("hosts 50-40", "does not fit"), "last_host: 40")],
        id="dhcp-range-reversed",
    ),
    pytest.param(
        [kominfo_dhcp("{first_host: 50, last_host: 255}")],
        [Want("opds[0].dhcp", ("hosts 50-255", "which has hosts 1-254"), "last_host: 255")],
        id="dhcp-last-host-is-broadcast",
    ),
    pytest.param(
        [("subnet: 10.40.2.0/24", "subnet: 10.40.2.0/29")],
        [Want("hotspot_sites[1].dhcp", ("hosts 10-6", "10.40.2.0/29"), "- slug: taman-cik-puan")],
        id="dhcp-default-range-in-small-subnet",
    ),
    pytest.param(
        [("subnet: 10.40.2.0/24", "subnet: 10.40.2.0/30")],
        [
            Want("hotspot_sites[1].subnet", ("too small", "at most /29"), "subnet: 10.40.2.0/30"),
            Want("hotspot_sites[1].dhcp", ("does not fit",), "- slug: taman-cik-puan"),
        ],
        id="lan-subnet-too-small",
    ),
    # region codes
    pytest.param(
        [('region_code: "14.10.09"', 'region_code: "14.10.9"')],
        [
            Want(
                "remote_sites[0].region_code",
                ("'14.10.9'", "not a Kemendagri region code"),
                '"14.10.9"',
            )
        ],
        id="region-code-bad-format",
    ),
    pytest.param(
        [('region_code: "14.10.09"', 'region_code: "14.10.09.3001"')],
        [Want("remote_sites[0].region_code", ("not a Kemendagri region code",), "14.10.09.3001")],
        id="region-code-village-not-1xxx-or-2xxx",
    ),
    pytest.param(
        [('region_code: "14.10.09"', "region_code: 14.10")],
        [Want("remote_sites[0].region_code", ("valid string",), "region_code: 14.10")],
        id="region-code-unquoted-is-a-number",
    ),
    pytest.param(
        [('region_code: "14.10.09"', 'region_code: "14.03.09"')],
        [
            Want(
                "remote_sites[0].region_code",
                ("'14.03.09'", "not inside this node's regency 14.10"),
                '"14.03.09"',
            )
        ],
        id="region-code-outside-regency",
    ),
    pytest.param(
        [('region_code: "14.10.09"', 'region_code: "14.10"')],
        [
            Want(
                "remote_sites[0].region_code",
                ("'14.10' is too coarse", "kecamatan or desa"),
                'region_code: "14.10"',
                nth=1,
            )
        ],
        id="region-code-too-coarse",
    ),
    pytest.param(
        [('region_code: "14.10"\n', 'region_code: "14"\n')],
        [Want("node.region_code", ("'14' is not a regency code",), 'region_code: "14"')],
        id="node-region-code-is-a-province",
    ),
    pytest.param(
        [('region_code: "14.10"\n', 'region_code: "14.10.01"\n')],
        [Want("node.region_code", ("not a regency code",), 'region_code: "14.10.01"', nth=0)],
        id="node-region-code-is-a-kecamatan",
    ),
    # field formats
    pytest.param(
        [("timezone: WIB", "timezone: WITB")],
        [Want("node.timezone", ("'WITB' is not a time zone", "WIB, WITA, WIT"), "timezone: WITB")],
        id="timezone-unknown",
    ),
    pytest.param(
        [("timezone: WIB", "timezone: Asia/Selatpanjang")],
        [Want("node.timezone", ("is not a time zone",), "timezone: Asia/Selatpanjang")],
        id="timezone-unknown-iana",
    ),
    pytest.param(
        [("timezone: WIB", "timezone: ../../etc/passwd")],
        [Want("node.timezone", ("is not a time zone",), "timezone: ../../etc/passwd")],
        id="timezone-path",
    ),
    pytest.param(
        [("ports: [tcp/8080]", "ports: [http]")],
        [Want("services[0].ports[0]", ("'http' is not a port",), "ports: [http]")],
        id="port-spec-not-a-port",
    ),
    pytest.param(
        [("ports: [tcp/8080]", "ports: [tcp/80800]")],
        [Want("services[0].ports[0]", ("'tcp/80800'", "1 to 65535"), "ports: [tcp/80800]")],
        id="port-spec-out-of-range",
    ),
    pytest.param(
        [("ports: [tcp/8080]", "ports: [tcp/8080, udp/9000-8000]")],
        [Want("services[0].ports[1]", ("'udp/9000-8000'", "low to high"), "udp/9000-8000")],
        id="port-spec-range-reversed",
    ),
    pytest.param(
        [("ports: [tcp/8080]", "ports: [icmp/8]")],
        [Want("services[0].ports[0]", ("is not a port",), "ports: [icmp/8]")],
        id="port-spec-bad-protocol",
    ),
    pytest.param(
        [("ports: [tcp/8080]", "ports: []")],
        [Want("services[0].ports", ("at least 1",), "ports: []")],
        id="port-list-empty",
    ),
    pytest.param(
        [("interface: opd-disdik", "interface: opd-disdik-sekolah")],
        [
            Want(
                "opds[1].interface",
                ("'opd-disdik-sekolah'", "not a Linux interface name", "1-15"),
                "interface: opd-disdik-sekolah",
            )
        ],
        id="interface-name-too-long",
    ),
    pytest.param(
        [("interface: opd-disdik", "interface: opd disdik")],
        [Want("opds[1].interface", ("not a Linux interface name",), "interface: opd disdik")],
        id="interface-name-with-space",
    ),
    pytest.param(
        [("- slug: disdik", "- slug: Disdik")],
        [Want("opds[1].slug", ("'Disdik' is not a slug",), "- slug: Disdik")],
        id="slug-capitalised",
    ),
    pytest.param(
        [("vlan: 102", "vlan: 4095")],
        [Want("opds[1].vlan", ("4094",), "vlan: 4095")],
        id="vlan-out-of-range",
    ),
    pytest.param(
        [("subnet: 10.20.6.0/24", "subnet: 10.20.6.1/24")],
        [Want("opds[2].subnet", ("not a valid IPv4 network",), "subnet: 10.20.6.1/24")],
        id="subnet-with-host-bits",
    ),
    pytest.param(
        [("lat: 1.0096", "lat: 51.5")],
        [Want("hotspot_sites[0].location.lat", ("6.5",), "lat: 51.5")],
        id="location-outside-indonesia",
    ),
    pytest.param(
        [("role: admin", "role: root")],
        [Want("admins[0].role", ("'admin', 'operator' or 'reviewer'",), "role: root")],
        id="admin-role-unknown",
    ),
    # the captive portal
    pytest.param(
        [(HOSTNAME, "  hostname: Portal.wifi.merantikab.go.id\n")],
        [
            Want(
                "portal.hostname",
                ("'Portal.wifi.merantikab.go.id'", *NOT_A_HOSTNAME),
                "hostname: Portal.wifi",
            )
        ],
        id="portal-hostname-capitalised",
    ),
    pytest.param(
        [(HOSTNAME, "  hostname: portal\n")],
        [Want("portal.hostname", ("'portal'", *NOT_A_HOSTNAME), "hostname: portal")],
        id="portal-hostname-single-label",
    ),
    pytest.param(
        [(HOSTNAME, "  hostname: portal_wifi.merantikab.go.id\n")],
        [Want("portal.hostname", NOT_A_HOSTNAME, "hostname: portal_wifi")],
        id="portal-hostname-underscore",
    ),
    pytest.param(
        [(HOSTNAME, "  hostname: -portal.merantikab.go.id\n")],
        [Want("portal.hostname", NOT_A_HOSTNAME, "hostname: -portal")],
        id="portal-hostname-label-starts-with-hyphen",
    ),
    pytest.param(
        [(HOSTNAME, "  hostname: portal-.merantikab.go.id\n")],
        [Want("portal.hostname", NOT_A_HOSTNAME, "hostname: portal-.")],
        id="portal-hostname-label-ends-with-hyphen",
    ),
    pytest.param(
        [(HOSTNAME, "  hostname: portal.merantikab.go.id.\n")],
        [Want("portal.hostname", NOT_A_HOSTNAME, "hostname: portal.merantikab.go.id.")],
        id="portal-hostname-trailing-dot",
    ),
    pytest.param(
        [(HOSTNAME, "  hostname: portal..go.id\n")],
        [Want("portal.hostname", NOT_A_HOSTNAME, "hostname: portal..go.id")],
        id="portal-hostname-empty-label",
    ),
    pytest.param(
        [(HOSTNAME, f"  hostname: {'a' * 64}.go.id\n")],
        [Want("portal.hostname", NOT_A_HOSTNAME, "a" * 64)],
        id="portal-hostname-label-of-64",
    ),
    pytest.param(
        [(HOSTNAME, f"  hostname: {'.'.join(['a' * 63] * 4)}\n")],  # 255 characters
        [Want("portal.hostname", NOT_A_HOSTNAME, "a" * 63)],
        id="portal-hostname-longer-than-253",
    ),
    pytest.param(
        [portal_setting("  address: 10.40.1.2\n")],
        [
            Want(
                "portal.address",
                ("10.40.1.2 is not a hotspot site's gateway address (10.40.1.1, 10.40.2.1)",),
                "address: 10.40.1.2",
            )
        ],
        id="portal-address-not-a-gateway",
    ),
    pytest.param(
        [portal_setting("  address: 10.20.1.1\n")],
        [
            Want(
                "portal.address",
                ("10.20.1.1 is not a hotspot site's gateway address",),
                "address: 10.20.1.1",
            )
        ],
        id="portal-address-is-an-opd-gateway",
    ),
    pytest.param(
        [portal_setting("  address: 10.255.0.1\n")],
        [Want("portal.address", ("not a hotspot site's gateway",), "address: 10.255.0.1", nth=1)],
        id="portal-address-is-the-management-address",
    ),
    pytest.param(
        [portal_setting("  address: portal\n")],
        [Want("portal.address", ("not a valid IPv4 address",), "address: portal")],
        id="portal-address-not-an-address",
    ),
    pytest.param(
        [portal_setting("  http_port: 8443\n  https_port: 8443\n")],
        [Want("portal.https_port", ("must differ from portal.http_port",), "https_port: 8443")],
        id="portal-ports-equal",
    ),
    pytest.param(
        [portal_setting("  https_port: 80\n")],
        [Want("portal.https_port", ("must differ from portal.http_port",), "https_port: 80")],
        id="portal-https-port-is-the-default-http-port",
    ),
    pytest.param(
        [portal_setting("  http_port: 443\n")],
        # https_port is not in the file: the problem names the portal section's line
        [Want("portal.https_port", ("must differ from portal.http_port",), "portal:")],
        id="portal-http-port-is-the-default-https-port",
    ),
    pytest.param(
        [portal_setting("  http_port: 0\n")],
        [Want("portal.http_port", ("greater than or equal to 1",), "http_port: 0")],
        id="portal-http-port-zero",
    ),
    pytest.param(
        [portal_setting("  https_port: 65536\n")],
        [Want("portal.https_port", ("less than or equal to 65535",), "https_port: 65536")],
        id="portal-https-port-too-big",
    ),
    pytest.param(
        [(NEWS_URL, "news_url: ftp://merantikab.go.id/")],
        [Want("portal.news_url", ("'ftp://merantikab.go.id/'", *NOT_A_URL), "news_url: ftp:")],
        id="portal-news-url-ftp",
    ),
    pytest.param(
        [(NEWS_URL, "news_url: merantikab.go.id")],
        [Want("portal.news_url", NOT_A_URL, "news_url: merantikab.go.id")],
        id="portal-news-url-without-scheme",
    ),
    pytest.param(
        [(NEWS_URL, "news_url: javascript:alert(1)")],
        [Want("portal.news_url", NOT_A_URL, "news_url: javascript:")],
        id="portal-news-url-javascript",
    ),
    pytest.param(
        [(NEWS_URL, 'news_url: "https://merantikab.go.id/a b"')],
        [Want("portal.news_url", NOT_A_URL, "news_url: ")],
        id="portal-news-url-with-space",
    ),
    pytest.param(
        [(NEWS_URL, 'news_url: "https://merantikab.go.id/<script>"')],
        [Want("portal.news_url", NOT_A_URL, "news_url: ")],
        id="portal-news-url-with-markup",
    ),
    pytest.param(
        [("file: meranti-info.webm", "file: meranti-info.avi")],
        [Want("portal.videos[0].file", (VIDEO_FILE,), "file: meranti-info.avi")],
        id="portal-video-not-mp4-or-webm",
    ),
    pytest.param(
        [("file: meranti-info.webm", "file: ../meranti-info.webm")],
        [Want("portal.videos[0].file", (VIDEO_FILE,), "file: ../meranti-info.webm")],
        id="portal-video-path",
    ),
    pytest.param(
        [("file: meranti-info.webm", "file: .webm")],
        [Want("portal.videos[0].file", (VIDEO_FILE,), "file: .webm")],
        id="portal-video-hidden-file",
    ),
    pytest.param(
        [("poster: meranti-info.jpg", "poster: meranti-info.gif")],
        [Want("portal.videos[0].poster", (POSTER_FILE,), "poster: meranti-info.gif")],
        id="portal-poster-not-an-image-type",
    ),
    pytest.param(
        [("poster: meranti-info.jpg", "poster: media/meranti-info.jpg")],
        [Want("portal.videos[0].poster", (POSTER_FILE,), "poster: media/")],
        id="portal-poster-path",
    ),
    pytest.param(
        [(VIDEO_TITLE, '      title: ""\n')],
        [Want("portal.videos[0].title", ("at least 1 character",), 'title: ""')],
        id="portal-video-title-empty",
    ),
    pytest.param(
        [(VIDEO_TITLE, "")],
        [Want("portal.videos[0].title", ("is required",), "- file: meranti-info.webm")],
        id="portal-video-title-missing",
    ),
    pytest.param(
        [(VIDEO_TITLE, f"      title: {'x' * 121}\n")],
        [Want("portal.videos[0].title", ("at most 120 characters",), "x" * 121)],
        id="portal-video-title-too-long",
    ),
    pytest.param(
        [(VIDEO_TITLE, VIDEO_TITLE + "    - file: meranti-info.webm\n      title: Lagi\n")],
        [
            Want(
                "portal.videos[1].file",
                ("'meranti-info.webm' is listed twice",),
                "file: meranti-info.webm",
                nth=1,
            )
        ],
        id="portal-video-listed-twice",
    ),
    pytest.param(
        [(GARDEN, "walled_garden: [198.51.100.10/24]")],
        [Want("portal.walled_garden[0]", ("not a valid IPv4 network",), "walled_garden:")],
        id="portal-walled-garden-host-bits",
    ),
    pytest.param(
        [(GARDEN, "walled_garden: [198.51.100.10/32, merantikab.go.id]")],
        [Want("portal.walled_garden[1]", ("not a valid IPv4 network",), "walled_garden:")],
        id="portal-walled-garden-name",
    ),
    pytest.param(
        [(GARDEN, "walled_garden: [2001:db8::/32]")],
        [Want("portal.walled_garden[0]", ("not a valid IPv4 network",), "walled_garden:")],
        id="portal-walled-garden-ipv6",
    ),
    pytest.param(
        [garden_names("[not a name]")],
        [Want("portal.walled_garden_names[0]", (*NOT_A_DOMAIN, "'not a name'"), "_names:")],
        id="portal-walled-garden-names-spaces",
    ),
    pytest.param(
        [garden_names("[merantikab.go.id, x]")],
        [Want("portal.walled_garden_names[1]", (*NOT_A_DOMAIN, "'x'"), "_names:")],
        id="portal-walled-garden-names-one-label",
    ),
    pytest.param(
        [garden_names('["*."]')],
        [Want("portal.walled_garden_names[0]", (*NOT_A_DOMAIN, "'*.'"), "_names:")],
        id="portal-walled-garden-names-bare-wildcard",
    ),
    pytest.param(
        [garden_names("[198.51.100.0/24]")],
        [Want("portal.walled_garden_names[0]", NOT_A_DOMAIN, "_names:")],
        id="portal-walled-garden-names-network",
    ),
    pytest.param(
        [
            portal_setting("  address: 10.40.1.2\n  http_port: 443\n"),
            (VIDEO_TITLE, VIDEO_TITLE + "    - file: meranti-info.webm\n      title: Lagi\n"),
        ],
        [
            Want("portal.address", ("not a hotspot site's gateway",), "address: 10.40.1.2"),
            Want("portal.https_port", ("must differ",), "portal:"),
            Want("portal.videos[1].file", ("listed twice",), "file: meranti-info.webm", nth=1),
        ],
        id="portal-several-problems",
    ),
    # several problems are all reported, in a stable order
    pytest.param(
        [("    policy: pendidikan\n", "    policy: pendidkan\n"), ("vlan: 202", "vlan: 101")],
        [
            Want("hotspot_sites[1].vlan", ("VLAN 101",), "vlan: 101", nth=1),
            Want("opds[1].policy", ("no policy",), "policy: pendidkan"),
        ],
        id="several-problems",
    ),
]


@pytest.mark.parametrize(("changes", "wants"), INVALID)
def test_invalid_config_is_refused_precisely(
    changes: list[tuple[str, str]], wants: list[Want]
) -> None:
    assert_problems(edit(*changes), wants)


def test_the_unedited_lab_text_is_valid() -> None:
    """Guard for the table above: every failure there comes from its edit alone."""
    assert load_config_text(LAB_TEXT).node.name == "meranti-pusat"


# --------------------------------------------------------------------------------------------
# time zones


@pytest.mark.parametrize(
    ("timezone", "iana", "hours"),
    [
        ("WIB", "Asia/Jakarta", 7),
        ("WITA", "Asia/Makassar", 8),
        ("WIT", "Asia/Jayapura", 9),
        ("Asia/Jakarta", "Asia/Jakarta", 7),
        ("Asia/Pontianak", "Asia/Pontianak", 7),
        ("Asia/Makassar", "Asia/Makassar", 8),
        ("Asia/Jayapura", "Asia/Jayapura", 9),
    ],
)
def test_timezones_accepted(timezone: str, iana: str, hours: int) -> None:
    config = load_config_text(edit(("timezone: WIB", f"timezone: {timezone}")))
    assert config.node.timezone == timezone
    assert config.node.zoneinfo.key == iana
    assert datetime(2024, 8, 17, tzinfo=config.node.zoneinfo).utcoffset() == timedelta(hours=hours)


def test_timezone_defaults_to_wib() -> None:
    config = load_config_text(edit(("  timezone: WIB\n", "")))
    assert config.node.timezone == "WIB"
    assert config.node.zoneinfo.key == "Asia/Jakarta"


# --------------------------------------------------------------------------------------------
# edge cases that must stay valid


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param([("interface: opd-disdik", "interface: opd-disdik12345")], id="ifname-15"),
        pytest.param(
            [("ports: [tcp/8080]", "ports: [tcp/1, udp/65535, tcp/5000-5010]")], id="port-bounds"
        ),
        pytest.param([('region_code: "14.10.09"', 'region_code: "14.10.09.2001"')], id="desa"),
        pytest.param([('region_code: "14.10.09"', 'region_code: "14.10.09.1001"')], id="kelurahan"),
        pytest.param(
            [kominfo_dhcp("{enabled: false, first_host: 300}")], id="dhcp-disabled-range-ignored"
        ),
        pytest.param([kominfo_dhcp("{first_host: 2, last_host: 254}")], id="dhcp-whole-subnet"),
        pytest.param(
            [("address: 192.0.2.2/24\n    gateway: 192.0.2.1\n", "address: dhcp\n")],
            id="uplink-dhcp",
        ),
        pytest.param([portal_setting("  address: 10.40.2.1\n")], id="portal-second-gateway"),
        pytest.param([portal_setting("  address: 10.40.1.1\n")], id="portal-first-gateway"),
        pytest.param(
            [portal_setting("  http_port: 8080\n  https_port: 8443\n")], id="portal-ports"
        ),
        pytest.param(
            [portal_setting("  http_port: 443\n  https_port: 80\n")], id="portal-ports-swapped"
        ),
        pytest.param(
            [portal_setting("  http_port: 1\n  https_port: 65535\n")], id="portal-port-bounds"
        ),
        pytest.param([(HOSTNAME, "  hostname: wifi.id\n")], id="portal-hostname-two-labels"),
        pytest.param(
            [(HOSTNAME, f"  hostname: {'a' * 63}.x-1.go.id\n")], id="portal-hostname-label-63"
        ),
        pytest.param(
            [(HOSTNAME, f"  hostname: {'.'.join(['a' * 63] * 3)}.{'b' * 61}\n")],  # 253
            id="portal-hostname-of-253",
        ),
        pytest.param([(NEWS_URL, "news_url: http://merantikab.go.id")], id="news-url-http"),
        pytest.param(
            [(NEWS_URL, "news_url: https://berita.merantikab.go.id:8443/kanal/wifi?id=1#top")],
            id="news-url-port-path-query",
        ),
        pytest.param([("file: meranti-info.webm", "file: Meranti_Info.2024.mp4")], id="video-mp4"),
        pytest.param([("      poster: meranti-info.jpg\n", "")], id="video-without-poster"),
        pytest.param([("poster: meranti-info.jpg", "poster: meranti-info.webp")], id="poster-webp"),
        pytest.param(
            [(VIDEO_TITLE, VIDEO_TITLE + "    - file: meranti-info.mp4\n      title: Lagi\n")],
            id="videos-same-stem-other-type",
        ),
        pytest.param([(GARDEN, "walled_garden: []")], id="walled-garden-empty"),
        pytest.param([garden_names("[]")], id="walled-garden-names-empty"),
        pytest.param(
            [(GARDEN, "walled_garden: []\n  walled_garden_names: [merantikab.go.id]")],
            id="walled-garden-names-only",
        ),
        pytest.param(
            [(GARDEN, "walled_garden: [198.51.100.10, 203.0.113.0/24, 198.51.100.0/24]")],
            id="walled-garden-overlapping",
        ),
    ],
)
def test_edge_cases_stay_valid(changes: list[tuple[str, str]]) -> None:
    load_config_text(edit(*changes))


def test_portal_values_are_parsed() -> None:
    config = load_config_text(
        edit(
            portal_setting("  address: 10.40.2.1\n  http_port: 8080\n  https_port: 8443\n"),
            (GARDEN, "walled_garden: [198.51.100.10, 203.0.113.0/24]"),
        )
    )
    portal = config.portal
    assert (str(portal.address), portal.http_port, portal.https_port) == ("10.40.2.1", 8080, 8443)
    assert [str(n) for n in portal.walled_garden] == ["198.51.100.10/32", "203.0.113.0/24"]
    assert portal.videos[0].poster == "meranti-info.jpg"


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("[merantikab.go.id]", ["merantikab.go.id"]),
        ("[MERANTIKAB.go.id.]", ["merantikab.go.id"]),  # lowercased, the root dot dropped
        ('["*.cdn.example.org"]', ["*.cdn.example.org"]),  # subdomains only
        (
            '[merantikab.go.id, MERANTIKAB.go.id., "*.cdn.example.org"]',
            ["merantikab.go.id", "merantikab.go.id", "*.cdn.example.org"],
        ),
    ],
    ids=["name", "normalized", "wildcard", "several"],
)
def test_walled_garden_names_are_parsed(value: str, names: list[str]) -> None:
    portal = load_config_text(edit(garden_names(value))).portal
    assert portal.walled_garden_names == names
    assert [str(n) for n in portal.walled_garden] == ["198.51.100.10/32"]  # networks unchanged


def test_walled_garden_names_round_trip() -> None:
    config = load_config_text(edit(garden_names('[MERANTIKAB.go.id., "*.cdn.example.org"]')))
    data = config_to_data(config)
    assert data["portal"]["walled_garden_names"] == ["merantikab.go.id", "*.cdn.example.org"]
    assert parse_config(data, "round trip") == config
    assert load_config_text(dump_config_yaml(config)) == config


def lab_with(change: Any) -> Config:
    """The lab configuration as data, changed in place by `change(data)`, validated again."""
    data = config_to_data(load_config_file(str(LAB)))
    change(data)
    return parse_config(data, "edited")


def set_portal(**values: object) -> Any:
    return lambda data: data["portal"].update(values)


def no_hotspot_sites(data: dict[str, Any]) -> None:
    data["hotspot_sites"] = []


def test_portal_defaults() -> None:
    portal = lab_with(lambda data: data.pop("portal")).portal
    assert portal.model_dump() == {
        "hostname": "portal.wifi.local",
        "address": None,
        "http_port": 80,
        "https_port": 443,
        "news_url": "https://example.org/",
        "video_seconds": 30,
        "videos": [],
        "walled_garden": [],
        "walled_garden_names": [],
        "mac_allow": [],
        "mac_block": [],
        "otp": None,
        "radius": None,
    }


@pytest.mark.parametrize(
    ("change", "address"),
    [
        (set_portal(), "10.40.1.1"),  # the first hotspot site's gateway
        (set_portal(address="10.40.2.1"), "10.40.2.1"),
        (set_portal(address="10.40.1.1"), "10.40.1.1"),
        (lambda data: data["hotspot_sites"].reverse(), "10.40.2.1"),  # first in the file
        (no_hotspot_sites, None),
    ],
    ids=["default", "explicit", "explicit-first", "first-site", "no-hotspot"],
)
def test_portal_address(change: Any, address: str | None) -> None:
    config = lab_with(change)
    assert (None if config.portal_address is None else str(config.portal_address)) == address


def test_portal_address_without_hotspot_sites_is_refused() -> None:
    def change(data: dict[str, Any]) -> None:
        no_hotspot_sites(data)
        data["portal"]["address"] = "10.40.1.1"

    with pytest.raises(ConfigError) as info:
        lab_with(change)
    (problem,) = info.value.problems
    assert (problem.path, problem.line) == ("portal.address", None)
    assert problem.message == "10.40.1.1 is not a hotspot site's gateway address (no hotspot sites)"


@pytest.mark.parametrize(
    ("portal", "url"),
    [
        ({}, "https://portal.wifi.merantikab.go.id/api/captive"),
        (
            {"https_port": 443, "http_port": 8080},
            "https://portal.wifi.merantikab.go.id/api/captive",
        ),
        ({"https_port": 8443}, "https://portal.wifi.merantikab.go.id:8443/api/captive"),
        (
            {"https_port": 80, "http_port": 8080},
            "https://portal.wifi.merantikab.go.id:80/api/captive",
        ),
        ({"hostname": "wifi.id"}, "https://wifi.id/api/captive"),
    ],
)
def test_portal_api_url(portal: dict[str, object], url: str) -> None:
    assert lab_with(set_portal(**portal)).portal_api_url == url


@pytest.mark.parametrize(
    ("address", "site"),
    [
        ("10.40.1.50", "rtm-lam"),
        ("10.40.1.1", "rtm-lam"),  # the gateway is inside its site's subnet
        ("10.40.1.0", "rtm-lam"),
        ("10.40.1.255", "rtm-lam"),
        ("10.40.2.77", "taman-cik-puan"),
        ("10.40.3.1", None),  # in the hotspot zone, but no site there
        ("10.20.1.10", None),  # an OPD
        ("10.60.1.2", None),  # a remote site
        ("10.255.0.1", None),
        ("8.8.8.8", None),
    ],
)
def test_site_of(address: str, site: str | None) -> None:
    config = load_config_file(str(LAB))
    found = config.site_of(IPv4Address(address))
    assert (None if found is None else found.slug) == site
    if found is not None:
        assert found is config.site(site)


def test_interface_name_of_16_chars_is_refused() -> None:
    text = edit(("interface: opd-disdik", "interface: opd-disdik123456"))
    assert_problems(
        text,
        [Want("opds[1].interface", ("not a Linux interface name",), "opd-disdik123456")],
    )


# --------------------------------------------------------------------------------------------
# YAML-level problems


def test_invalid_yaml_names_the_line() -> None:
    text = edit(("    interface: opd-disdik\n", "    interface: opd-disdik: x\n"))
    problems = problems_of(text)
    assert len(problems) == 1
    (problem,) = problems
    assert problem.loc == ()
    assert problem.path == "(top level)"
    assert problem.message.startswith("not valid YAML: ")
    assert "mapping values are not allowed" in problem.message
    assert problem.line == line_of(text, "opd-disdik: x")


def test_unclosed_flow_sequence_names_a_line() -> None:
    text = edit(("shared_services: [simpeg]", "shared_services: [simpeg"))
    (problem,) = problems_of(text)
    assert problem.message.startswith("not valid YAML: ")
    # the parser notices on the next line that has a ':'
    assert problem.line == line_of(text, "shared_services: [simpeg") + 1


@pytest.mark.parametrize("text", ["", "\n\n", "# hanya komentar / comments only\n"])
def test_empty_file(text: str) -> None:
    (problem,) = problems_of(text)
    assert (problem.path, problem.line) == ("(top level)", None)
    assert "empty" in problem.message


@pytest.mark.parametrize("text", ["- node\n- uplinks\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    (problem,) = problems_of(text)
    assert problem.path == "(top level)"
    assert "must be a mapping" in problem.message


def test_duplicate_yaml_key() -> None:
    text = edit(("    vlan: 102\n", "    vlan: 102\n    vlan: 103\n"))
    (problem,) = problems_of(text, check_source=False)
    assert problem.loc == ("opds", 1, "vlan")
    assert problem.path == "opds[1].vlan"
    assert "appears twice" in problem.message
    assert problem.line == line_of(text, "vlan: 103")


def test_duplicate_top_level_key() -> None:
    text = LAB_TEXT + "\nportal:\n  hostname: portal.example.go.id\n"
    (problem,) = problems_of(text, check_source=False)
    assert problem.path == "portal"
    assert "appears twice" in problem.message
    assert problem.line == line_of(text, "portal:", nth=1)


def test_duplicate_key_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(edit(("    vlan: 102\n", "    vlan: 102\n    vlan: 103\n")), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config_file(str(path))
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: line ")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    text = edit(("    vlan: 102\n", "    vlna: 102\n"))
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config_file(str(path))
    line = line_of(text, "vlna: 102")
    assert info.value.source == str(path)
    assert str(info.value) == (
        f"{path}: line {line}: opds[1].vlna: unknown field (misspelt, or not valid here)"
    )
    assert info.value.render().splitlines() == [
        f"{path}: 1 problem(s) in the configuration:",
        f"  - line {line}: opds[1].vlna: unknown field (misspelt, or not valid here)",
    ]


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_file(str(tmp_path / "absent.yaml"))
    assert "cannot read" in info.value.problems[0].message
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"node: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(str(binary))
    assert info.value.problems[0].message == "not UTF-8 text"


# --------------------------------------------------------------------------------------------
# variants built by YAML round trip (dump, edit the data, dump again)


def _lab_data() -> dict:
    return yaml.safe_load(dump_config_yaml(load_config_file(str(LAB))))


def test_round_trip_edit_duplicate_admin() -> None:
    data = _lab_data()
    data["admins"].append({"username": "admin.kominfo", "role": "operator"})
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    assert_problems(
        text,
        [
            Want(
                "admins[1].username",
                ("'admin.kominfo'", "already used by admins[0]"),
                "username: admin.kominfo",
                nth=1,
            )
        ],
    )


def test_round_trip_edit_duplicate_service() -> None:
    data = _lab_data()
    data["services"].append(
        {"name": "simpeg", "opd": "bkpsdm", "address": "10.20.6.11", "ports": ["tcp/443"]}
    )
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    assert_problems(
        text,
        [
            Want(
                "services[1].name",
                ("'simpeg'", "already used by services[0]"),
                "- name: simpeg",
                nth=1,
            )
        ],
    )


def test_plain_data_problems_have_no_line() -> None:
    data = _lab_data()
    data["opds"][1]["policy"] = "pendidkan"
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="api")
    (problem,) = info.value.problems
    assert (problem.loc, problem.line) == (("opds", 1, "policy"), None)
    assert str(problem) == "opds[1].policy: no policy is named 'pendidkan'"
    assert str(info.value) == "api: opds[1].policy: no policy is named 'pendidkan'"


@pytest.mark.parametrize("data", [[], "text", None, 3])
def test_plain_data_must_be_a_mapping(data: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    (problem,) = info.value.problems
    assert problem.path == "(top level)"
    assert "must be a mapping" in problem.message


# --------------------------------------------------------------------------------------------
# zone-level rules


def test_remote_zone_overlapping_other_zones_is_refused() -> None:
    text = edit(("supernet: 10.60.0.0/16", "supernet: 10.0.0.0/10"))
    problems = problems_of(text)
    remote = [p for p in problems if p.path == "zones.remote.supernet"]
    assert remote, [str(p) for p in problems]
    assert all("overlaps" in p.message for p in remote)
    assert {p.line for p in remote} == {line_of(text, "supernet: 10.0.0.0/10")}


def test_hotspot_zone_overlapping_opd_zone_is_refused() -> None:
    text = edit(
        ("supernet: 10.40.0.0/16", "supernet: 10.0.0.0/8"),
        ("supernet: 10.60.0.0/16", "supernet: 172.16.60.0/24"),
        ("subnet: 10.60.1.0/30", "subnet: 172.16.60.0/30"),
        ("router: 10.60.1.2", "router: 172.16.60.2"),
        ("subnet: 10.60.2.0/30", "subnet: 172.16.60.4/30"),
        ("router: 10.60.2.2", "router: 172.16.60.6"),
    )
    assert_problems(
        text,
        [
            Want(
                "zones.hotspot.supernet",
                ("10.0.0.0/8 overlaps the management network",),
                "supernet: 10.0.0.0/8",
            ),
            Want(
                "zones.hotspot.supernet",
                ("overlaps the OPD zone 10.20.0.0/16",),
                "supernet: 10.0.0.0/8",
            ),
        ],
    )


# --------------------------------------------------------------------------------------------
# Problem and ConfigError formatting


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), "(top level)"),
        (("node",), "node"),
        (("opds", 2, "subnet"), "opds[2].subnet"),
        (("opds", 0, "shared_services", 1), "opds[0].shared_services[1]"),
        (("monitoring", "targets", 3, "snmp", "community"), "monitoring.targets[3].snmp.community"),
    ],
)
def test_problem_path(loc: tuple[str | int, ...], path: str) -> None:
    assert Problem(loc, "m").path == path


def test_problem_str_format() -> None:
    assert str(Problem(("opds", 2, "subnet"), "overlaps", 7)) == "line 7: opds[2].subnet: overlaps"
    assert str(Problem(("opds", 2, "subnet"), "overlaps")) == "opds[2].subnet: overlaps"
    assert str(Problem((), "the file is empty")) == "(top level): the file is empty"


def test_config_error_joins_problems() -> None:
    error = ConfigError([Problem(("a",), "x", 1), Problem(("b", 0), "y")], "f.yaml")
    assert str(error) == "f.yaml: line 1: a: x; b[0]: y"
    assert error.render().splitlines() == [
        "f.yaml: 2 problem(s) in the configuration:",
        "  - line 1: a: x",
        "  - b[0]: y",
    ]
    assert str(ConfigError([Problem((), "z")])) == "(top level): z"


# --------------------------------------------------------------------------------------------
# a hotspot site's access policy

RTM_LAM_END = "    policy: hotspot-umum\n\n  - slug: taman-cik-puan\n"
CIK_PUAN_POLICY = "    policy: hotspot-umum\n\nremote_sites:\n"


def site_access(lines: str, anchor: str = RTM_LAM_END) -> tuple[str, str]:
    """An edit giving rtm-lam (hotspot_sites[0]), or the site `anchor` ends, an `access`
    section (YAML lines, indented under the site)."""
    return anchor, lines + anchor


ACCESS_DEFAULTS = {
    "methods": ["video"],
    "session_minutes": 120,
    "idle_minutes": 15,
    "daily_minutes": None,
    "client_down_kbps": 4000,
    "client_up_kbps": 1000,
    "quota_mb": None,
    "throttle_kbps": 256,
}


def test_access_defaults() -> None:
    config = load_config_text(LAB_TEXT)
    for site in config.hotspot_sites:
        assert site.access.model_dump() == ACCESS_DEFAULTS


def flow(key: str, value: str) -> list[tuple[str, str]]:
    return [site_access(f"    access: {{{key}: {value}}}\n")]


BELOW = "greater than or equal to"
ABOVE = "less than or equal to"

INVALID_ACCESS = [
    pytest.param(
        flow("methods", "[]"),
        [Want("hotspot_sites[0].access.methods", ("at least 1 item",), "access:")],
        id="methods-empty",
    ),
    pytest.param(
        flow("methods", "[sms]"),
        [Want("hotspot_sites[0].access.methods[0]", ("'video'", "'voucher'"), "access:")],
        id="method-unknown",
    ),
    pytest.param(
        flow("methods", "[Video]"),
        [Want("hotspot_sites[0].access.methods[0]", ("'video'", "'voucher'"), "access:")],
        id="method-capitalised",
    ),
    pytest.param(
        [
            site_access(
                "    access:\n      session_minutes: 60\n"
                "      methods:\n        - video\n        - portal\n"
            )
        ],
        [Want("hotspot_sites[0].access.methods[1]", ("'video'", "'voucher'"), "- portal")],
        id="second-method-unknown-names-its-line",
    ),
    pytest.param(
        flow("methods", "video"),
        [Want("hotspot_sites[0].access.methods", ("valid list",), "access:")],
        id="methods-not-a-list",
    ),
    pytest.param(
        flow("session_minutes", "0"),
        [Want("hotspot_sites[0].access.session_minutes", (BELOW, "1"), "access:")],
        id="session-zero",
    ),
    pytest.param(
        flow("session_minutes", "1441"),
        [Want("hotspot_sites[0].access.session_minutes", (ABOVE, "1440"), "access:")],
        id="session-over-a-day",
    ),
    pytest.param(
        flow("idle_minutes", "0"),
        [Want("hotspot_sites[0].access.idle_minutes", (BELOW, "1"), "access:")],
        id="idle-zero",
    ),
    pytest.param(
        flow("idle_minutes", "1441"),
        [Want("hotspot_sites[0].access.idle_minutes", (ABOVE, "1440"), "access:")],
        id="idle-over-a-day",
    ),
    pytest.param(
        flow("daily_minutes", "0"),
        [Want("hotspot_sites[0].access.daily_minutes", (BELOW, "1"), "access:")],
        id="daily-zero",
    ),
    pytest.param(
        flow("daily_minutes", "1441"),
        [Want("hotspot_sites[0].access.daily_minutes", (ABOVE, "1440"), "access:")],
        id="daily-over-a-day",
    ),
    pytest.param(
        flow("client_down_kbps", "63"),
        [Want("hotspot_sites[0].access.client_down_kbps", (BELOW, "64"), "access:")],
        id="down-rate-too-low",
    ),
    pytest.param(
        flow("client_up_kbps", "10000001"),
        [Want("hotspot_sites[0].access.client_up_kbps", (ABOVE, "10000000"), "access:")],
        id="up-rate-too-high",
    ),
    pytest.param(
        flow("client_down_kbps", "1.5"),
        [Want("hotspot_sites[0].access.client_down_kbps", ("valid integer",), "access:")],
        id="rate-fractional",
    ),
    pytest.param(
        flow("client_up_kbps", "0"),
        [Want("hotspot_sites[0].access.client_up_kbps", (BELOW, "64"), "access:")],
        id="up-rate-zero-is-not-unlimited",
    ),
    pytest.param(
        flow("quota_mb", "0"),
        [Want("hotspot_sites[0].access.quota_mb", (BELOW, "1"), "access:")],
        id="quota-zero",
    ),
    pytest.param(
        flow("quota_mb", "1000001"),
        [Want("hotspot_sites[0].access.quota_mb", (ABOVE, "1000000"), "access:")],
        id="quota-too-big",
    ),
    pytest.param(
        flow("throttle_kbps", "63"),
        [Want("hotspot_sites[0].access.throttle_kbps", (BELOW, "64"), "access:")],
        id="throttle-too-low",
    ),
    pytest.param(
        flow("throttle_kbps", "10000001"),
        [Want("hotspot_sites[0].access.throttle_kbps", (ABOVE, "10000000"), "access:")],
        id="throttle-too-high",
    ),
    pytest.param(
        flow("throttle_kbps", "null"),
        [Want("hotspot_sites[0].access.throttle_kbps", ("valid integer",), "access:")],
        id="throttle-null",
    ),
    pytest.param(
        flow("idle", "5"),
        [Want("hotspot_sites[0].access.idle", ("unknown field",), "access:")],
        id="unknown-access-field",
    ),
    pytest.param(
        [site_access("    access: [video]\n")],
        [Want("hotspot_sites[0].access", ("valid dictionary",), "access:")],
        id="access-not-a-mapping",
    ),
    # the second site, and several problems in block style: each on its own line
    pytest.param(
        [
            site_access(
                "    access:\n      quota_mb: 0\n      throttle_kbps: 32\n      idle_minutes: 5\n",
                CIK_PUAN_POLICY,
            )
        ],
        [
            Want("hotspot_sites[1].access.quota_mb", (BELOW, "1"), "quota_mb: 0"),
            Want("hotspot_sites[1].access.throttle_kbps", (BELOW, "64"), "throttle_kbps: 32"),
        ],
        id="second-site-several-problems",
    ),
]


@pytest.mark.parametrize(("changes", "wants"), INVALID_ACCESS)
def test_invalid_access_is_refused_precisely(
    changes: list[tuple[str, str]], wants: list[Want]
) -> None:
    assert_problems(edit(*changes), wants)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("    access: {methods: [voucher]}\n", {"methods": ["voucher"]}),
        ("    access: {methods: [video, voucher]}\n", {"methods": ["video", "voucher"]}),
        (
            "    access: {session_minutes: 1, idle_minutes: 1, daily_minutes: 1}\n",
            {"session_minutes": 1, "idle_minutes": 1, "daily_minutes": 1},
        ),
        (
            "    access: {session_minutes: 1440, idle_minutes: 1440, daily_minutes: 1440}\n",
            {"session_minutes": 1440, "idle_minutes": 1440, "daily_minutes": 1440},
        ),
        (
            "    access: {client_down_kbps: 64, client_up_kbps: 10000000, throttle_kbps: 64}\n",
            {"client_down_kbps": 64, "client_up_kbps": 10_000_000, "throttle_kbps": 64},
        ),
        # null turns a default rate off: no per-device limit
        (
            "    access: {client_down_kbps: null, client_up_kbps: null}\n",
            {"client_down_kbps": None, "client_up_kbps": None},
        ),
        ("    access: {quota_mb: 1}\n", {"quota_mb": 1}),
        ("    access: {quota_mb: 1000000}\n", {"quota_mb": 1_000_000}),
        ("    access: {daily_minutes: null, quota_mb: null}\n", {}),
        ("    access: {}\n", {}),
    ],
)
def test_access_values_are_parsed(lines: str, expected: dict[str, object]) -> None:
    config = load_config_text(edit(site_access(lines)))
    assert config.hotspot_sites[0].access.model_dump() == {**ACCESS_DEFAULTS, **expected}
    assert config.hotspot_sites[1].access.model_dump() == ACCESS_DEFAULTS  # the other site


# --------------------------------------------------------------------------------------------
# None survives a dump: it may override a default


UNLIMITED = "    access: {client_down_kbps: null, client_up_kbps: null, quota_mb: 500}\n"


def test_config_to_data_keeps_explicit_none() -> None:
    config = load_config_text(edit(site_access(UNLIMITED)))
    data = config_to_data(config)
    assert data["hotspot_sites"][0]["access"] == {
        **ACCESS_DEFAULTS,
        "client_down_kbps": None,
        "client_up_kbps": None,
        "quota_mb": 500,
    }
    assert data["hotspot_sites"][1]["access"] == ACCESS_DEFAULTS
    # fields whose default is None are written out too
    assert data["portal"]["address"] is None
    assert data["hotspot_sites"][0]["access"]["daily_minutes"] is None
    assert data["zones"]["remote"] == {"supernet": "10.60.0.0/16"}
    again = parse_config(data)
    assert again == config
    assert again.hotspot_sites[0].access.client_down_kbps is None


def test_none_survives_yaml_and_json() -> None:
    config = load_config_text(edit(site_access(UNLIMITED)))
    text = dump_config_yaml(config)
    assert "client_down_kbps: null" in text
    assert load_config_text(text) == config
    data = json.loads(json.dumps(config_to_data(config)))
    assert parse_config(data).hotspot_sites[0].access.client_up_kbps is None


# --------------------------------------------------------------------------------------------
# monitoring: SNMPv3, alerting, channels, maintenance


def _monitoring_problems(edit: Callable[[dict], None]) -> list[str]:
    data = _lab_data()
    edit(data["monitoring"])
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return [f"{p.path}: {p.message}" for p in problems_of(text)]


def test_snmpv3_is_auth_priv_only() -> None:
    def v3_without_keys(m: dict) -> None:
        m["targets"][0]["snmp"] = {"version": "3", "user": "simpul", "auth_key": "rahasia-auth"}

    (problem,) = _monitoring_problems(v3_without_keys)
    assert problem.startswith("monitoring.targets[0].snmp")
    assert "give priv_key" in problem and "in the clear" in problem

    def community_with_user(m: dict) -> None:
        m["targets"][0]["snmp"]["user"] = "simpul"

    (problem,) = _monitoring_problems(community_with_user)
    assert 'set version: "3"' in problem


def test_monitoring_names_and_references_are_checked() -> None:
    def edit(m: dict) -> None:
        m["targets"].append(dict(m["targets"][0]))
        m["maintenance"] = [
            {"target": "router-nowhere", "start": "2026-12-01T08:00:00",
             "end": "2026-12-01T10:00:00", "reason": "ganti modem"},
            {"site": "pulau-merbau", "target": "router-pulau-merbau",
             "start": "2026-12-01T08:00:00", "end": "2026-12-01T10:00:00", "reason": "dua"},
            {"site": "pulau-merbau", "start": "2026-12-01T10:00:00",
             "end": "2026-12-01T08:00:00", "reason": "mundur"},
        ]  # fmt: skip
        m["webhooks"] = [{"name": "tg", "url": "https://api.telegram.org/botX/sendMessage",
                          "format": "telegram"}]  # fmt: skip
        m["alerting"] = {"loss_warning_percent": 50, "loss_critical_percent": 20}

    problems = _monitoring_problems(edit)
    text = "\n".join(problems)
    assert "monitoring.alerting: " in text and "loss_critical_percent must be above" in text
    assert "webhooks[0]" in text and "needs chat_id" in text
    assert "maintenance[1]" in text and "either a target or a site" in text
    assert "maintenance[2]" in text and "end must come after start" in text
    data = _lab_data()
    data["monitoring"]["targets"].append(dict(data["monitoring"]["targets"][0]))
    data["monitoring"]["maintenance"] = [
        {"target": "router-nowhere", "start": "2026-12-01T08:00:00",
         "end": "2026-12-01T10:00:00", "reason": "ganti modem"},
    ]  # fmt: skip
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    messages = [f"{p.path}: {p.message}" for p in problems_of(text)]
    assert any("targets[2].name" in m and "already used by monitoring.targets[0]" in m
               for m in messages), messages  # fmt: skip
    assert any("maintenance[0].target" in m and "no target is named" in m for m in messages)
