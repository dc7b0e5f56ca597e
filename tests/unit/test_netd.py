"""netd's API methods over a temporary store and a recording fake kernel, and its request parsing.

No root, no nftables: `FakeKernel` has the methods of `netctl.apply.Kernel`, renders with the real
(pure) renderer, records every call, and raises `NftError` for the methods told to refuse.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netctl.apply import ClientCounters, Kernel
from netctl.libnft import NftError
from netctl.netd import READ_METHODS, Netd, RequestError, Server
from netctl.protocol import encode
from netctl.render import Client, LiveState, Rendered, build_ruleset, render
from simpul.config import Config, config_to_data, load_config_file, parse_config
from simpul.store import Store

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))
MAC = "02:5e:00:01:01:01"
IP = "10.40.1.50"
T0 = 1_700_000_000.0


class Clock:
    """An injectable clock shared by the store and netd."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.refuse:
            raise NftError("Error: Could not process rule: Operation not permitted\n")

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == name]

    def table(self, *, elements: bool = True) -> list[dict[str, Any]]:
        self._record("table", elements)
        return list(self.objects)

    def apply(
        self, config: Config, clients: Any, now: float, *, check_only: bool = False
    ) -> Rendered:
        clients = tuple(clients)
        self._record("apply", clients, now, check_only)
        return render(config, LiveState(now=now, clients=clients))

    def authorize(self, clients: Any, now: float) -> None:
        self._record("authorize", tuple(clients), now)

    def deauthorize(self, clients: Any) -> None:
        self._record("deauthorize", tuple(clients))

    def counters(self) -> dict[str, tuple[int, int]]:
        self._record("counters")
        return dict(self.named)

    def client_counters(self) -> list[ClientCounters]:
        self._record("client_counters")
        return list(self.per_client)

    def interface_counters(self, interfaces: Iterable[str]) -> dict[str, dict[str, int]]:
        """Fixed statistics for each interface asked about, except those in `absent`."""
        interfaces = tuple(interfaces)
        self._record("interface_counters", interfaces)
        return {name: if_stats(name) for name in interfaces if name not in self.absent}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kernel() -> FakeKernel:
    return FakeKernel()


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
def bare(store: Store, kernel: FakeKernel, state_dir: Path, clock: Clock) -> Netd:
    """netd over a store without configuration."""
    return Netd(store, kernel, str(state_dir), clock=clock)  # type: ignore[arg-type]


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
    assert kernel.called("authorize") == [((Client(MAC, IP, expires),), clock.now)]


def test_authorize_defaults_to_the_portal_session(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    result = netd.authorize({"mac": MAC, "ip": "10.40.2.20", "method": "portal"})
    assert result["site"] == "taman-cik-puan"
    assert result["expires_at"] == T0 + LAB.portal.session_minutes * 60
    assert store.active_sessions()[0].method == "portal"
    ((clients, _now),) = kernel.called("authorize")
    assert clients[0].expires_at == result["expires_at"]


@pytest.mark.parametrize(
    "params",
    [
        {"mac": "ff:ff:ff:ff:ff:ff", "ip": IP},
        {"mac": "00:00:00:00:00:00", "ip": IP},
        {"mac": "nonsense", "ip": IP},
        {"ip": IP},
        {"mac": MAC},
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
    expected = build_ruleset(LAB)
    assert result["check_only"] is False
    assert result["chains"] == len(expected.chains)
    assert result["counters"] == len(expected.counters)
    assert result["clients"] == 1
    assert (state_dir / "applied.nft").read_text() == expected.document()
    ((clients, now, check_only),) = kernel.called("apply")
    assert clients == (Client(MAC, IP, T0 + 600),)
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
    netd: Netd, line: bytes, *, actor: str = "alice(uid 1000)", may_change: bool = True
) -> dict[str, Any]:
    server = Server(netd, "/nonexistent/netd.sock", None)
    reply = asyncio.run(server._answer(line, actor, may_change))
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


MUTATING = ("apply", "authorize", "deauthorize")


@pytest.mark.parametrize("method", MUTATING)
def test_answer_non_member_may_not_change(
    netd: Netd, store: Store, kernel: FakeKernel, method: str
) -> None:
    reply = answer(netd, request(method, {"mac": MAC, "ip": IP}), may_change=False)
    assert error_code(reply) == "forbidden"
    assert "alice(uid 1000)" in reply["error"]["message"]
    assert kernel.calls == []
    assert store.active_sessions() == []


def test_mutating_methods_are_not_read_methods(netd: Netd) -> None:
    assert set(netd.methods) - READ_METHODS == set(MUTATING)


@pytest.mark.parametrize("method", sorted(READ_METHODS))
def test_answer_non_member_may_read(netd: Netd, method: str) -> None:
    reply = answer(netd, request(method), may_change=False)
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
            "expires_at": T0 + LAB.portal.session_minutes * 60,
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
