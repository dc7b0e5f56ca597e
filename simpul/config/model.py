"""The typed configuration model of one Simpul node (a regency's gateway).

Field-level rules live here, on the models; rules that relate several objects (overlapping subnets,
references, zones) live in `simpul.config.checks`, so every entry point refuses the same things with
the same words.
"""

from __future__ import annotations

import re
import sys
from datetime import date, datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

TIMEZONE_ALIASES = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")
# Kemendagri codes: province 2 digits, regency .2, district .2, village .4
# (village 1xxx is a kelurahan, 2xxx a desa)
_REGION_CODE = re.compile(r"^\d{2}(?:\.\d{2}(?:\.\d{2}(?:\.[12]\d{3})?)?)?$")
_PORT_SPEC = re.compile(r"^(tcp|udp)/(\d{1,5})(?:-(\d{1,5}))?$")


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            f"{value!r} is not a slug: use 1-40 lowercase letters, digits and inner hyphens"
        )
    return value


def _ifname(value: str) -> str:
    if not _IFNAME.match(value):
        raise ValueError(
            f"{value!r} is not a Linux interface name: 1-15 letters, digits, '_', '.', '-'"
        )
    return value


def _region_code(value: str) -> str:
    if not _REGION_CODE.match(value):
        raise ValueError(
            f"{value!r} is not a Kemendagri region code such as '14.10' (regency), "
            "'14.10.01' (kecamatan) or '14.10.01.2001' (desa)"
        )
    return value


def _port_spec(value: str) -> str:
    match = _PORT_SPEC.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a port such as 'tcp/443' or 'udp/5000-5010'")
    low = int(match.group(2))
    high = int(match.group(3) or low)
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{value!r}: ports run from 1 to 65535, low to high")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
IfName = Annotated[str, AfterValidator(_ifname)]
RegionCode = Annotated[str, AfterValidator(_region_code)]
PortSpec = Annotated[str, AfterValidator(_port_spec)]
VlanId = Annotated[int, Field(ge=1, le=4094)]
Mbps = Annotated[float, Field(gt=0, le=100_000)]


def parse_port_spec(spec: str) -> tuple[str, int, int]:
    """Split a validated 'proto/low[-high]' port spec into (proto, low, high)."""
    match = _PORT_SPEC.match(spec)
    if match is None:
        raise ValueError(f"{spec!r} is not a port spec")
    low = int(match.group(2))
    return match.group(1), low, int(match.group(3) or low)


class Model(BaseModel):
    """Base of every config object: unknown keys are errors, values are frozen once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Location(Model):
    """A point in Indonesia (WGS84 degrees)."""

    lat: Annotated[float, Field(ge=-11.5, le=6.5)]
    lon: Annotated[float, Field(ge=94.5, le=141.5)]


class Bandwidth(Model):
    """A rate in each direction, seen from the clients behind the gateway."""

    down_mbps: Mbps
    up_mbps: Mbps


class Node(Model):
    """The gateway box itself and the regency it serves."""

    name: Slug
    regency: str = Field(min_length=2, max_length=80)
    region_code: RegionCode
    timezone: str = "WIB"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        name = TIMEZONE_ALIASES.get(value, value)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone: use WIB, WITA, WIT or an IANA name "
                "such as 'Asia/Jakarta'"
            ) from None
        return value

    @property
    def zoneinfo(self) -> ZoneInfo:
        """The node's time zone as a tzinfo."""
        return ZoneInfo(TIMEZONE_ALIASES.get(self.timezone, self.timezone))


class Uplink(Model):
    """A link to the internet; traffic leaving through it is masqueraded."""

    name: Slug
    interface: IfName
    address: IPv4Interface | Literal["dhcp"] = "dhcp"
    gateway: IPv4Address | None = None
    bandwidth: Bandwidth | None = None


class ManagementZone(Model):
    """The admins' network: the only zone that reaches the gateway's management services."""

    interface: IfName
    address: IPv4Interface
    services: list[PortSpec] = Field(default_factory=lambda: ["tcp/22", "tcp/8443", "udp/161"])


class AddressZone(Model):
    """An address space that every network of one kind must sit inside."""

    supernet: IPv4Network


class Zones(Model):
    """The gateway's zones; traffic between them is denied unless a rule says otherwise."""

    management: ManagementZone
    opd: AddressZone
    hotspot: AddressZone
    remote: AddressZone | None = None

    @property
    def networks(self) -> list[IPv4Network]:
        """The node's own address space: the OPD and hotspot supernets, the management
        network and the remote supernet (every zone network lies inside one of them)."""
        nets = [self.opd.supernet, self.hotspot.supernet, self.management.address.network]
        if self.remote is not None:
            nets.append(self.remote.supernet)
        return nets


class Dhcp(Model):
    """DHCP served by the gateway on one network (dnsmasq)."""

    enabled: bool = True
    lease_minutes: Annotated[int, Field(ge=2, le=7 * 24 * 60)] = 60
    first_host: Annotated[int, Field(ge=2)] = 10
    last_host: Annotated[int, Field(ge=2)] | None = None


class Service(Model):
    """A shared service inside one OPD's LAN that other OPDs may be allowed to reach."""

    name: Slug
    opd: Slug
    address: IPv4Address
    ports: list[PortSpec] = Field(min_length=1)
    description: str = ""


class Opd(Model):
    """A government agency (Organisasi Perangkat Daerah) and its office LAN."""

    slug: Slug
    name: str = Field(min_length=2, max_length=120)
    subnet: IPv4Network
    interface: IfName
    vlan: VlanId | None = None
    # Its guaranteed share of the uplinks, and the most it may take when others are idle.
    bandwidth: Bandwidth | None = None
    bandwidth_cap: Bandwidth | None = None
    policy: Slug | None = None
    shared_services: list[Slug] = Field(default_factory=list)
    dhcp: Dhcp = Dhcp()

    @property
    def gateway_address(self) -> IPv4Interface:
        """The gateway's address in this LAN: the first host."""
        return IPv4Interface(f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}")


Kbps = Annotated[int, Field(ge=64, le=10_000_000)]


class Access(Model):
    """How citizens get online at a hotspot site: methods and fair-use limits per device."""

    methods: list[Literal["video", "voucher", "otp", "radius"]] = Field(
        default_factory=lambda: ["video"], min_length=1
    )
    session_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 120
    # Kernel-native: a device silent this long is let go (and must pass the portal again).
    idle_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    # Minutes a device may be online per day (the node's time zone); None: unlimited.
    daily_minutes: Annotated[int, Field(ge=1, le=24 * 60)] | None = None
    # Per device, each direction; None: only the site's own bandwidth limits.
    client_down_kbps: Kbps | None = 4000
    client_up_kbps: Kbps | None = 1000
    # Bytes a device may move per session before it is slowed (not cut) to the throttle rate.
    quota_mb: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    throttle_kbps: Kbps = 256


class HotspotSite(Model):
    """A public free-WiFi hotspot ("WiFi gratis") and the network its access points bridge to."""

    slug: Slug
    name: str = Field(min_length=2, max_length=120)
    subnet: IPv4Network
    interface: IfName
    vlan: VlanId | None = None
    kecamatan: str = Field(min_length=2, max_length=80)
    region_code: RegionCode
    location: Location
    bandwidth: Bandwidth | None = None
    policy: Slug | None = None
    dhcp: Dhcp = Dhcp(lease_minutes=30)
    access: Access = Access()

    @property
    def gateway_address(self) -> IPv4Interface:
        """The gateway's address on this hotspot network: the first host."""
        return IPv4Interface(f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}")


class Snmp(Model):
    """How to poll a device by SNMP: v2c with a community, or v3 authPriv. The timeout and
    retries are satellite-aware by default (a V-Sat round trip is 550-800 ms; LibreNMS's 500 ms
    ping and pysnmp's 1 s would flap)."""

    version: Literal["2c", "3"] = "2c"
    community: str = Field(default="public", min_length=1, max_length=64)
    port: Annotated[int, Field(ge=1, le=65535)] = 161
    user: str | None = Field(default=None, min_length=1, max_length=32)
    auth_protocol: Literal["SHA", "SHA-256"] = "SHA"
    auth_key: str | None = Field(default=None, min_length=8, max_length=64)
    priv_protocol: Literal["AES"] = "AES"
    priv_key: str | None = Field(default=None, min_length=8, max_length=64)
    timeout_s: Annotated[float, Field(ge=0.5, le=30)] = 4.0
    retries: Annotated[int, Field(ge=0, le=5)] = 2

    @model_validator(mode="after")
    def _v3_is_auth_priv(self) -> Snmp:
        if self.version == "3":
            missing = [k for k in ("user", "auth_key", "priv_key") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"SNMPv3 is authPriv only here: give {', '.join(missing)} (authNoPriv and "
                    "noAuthNoPriv send readings in the clear over the satellite)"
                )
        elif self.user or self.auth_key or self.priv_key:
            raise ValueError('user, auth_key and priv_key are SNMPv3\'s: set version: "3"')
        return self


class RemoteSite(Model):
    """A remote sub-district office on a V-Sat (or terrestrial) link watched from the node."""

    slug: Slug
    name: str = Field(min_length=2, max_length=120)
    kecamatan: str = Field(min_length=2, max_length=80)
    region_code: RegionCode
    location: Location
    link_type: Literal["vsat", "fiber", "radio", "cellular"] = "vsat"
    interface: IfName
    subnet: IPv4Network
    router: IPv4Address
    snmp: Snmp = Snmp()
    backup_path: str = ""

    @property
    def gateway_address(self) -> IPv4Interface:
        """The gateway's address on the link to this site: the first host."""
        return IPv4Interface(f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|24:00)$")


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"{value!r} is not a time of day such as '07:30' (00:00-24:00)")
    return value


Clock = Annotated[str, AfterValidator(_clock)]


def clock_minutes(value: str) -> int:
    """Minutes since midnight of a validated 'HH:MM' (24:00 is 1440)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class Window(Model):
    """A time window on some weekdays, in the node's time zone. An `end` at or before `start`
    runs overnight into the next day (e.g. 22:00-05:00); the day it starts on decides."""

    days: list[Weekday] = Field(min_length=1)
    start: Clock
    end: Clock

    @field_validator("days")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a weekday is listed twice")
        return value

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: str, info: ValidationInfo) -> str:
        start = info.data.get("start")
        if start == value:
            raise ValueError(f"the window {start}-{value} is empty (a whole day is 00:00-24:00)")
        return value

    @field_validator("start")
    @classmethod
    def _starts_in_day(cls, value: str) -> str:
        if value == "24:00":
            raise ValueError("a window starts at 00:00-23:59, not 24:00")
        return value


class Schedule(Model):
    """When rules that name it apply: windows per weekday, other windows during Ramadan, and
    whether they also apply on national holidays and cuti bersama."""

    name: Slug
    description: str = ""
    windows: list[Window] = Field(min_length=1)
    # Ramadan working hours (None: the usual windows in Ramadan too).
    ramadan_windows: list[Window] | None = None
    holidays: Literal["off", "on"] = "off"


_DNS_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def _domain_pattern(value: str) -> str:
    name = value.lower().rstrip(".")
    body = name[2:] if name.startswith("*.") else name
    labels = body.split(".")
    if len(body) > 253 or len(labels) < 2 or not all(_DNS_LABEL.match(x) for x in labels):
        raise ValueError(
            f"{value!r} is not a domain such as 'youtube.com' (with its subdomains) "
            "or '*.youtube.com' (subdomains only)"
        )
    return name


DomainPattern = Annotated[str, AfterValidator(_domain_pattern)]


class Rule(Model):
    """One step of a policy: block (or allow) some categories, always or during a schedule."""

    action: Literal["block", "allow"] = "block"
    categories: list[Slug] = Field(min_length=1)
    schedule: Slug | None = None  # None: at all times
    description: str = ""


class Policy(Model):
    """What a group (an OPD or a hotspot site) may resolve. Precedence: the policy's `allow`
    names, then its `deny` names, then its rules in order (the first that applies decides),
    then allowed. Bypass prevention (DoH names, canary names) comes before all of it."""

    name: Slug
    description: str = ""
    allow: list[DomainPattern] = Field(default_factory=list)
    deny: list[DomainPattern] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    # The block answer: the block page's address (OPDs) or NXDOMAIN. Hotspot zones always get
    # NXDOMAIN: their gateway's web server is the captive portal.
    block_answer: Literal["page", "nxdomain"] = "page"
    # Per-client query log kept this many days (0: off).
    query_log_days: Annotated[int, Field(ge=0, le=365)] = 0
    # At a window's start, cut open connections to names the window blocks.
    cut_flows: bool = True


class FilterList(Model):
    """A category list file: absolute, or relative to the lists directory."""

    name: Slug
    category: Slug
    path: str = Field(min_length=1, max_length=400, pattern=r"^[^\n\r\x00]+$")
    format: Literal["auto", "plain", "hosts", "adblock", "dnsmasq", "rpz"] = "auto"
    # How a plain name or hosts entry matches: the name and its subdomains, or the name only.
    match: Literal["subtree", "exact"] = "subtree"


class SpecialDay(Model):
    """A day off that the yearly calendar files do not list (e.g. a regency's own holiday)."""

    date: date
    name: str = Field(min_length=2, max_length=120)
    kind: Literal["libur", "cuti-bersama"] = "libur"


class DateRange(Model):
    """Days from `start` to `end`, both included."""

    start: date
    end: date

    @field_validator("end")
    @classmethod
    def _ordered(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and value < start:
            raise ValueError(f"ends ({value}) before it starts ({start})")
        return value


def _shipped_lists_dir() -> Path:
    """`filter-lists/` of a checkout, else where an installed wheel put it (its data files)."""
    checkout = Path(__file__).resolve().parents[2] / "filter-lists"
    return checkout if checkout.is_dir() else Path(sys.prefix) / "share" / "simpul" / "filter-lists"


SHIPPED_LISTS = _shipped_lists_dir()
SHIPPED_CATEGORIES = (
    "streaming-video", "drakor", "social-media", "games", "gambling", "adult", "doh",
)  # fmt: skip


def _shipped_lists() -> list[FilterList]:
    return [
        FilterList(name=c, category=c, path=f"categories/{c}.txt", format="plain")
        for c in SHIPPED_CATEGORIES
    ]


class Filtering(Model):
    """The policy DNS front end: category lists, the holiday calendar, block answers, bypass."""

    # None: the lists shipped with this software (its `filter-lists/` directory).
    lists_dir: str | None = Field(default=None, min_length=1)
    lists: list[FilterList] = Field(default_factory=_shipped_lists)
    # Days off beyond the shipped calendar files (`calendar/id-YYYY.yaml` there), days the
    # node works although the files say otherwise, and Ramadan when it differs from the files.
    extra_days: list[SpecialDay] = Field(default_factory=list)
    working_days: list[date] = Field(default_factory=list)
    ramadan: list[DateRange] = Field(default_factory=list)
    block_ttl: Annotated[int, Field(ge=0, le=10)] = 10
    # Public resolvers' own addresses, dropped on 443/853 (never shared CDN ranges): the
    # shipped `doh-addresses.txt` plus these.
    doh_addresses: list[IPv4Network] = Field(default_factory=list)
    # Where the gateway's Unbound listens for the front end (loopback only).
    resolver_port: Annotated[int, Field(ge=1, le=65535)] = 5353

    @property
    def lists_path(self) -> Path:
        """The directory list paths and the calendar are relative to."""
        return Path(self.lists_dir) if self.lists_dir else SHIPPED_LISTS


_MEDIA_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{{0,99}}\.{ext}$"


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^\s<>\"']*)?$", value):
        raise ValueError(f"{value!r} is not an http(s) URL such as 'https://merantikab.go.id/'")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _hostname(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a lowercase DNS name such as 'portal.wifi.example.id'")
    return value


Hostname = Annotated[str, AfterValidator(_hostname)]
_MAC = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$")


def _mac(value: str) -> str:
    mac = value.lower().replace("-", ":")
    if not _MAC.match(mac) or int(mac[:2], 16) & 1:
        raise ValueError(f"{value!r} is not a device's MAC address such as '02:1a:2b:3c:4d:5e'")
    return mac


MacAddress = Annotated[str, AfterValidator(_mac)]


class Video(Model):
    """A welcome video the gateway serves itself (a file in the portal's media directory)."""

    file: Annotated[str, Field(pattern=_MEDIA_NAME.format(ext="(?:mp4|webm)"))]
    poster: (
        Annotated[str, Field(pattern=_MEDIA_NAME.format(ext="(?:jpg|jpeg|png|webp)"))] | None
    ) = None
    title: str = Field(min_length=1, max_length=120)


class OtpGateway(Model):
    """An HTTP gateway that delivers a one-time code: POST JSON {"to", "message", "channel"}
    with `Authorization: Bearer <token>`. Adding a provider is adding a gateway."""

    url: HttpUrl
    token: str = Field(default="", max_length=400)
    channel: Literal["sms", "whatsapp"] = "sms"
    code_minutes: Annotated[int, Field(ge=1, le=30)] = 5


class Radius(Model):
    """A RADIUS server for username/password logins (PAP, RFC 2865)."""

    server: IPv4Address
    port: Annotated[int, Field(ge=1, le=65535)] = 1812
    secret: str = Field(min_length=8, max_length=128)
    nas_identifier: str = Field(default="simpul", min_length=1, max_length=64)
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 3.0
    tries: Annotated[int, Field(ge=1, le=5)] = 2


class Portal(Model):
    """Captive-portal settings shared by every hotspot site."""

    hostname: Hostname = "portal.wifi.local"
    # The gateway address the hostname resolves to (default: the first hotspot site's gateway).
    address: IPv4Address | None = None
    http_port: Annotated[int, Field(ge=1, le=65535)] = 80
    https_port: Annotated[int, Field(ge=1, le=65535)] = 443
    news_url: HttpUrl = "https://example.org/"
    video_seconds: Annotated[int, Field(ge=0, le=600)] = 30
    # Latest first: each visit plays the next one.
    videos: list[Video] = Field(default_factory=list)
    # Open to clients before they are let through (e.g. the regency's own sites): by address,
    # and by name (the addresses the gateway's DNS answers for them, for as long as the answer).
    walled_garden: list[IPv4Network] = Field(default_factory=list)
    walled_garden_names: list[DomainPattern] = Field(default_factory=list)
    # Devices let through without the portal (e.g. a kiosk, a camera) and devices refused.
    mac_allow: list[MacAddress] = Field(default_factory=list)
    mac_block: list[MacAddress] = Field(default_factory=list)
    # Phone OTP: the SMS or WhatsApp gateway the portal asks to deliver codes.
    otp: OtpGateway | None = None
    # Username and password logins checked by a RADIUS server (PAP).
    radius: Radius | None = None


class MonitoringTarget(Model):
    """A device polled by the monitor, usually a remote site's router or modem."""

    name: Slug
    address: IPv4Address
    site: Slug | None = None
    snmp: Snmp = Snmp()
    # A device profile of monitoring/profiles (generic, idirect, newtec, ...), and the row of
    # its tables this device is (e.g. an iDirect remote's DID on the hub's proxy).
    profile: Slug = "generic"
    index: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[0-9.]+$")
    # ICMP echo probes (RTT, loss, jitter) besides SNMP.
    probe: bool = True


class Probe(Model):
    """ICMP echo probes each interval: `count` requests `spacing_ms` apart, each answered
    within `timeout_s` or lost."""

    count: Annotated[int, Field(ge=1, le=50)] = 5
    spacing_ms: Annotated[int, Field(ge=10, le=5000)] = 200
    timeout_s: Annotated[float, Field(ge=0.5, le=30)] = 4.0


class Alerting(Model):
    """When a link is in trouble, relative to its own normal (its baseline: the median RTT of
    the last `baseline_days`), and how sure the monitor must be before it says so."""

    baseline_days: Annotated[int, Field(ge=1, le=60)] = 7
    rtt_warning_factor: Annotated[float, Field(gt=1, le=20)] = 1.5
    rtt_critical_factor: Annotated[float, Field(gt=1, le=50)] = 3.0
    loss_warning_percent: Annotated[float, Field(gt=0, le=100)] = 10
    loss_critical_percent: Annotated[float, Field(gt=0, le=100)] = 40
    # Cycles in a row before a state is raised, and before it clears (hysteresis).
    confirm_cycles: Annotated[int, Field(ge=1, le=30)] = 3
    clear_cycles: Annotated[int, Field(ge=1, le=30)] = 2
    # The operator's SLA refunds outages longer than this that are not power cuts.
    sla_outage_s: Annotated[int, Field(ge=1, le=86_400)] = 300

    @model_validator(mode="after")
    def _ordered(self) -> Alerting:
        if self.rtt_critical_factor <= self.rtt_warning_factor:
            raise ValueError("rtt_critical_factor must be above rtt_warning_factor")
        if self.loss_critical_percent <= self.loss_warning_percent:
            raise ValueError("loss_critical_percent must be above loss_warning_percent")
        return self


class Email(Model):
    """Alert mail through an SMTP relay."""

    host: Hostname | IPv4Address
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username: str | None = Field(default=None, min_length=1, max_length=120)
    password_file: str | None = Field(default=None, min_length=1, max_length=400)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)
    recipients: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)]] = Field(
        min_length=1
    )


class Webhook(Model):
    """Alerts POSTed as JSON: Simpul's own document, or a Telegram bot's sendMessage body."""

    name: Slug
    url: HttpUrl
    format: Literal["json", "telegram"] = "json"
    chat_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _telegram_needs_a_chat(self) -> Webhook:
        if self.format == "telegram" and self.chat_id is None:
            raise ValueError("a telegram webhook needs chat_id")
        return self


class Maintenance(Model):
    """A planned window when a target's (or a whole site's) trouble raises no alert and does
    not count against the SLA."""

    target: Slug | None = None
    site: Slug | None = None
    start: datetime
    end: datetime
    reason: str = Field(min_length=2, max_length=200)

    @model_validator(mode="after")
    def _what_and_when(self) -> Maintenance:
        if (self.target is None) == (self.site is None):
            raise ValueError("name either a target or a site")
        if self.end <= self.start:
            raise ValueError("end must come after start")
        return self


class Monitoring(Model):
    """Link monitoring: SNMP polling and ICMP probes every `interval_s`, alerts and channels."""

    interval_s: Annotated[int, Field(ge=5, le=3600)] = 60
    probe: Probe = Probe()
    alerting: Alerting = Alerting()
    email: Email | None = None
    webhooks: list[Webhook] = Field(default_factory=list)
    maintenance: list[Maintenance] = Field(default_factory=list)
    targets: list[MonitoringTarget] = Field(default_factory=list)


class Conference(Model):
    """Video conferencing (Zoom, Google Meet, the regency's own server) keeps this share of
    the uplinks under load, ahead of other traffic, so a Musrenbang over V-Sat stays usable."""

    # Zoom's media ports, Google Meet's, and STUN/TURN (Teams, WebRTC).
    ports: list[PortSpec] = Field(
        default_factory=lambda: ["udp/8801-8810", "udp/19302-19309", "udp/3478-3481"]
    )
    addresses: list[IPv4Network] = Field(default_factory=list)
    share_percent: Annotated[int, Field(ge=1, le=90)] = 20


class Qos(Model):
    """Bandwidth sharing between OPDs (their guarantees and caps are on each OPD)."""

    conference: Conference | None = Conference()


class Resolver(Model):
    """The gateway's caching resolver (Unbound): recursive by default, or via forwarders."""

    forwarders: list[IPv4Address] = Field(default_factory=list)


class Privacy(Model):
    """How long the node keeps what it records about citizens (UU 27/2022)."""

    session_days: Annotated[int, Field(ge=1, le=3650)] = 90


class Retention(Model):
    """Days each accounting rollup level is kept (vnStat keeps 5-minute data 2 days, hourly 4,
    daily 62, monthly 25 months; hourly here covers a month's report, e.g. its peak hour)."""

    five_minute_days: Annotated[int, Field(ge=1, le=31)] = 2
    hourly_days: Annotated[int, Field(ge=1, le=400)] = 62
    daily_days: Annotated[int, Field(ge=7, le=3660)] = 400
    monthly_days: Annotated[int, Field(ge=62, le=7320)] = 1830
    # Per-device rows (a citizen's phone) at any level, for privacy (UU 27/2022).
    client_days: Annotated[int, Field(ge=1, le=3660)] = 62


class Accounting(Model):
    """How often netd reads the kernel's counters, and how long the rollups are kept."""

    interval_s: Annotated[int, Field(ge=5, le=600)] = 30
    retention: Retention = Retention()


class InfluxExport(Model):
    """An InfluxDB v2 API (InfluxDB 2.x/3.x, VictoriaMetrics) that gets the node's figures."""

    url: HttpUrl
    org: str = Field(min_length=1, max_length=120)
    bucket: str = Field(min_length=1, max_length=120)
    # The token itself, or (better: kept out of exported configuration) a file holding it.
    token: str = Field(default="", max_length=400)
    token_file: str | None = Field(default=None, min_length=1, max_length=400)
    batch_size: Annotated[int, Field(ge=1, le=50_000)] = 5000
    flush_interval_s: Annotated[int, Field(ge=1, le=3600)] = 10
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0

    @model_validator(mode="after")
    def _one_token(self) -> InfluxExport:
        if self.token and self.token_file:
            raise ValueError("give either token or token_file, not both")
        return self


class Export(Model):
    """Where the node's figures go: InfluxDB (spooled on disk through outages), Prometheus."""

    influx: InfluxExport | None = None
    # Bound of the on-disk spool that keeps points while the server is unreachable; when it
    # is reached the oldest points are dropped, and counted.
    spool_mb: Annotated[int, Field(ge=1, le=100_000)] = 256
    # host:port of the Prometheus text endpoint (management side), or None for none.
    prometheus_listen: str | None = Field(default="127.0.0.1:9469", pattern=r"^[0-9.]+:[0-9]{1,5}$")


class Admin(Model):
    """A person who signs in to the admin console (password hashes only, never passwords)."""

    username: Annotated[str, Field(pattern=r"^[a-z][a-z0-9._-]{1,31}$")]
    name: str = ""
    role: Literal["admin", "operator", "reviewer"] = "reviewer"
    password_hash: str | None = None


class Config(Model):
    """A whole node: what `simpul config import` takes and what `render` turns into a ruleset."""

    node: Node
    uplinks: list[Uplink] = Field(min_length=1)
    zones: Zones
    opds: list[Opd] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    hotspot_sites: list[HotspotSite] = Field(default_factory=list)
    remote_sites: list[RemoteSite] = Field(default_factory=list)
    policies: list[Policy] = Field(default_factory=list)
    schedules: list[Schedule] = Field(default_factory=list)
    filtering: Filtering = Filtering()
    qos: Qos = Qos()
    resolver: Resolver = Resolver()
    privacy: Privacy = Privacy()
    portal: Portal = Portal()
    monitoring: Monitoring = Monitoring()
    accounting: Accounting = Accounting()
    export: Export = Export()
    admins: list[Admin] = Field(default_factory=list)

    @property
    def portal_address(self) -> IPv4Address | None:
        """Where the portal's hostname points: `portal.address`, else the first hotspot gateway."""
        if self.portal.address is not None:
            return self.portal.address
        return self.hotspot_sites[0].gateway_address.ip if self.hotspot_sites else None

    @property
    def portal_api_url(self) -> str:
        """The RFC 8908 API's URI, given to clients in DHCP option 114 (RFC 8910)."""
        port = "" if self.portal.https_port == 443 else f":{self.portal.https_port}"
        return f"https://{self.portal.hostname}{port}/api/captive"

    def site_of(self, address: IPv4Address) -> HotspotSite | None:
        """The hotspot site whose subnet holds `address`."""
        for site in self.hotspot_sites:
            if address in site.subnet:
                return site
        return None

    def opd(self, slug: str) -> Opd:
        """The OPD with this slug (KeyError if none)."""
        for opd in self.opds:
            if opd.slug == slug:
                return opd
        raise KeyError(slug)

    def site(self, slug: str) -> HotspotSite:
        """The hotspot site with this slug (KeyError if none)."""
        for site in self.hotspot_sites:
            if site.slug == slug:
                return site
        raise KeyError(slug)
