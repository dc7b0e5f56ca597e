"""netd's API methods over a temporary store and a recording fake kernel, and its request parsing.

No root, no nftables: `FakeKernel` has the methods of `netctl.apply.Kernel`, renders with the real
(pure) renderer, records every call, and raises `NftError` for the methods told to refuse.
`FakeShaper` has the methods of `netctl.netlink.Shaper` (tc HTB classes), keeps the classes it
was given and records every call. `Neighbours` stands in for the gateway's ARP table (netd's
`mac_of`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netctl.apply import ClientCounters, Kernel
from netctl.bandwidth import FIRST_OPD_MINOR
from netctl.dhcp import render_dnsmasq
from netctl.libnft import NftError
from netctl.netd import (
    DNS_METHODS,
    FORGET_INTERVAL_S,
    READ_METHODS,
    SECRET_METHODS,
    Netd,
    RequestError,
    Server,
    _permitted,
)
from netctl.protocol import encode
from netctl.render import Client, LiveState, Rendered, build_ruleset, render
from simpul import pseudonyms
from simpul.config import Config, config_to_data, load_config_file, parse_config
from simpul.filtering.addresses import doh_networks
from simpul.store import FIRST_CLASS_ID, Store
from tests.unit.fake_clock import T0, Clock

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))
MAC = "02:5e:00:01:01:01"
IP = "10.40.1.50"


def if_stats(interface: str) -> dict[str, int]:
    """The fixed statistics FakeKernel reports for an uplink `wan<n>` (distinct per interface)."""
    n = int(interface.removeprefix("wan")) + 1
    return {
        "rx_bytes": 1_000_000 * n,
        "tx_bytes": 200_000 * n,
        "rx_packets": 1_000 * n,
        "tx_packets": 300 * n,
    }


class FakeKernel:
    """Records calls; `refuse` names methods that raise NftError like libnftables does."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse: set[str] = set()
        self.objects: list[dict[str, Any]] = []
        self.named: dict[str, tuple[int, int]] = {}
        self.per_client: list[ClientCounters] = []
        self.absent: set[str] = set()  # interfaces the kernel has no statistics for
        # What idle_ips() answers; None: like the kernel, every address given an idle element
        # (by authorize or apply) and not deauthorized since.
        self.seen: set[str] | None = None
        self.idle: set[str] = set()

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.refuse:
            raise NftError("Error: Could not process rule: Operation not permitted\n")

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == name]

    def forget_redirected(self, ips: set[str]) -> int:
        self._record("forget_redirected", set(ips))
        return 0

    def learn_garden(self, addresses: list[str], ttl_s: int) -> None:
        if addresses:
            self._record("learn_garden", list(addresses), ttl_s)

    def forget_garden(self, addresses: list[str]) -> None:
        self._record("forget_garden", list(addresses))

    def cut_connections(self, subnet: Any, addresses: Any) -> int:
        self._record("cut_connections", str(subnet), sorted(addresses))
        return len(addresses)

    def table(self, *, elements: bool = True) -> list[dict[str, Any]]:
        self._record("table", elements)
        return list(self.objects)

    def apply(
        self,
        config: Config,
        clients: Any,
        now: float,
        *,
        check_only: bool = False,
        doh: Any = (),
    ) -> Rendered:
        clients = tuple(clients)
        self._record("apply", clients, now, check_only)
        if not check_only:  # the idle set is refilled from the store's clients
            self.idle = {c.ip for c in clients if c.idle_s and c.expires_at > now}
        return render(config, LiveState(now=now, clients=clients), doh)

    def authorize(self, clients: Any, now: float) -> None:
        clients = tuple(clients)
        self._record("authorize", clients, now)
        self.idle |= {c.ip for c in clients if c.idle_s}

    def deauthorize(self, clients: Any) -> None:
        clients = tuple(clients)
        self._record("deauthorize", clients)
        self.idle -= {c.ip for c in clients}

    def idle_ips(self) -> set[str]:
        self._record("idle_ips")
        return set(self.idle if self.seen is None else self.seen)

    def counters(self) -> dict[str, tuple[int, int]]:
        self._record("counters")
        return dict(self.named)

    def client_counters(self) -> list[ClientCounters]:
        self._record("client_counters")
        return list(self.per_client)

    def client_counter(self, mac: str, ip: str) -> ClientCounters | None:
        """The one client's counters from `per_client`; None if absent (or refused, as the real
        kernel answers when an element is missing)."""
        try:
            self._record("client_counter", mac, ip)
        except NftError:
            return None
        return next((c for c in self.per_client if (c.mac, c.ip) == (mac, ip)), None)

    def interface_counters(self, interfaces: Iterable[str]) -> dict[str, dict[str, int]]:
        """Fixed statistics for each interface asked about, except those in `absent`."""
        interfaces = tuple(interfaces)
        self._record("interface_counters", interfaces)
        return {name: if_stats(name) for name in interfaces if name not in self.absent}


class FakeShaper:
    """HTB classes per device as `netctl.netlink.Shaper` keeps them; `fail` names methods that
    raise OSError like the real one does when tc refuses."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: set[str] = set()
        self.roots: dict[str, int | None] = {}
        self.classes: dict[str, dict[int, int]] = {}  # device -> minor -> rate (kbit/s)
        self.links: set[str] = set()  # IFB devices
        self.redirects: dict[str, str] = {}  # device -> the IFB its egress goes through

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise OSError(1, f"tc: {name}: Operation not permitted")

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == name]

    def ensure_root(self, device: str, rate_kbit: int | None) -> None:
        self._record("ensure_root", device, rate_kbit)
        self.roots[device] = rate_kbit

    def remove_root(self, device: str) -> None:
        self._record("remove_root", device)

    def set_client(self, device: str, minor: int, rate_kbit: int) -> None:
        self._record("set_client", device, minor, rate_kbit)
        self.classes.setdefault(device, {})[minor] = rate_kbit

    def remove_client(self, device: str, minor: int) -> None:
        self._record("remove_client", device, minor)
        self.classes.get(device, {}).pop(minor, None)

    def client_minors(self, device: str) -> set[int]:
        self._record("client_minors", device)
        return {m for m in self.classes.get(device, {}) if m < FIRST_OPD_MINOR}

    def minors(self, device: str) -> set[int]:
        self._record("minors", device)
        return set(self.classes.get(device, {}))

    def set_class(self, device: str, minor: int, rate: int, ceil: int, prio: int) -> None:
        self._record("set_class", device, minor, rate, ceil, prio)
        self.classes.setdefault(device, {})[minor] = rate

    def ensure_ifb(self, name: str, rate_kbit: int) -> None:
        self._record("ensure_ifb", name, rate_kbit)
        self.links.add(name)
        self.roots[name] = rate_kbit

    def remove_link(self, name: str) -> None:
        self._record("remove_link", name)
        self.links.discard(name)

    def redirect_egress(self, device: str, ifb: str) -> None:
        self._record("redirect_egress", device, ifb)
        self.redirects[device] = ifb

    def stop_redirect(self, device: str) -> None:
        self._record("stop_redirect", device)
        self.redirects.pop(device, None)


def client_classes(shaper: FakeShaper) -> dict[str, dict[int, int]]:
    """The hotspot clients' classes (not the OPDs' or conferencing's) per device."""
    return {
        device: {m: r for m, r in classes.items() if m < FIRST_OPD_MINOR}
        for device, classes in shaper.classes.items()
        if device != "simpul-down"
    }


class Neighbours:
    """The gateway's neighbour table as netd sees it: IP -> MAC; records every lookup."""

    def __init__(self) -> None:
        self.table: dict[str, str] = {}
        self.asked: list[str] = []

    def __call__(self, ip: str) -> str | None:
        self.asked.append(ip)
        return self.table.get(ip)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def neighbours() -> Neighbours:
    return Neighbours()


@pytest.fixture
def kernel() -> FakeKernel:
    return FakeKernel()


@pytest.fixture
def shaper() -> FakeShaper:
    return FakeShaper()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store(str(tmp_path / "simpul.db"), clock=clock) as s:
        yield s


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "netd"
    path.mkdir()
    return path


@pytest.fixture
def bare(
    store: Store,
    kernel: FakeKernel,
    state_dir: Path,
    clock: Clock,
    neighbours: Neighbours,
    shaper: FakeShaper,
) -> Netd:
    """netd over a store without configuration."""
    return Netd(  # type: ignore[arg-type]
        store,
        kernel,
        str(state_dir),
        clock=clock,
        mac_of=neighbours,
        forget_redirected=kernel.forget_redirected,
        cut_connections=kernel.cut_connections,
        shaper=shaper,
        run_later=lambda work: work(),  # at once, so tests see it
    )


@pytest.fixture
def netd(bare: Netd, store: Store) -> Netd:
    """netd over a store holding examples/lab.yaml."""
    store.import_config(LAB, actor="test")
    return bare


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(RequestError) as exc:
        call(*args)
    return exc.value.code


# --------------------------------------------------------------------------------------------
# authorize


def test_authorize_opens_a_session_and_tells_the_kernel(
    netd: Netd, store: Store, kernel: FakeKernel, clock: Clock
) -> None:
    result = netd.authorize({"mac": "02-5E-00-01-01-01", "ip": IP, "minutes": 30})
    expires = T0 + 30 * 60
    assert result == {"mac": MAC, "ip": IP, "site": "rtm-lam", "expires_at": expires}
    (session,) = store.active_sessions()
    assert (session.mac, session.ip, session.site, session.method) == (MAC, IP, "rtm-lam", "admin")
    assert (session.started_at, session.expires_at) == (T0, expires)
    assert session.class_id == FIRST_CLASS_ID  # the lab's sites limit every device
    # the kernel gets the site's idle time (15 minutes by default) and the client's class
    client = Client(MAC, IP, expires, idle_s=900, class_id=FIRST_CLASS_ID)
    assert kernel.called("authorize") == [((client,), clock.now)]


def test_authorize_defaults_to_the_portal_session(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    result = netd.authorize({"mac": MAC, "ip": "10.40.2.20", "method": "portal"})
    assert result["site"] == "taman-cik-puan"
    assert result["expires_at"] == T0 + LAB.hotspot_sites[0].access.session_minutes * 60
    assert store.active_sessions()[0].method == "portal"
    ((clients, _now),) = kernel.called("authorize")
    assert clients[0].expires_at == result["expires_at"]


@pytest.mark.parametrize(
    "params",
    [
        {"mac": "ff:ff:ff:ff:ff:ff", "ip": IP},
        {"mac": "00:00:00:00:00:00", "ip": IP},
        {"mac": "nonsense", "ip": IP},
        {"mac": MAC},
        {"mac": MAC, "ip": ""},
        {},
        {"ip": "not-an-ip"},
        {"mac": "", "ip": "not-an-ip"},
        {"mac": None, "ip": "10.40.1.500"},
        {"mac": MAC, "ip": "10.20.2.50"},  # an OPD, not a hotspot
        {"mac": MAC, "ip": "10.40.3.10"},  # no site there
        {"mac": MAC, "ip": "10.40.1.1"},  # the gateway
        {"mac": MAC, "ip": "10.40.1.255"},
        {"mac": MAC, "ip": "not-an-ip"},
        {"mac": MAC, "ip": IP, "minutes": 0},
        {"mac": MAC, "ip": IP, "minutes": 7 * 24 * 60 + 1},
        {"mac": MAC, "ip": IP, "minutes": "soon"},
        {"mac": MAC, "ip": IP, "minutes": True},
    ],
)
def test_authorize_validates_input(
    netd: Netd, store: Store, kernel: FakeKernel, params: dict[str, Any]
) -> None:
    assert code_of(netd.authorize, params) == "invalid"
    assert store.active_sessions() == []
    assert kernel.calls == []


def test_authorize_validates_before_asking_the_neighbour_table(
    netd: Netd, neighbours: Neighbours
) -> None:
    for params in ({}, {"ip": "not-an-ip"}, {"mac": "", "ip": "x"}):
        assert code_of(netd.authorize, params) == "invalid"
    assert neighbours.asked == []


@pytest.mark.parametrize("mac", [None, ""])
def test_authorize_without_mac_takes_the_neighbours_mac(
    netd: Netd,
    store: Store,
    kernel: FakeKernel,
    neighbours: Neighbours,
    clock: Clock,
    mac: str | None,
) -> None:
    """The portal's way: it only knows the TCP peer's address; netd finds the MAC itself."""
    neighbours.table = {IP: MAC, "10.40.1.51": "02:5e:00:01:01:02"}
    params: dict[str, Any] = {"ip": IP, "method": "portal", "minutes": 30}
    if mac is not None:
        params["mac"] = mac
    result = netd.authorize(params)
    assert result == {"mac": MAC, "ip": IP, "site": "rtm-lam", "expires_at": T0 + 30 * 60}
    assert neighbours.asked == [IP]
    (session,) = store.active_sessions()
    assert (session.mac, session.ip, session.method) == (MAC, IP, "portal")
    client = Client(MAC, IP, T0 + 30 * 60, 900, FIRST_CLASS_ID)
    assert kernel.called("authorize") == [((client,), clock.now)]


def test_authorize_without_mac_normalises_the_ip_it_looks_up(
    netd: Netd, neighbours: Neighbours
) -> None:
    neighbours.table = {IP: MAC}
    assert netd.authorize({"ip": f" {IP} "})["mac"] == MAC
    assert neighbours.asked == [IP]


@pytest.mark.parametrize(
    "table",
    [{}, {"10.40.1.51": MAC}],  # nobody there, or only another address
    ids=["empty", "other-ip"],
)
def test_authorize_unknown_client(
    netd: Netd, store: Store, kernel: FakeKernel, neighbours: Neighbours, table: dict[str, str]
) -> None:
    neighbours.table = table
    with pytest.raises(RequestError) as exc:
        netd.authorize({"ip": IP, "method": "portal"})
    assert exc.value.code == "unknown-client"
    assert IP in str(exc.value)
    assert neighbours.asked == [IP]
    assert store.active_sessions() == []
    assert kernel.calls == []


@pytest.mark.parametrize(
    ("ip", "code"),
    [
        ("10.20.2.50", "invalid"),  # an OPD client with a known MAC: still not a hotspot client
        ("10.40.1.1", "invalid"),  # the gateway itself
        ("10.40.3.10", "invalid"),  # no site there
    ],
)
def test_authorize_without_mac_still_checks_the_site(
    netd: Netd, store: Store, kernel: FakeKernel, neighbours: Neighbours, ip: str, code: str
) -> None:
    neighbours.table = {ip: MAC}
    assert code_of(netd.authorize, {"ip": ip}) == code
    assert store.active_sessions() == []
    assert kernel.calls == []


def test_authorize_uses_a_given_mac_as_is(
    netd: Netd, store: Store, kernel: FakeKernel, neighbours: Neighbours
) -> None:
    """An administrator's MAC wins, even against the neighbour table; it is not consulted."""
    neighbours.table = {IP: "02:5e:00:09:09:09"}
    result = netd.authorize({"mac": "02-5E-00-01-01-01", "ip": IP})
    assert result["mac"] == MAC
    assert neighbours.asked == []
    assert [s.mac for s in store.active_sessions()] == [MAC]
    assert code_of(netd.authorize, {"mac": "nonsense", "ip": IP}) == "invalid"
    assert neighbours.asked == []


def test_authorize_rejects_infinite_minutes(netd: Netd, kernel: FakeKernel) -> None:
    assert code_of(netd.authorize, {"mac": MAC, "ip": IP, "minutes": float("inf")}) == "invalid"
    assert kernel.calls == []


def test_authorize_kernel_refusal_ends_the_session(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    kernel.refuse.add("authorize")
    with pytest.raises(RequestError) as exc:
        netd.authorize({"mac": MAC, "ip": IP})
    assert exc.value.code == "kernel-refused"
    assert "Operation not permitted" in str(exc.value)
    assert store.active_sessions() == []
    row = store.db.execute("SELECT ended_at, end_reason FROM session").fetchone()
    assert (row["ended_at"], row["end_reason"]) == (T0, "kernel-refused")
    assert len(kernel.called("authorize")) == 1


def test_authorize_without_config(bare: Netd, kernel: FakeKernel) -> None:
    assert code_of(bare.authorize, {"mac": MAC, "ip": IP}) == "no-config"
    assert kernel.calls == []


# --------------------------------------------------------------------------------------------
# deauthorize


def test_deauthorize_ends_the_session(
    netd: Netd, store: Store, kernel: FakeKernel, clock: Clock
) -> None:
    netd.authorize({"mac": MAC, "ip": IP})
    clock.now += 60
    assert netd.deauthorize({"mac": MAC.upper(), "ip": IP, "reason": "logout"}) == {"ended": True}
    assert store.active_sessions() == []
    row = store.db.execute("SELECT ended_at, end_reason FROM session").fetchone()
    assert (row["ended_at"], row["end_reason"]) == (clock.now, "logout")
    assert kernel.called("deauthorize") == [((Client(MAC, IP, 0),),)]


def test_deauthorize_unknown_client_still_clears_the_kernel(netd: Netd, kernel: FakeKernel) -> None:
    assert netd.deauthorize({"mac": MAC, "ip": IP}) == {"ended": False}
    assert kernel.called("deauthorize") == [((Client(MAC, IP, 0),),)]


def test_deauthorize_validates_the_mac(netd: Netd, kernel: FakeKernel) -> None:
    assert code_of(netd.deauthorize, {"mac": "01:00:5e:00:00:01", "ip": IP}) == "invalid"
    assert kernel.calls == []


@pytest.mark.parametrize("ip", ["not-an-ip", ""])
def test_deauthorize_validates_the_ip(netd: Netd, kernel: FakeKernel, ip: str) -> None:
    assert code_of(netd.deauthorize, {"mac": MAC, "ip": ip}) == "invalid"
    assert kernel.calls == []


# --------------------------------------------------------------------------------------------
# logout (the portal's button: it knows only the client's address)


def test_logout_ends_the_session_of_that_ip(
    netd: Netd, store: Store, kernel: FakeKernel, clock: Clock
) -> None:
    other = "02:5e:00:01:01:02"
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": other, "ip": "10.40.1.51"})
    kernel.calls.clear()
    clock.now += 60
    assert netd.logout({"ip": IP, "_actor": "portal"}) == {"ended": True}
    assert [(s.mac, s.ip) for s in store.active_sessions()] == [(other, "10.40.1.51")]
    row = store.db.execute(
        "SELECT ended_at, end_reason FROM session WHERE ip = ?", (IP,)
    ).fetchone()
    assert (row["ended_at"], row["end_reason"]) == (clock.now, "logout")
    assert kernel.calls == [("deauthorize", (Client(MAC, IP, 0),))]
    entry = store.audit_log(1)[0]
    assert (entry["actor"], entry["action"]) == ("portal", "client.deny")
    # The audit log outlives sessions: it names the device by its keyed pseudonym only.
    device = pseudonyms.device(netd.secret, MAC)
    assert json.loads(entry["detail"]) == {"device": device, "reason": "logout"}
    assert MAC not in entry["detail"] and IP not in entry["detail"]
    assert device.startswith("dev-") and len(device) == 16


def test_logout_reason_is_always_logout(netd: Netd, store: Store) -> None:
    netd.authorize({"mac": MAC, "ip": IP})
    assert netd.logout({"ip": IP, "reason": "admin", "mac": "02:5e:00:09:09:09"}) == {"ended": True}
    row = store.db.execute("SELECT mac, end_reason FROM session").fetchone()
    assert (row["mac"], row["end_reason"]) == (MAC, "logout")


def test_a_new_device_on_an_address_ends_the_old_devices_session(
    netd: Netd, store: Store, kernel: FakeKernel, clock: Clock
) -> None:
    """An address belongs to one device at a time (DHCP gave it to the new one)."""
    other = "02:5e:00:01:01:02"
    netd.authorize({"mac": MAC, "ip": IP})
    clock.now += 1
    kernel.calls.clear()
    netd.authorize({"mac": other, "ip": IP})
    assert [s.mac for s in store.active_sessions()] == [other]
    assert ((Client(MAC, IP, 0),),) in kernel.called("deauthorize")
    assert netd.logout({"ip": IP}) == {"ended": True}
    assert store.active_sessions() == []


@pytest.mark.parametrize("minutes_later", [None, 30])  # never authorized; expired
def test_logout_without_a_session(
    netd: Netd, store: Store, kernel: FakeKernel, clock: Clock, minutes_later: int | None
) -> None:
    if minutes_later is not None:
        netd.authorize({"mac": MAC, "ip": IP, "minutes": minutes_later})
        clock.now += minutes_later * 60
        kernel.calls.clear()
    assert netd.logout({"ip": IP}) == {"ended": False}
    assert kernel.calls == []


def test_logout_after_logout(netd: Netd, kernel: FakeKernel) -> None:
    netd.authorize({"mac": MAC, "ip": IP})
    assert netd.logout({"ip": IP}) == {"ended": True}
    assert netd.logout({"ip": IP}) == {"ended": False}
    assert len(kernel.called("deauthorize")) == 1


@pytest.mark.parametrize("params", [{}, {"ip": ""}, {"ip": "not-an-ip"}, {"mac": MAC}])
def test_logout_validates_the_ip(
    netd: Netd, store: Store, kernel: FakeKernel, params: dict[str, Any]
) -> None:
    netd.authorize({"mac": MAC, "ip": IP})
    kernel.calls.clear()
    assert code_of(netd.logout, params) == "invalid"
    assert kernel.calls == []
    assert len(store.active_sessions()) == 1


# --------------------------------------------------------------------------------------------
# whois (what the portal shows a client about itself)


def whois_session(
    started: float, expires: float, remaining: int, up: int, down: int, method: str = "portal"
) -> dict[str, Any]:
    return {
        "started_at": started,
        "expires_at": expires,
        "seconds_remaining": remaining,
        "up_bytes": up,
        "down_bytes": down,
        "method": method,
    }


OTHER_MAC = "02:5e:00:01:01:02"
COUNTED = ClientCounters(MAC, IP, 1_000, 10, 250_000, 200, 3500)


@pytest.mark.parametrize(
    ("neighbour", "session", "in_kernel", "authorized", "expected_session"),
    [
        # no session at all: only the site and the neighbour's MAC
        (MAC, False, False, False, None),
        (None, False, False, False, None),
        # a session, the same MAC at that address, the kernel lets it through
        (MAC, True, True, True, whois_session(T0, T0 + 3600, 3540, 1_000, 250_000)),
        # the neighbour table does not know the client (yet): the session still counts
        (None, True, True, True, whois_session(T0, T0 + 3600, 3540, 1_000, 250_000)),
        # another device holds the address now: the session is not this client's
        (OTHER_MAC, True, True, False, None),
        # the session is in the store, but the kernel has no element (e.g. before an apply)
        (MAC, True, False, False, whois_session(T0, T0 + 3600, 3540, 0, 0)),
    ],
    ids=[
        "nothing",
        "nothing-unknown",
        "authorized",
        "neighbour-unknown",
        "other-mac",
        "not-in-kernel",
    ],
)
def test_whois(
    netd: Netd,
    kernel: FakeKernel,
    neighbours: Neighbours,
    clock: Clock,
    neighbour: str | None,
    session: bool,
    in_kernel: bool,
    authorized: bool,
    expected_session: dict[str, Any] | None,
) -> None:
    if session:
        netd.authorize({"mac": MAC, "ip": IP, "minutes": 60, "method": "portal"})
    if in_kernel:
        kernel.per_client = [COUNTED]
    if neighbour is not None:
        neighbours.table = {IP: neighbour}
    kernel.calls.clear()
    clock.now += 60
    assert netd.whois({"ip": IP}) == {
        "ip": IP,
        "site": "rtm-lam",
        "mac": neighbour,
        "authorized": authorized,
        "session": expected_session,
    }
    assert neighbours.asked == [IP]
    asked_kernel = session and neighbour in (None, MAC)
    assert kernel.calls == ([("client_counter", MAC, IP)] if asked_kernel else [])


def test_whois_counts_down_with_the_clock(
    netd: Netd, kernel: FakeKernel, neighbours: Neighbours, clock: Clock
) -> None:
    neighbours.table = {IP: MAC}
    kernel.per_client = [COUNTED]
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 10})
    remaining = []
    for seconds in (0, 0.4, 1, 599.5, 600, 700):
        clock.now = T0 + seconds
        info = netd.whois({"ip": IP})
        remaining.append(info["session"]["seconds_remaining"] if info["session"] else None)
    # whole seconds left, rounded down; once expired the session is gone
    assert remaining == [600, 599, 599, 0, None, None]


def test_whois_reads_only_that_clients_counters(
    netd: Netd, kernel: FakeKernel, neighbours: Neighbours
) -> None:
    neighbours.table = {IP: MAC, "10.40.1.51": OTHER_MAC}
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": OTHER_MAC, "ip": "10.40.1.51"})
    kernel.per_client = [
        ClientCounters(OTHER_MAC, "10.40.1.51", 5, 1, 6, 1, 100),
        ClientCounters(MAC, "10.40.1.51", 7, 1, 8, 1, 100),  # another pair on that address
        COUNTED,
    ]
    kernel.calls.clear()
    info = netd.whois({"ip": "10.40.1.51"})
    assert info["authorized"] is True
    assert (info["session"]["up_bytes"], info["session"]["down_bytes"]) == (5, 6)
    assert kernel.calls == [("client_counter", OTHER_MAC, "10.40.1.51")]  # never the full list


@pytest.mark.parametrize(
    ("ip", "site"),
    [
        ("10.40.2.20", "taman-cik-puan"),
        (" 10.40.1.77 ", "rtm-lam"),
        ("10.40.1.1", "rtm-lam"),
        ("10.40.3.10", None),
        ("10.20.2.50", None),  # an OPD
        ("192.0.2.7", None),
    ],
)
def test_whois_site(netd: Netd, neighbours: Neighbours, ip: str, site: str | None) -> None:
    info = netd.whois({"ip": ip})
    assert (info["ip"], info["site"]) == (ip.strip(), site)
    assert (info["authorized"], info["session"], info["mac"]) == (False, None, None)
    assert neighbours.asked == [ip.strip()]


@pytest.mark.parametrize("params", [{}, {"ip": ""}, {"ip": "10.40.1"}, {"mac": MAC}])
def test_whois_validates_the_ip(
    netd: Netd, kernel: FakeKernel, neighbours: Neighbours, params: dict[str, Any]
) -> None:
    assert code_of(netd.whois, params) == "invalid"
    assert kernel.calls == [] and neighbours.asked == []


def test_whois_without_config(bare: Netd) -> None:
    assert code_of(bare.whois, {"ip": IP}) == "no-config"


# --------------------------------------------------------------------------------------------
# portal_config (what the captive portal needs to know)


def test_portal_config(netd: Netd) -> None:
    result = netd.portal_config({})
    assert result == {
        "regency": "Kabupaten Kepulauan Meranti",
        "hostname": "portal.wifi.merantikab.go.id",
        "address": "10.40.1.1",
        "http_port": 80,
        "https_port": 443,
        "news_url": "https://merantikab.go.id/",
        "video_seconds": 30,
        "videos": [
            {
                "file": "meranti-info.webm",
                "poster": "meranti-info.jpg",
                "title": "Info Kabupaten Kepulauan Meranti",
            }
        ],
        "otp": {
            "url": "http://198.51.100.70:8025/send",
            "token": "lab-token",
            "channel": "sms",
            "code_minutes": 5,
        },
        "radius": {
            "server": "203.0.113.20",
            "port": 1812,
            "secret": "lab-radius-secret",
            "nas_identifier": "meranti-pusat",
            "timeout_s": 3.0,
            "tries": 2,
        },
        "retention_days": 90,
        "sites": {
            "rtm-lam": {
                "name": "RTM LAM Selatpanjang",
                "kecamatan": "Tebing Tinggi",
                "methods": ["video"],
            },
            "taman-cik-puan": {
                "name": "Taman Cik Puan",
                "kecamatan": "Tebing Tinggi",
                "methods": ["video"],
            },
        },
        # For the block page: where to ask why, and which clients are OPD staff.
        "dns_socket": os.path.join(netd.state_dir, "dnsd", "control.sock"),
        "opd_subnets": {o.slug: str(o.subnet) for o in LAB.opds},
    }
    json.dumps(result)  # it crosses the socket as JSON


def with_portal(store: Store, change: Any) -> None:
    data = config_to_data(LAB)
    change(data)
    store.import_config(parse_config(data), actor="test", replace=True)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["portal"].update(
                address="10.40.2.1", http_port=8080, https_port=8443, videos=[], video_seconds=0
            ),
            {
                "address": "10.40.2.1",
                "http_port": 8080,
                "https_port": 8443,
                "videos": [],
                "video_seconds": 0,
            },
        ),
        (
            lambda d: d["portal"]["videos"].insert(0, {"file": "baru.mp4", "title": "Baru"}),
            {
                "videos": [
                    {"file": "baru.mp4", "poster": None, "title": "Baru"},
                    {
                        "file": "meranti-info.webm",
                        "poster": "meranti-info.jpg",
                        "title": "Info Kabupaten Kepulauan Meranti",
                    },
                ]
            },
        ),
        (lambda d: d.update(hotspot_sites=[]), {"address": None, "sites": {}}),
    ],
    ids=["settings", "videos-in-order", "no-hotspot"],
)
def test_portal_config_follows_the_stored_config(
    netd: Netd, store: Store, change: Any, expected: dict[str, Any]
) -> None:
    before = netd.portal_config({})
    with_portal(store, change)
    after = netd.portal_config({})
    assert {k: v for k, v in after.items() if before[k] != v} == expected
    assert set(after) == set(before)


def test_portal_config_does_not_leak_the_rest(netd: Netd) -> None:
    text = json.dumps(netd.portal_config({}))
    # OPD subnets are shared (the block page must know OPD clients); their services are not.
    for secret in ("simpul-ro", "10.20.6.10", "wan0", "admin", "walled_garden", "198.51.100.10"):
        assert secret not in text


def test_portal_config_without_config(bare: Netd) -> None:
    assert code_of(bare.portal_config, {}) == "no-config"


# --------------------------------------------------------------------------------------------
# apply and diff


def test_apply_without_config(bare: Netd, kernel: FakeKernel, state_dir: Path) -> None:
    assert code_of(bare.apply, {}) == "no-config"
    assert kernel.calls == []
    assert not (state_dir / "applied.nft").exists()


def test_apply_writes_the_applied_ruleset(
    netd: Netd, store: Store, kernel: FakeKernel, state_dir: Path, clock: Clock
) -> None:
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 10})
    result = netd.apply({"_actor": "alice"})
    expected = build_ruleset(LAB, doh_networks(LAB.filtering))
    assert result["check_only"] is False
    assert result["chains"] == len(expected.chains)
    assert result["counters"] == len(expected.counters)
    assert result["clients"] == 1
    assert (state_dir / "applied.nft").read_text() == expected.document()
    ((clients, now, check_only),) = kernel.called("apply")
    assert clients == (Client(MAC, IP, T0 + 600, 900, FIRST_CLASS_ID),)
    assert (now, check_only) == (clock.now, False)
    assert netd.last_apply is not None and netd.last_apply["at"] == clock.now
    entry = store.audit_log(1)[0]
    assert (entry["actor"], entry["action"]) == ("alice", "ruleset.apply")
    assert json.loads(entry["detail"])["chains"] == len(expected.chains)


def test_apply_check_only_writes_nothing(
    netd: Netd, store: Store, kernel: FakeKernel, state_dir: Path
) -> None:
    result = netd.apply({"check_only": True})
    assert result["check_only"] is True
    assert kernel.called("apply")[0][2] is True
    assert not (state_dir / "applied.nft").exists()
    assert netd.last_apply is None
    assert store.audit_log(1)[0]["action"] == "config.import"


def test_apply_kernel_refusal(netd: Netd, kernel: FakeKernel, state_dir: Path) -> None:
    kernel.refuse.add("apply")
    assert code_of(netd.apply, {}) == "kernel-refused"
    assert not (state_dir / "applied.nft").exists()
    assert netd.last_apply is None


PORTAL_API = "https://portal.wifi.merantikab.go.id/api/captive"


def option_114(text: str) -> list[str]:
    """The configuration's lines that mention DHCP option 114 at all."""
    return [x for x in text.splitlines() if re.search(r"\b114\b", x)]


def test_dnsmasq_config_carries_the_portal_api(tmp_path: Path) -> None:
    """What netd renders for dnsmasq: RFC 8910's option 114 on every hotspot network only."""
    option = f'114,"{LAB.portal_api_url}"'
    assert option == f'114,"{PORTAL_API}"'
    text = render_dnsmasq(
        LAB,
        lease_file=str(tmp_path / "dnsmasq.leases"),
        pid_file=str(tmp_path / "dnsmasq.pid"),
        hotspot_options=[option],
    )
    assert option_114(text) == [
        f'dhcp-option=tag:site_rtm_lam,114,"{PORTAL_API}"',
        f'dhcp-option=tag:site_taman_cik_puan,114,"{PORTAL_API}"',
    ]
    tags = [x.split(",")[0] for x in text.splitlines() if x.startswith("dhcp-range=")]
    assert tags == [  # the OPD networks are served too, without option 114
        "dhcp-range=set:opd_diskominfo",
        "dhcp-range=set:opd_disdik",
        "dhcp-range=set:opd_bkpsdm",
        "dhcp-range=set:site_rtm_lam",
        "dhcp-range=set:site_taman_cik_puan",
    ]


@pytest.mark.parametrize(
    ("portal", "url"),
    [
        ({}, PORTAL_API),
        ({"https_port": 8443}, "https://portal.wifi.merantikab.go.id:8443/api/captive"),
        ({"hostname": "wifi.merantikab.go.id"}, "https://wifi.merantikab.go.id/api/captive"),
    ],
)
def test_apply_configures_the_helpers_with_the_portal(
    store: Store,
    kernel: FakeKernel,
    state_dir: Path,
    clock: Clock,
    neighbours: Neighbours,
    portal: dict[str, Any],
    url: str,
) -> None:
    """netd's own render path, with the helpers' processes replaced by a recorder."""
    data = config_to_data(LAB)
    data["portal"].update(portal)
    config = parse_config(data)
    store.import_config(config, actor="test")
    netd = Netd(  # type: ignore[arg-type]
        store,
        kernel,
        str(state_dir),
        supervise=True,
        clock=clock,
        mac_of=neighbours,
        forget_redirected=kernel.forget_redirected,
        run_later=lambda work: work(),
    )
    written: dict[str, str] = {}

    def record(name: str) -> Any:
        return lambda text: written.__setitem__(name, text)

    for child in netd.children:  # never start dnsmasq or unbound here
        child.configure = record(child.name)  # type: ignore[method-assign]
    netd.apply({})
    assert sorted(written) == ["dnsd", "dnsmasq", "unbound"]
    # Unbound answers only the DNS front end, on loopback.
    assert "    interface: 127.0.0.1" in written["unbound"]
    assert f"    port: {config.filtering.resolver_port}" in written["unbound"]
    dnsd = json.loads(written["dnsd"])
    assert dnsd["port"] == 53 and dnsd["control"].endswith("dnsd/control.sock")
    assert option_114(written["dnsmasq"]) == [
        f'dhcp-option=tag:site_rtm_lam,114,"{url}"',
        f'dhcp-option=tag:site_taman_cik_puan,114,"{url}"',
    ]
    host = config.portal.hostname
    local = [x.strip() for x in written["unbound"].splitlines() if x.strip().startswith("local-")]
    assert local == [f'local-zone: "{host}." static', f'local-data: "{host}. 60 IN A 10.40.1.1"']


def test_diff(netd: Netd, store: Store) -> None:
    before = netd.diff({})
    assert before["changed"] is True  # nothing applied yet
    assert "+table inet simpul {" in before["diff"]

    netd.apply({})
    assert netd.diff({}) == {"changed": False, "diff": ""}

    data = config_to_data(LAB)
    data["opds"][0]["shared_services"] = ["simpeg"]  # diskominfo may now reach SIMPEG
    store.import_config(parse_config(data), actor="alice")
    after = netd.diff({})
    assert after["changed"] is True
    assert after["diff"].startswith("--- applied\n+++ configured\n")
    added = [x for x in after["diff"].splitlines() if x.startswith("+") and "10.20.6.10" in x]
    assert len(added) == 1 and "from_opd_diskominfo" not in added[0]

    netd.apply({})
    assert netd.diff({})["changed"] is False


def test_diff_without_config(bare: Netd) -> None:
    assert code_of(bare.diff, {}) == "no-config"


# --------------------------------------------------------------------------------------------
# housekeeping, status, clients, counters


def test_housekeeping_expires_sessions(
    netd: Netd, store: Store, kernel: FakeKernel, clock: Clock
) -> None:
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 1})
    other = "02:5e:00:01:01:02"
    netd.authorize({"mac": other, "ip": "10.40.1.51", "minutes": 60})
    netd.housekeeping()
    assert kernel.called("deauthorize") == []
    assert len(store.active_sessions()) == 2

    clock.now = T0 + 60
    netd.housekeeping()
    assert kernel.called("deauthorize") == [((Client(MAC, IP, 0),),)]
    assert [s.mac for s in store.active_sessions()] == [other]
    row = store.db.execute("SELECT end_reason FROM session WHERE mac = ?", (MAC,)).fetchone()
    assert row["end_reason"] == "expired"

    netd.housekeeping()  # nothing more to expire
    assert len(kernel.called("deauthorize")) == 1


def test_status(netd: Netd, kernel: FakeKernel, clock: Clock) -> None:
    kernel.objects = [
        {"table": {"name": "simpul"}},
        {"chain": {"name": "input"}},
        {"chain": {"name": "forward"}},
        {"rule": {"chain": "input"}},
    ]
    netd.authorize({"mac": MAC, "ip": IP})
    clock.now += 12.34
    status = netd.status({})
    assert status["table_present"] is True
    assert (status["chains"], status["rules"], status["sessions"]) == (2, 1, 1)
    assert status["uptime_s"] == 12.3
    assert status["last_apply"] is None
    assert status["children"] == {}
    assert ("table", False) in kernel.calls, "status must not list every set element"


def test_clients_joins_sessions_and_kernel_counters(netd: Netd, kernel: FakeKernel) -> None:
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": "10.40.1.51"})
    kernel.per_client = [ClientCounters(MAC, IP, 100, 2, 5000, 7, 3600)]
    rows = netd.clients({})
    assert [(r["mac"], r["in_kernel"]) for r in rows] == [
        (MAC, True),
        ("02:5e:00:01:01:02", False),
    ]
    assert (rows[0]["up_bytes"], rows[0]["down_bytes"]) == (100, 5000)
    assert "up_bytes" not in rows[1]


def test_counters(netd: Netd, kernel: FakeKernel) -> None:
    kernel.named = {"opd_disdik_up": (3, 300)}
    kernel.per_client = [ClientCounters(MAC, IP, 1, 2, 3, 4, 5)]
    result = netd.counters({})
    assert set(result) == {"named", "uplinks", "clients"}
    assert result["named"] == {"opd_disdik_up": {"packets": 3, "bytes": 300}}
    assert result["uplinks"] == {"isp1": if_stats("wan0")}  # keyed by uplink name
    assert kernel.called("interface_counters") == [(("wan0",),)]
    assert result["clients"][0]["mac"] == MAC


def with_second_uplink(store: Store) -> None:
    data = config_to_data(LAB)
    data["uplinks"].append({"name": "vsat-dua", "interface": "wan1"})
    store.import_config(parse_config(data), actor="test")


def test_counters_reports_every_uplink_by_name(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    with_second_uplink(store)
    result = netd.counters({})
    assert result["uplinks"] == {"isp1": if_stats("wan0"), "vsat-dua": if_stats("wan1")}
    ((asked,),) = kernel.called("interface_counters")
    assert sorted(asked) == ["wan0", "wan1"]  # only the uplinks, never a zone interface


def test_counters_leaves_out_an_uplink_without_statistics(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    with_second_uplink(store)
    kernel.absent = {"wan1"}  # e.g. the VSAT modem's interface is down and gone
    assert netd.counters({})["uplinks"] == {"isp1": if_stats("wan0")}


def test_kernel_interface_counters_reads_sysfs() -> None:
    if not Path("/sys/class/net/lo/statistics/rx_bytes").exists():
        pytest.skip("no /sys/class/net/lo")
    stats = Kernel.interface_counters(["lo", "no-such-if0"])
    assert set(stats) == {"lo"}
    assert set(stats["lo"]) == {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets"}
    assert all(isinstance(v, int) and v >= 0 for v in stats["lo"].values())


# --------------------------------------------------------------------------------------------
# the socket front: Server._answer


def answer(
    netd: Netd, line: bytes, *, actor: str = "alice(uid 1000)", may_change: bool = True,
    uid: int = 1000, dns_uid: int | None = 64053,
) -> dict[str, Any]:  # fmt: skip
    server = Server(netd, "/nonexistent/netd.sock", None)

    def permitted(method: str) -> bool:
        return _permitted(method, uid, may_change, dns_uid)

    reply = asyncio.run(server._answer(line, actor, permitted))
    encode(reply)  # every answer is one protocol line
    return reply


def request(method: Any, params: Any = None, rid: Any = 7) -> bytes:
    body: dict[str, Any] = {"id": rid, "method": method}
    if params is not None:
        body["params"] = params
    return json.dumps(body).encode() + b"\n"


def error_code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False
    return reply["error"]["code"]


@pytest.mark.parametrize(
    "line", [b"{not json\n", b"\n", b"", b"\xff\xfe\n", b'{"id": 1, "method": "ping"']
)
def test_answer_malformed_json(netd: Netd, line: bytes) -> None:
    reply = answer(netd, line)
    assert error_code(reply) == "invalid"
    assert reply["id"] is None
    assert "not JSON" in reply["error"]["message"]


@pytest.mark.parametrize("line", [b"[1, 2]\n", b'"ping"\n', b"42\n", b"null\n"])
def test_answer_non_object(netd: Netd, line: bytes) -> None:
    reply = answer(netd, line)
    assert error_code(reply) == "invalid"
    assert "JSON object" in reply["error"]["message"]


@pytest.mark.parametrize("method", ["reboot", "", None, 3, ["ping"], "__init__", "housekeeping"])
def test_answer_unknown_method(netd: Netd, method: Any) -> None:
    reply = answer(netd, request(method))
    assert error_code(reply) == "unknown-method"
    assert reply["id"] == 7


@pytest.mark.parametrize("params", [[1], "mac=x", 5, True])
def test_answer_params_not_an_object(netd: Netd, params: Any) -> None:
    reply = answer(netd, request("ping", params))
    assert error_code(reply) == "invalid"
    assert "params" in reply["error"]["message"]


MUTATING = (
    "apply",
    "config_apply",
    "config_confirm",
    "client_block",
    "audit_record",
    "authorize",
    "deauthorize",
    "logout",
    "redeem_voucher",
    "otp_issue",
    "otp_verify",
    "garden_learn",
    "cut_flows",
    "account",
    "voucher_create",
)
READ_PARAMS: dict[str, dict[str, Any]] = {"whois": {"ip": IP}}  # the others need none


@pytest.mark.parametrize("method", MUTATING)
def test_answer_non_member_may_not_change(
    netd: Netd, store: Store, kernel: FakeKernel, method: str
) -> None:
    netd.authorize({"mac": MAC, "ip": "10.40.1.51"})  # something logout could end
    kernel.calls.clear()
    sessions = store.active_sessions()
    reply = answer(netd, request(method, {"mac": MAC, "ip": IP}), may_change=False)
    assert error_code(reply) == "forbidden"
    assert "alice(uid 1000)" in reply["error"]["message"]
    assert kernel.calls == []
    assert store.active_sessions() == sessions


def test_mutating_methods_are_not_read_methods(netd: Netd) -> None:
    assert set(netd.methods) - READ_METHODS - SECRET_METHODS == set(MUTATING)


@pytest.mark.parametrize("method", sorted(SECRET_METHODS))
def test_reads_with_secrets_are_for_the_group_only(method: str) -> None:
    """SNMP keys and the InfluxDB token: not for any local user, nor the DNS front end."""
    assert _permitted(method, 0, True, 64053)
    assert _permitted(method, 1001, True, 64053)  # a member of the socket's group
    assert not _permitted(method, 1001, False, 64053)
    assert not _permitted(method, 64053, True, 64053)  # the DNS front end


@pytest.mark.parametrize("method", sorted(READ_METHODS))
def test_answer_non_member_may_read(netd: Netd, method: str, accounted: FakeAccounting) -> None:
    reply = answer(netd, request(method, READ_PARAMS.get(method)), may_change=False)
    assert reply["ok"] is True, reply
    assert reply["id"] == 7


def test_answer_success_and_actor(netd: Netd, store: Store) -> None:
    params = {"mac": MAC, "ip": IP, "_actor": "root(uid 0)", "_anything": 1}
    reply = answer(netd, request("authorize", params, rid="abc"), actor="bob(uid 1001)")
    assert reply == {
        "id": "abc",
        "ok": True,
        "result": {
            "mac": MAC,
            "ip": IP,
            "site": "rtm-lam",
            "expires_at": T0 + LAB.hotspot_sites[0].access.session_minutes * 60,
        },
    }
    entry = store.audit_log(1)[0]
    assert (entry["actor"], entry["action"]) == ("bob(uid 1001)", "client.allow")


def test_answer_reports_request_errors(netd: Netd) -> None:
    reply = answer(netd, request("authorize", {"mac": "bad", "ip": IP}))
    assert error_code(reply) == "invalid"
    assert reply["id"] == 7


def test_answer_reports_no_config(bare: Netd) -> None:
    assert error_code(answer(bare, request("apply"))) == "no-config"


def test_answer_reports_internal_errors(netd: Netd, kernel: FakeKernel) -> None:
    def broken(params: dict[str, Any]) -> None:
        raise KeyError("boom")

    netd.methods["status"] = broken
    reply = answer(netd, request("status"))
    assert error_code(reply) == "internal"
    assert "KeyError" in reply["error"]["message"]
    assert answer(netd, request("ping"))["ok"] is True  # still serving


def test_authorize_forgets_the_clients_redirected_connections(
    netd: Netd, kernel: FakeKernel
) -> None:
    """After a grant, connections redirected to the portal must not carry on (stale sockets)."""
    netd.authorize({"mac": MAC, "ip": IP})
    assert ("forget_redirected", {IP}) in kernel.calls
    names = [c[0] for c in kernel.calls]
    assert names.index("authorize") < names.index("forget_redirected")


def test_a_conntrack_failure_does_not_undo_the_grant(netd: Netd, kernel: FakeKernel) -> None:
    def broken(ips: object) -> int:
        raise OSError(1, "conntrack: Operation not permitted")

    netd.forget_redirected = broken
    result = netd.authorize({"mac": MAC, "ip": IP})
    assert result["ip"] == IP
    assert netd.store.active_session_of(IP) is not None


# --------------------------------------------------------------------------------------------
# fair use: per-device classes (tc), idle time, quota, daily allowance

OTHER_IP = "10.40.1.51"
CIK_PUAN_IP = "10.40.2.20"
DEVICES = ("hs-rtmlam", "hs-cikpuan", "wan0")  # every shaped device of the lab, in order
WAN1 = {"name": "vsat-dua", "interface": "wan1"}  # an uplink without a known bandwidth


def with_access(
    store: Store,
    sites: tuple[str, ...] = ("rtm-lam",),
    uplinks: tuple[dict[str, Any], ...] = (),
    timezone: str | None = None,
    **access: Any,
) -> Config:
    """Store LAB with `access` changed at `sites`, `uplinks` added, the node's time zone."""
    data = config_to_data(LAB)
    for site in data["hotspot_sites"]:
        if site["slug"] in sites:
            site["access"].update(access)
    data["uplinks"] += list(uplinks)
    if timezone is not None:
        data["node"]["timezone"] = timezone
    config = parse_config(data)
    store.import_config(config, actor="test", replace=True)
    return config


def classes_of(minor: int, devices: Iterable[str] = DEVICES) -> list[tuple[str, int]]:
    return [(device, minor) for device in devices]


@pytest.mark.parametrize(
    ("access", "uplinks", "class_id", "tc"),
    [
        # the lab's defaults: 4000 kbit/s down on the bridge, 1000 up on the uplink
        ({}, (), FIRST_CLASS_ID, [("hs-rtmlam", 4000), ("wan0", 1000)]),
        (
            {"client_down_kbps": 2000, "client_up_kbps": 512},
            (WAN1,),
            FIRST_CLASS_ID,
            [("hs-rtmlam", 2000), ("wan0", 512), ("wan1", 512)],
        ),
        ({"client_down_kbps": None}, (), FIRST_CLASS_ID, [("wan0", 1000)]),
        ({"client_up_kbps": None}, (WAN1,), FIRST_CLASS_ID, [("hs-rtmlam", 4000)]),
        # a quota alone: a class to slow the device down later, no tc class yet
        ({"client_down_kbps": None, "client_up_kbps": None, "quota_mb": 10}, (), 0x10, []),
        # nothing to shape: no class at all
        ({"client_down_kbps": None, "client_up_kbps": None}, (), None, []),
    ],
    ids=["defaults", "rates-two-uplinks", "upload-only", "download-only", "quota-only", "none"],
)
def test_authorize_shapes_a_client_of_a_shaped_site(
    netd: Netd,
    store: Store,
    kernel: FakeKernel,
    shaper: FakeShaper,
    access: dict[str, Any],
    uplinks: tuple[dict[str, Any], ...],
    class_id: int | None,
    tc: list[tuple[str, int]],
) -> None:
    with_access(store, uplinks=uplinks, **access)
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 30})
    (session,) = store.active_sessions()
    assert session.class_id == class_id
    ((clients, _now),) = kernel.called("authorize")
    assert clients == (Client(MAC, IP, T0 + 1800, 900, class_id),)
    assert shaper.calls == [("set_client", device, class_id, rate) for device, rate in tc]


def test_each_device_gets_its_own_class_and_keeps_it(
    netd: Netd, store: Store, shaper: FakeShaper, clock: Clock
) -> None:
    other = "02:5e:00:01:01:02"
    third = "02:5e:00:01:01:03"
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": other, "ip": OTHER_IP})
    netd.authorize({"mac": third, "ip": CIK_PUAN_IP})  # the other site: its own bridge
    assert shaper.classes == {
        "hs-rtmlam": {0x10: 4000, 0x11: 4000},
        "wan0": {0x10: 1000, 0x11: 1000, 0x12: 1000},
        "hs-cikpuan": {0x12: 4000},
    }
    clock.now += 60
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 10})  # extended: the same class
    netd.deauthorize({"mac": other, "ip": OTHER_IP})
    netd.authorize({"mac": "02:5e:00:01:01:04", "ip": "10.40.1.52"})  # takes the freed class
    assert {s.mac: s.class_id for s in store.active_sessions()} == {
        MAC: 0x10,
        third: 0x12,
        "02:5e:00:01:01:04": 0x11,
    }
    assert shaper.classes == {
        "hs-rtmlam": {0x10: 4000, 0x11: 4000},
        "wan0": {0x10: 1000, 0x11: 1000, 0x12: 1000},
        "hs-cikpuan": {0x12: 4000},
    }


def test_an_unshaped_site_never_touches_tc(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper, clock: Clock
) -> None:
    with_access(store, client_down_kbps=None, client_up_kbps=None)
    netd.authorize({"mac": MAC, "ip": IP})
    netd.deauthorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 1})
    clock.now += 60
    netd.housekeeping()
    assert store.active_sessions() == []
    assert shaper.calls == []
    assert len(kernel.called("deauthorize")) == 2


def test_without_a_shaper_fair_use_still_works(
    store: Store, kernel: FakeKernel, state_dir: Path, clock: Clock, neighbours: Neighbours
) -> None:
    store.import_config(LAB, actor="test")
    netd = Netd(  # type: ignore[arg-type]
        store, kernel, str(state_dir), clock=clock, mac_of=neighbours,
        forget_redirected=kernel.forget_redirected,
        run_later=lambda work: work(),
    )  # fmt: skip
    netd.authorize({"mac": MAC, "ip": IP})
    netd.apply({})
    netd.deauthorize({"mac": MAC, "ip": IP})
    assert store.active_sessions() == []


def test_apply_sets_up_every_shaped_device_and_drops_stale_classes(
    netd: Netd, store: Store, shaper: FakeShaper, clock: Clock
) -> None:
    with_access(store, uplinks=(WAN1,), throttle_kbps=128)
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": CIK_PUAN_IP})
    store.set_throttled(store.active_sessions()[0].id)
    # classes no open session holds: from sessions ended while netd was down, or a crash
    for device in ("hs-rtmlam", "wan1"):
        shaper.classes.setdefault(device, {}).update({0x13: 4000, 0x99: 256})
    shaper.classes["hs-tua"] = {0x42: 1000}  # a device no longer in the configuration
    shaper.calls.clear()
    netd.apply({})
    devices = ["hs-rtmlam", "hs-cikpuan", "wan0", "wan1"]
    assert shaper.called("ensure_root") == [
        ("hs-rtmlam", 20_000),
        ("hs-cikpuan", 20_000),
        ("wan0", 300_000),
        ("wan1", None),  # no bandwidth known: no total limit
    ]
    assert shaper.called("ensure_ifb") == [("simpul-down", 300_000)]  # OPDs' download queue
    assert shaper.called("set_client") == [
        ("hs-rtmlam", 0x10, 128),  # throttled: the fair-use rate both ways
        ("wan0", 0x10, 128),
        ("wan1", 0x10, 128),
        ("hs-cikpuan", 0x11, 4000),
        ("wan0", 0x11, 1000),
        ("wan1", 0x11, 1000),
    ]
    assert shaper.called("client_minors") == [(d,) for d in devices]
    assert sorted(shaper.called("remove_client")) == [
        ("hs-rtmlam", 0x13),
        ("hs-rtmlam", 0x99),
        ("wan1", 0x13),
        ("wan1", 0x99),
    ]
    assert client_classes(shaper) == {
        "hs-rtmlam": {0x10: 128},
        "hs-cikpuan": {0x11: 4000},
        "wan0": {0x10: 128, 0x11: 1000},
        "wan1": {0x10: 128, 0x11: 1000},
        "hs-tua": {0x42: 1000},  # not shaped any more: left alone
    }
    # roots first, then the clients' classes, then the clean-up
    names = [c[0] for c in shaper.calls]
    last_root = max(i for i, n in enumerate(names) if n == "ensure_root")
    last_client = max(i for i, n in enumerate(names) if n == "set_client")
    assert last_root < names.index("set_client")
    assert last_client < names.index("client_minors")


def test_opds_share_the_uplink_by_guarantee_and_cap(netd: Netd, shaper: FakeShaper) -> None:
    """lab.yaml: diskominfo 60/50, disdik 50/20, bkpsdm 30/20 capped at 60/30 Mbit/s, of a
    300/300 uplink; conferencing keeps 20 %. Downloads of every OPD LAN share one IFB."""
    netd.apply({})
    opd = {"diskominfo": 0xF000, "disdik": 0xF001, "bkpsdm": 0xF002}
    assert sorted(c for c in shaper.called("set_class") if c[0] == "simpul-down") == [
        ("simpul-down", opd["diskominfo"], 60_000, 300_000, 1),
        ("simpul-down", opd["disdik"], 50_000, 300_000, 1),
        ("simpul-down", opd["bkpsdm"], 30_000, 60_000, 1),
        ("simpul-down", 0xFFF0, 60_000, 300_000, 0),
    ]
    assert sorted(c for c in shaper.called("set_class") if c[0] == "wan0") == [
        ("wan0", opd["diskominfo"], 50_000, 300_000, 1),
        ("wan0", opd["disdik"], 20_000, 300_000, 1),
        ("wan0", opd["bkpsdm"], 20_000, 30_000, 1),
        ("wan0", 0xFFF0, 60_000, 300_000, 0),
    ]
    assert shaper.links == {"simpul-down"}
    assert shaper.redirects == {o.interface: "simpul-down" for o in LAB.opds}


def test_opd_sharing_is_undone_when_no_opd_has_a_guarantee(
    netd: Netd, store: Store, shaper: FakeShaper
) -> None:
    netd.apply({})
    shaper.classes["wan0"][0xF007] = 1  # an OPD class from an older configuration
    data = config_to_data(LAB)
    for opd in data["opds"]:
        opd["bandwidth"] = opd["bandwidth_cap"] = None
    store.import_config(parse_config(data), actor="test", replace=True)
    netd.apply({})
    assert shaper.links == set() and shaper.redirects == {}
    assert {m for m in shaper.classes["wan0"] if m >= FIRST_OPD_MINOR} == set()


def test_apply_without_sessions_removes_every_client_class(netd: Netd, shaper: FakeShaper) -> None:
    shaper.classes = {"hs-rtmlam": {0x10: 4000}, "wan0": {0x10: 1000, 0x11: 1000}}
    netd.apply({})
    assert client_classes(shaper) == {"hs-rtmlam": {}, "wan0": {}}
    assert shaper.roots == {
        "hs-rtmlam": 20_000, "hs-cikpuan": 20_000, "wan0": 300_000, "simpul-down": 300_000,
    }  # fmt: skip


def test_apply_check_only_leaves_tc_alone(netd: Netd, shaper: FakeShaper) -> None:
    netd.authorize({"mac": MAC, "ip": IP})
    shaper.calls.clear()
    netd.apply({"check_only": True})
    assert shaper.calls == []


def test_apply_refused_by_the_kernel_leaves_tc_alone(
    netd: Netd, kernel: FakeKernel, shaper: FakeShaper
) -> None:
    kernel.refuse.add("apply")
    assert code_of(netd.apply, {}) == "kernel-refused"
    assert shaper.calls == []


def end_by(how: str, netd: Netd, store: Store, kernel: FakeKernel, clock: Clock) -> None:
    if how == "deauthorize":
        netd.deauthorize({"mac": MAC, "ip": IP})
    elif how == "logout":
        netd.logout({"ip": IP})
    elif how == "expiry":
        clock.now = T0 + 10 * 60
        netd.housekeeping()
    elif how == "idle":
        kernel.seen = {OTHER_IP}
        netd.housekeeping()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["deauthorize", "logout", "expiry", "idle"])
def test_ending_a_session_removes_its_classes(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper, clock: Clock, how: str
) -> None:
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 10})
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": OTHER_IP, "minutes": 60})
    shaper.calls.clear()
    end_by(how, netd, store, kernel, clock)
    assert [s.ip for s in store.active_sessions()] == [OTHER_IP]
    assert shaper.calls == [("remove_client", *c) for c in classes_of(FIRST_CLASS_ID)]
    assert shaper.classes == {"hs-rtmlam": {0x11: 4000}, "wan0": {0x11: 1000}}
    assert kernel.called("deauthorize") == [((Client(MAC, IP, 0),),)]


@pytest.mark.parametrize("how", ["deauthorize", "logout", "expiry", "idle"])
def test_ending_an_unshaped_session_removes_no_class(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper, clock: Clock, how: str
) -> None:
    with_access(store, client_down_kbps=None, client_up_kbps=None)
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 10})
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": OTHER_IP, "minutes": 60})
    end_by(how, netd, store, kernel, clock)
    assert [s.ip for s in store.active_sessions()] == [OTHER_IP]
    assert shaper.calls == []


def test_deauthorizing_nobody_removes_no_class(netd: Netd, shaper: FakeShaper) -> None:
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": OTHER_IP})
    shaper.calls.clear()
    assert netd.deauthorize({"mac": MAC, "ip": IP}) == {"ended": False}
    assert shaper.calls == []


# -- idle -------------------------------------------------------------------------------------


def test_housekeeping_ends_idle_sessions(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper, clock: Clock
) -> None:
    other = "02:5e:00:01:01:02"
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": other, "ip": OTHER_IP})
    netd.authorize({"mac": "02:5e:00:01:01:03", "ip": CIK_PUAN_IP})
    kernel.calls.clear()
    clock.now += 15 * 60
    kernel.seen = {OTHER_IP, "10.40.1.99"}  # the kernel let two of them go
    netd.housekeeping()
    assert [s.mac for s in store.active_sessions()] == [other]
    rows = store.db.execute(
        "SELECT ip, ended_at, end_reason FROM session WHERE ended_at IS NOT NULL ORDER BY id"
    ).fetchall()
    assert [tuple(r) for r in rows] == [(IP, clock.now, "idle"), (CIK_PUAN_IP, clock.now, "idle")]
    assert kernel.called("deauthorize") == [
        ((Client(MAC, IP, 0), Client("02:5e:00:01:01:03", CIK_PUAN_IP, 0)),)
    ]
    assert sorted(shaper.called("remove_client")) == sorted(classes_of(0x10) + classes_of(0x12))
    denied = [json.loads(r["detail"]) for r in store.audit_log(2)]
    devices = [pseudonyms.device(netd.secret, m) for m in ("02:5e:00:01:01:03", MAC)]
    assert [(d["device"], d["reason"]) for d in denied] == [(dev, "idle") for dev in devices]
    kernel.calls.clear()
    netd.housekeeping()  # nothing more to end
    assert kernel.called("deauthorize") == []
    assert [s.mac for s in store.active_sessions()] == [other]


def test_housekeeping_without_sessions_does_not_read_the_idle_set(
    netd: Netd, kernel: FakeKernel
) -> None:
    netd.housekeeping()
    assert kernel.called("idle_ips") == []


def test_housekeeping_keeps_clients_the_kernel_still_sees(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper
) -> None:
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": OTHER_IP})
    kernel.calls.clear()
    shaper.calls.clear()
    for _ in range(3):
        netd.housekeeping()
    assert len(store.active_sessions()) == 2
    assert kernel.called("idle_ips") == [()] * 3
    assert kernel.called("deauthorize") == [] and shaper.calls == []


@pytest.mark.parametrize(("idle_minutes", "idle_s"), [(1, 60), (15, 900), (24 * 60, 86_400)])
def test_the_kernel_gets_each_sites_idle_time(
    netd: Netd, store: Store, kernel: FakeKernel, idle_minutes: int, idle_s: int
) -> None:
    with_access(store, idle_minutes=idle_minutes)
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": CIK_PUAN_IP})
    got = [c.idle_s for (clients, _) in kernel.called("authorize") for c in clients]
    assert got == [idle_s, 900]  # taman-cik-puan keeps the default
    netd.apply({})
    ((clients, _, _),) = kernel.called("apply")
    assert [c.idle_s for c in clients] == [idle_s, 900]


def test_a_session_of_a_removed_site_has_no_idle_time(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    netd.authorize({"mac": MAC, "ip": CIK_PUAN_IP})
    data = config_to_data(LAB)
    data["hotspot_sites"] = data["hotspot_sites"][:1]
    store.import_config(parse_config(data), actor="test", replace=True)
    netd.apply({})
    ((clients, _, _),) = kernel.called("apply")
    assert clients == (Client(MAC, CIK_PUAN_IP, T0 + 120 * 60, None, FIRST_CLASS_ID),)


# -- quota ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("up", "down", "throttled"),
    [
        (0, 0, False),
        (999_999, 0, False),
        (400_000, 599_999, False),
        (600_000, 400_000, True),  # up and down together
        (1_000_000, 0, True),
        (0, 1_000_000, True),
        (5_000_000_000, 7_000_000_000, True),
    ],
)
def test_a_client_over_its_quota_is_slowed_once_not_cut(
    netd: Netd,
    store: Store,
    kernel: FakeKernel,
    shaper: FakeShaper,
    up: int,
    down: int,
    throttled: bool,
) -> None:
    with_access(store, quota_mb=1, throttle_kbps=128)
    other = "02:5e:00:01:01:02"
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": other, "ip": OTHER_IP})
    kernel.per_client = [
        ClientCounters(MAC, IP, up, 1, down, 1, 3600),
        ClientCounters(other, OTHER_IP, 10, 1, 10, 1, 3600),
    ]
    shaper.calls.clear()
    netd.housekeeping()
    assert [(s.mac, s.throttled) for s in store.active_sessions()] == [
        (MAC, int(throttled)),
        (other, 0),
    ]
    expected = [("set_client", "hs-rtmlam", 0x10, 128), ("set_client", "wan0", 0x10, 128)]
    assert shaper.calls == (expected if throttled else [])
    assert kernel.called("deauthorize") == []
    # once is enough: the next rounds change nothing
    shaper.calls.clear()
    netd.housekeeping()
    netd.housekeeping()
    assert shaper.calls == []
    assert [s.throttled for s in store.active_sessions()] == [int(throttled), 0]


def test_the_throttle_outlives_an_apply(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper
) -> None:
    with_access(store, quota_mb=1, throttle_kbps=128)
    netd.authorize({"mac": MAC, "ip": IP})
    kernel.per_client = [ClientCounters(MAC, IP, 2_000_000, 1, 0, 0, 3600)]
    netd.housekeeping()
    netd.apply({})
    assert client_classes(shaper) == {"hs-rtmlam": {0x10: 128}, "wan0": {0x10: 128}}


def test_quota_checks_only_sites_with_a_quota(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper
) -> None:
    netd.authorize({"mac": MAC, "ip": IP})  # the lab's sites have no quota
    kernel.per_client = [ClientCounters(MAC, IP, 10**12, 1, 10**12, 1, 3600)]
    kernel.calls.clear()
    shaper.calls.clear()
    netd.housekeeping()
    assert kernel.called("client_counters") == []
    assert shaper.calls == []
    assert store.active_sessions()[0].throttled == 0


def test_a_client_missing_from_the_kernel_is_not_throttled(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper
) -> None:
    with_access(store, quota_mb=1)
    netd.authorize({"mac": MAC, "ip": IP})
    kernel.per_client = [ClientCounters("02:5e:00:01:01:09", IP, 10**9, 1, 0, 0, 60)]
    shaper.calls.clear()
    netd.housekeeping()
    assert store.active_sessions()[0].throttled == 0
    assert shaper.calls == []


# -- daily allowance --------------------------------------------------------------------------

# T0 is 05:13:20 WIB (UTC+7) on 15 November 2023: the day began 18,800 seconds before.
SINCE_MIDNIGHT = 5 * 3600 + 13 * 60 + 20


def online(store: Store, clock: Clock, mac: str, ip: str, start: float, end: float | None) -> None:
    """A session of `mac` from T0+start to T0+end (None: still open)."""
    clock.now = T0 + start
    store.open_session(mac, ip, site="rtm-lam", method="portal", duration_s=86_400, actor="p")
    if end is not None:
        clock.now = T0 + end
        store.end_session(mac, ip, reason="logout", actor="p")
    clock.now = T0


@pytest.mark.parametrize(
    ("earlier", "minutes", "granted_s"),
    [
        ([], 30, 1800),
        ([], None, 3600),  # the site's 120 minutes, capped to the 60 a day
        ([], 60, 3600),
        ([(-7200, -4500)], 30, 900),  # 45 minutes used today
        ([(-7200, -5400), (-3600, -2700)], 60, 900),  # 30 + 15 minutes in two sessions
        ([(-7200, -3660)], 30, 60),  # 59 minutes used: one is left
        # yesterday does not count; a session over midnight counts from midnight
        ([(-SINCE_MIDNIGHT - 7200, -SINCE_MIDNIGHT - 60)], 30, 1800),
        ([(-SINCE_MIDNIGHT - 1800, -SINCE_MIDNIGHT + 1800)], 60, 1800),
        # the device's session still open elsewhere counts up to now
        ([(-1200, None)], 60, 2400),
    ],
)
def test_daily_allowance_caps_the_session(
    netd: Netd,
    store: Store,
    kernel: FakeKernel,
    clock: Clock,
    earlier: list[tuple[float, float | None]],
    minutes: int | None,
    granted_s: float,
) -> None:
    with_access(store, daily_minutes=60)
    for n, (start, end) in enumerate(earlier):
        online(store, clock, MAC, f"10.40.1.{100 + n}", start, end)
    online(store, clock, "02:5e:00:01:01:02", OTHER_IP, -7200, -60)  # another device's hours
    params: dict[str, Any] = {"mac": MAC, "ip": IP}
    if minutes is not None:
        params["minutes"] = minutes
    result = netd.authorize(params)
    assert result["expires_at"] == T0 + granted_s
    assert store.active_session_of(IP).expires_at == T0 + granted_s  # type: ignore[union-attr]
    ((clients, _),) = kernel.called("authorize")
    assert clients[0].expires_at == T0 + granted_s


@pytest.mark.parametrize(
    "earlier",
    [
        [(-7200, -3600)],  # 60 minutes
        [(-7200, -3630)],  # 59.5: less than a minute left
        [(-7200, -3600 - 59)],
        [(-SINCE_MIDNIGHT + 60, None)],  # open since shortly after midnight
        [(-9000, -7200), (-3600, -1800)],  # 30 + 30
    ],
)
def test_daily_allowance_used_up(
    netd: Netd,
    store: Store,
    kernel: FakeKernel,
    shaper: FakeShaper,
    clock: Clock,
    earlier: list[tuple[float, float | None]],
) -> None:
    with_access(store, daily_minutes=60)
    for n, (start, end) in enumerate(earlier):
        online(store, clock, MAC, f"10.40.1.{100 + n}", start, end)
    before = store.active_sessions()
    with pytest.raises(RequestError) as exc:
        netd.authorize({"mac": MAC, "ip": IP, "minutes": 30})
    assert exc.value.code == "allowance-used"
    assert "60 minutes" in str(exc.value)
    assert store.active_sessions() == before
    assert kernel.calls == [] and shaper.calls == []


def test_daily_allowance_comes_back_the_next_day(netd: Netd, store: Store, clock: Clock) -> None:
    with_access(store, daily_minutes=60)
    online(store, clock, MAC, "10.40.1.100", -7200, -3600)
    assert code_of(netd.authorize, {"mac": MAC, "ip": IP}) == "allowance-used"
    clock.now = T0 - SINCE_MIDNIGHT + 86_400  # midnight WIB
    assert netd.authorize({"mac": MAC, "ip": IP})["expires_at"] == clock.now + 3600


@pytest.mark.parametrize(
    ("timezone", "granted_s"),
    [
        ("WIB", 3600),  # the day began at 05:13:20 ago: the session was yesterday
        ("WITA", 1800),  # 06:13:20 WITA: it was today
        ("WIT", 1800),
    ],
)
def test_daily_allowance_follows_the_nodes_time_zone(
    netd: Netd, store: Store, clock: Clock, timezone: str, granted_s: int
) -> None:
    with_access(store, timezone=timezone, daily_minutes=60)
    online(store, clock, MAC, "10.40.1.100", -6 * 3600, -5.5 * 3600)
    assert netd.authorize({"mac": MAC, "ip": IP, "minutes": 60})["expires_at"] == T0 + granted_s


def test_no_daily_allowance_no_cap(netd: Netd, store: Store, clock: Clock) -> None:
    online(store, clock, MAC, "10.40.1.100", -5 * 3600, -60)
    assert netd.authorize({"mac": MAC, "ip": IP, "minutes": 24 * 60})["expires_at"] == T0 + 86_400


# -- a failing tc ----------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["set_client"])
def test_a_tc_failure_does_not_undo_a_grant(
    netd: Netd,
    store: Store,
    kernel: FakeKernel,
    shaper: FakeShaper,
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    shaper.fail = {failing}
    result = netd.authorize({"mac": MAC, "ip": IP})
    assert result["ip"] == IP
    assert store.active_session_of(IP) is not None
    assert [c[0] for c in kernel.calls] == ["authorize", "forget_redirected"]
    assert "shaping failed" in caplog.text and "Operation not permitted" in caplog.text


@pytest.mark.parametrize("failing", ["ensure_root", "set_client", "client_minors", "remove_client"])
def test_a_tc_failure_does_not_break_an_apply(
    store: Store,
    kernel: FakeKernel,
    shaper: FakeShaper,
    state_dir: Path,
    clock: Clock,
    neighbours: Neighbours,
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    store.import_config(LAB, actor="test")
    netd = Netd(  # type: ignore[arg-type]
        store, kernel, str(state_dir), supervise=True, clock=clock, mac_of=neighbours,
        forget_redirected=kernel.forget_redirected, shaper=shaper,
    )  # fmt: skip
    configured: list[str] = []
    for child in netd.children:  # never start dnsmasq or unbound here
        child.configure = lambda text, name=child.name: configured.append(name)  # type: ignore[method-assign]
    netd.authorize({"mac": MAC, "ip": IP})
    shaper.classes["wan0"][0x99] = 1000  # a stale class, for remove_client to fail on
    shaper.fail = {failing}
    result = netd.apply({"_actor": "alice"})
    assert result["check_only"] is False
    applied = build_ruleset(LAB, doh_networks(LAB.filtering)).document()
    assert (state_dir / "applied.nft").read_text() == applied
    assert configured == ["dnsmasq", "unbound", "dnsd"]
    assert netd.last_apply is not None
    assert store.audit_log(1)[0]["action"] == "ruleset.apply"
    assert "shaping failed" in caplog.text


def test_a_tc_failure_does_not_undo_a_deauthorize(
    netd: Netd, store: Store, kernel: FakeKernel, shaper: FakeShaper,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    netd.authorize({"mac": MAC, "ip": IP})
    shaper.fail = {"remove_client"}
    assert netd.deauthorize({"mac": MAC, "ip": IP}) == {"ended": True}
    assert store.active_sessions() == []
    assert kernel.called("deauthorize") == [((Client(MAC, IP, 0),),)]
    assert shaper.called("remove_client") == classes_of(0x10)  # tried on every device
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"could not remove class 1:10 on {d}: [Errno 1] tc: remove_client: Operation not permitted"
        for d in DEVICES
    ]


def test_housekeeping_goes_on_when_the_idle_set_cannot_be_read(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    watched: list[float] = []

    class Watched:
        name = "dnsmasq"

        def watch(self, now: float) -> None:
            watched.append(now)

    netd.children = [Watched()]  # type: ignore[list-item]
    netd.authorize({"mac": MAC, "ip": IP})
    kernel.refuse.add("idle_ips")
    netd.housekeeping()
    assert len(watched) == 1
    assert len(store.active_sessions()) == 1  # nobody is let go on a failed read


@pytest.fixture
def later(netd: Netd) -> list[Any]:
    """What netd hands its background thread, kept until the test runs it."""
    queued: list[Any] = []
    netd.run_later = queued.append
    return queued


def test_grants_that_come_together_share_one_conntrack_walk(
    netd: Netd, kernel: FakeKernel, later: list[Any]
) -> None:
    """The walk costs the same for one client or many: queued grants are forgotten at once."""
    netd.authorize({"mac": MAC, "ip": IP})
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": "10.40.1.51"})
    for work in later:
        work()
    assert kernel.called("forget_redirected") == [({IP, "10.40.1.51"},)]


def test_conntrack_walks_in_a_storm_keep_their_distance(
    netd: Netd, kernel: FakeKernel, later: list[Any]
) -> None:
    """A walk costs ~10 ms of CPU: grants closer together than the interval wait for one walk."""
    netd.authorize({"mac": MAC, "ip": IP})
    later.pop()()
    first = time.monotonic()
    netd.authorize({"mac": "02:5e:00:01:01:02", "ip": "10.40.1.51"})
    later.pop()()
    assert time.monotonic() - first >= FORGET_INTERVAL_S * 0.9
    assert kernel.called("forget_redirected") == [({IP},), ({"10.40.1.51"},)]


def test_garden_learn_opens_addresses_for_their_ttl(netd: Netd, kernel: FakeKernel) -> None:
    result = netd.garden_learn({"addresses": ["198.51.100.10", "198.51.100.10"], "ttl_s": 300})
    assert result == {"opened": 1, "ttl_s": 300}
    assert kernel.called("learn_garden") == [(["198.51.100.10"], 300)]
    # A TTL is kept within bounds: a zero-TTL answer still opens the site for a while.
    assert netd.garden_learn({"addresses": ["198.51.100.11"], "ttl_s": 0})["ttl_s"] == 30
    # Open long enough already: nothing to do; longer: taken out and added again (kernels
    # before 6.10 would keep the old timeout).
    assert netd.garden_learn({"addresses": ["198.51.100.10"], "ttl_s": 100})["opened"] == 0
    assert netd.garden_learn({"addresses": ["198.51.100.10"], "ttl_s": 900})["opened"] == 1
    assert kernel.called("forget_garden") == [(["198.51.100.10"],)]
    # Never the node's own networks, whatever an answer says.
    inside = {"addresses": ["10.20.2.1", "127.0.0.1", "224.0.0.1"], "ttl_s": 60}
    assert netd.garden_learn(inside)["opened"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"addresses": [], "ttl_s": 60},
        {"addresses": ["not-an-ip"], "ttl_s": 60},
        {"addresses": ["2001:db8::1"], "ttl_s": 60},
        {"addresses": ["198.51.100.10"]},
        {"addresses": ["198.51.100.10"], "ttl_s": True},
        {"addresses": ["198.51.100.10"] * 2000, "ttl_s": 60},
    ],
)
def test_garden_learn_refuses_bad_requests(
    netd: Netd, kernel: FakeKernel, params: dict[str, Any]
) -> None:
    assert code_of(netd.garden_learn, params) == "invalid"
    assert kernel.called("learn_garden") == []


def test_cut_flows_only_for_a_zone_subnet(netd: Netd, kernel: FakeKernel, store: Store) -> None:
    disdik = str(LAB.opd("disdik").subnet)
    result = netd.cut_flows({"subnet": disdik, "addresses": ["198.51.100.20"], "_actor": "dnsd"})
    assert result == {"scheduled": 1}  # the conntrack walk runs off netd's lock
    assert kernel.called("cut_connections") == [(disdik, ["198.51.100.20"])]
    for bad in ({"subnet": "10.99.0.0/24", "addresses": ["198.51.100.20"]},
                {"subnet": "nonsense", "addresses": ["198.51.100.20"]},
                {"subnet": disdik, "addresses": "198.51.100.20"}):  # fmt: skip
        assert code_of(netd.cut_flows, bad) == "invalid"
    assert len(kernel.called("cut_connections")) == 1


@pytest.mark.parametrize("method", sorted(DNS_METHODS))
def test_only_the_dns_front_end_and_root_may_open_the_garden_or_cut_flows(
    netd: Netd, method: str
) -> None:
    params = {"addresses": ["198.51.100.10"], "ttl_s": 60, "subnet": "10.20.2.0/24"}
    # A member of netd's group (e.g. the portal) may not.
    member = answer(netd, request(method, params), may_change=True, uid=65534, dns_uid=64053)
    assert member["error"]["code"] == "forbidden"
    front_end = answer(netd, request(method, params), may_change=True, uid=64053, dns_uid=64053)
    assert front_end["ok"] is True, front_end
    assert answer(netd, request(method, params), uid=0)["ok"] is True


@pytest.mark.parametrize("method", ["apply", "authorize", "redeem_voucher", "otp_issue"])
def test_the_dns_front_end_may_change_nothing_else(netd: Netd, method: str) -> None:
    reply = answer(netd, request(method, {"mac": MAC, "ip": IP}), uid=64053, dns_uid=64053)
    assert reply["error"]["code"] == "forbidden"
    assert answer(netd, request("status"), uid=64053, dns_uid=64053)["ok"] is True


# -- accounting ------------------------------------------------------------------------------


class FakeAccounting:
    """Records cycles and settlements in the order netd asks for them (with the kernel's)."""

    def __init__(self, kernel: FakeKernel, path: Path) -> None:
        from simpul.usage.db import UsageDb

        self.kernel = kernel
        self.usage = UsageDb(str(path))
        self.forgot = 0
        self.held: list[set[str]] = []

    def forget_kernel_meters(self) -> None:
        self.forgot += 1

    def cycle(self, config: Config, sessions: Any, now: float, store: Store) -> Any:
        from simpul.usage.db import CycleRecord

        self.kernel.calls.append(("cycle", tuple(s.ip for s in sessions)))
        return CycleRecord(now, 1.0, 0, 0, 0)

    def settle(self, sessions: Any, now: float, held: Any) -> None:
        self.kernel.calls.append(("settle", tuple((s.mac, s.ip) for s in sessions)))
        self.held.append(set(held))


@pytest.fixture
def accounted(netd: Netd, kernel: FakeKernel, tmp_path: Path) -> FakeAccounting:
    netd.accounting = FakeAccounting(kernel, tmp_path / "usage.db")  # type: ignore[assignment]
    return netd.accounting  # type: ignore[return-value]


def test_an_ended_session_is_settled_after_it_left_the_authorization_sets(
    netd: Netd, kernel: FakeKernel, accounted: FakeAccounting
) -> None:
    """No byte can pass once the elements are gone: only then are the last ones final."""
    netd.authorize({"mac": MAC, "ip": IP})
    kernel.calls.clear()
    netd.deauthorize({"mac": MAC, "ip": IP})
    names = [c[0] for c in kernel.calls]
    assert names.index("deauthorize") < names.index("settle")
    assert ("settle", ((MAC, IP),)) in kernel.calls


def test_an_address_another_open_session_holds_is_settled_as_held(
    netd: Netd, store: Store, clock: Clock, accounted: FakeAccounting
) -> None:
    """Its download element (counted by address) stays for the session that holds it."""
    netd.authorize({"mac": MAC, "ip": IP, "minutes": 1})
    store.open_session("02:5e:00:01:01:02", IP, site="rtm-lam", method="admin",
                       duration_s=3600, actor="test")  # fmt: skip
    clock.now += 120
    netd.housekeeping()
    assert accounted.held[0] == {IP}


def test_cycles_run_every_interval_and_before_an_apply(
    netd: Netd, kernel: FakeKernel, accounted: FakeAccounting, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("netctl.netd.time.monotonic", lambda: now[0])
    for now[0] in (1000.0, 1005.0, 1031.0):  # due every 30 s (examples/lab.yaml)
        netd.housekeeping()
    assert [c for c in kernel.calls if c[0] == "cycle"] == [("cycle", ()), ("cycle", ())]
    kernel.calls.clear()
    kernel.objects = [{"table": {"name": "simpul"}}]  # a live table: book before replacing
    monkeypatch.setattr("netctl.netd.time.monotonic", lambda: 2000.0)
    netd.apply({})
    names = [c[0] for c in kernel.calls]
    assert names.index("cycle") < names.index("apply")
    assert accounted.forgot == 0


def test_a_table_made_anew_forgets_the_old_counters_meters(
    netd: Netd, kernel: FakeKernel, accounted: FakeAccounting
) -> None:
    """After a reboot (or the lab brought up again) every nftables counter starts at zero."""
    kernel.objects = []
    netd.apply({})
    assert accounted.forgot == 1
    assert "cycle" not in [c[0] for c in kernel.calls]  # nothing to read yet


def test_account_runs_a_cycle_on_request(
    netd: Netd, kernel: FakeKernel, accounted: FakeAccounting
) -> None:
    netd.authorize({"mac": MAC, "ip": IP})
    assert netd.account_now({})["readings"] == 0
    assert ("cycle", (IP,)) in kernel.calls


def test_account_without_accounting_says_so(netd: Netd) -> None:
    assert code_of(netd.account_now, {}) == "unavailable"


def test_usage_buckets_hand_out_closed_buckets_page_by_page(
    netd: Netd, accounted: FakeAccounting, clock: Clock
) -> None:
    from zoneinfo import ZoneInfo

    from simpul.usage.booking import DOWN, Reading, book

    usage = accounted.usage
    raw = 0
    start = (int(clock()) // 300 - 6) * 300
    for minute in range(0, 30, 1):  # cycles every minute for half an hour
        raw += 1000
        reading = Reading("counter/opd_x_down", "b", minute, raw, "opd", "diskominfo", DOWN)
        usage.commit(book(usage.meters(), [reading]), start + minute * 60, ZoneInfo("UTC"),
                     peaks={"rtm-lam": 2})  # fmt: skip
    clock.now = start + 30 * 60 + 10  # just past the sixth bucket's end: all six closed
    first = netd.usage_buckets({"buckets": 2})
    assert [r[0] for r in first["rows"]] == [start, start + 300]
    assert first["next"] == start + 300 and first["closed"] == start + 1500
    rest = netd.usage_buckets({"after": first["next"]})
    assert [r[0] for r in rest["rows"]] == [start + 600, start + 900, start + 1200, start + 1500]
    assert sum(r[4] for r in first["rows"] + rest["rows"]) == 30 * 1000  # every cycle's bytes
    assert rest["peaks"][0] == [start + 600, "rtm-lam", 2]
    assert netd.usage_buckets({"after": rest["next"]})["rows"] == []
    assert code_of(netd.usage_buckets, {"buckets": 0}) == "invalid"
    assert code_of(netd.usage_buckets, {"after": "yesterday"}) == "invalid"


def test_export_config_gives_the_exporter_what_it_needs(netd: Netd) -> None:
    answer = netd.export_config({})
    assert answer["node"] == LAB.node.name and answer["interval_s"] == 30
    assert answer["export"]["spool_mb"] == 64  # examples/lab.yaml
