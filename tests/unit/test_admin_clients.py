"""The console's clients pages and API (`portal.admin.clients`) over a recording fake netd and,
for the session history, a real store in a temporary directory."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from netctl.protocol import ApiError
from portal.admin.clients import PER_PAGE
from simpul.store import Store
from tests.unit.admin_helpers import Browser, FakeNetd, renew, shared_console
from tests.unit.fake_clock import Clock

T0 = 1_700_000_000.0
DAY = 86400.0
MAC = "02:5e:00:01:01:01"
IP = "10.40.1.50"
BLOCKED = "02:5e:00:0b:0b:0b"


def client_row(i: int, site: str = "rtm-lam") -> dict[str, Any]:
    """The i-th client as netd's `clients` answers it (started i seconds after T0)."""
    return {
        "mac": f"02:5e:00:00:{i // 256:02x}:{i % 256:02x}",
        "ip": f"10.40.{1 if site == 'rtm-lam' else 2}.{i % 250 + 2}",
        "site": site,
        "method": "video",
        "started_at": T0 + i,
        "expires_at": T0 + 7200 + i,
        "in_kernel": True,
        "up_bytes": 1000 + i,
        "down_bytes": 2_000_000 + i,
    }


ROWS = [client_row(i) for i in range(120)] + [client_row(500, "taman-cik-puan")]


ANSWERS: dict[str, Any] = {
    "clients": ROWS,
    "deauthorize": {"ended": True},
    "client_block": lambda p: {"mac": p["mac"], "blocked": p["blocked"], "sessions_ended": 1,
                               "revision": 8, "changed": True},
}  # fmt: skip


# Signing in hashes a password (deliberately slow): one app and one browser per role for the
# module, with netd's fake and the console's cached configuration made afresh for each test.
@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Flask, FakeNetd, dict[str, Any]]:
    return shared_console(tmp_path_factory.mktemp("console"), CLOCK=lambda: T0 + DAY)


@pytest.fixture
def netd(shared: tuple[Flask, FakeNetd, dict[str, Any]]) -> FakeNetd:
    app, fake, _ = shared
    renew(app, fake, ANSWERS)
    fake.document["portal"]["mac_block"] = [BLOCKED]
    return fake


@pytest.fixture
def app(shared: tuple[Flask, FakeNetd, dict[str, Any]], netd: FakeNetd) -> Flask:
    return shared[0]


@pytest.fixture
def browsers(shared: tuple[Flask, FakeNetd, dict[str, Any]], netd: FakeNetd) -> dict[str, Any]:
    return shared[2]


@pytest.fixture
def operator(browsers: dict[str, Browser]) -> Browser:
    return browsers["operator"]


def rows_of(html: str) -> list[str]:
    """The MACs in the online table, in order."""
    return re.findall(r"<tr>\s*<td><code>([0-9a-f:]+)</code></td><td>\d", html)


def changes(netd: FakeNetd) -> list[tuple[str, dict[str, Any]]]:
    return [(m, p) for m, p in netd.calls if m in ("deauthorize", "client_block")]


# -- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_admin_and_operator_see_the_clients(browsers: dict[str, Browser], role: str) -> None:
    page = browsers[role].get("/klien")
    assert page.status_code == 200
    assert MAC.replace("01:01:01", "00:00:77") in page.text  # the newest client
    assert "Taman Cik Puan" in page.text  # a site to filter by


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("GET", "/klien", None),
        ("POST", "/klien", {"q": "10.40"}),
        ("POST", "/klien/putus", {"mac": MAC, "ip": IP}),
        ("POST", "/klien/blokir", {"mac": MAC, "blocked": "true"}),
        ("GET", "/klien/riwayat", None),
        ("POST", "/klien/riwayat", {"q": "10.40"}),
        ("GET", "/api/v1/clients", None),
        ("POST", "/api/v1/clients/disconnect", {"mac": MAC, "ip": IP}),
        ("POST", "/api/v1/clients/block", {"mac": MAC, "blocked": True}),
        ("GET", "/api/v1/clients/blocked", None),
        ("GET", "/api/v1/sessions", None),
    ],
)
def test_a_reviewer_is_refused_everywhere(
    browsers: dict[str, Browser], netd: FakeNetd, method: str, url: str, data: Any
) -> None:
    reviewer = browsers["reviewer"]
    if url.startswith("/api/"):
        response = reviewer.send(method, url, data)
        assert response.json["error"]["code"] == "forbidden"
    elif method == "POST":
        response = reviewer.post(url, data)
    else:
        response = reviewer.get(url)
    assert response.status_code == 403
    assert not netd.called("clients")
    assert changes(netd) == []


def test_signed_out_is_sent_to_sign_in(app: Flask) -> None:
    assert app.test_client().get("/klien").status_code == 302
    assert app.test_client().get("/api/v1/clients").status_code == 401


# -- the list, search and pages --------------------------------------------------------------


def test_the_list_is_newest_first_fifty_a_page(operator: Browser, netd: FakeNetd) -> None:
    netd.calls.clear()
    page = operator.get("/klien")
    macs = rows_of(page.text)
    assert len(macs) == PER_PAGE
    assert macs[0] == client_row(500)["mac"]
    assert macs[1] == client_row(119)["mac"]
    assert "121" in page.text and "1 dari 3" in page.text
    assert len(netd.called("clients")) == 1
    second = operator.post("/klien", {"page": "2"})
    assert rows_of(second.text)[0] == client_row(70)["mac"]


def test_api_pages(operator: Browser) -> None:
    body = operator.get("/api/v1/clients?q=&site=&page=3").json
    assert (body["total"], body["page"], body["pages"], body["per_page"]) == (121, 3, 3, 50)
    assert [c["mac"] for c in body["items"]] == [client_row(i)["mac"] for i in range(21)][::-1]
    assert body["items"][0] == client_row(20)
    beyond = operator.get("/api/v1/clients?page=9").json
    assert (beyond["items"], beyond["total"]) == ([], 121)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("10.40.1.12", [10, 118, 119]),  # .12, .120 and .121
        ("02:5e:00:00:00:0a", [10]),
        ("02-5E-00-00-00-0A", [10]),
        ("00000a", [10]),
        ("00:7", [7, 112, 113, 114, 115, 116, 117, 118, 119]),
    ],
)
def test_search_by_address_or_mac(operator: Browser, q: str, expected: list[int]) -> None:
    body = operator.get(f"/api/v1/clients?q={q}").json
    assert [c["mac"] for c in body["items"]] == [client_row(i)["mac"] for i in expected][::-1]


def test_search_by_site_and_text_together(operator: Browser) -> None:
    body = operator.get("/api/v1/clients?site=taman-cik-puan").json
    assert [c["mac"] for c in body["items"]] == [client_row(500)["mac"]]
    assert operator.get("/api/v1/clients?site=taman-cik-puan&q=10.40.1").json["total"] == 0


def test_a_search_is_posted_so_no_mac_is_in_a_url(operator: Browser) -> None:
    page = operator.post("/klien", {"q": "02:5e:00:00:00:0a"})
    assert rows_of(page.text) == [client_row(10)["mac"]]
    assert 'value="02:5e:00:00:00:0a"' in page.text  # what was typed stays
    links = re.findall(r'(?:href|action)="([^"]*)"', operator.get("/klien").text)
    assert links and not any(re.search(r"[0-9a-f]{2}[:%-]", link) for link in links)


def test_ten_thousand_clients_one_netd_call(operator: Browser, netd: FakeNetd) -> None:
    netd.answers["clients"] = [client_row(i) for i in range(10_000)]
    netd.calls.clear()
    body = operator.get("/api/v1/clients?q=02:5e:00:00:27&page=2").json
    assert body["total"] == 16 and body["items"] == []
    page = operator.get("/klien?page=200")
    assert len(rows_of(page.text)) == PER_PAGE
    assert len(netd.called("clients")) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("q=10.40%25", "q"),
        ("q=" + "1" * 41, "q"),
        ("q=<script>", "q"),
        ("site=Not_A_Slug", "site"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("page=1.5", "page"),
        ("page=100001", "page"),
        ("colour=red", "colour"),
    ],
)
def test_bad_queries_are_refused_without_asking_netd(
    operator: Browser, netd: FakeNetd, query: str, field: str
) -> None:
    netd.calls.clear()
    response = operator.get(f"/api/v1/clients?{query}")
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert not netd.called("clients")


def test_a_bad_search_on_the_page_says_which_field(operator: Browser, netd: FakeNetd) -> None:
    netd.calls.clear()
    page = operator.post("/klien", {"q": "semua%", "site": "rtm-lam"})
    assert page.status_code == 422
    assert 'class="field-error"' in page.text
    assert 'value="semua%"' in page.text
    assert not netd.called("clients")


def test_no_client_online(operator: Browser, netd: FakeNetd) -> None:
    netd.answers["clients"] = []
    page = operator.get("/klien")
    assert page.status_code == 200
    assert "Belum ada klien daring" in page.text


def test_netd_away_is_a_message_not_a_crash(operator: Browser, netd: FakeNetd) -> None:
    netd.answers["clients"] = ApiError("unavailable", "netd is not running")
    page = operator.get("/klien")
    assert page.status_code == 503
    assert "netd is not running" in page.text
    assert operator.get("/api/v1/clients").status_code == 503


# -- disconnect --------------------------------------------------------------------------------


def test_disconnect_from_the_page(operator: Browser, netd: FakeNetd) -> None:
    response = operator.post("/klien/putus", {"mac": "02-5E-00-01-01-01", "ip": IP,
                                              "site": "rtm-lam", "page": "2"})  # fmt: skip
    assert response.status_code == 302
    assert response.location == "/klien?site=rtm-lam&page=2"
    assert netd.called("deauthorize") == [
        {"mac": MAC, "ip": IP, "reason": "admin", "on_behalf": "operator"}
    ]


def test_disconnect_through_the_api(browsers: dict[str, Browser], netd: FakeNetd) -> None:
    response = browsers["admin"].send("POST", "/api/v1/clients/disconnect",
                                          {"mac": MAC, "ip": IP})  # fmt: skip
    assert response.status_code == 200
    assert response.json == {"ended": True}
    assert netd.called("deauthorize") == [
        {"mac": MAC, "ip": IP, "reason": "admin", "on_behalf": "admin"}
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mac": "02:5e:00:01:01", "ip": IP}, "mac"),
        ({"mac": "ff:ff:ff:ff:ff:ff", "ip": IP}, "mac"),
        ({"mac": MAC, "ip": "10.40.1.500"}, "ip"),
        ({"mac": MAC, "ip": "not-an-ip"}, "ip"),
        ({"mac": MAC}, "ip"),
        ({"ip": IP}, "mac"),
        ({"mac": MAC, "ip": IP, "reason": "x"}, "reason"),
        ({"mac": 5, "ip": IP}, "mac"),
    ],
)
def test_bad_disconnects_are_refused_with_nothing_sent(
    operator: Browser, netd: FakeNetd, body: dict[str, Any], field: str
) -> None:
    response = operator.send("POST", "/api/v1/clients/disconnect", body)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert changes(netd) == []


def test_a_bad_disconnect_form_names_the_field(operator: Browser, netd: FakeNetd) -> None:
    response = operator.post("/klien/putus", {"mac": MAC, "ip": "10.40.1"})
    assert response.status_code == 422
    assert "ip:" in response.text
    assert changes(netd) == []


# -- block and unblock -----------------------------------------------------------------------


def test_block_from_the_page(operator: Browser, netd: FakeNetd) -> None:
    response = operator.post("/klien/blokir", {"mac": MAC, "blocked": "true"})
    assert response.status_code == 302
    assert netd.called("client_block") == [{"mac": MAC, "blocked": True, "on_behalf": "operator"}]
    assert "diblokir" in operator.get("/klien").text


def test_unblock_from_the_blocked_list(operator: Browser, netd: FakeNetd) -> None:
    page = operator.get("/klien")
    assert f"<code>{BLOCKED}</code>" in page.text
    assert operator.post("/klien/blokir", {"mac": BLOCKED, "blocked": "false"}).status_code == 302
    assert netd.called("client_block") == [
        {"mac": BLOCKED, "blocked": False, "on_behalf": "operator"}
    ]


def test_the_blocked_list_is_read_afresh_after_a_block(operator: Browser, netd: FakeNetd) -> None:
    operator.get("/klien")
    netd.document["portal"]["mac_block"] = [BLOCKED, MAC]
    operator.post("/klien/blokir", {"mac": MAC, "blocked": "true"})
    assert f"<code>{MAC}</code>" in operator.get("/klien").text


def test_block_through_the_api(operator: Browser, netd: FakeNetd) -> None:
    response = operator.send("POST", "/api/v1/clients/block", {"mac": MAC, "blocked": True})
    assert response.status_code == 200
    assert response.json["sessions_ended"] == 1
    assert netd.called("client_block") == [{"mac": MAC, "blocked": True, "on_behalf": "operator"}]
    assert operator.get("/api/v1/clients/blocked").json == [BLOCKED]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mac": MAC, "blocked": "yes"}, "blocked"),
        ({"mac": MAC, "blocked": 1}, "blocked"),
        ({"mac": MAC}, "blocked"),
        ({"mac": "01:00:5e:00:00:01", "blocked": True}, "mac"),
        ({"mac": "", "blocked": True}, "mac"),
    ],
)
def test_bad_blocks_are_refused_with_nothing_sent(
    operator: Browser, netd: FakeNetd, body: dict[str, Any], field: str
) -> None:
    response = operator.send("POST", "/api/v1/clients/block", body)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert changes(netd) == []


def test_a_bad_block_form_is_refused(operator: Browser, netd: FakeNetd) -> None:
    assert operator.post("/klien/blokir", {"mac": MAC, "blocked": "maybe"}).status_code == 422
    assert changes(netd) == []


def test_netd_refusing_a_block_is_shown(operator: Browser, netd: FakeNetd) -> None:
    netd.answers["client_block"] = ApiError("pending", "a change is waiting for confirmation")
    response = operator.send("POST", "/api/v1/clients/block", {"mac": MAC, "blocked": True})
    assert response.status_code == 409
    assert "waiting for confirmation" in response.json["error"]["message"]
    page = operator.post("/klien/blokir", {"mac": MAC, "blocked": "true"}, follow_redirects=True)
    assert "waiting for confirmation" in page.text


# -- recent ended sessions -------------------------------------------------------------------


@pytest.fixture
def sessions(app: Flask) -> Iterator[list[tuple[str, str]]]:
    """netd's store with sessions: 60 ended within the week, one ended 8 days ago, one open;
    the (mac, ip) of the ended recent ones, newest first. Removed after the test."""
    clock = Clock(T0)
    ended = []
    path = Path(app.config["STATE_DIR"]) / "simpul.db"
    with Store(str(path), clock=clock) as store:
        clock.now = T0 + DAY - 8 * DAY
        store.open_session("02:5e:00:0d:0d:0d", "10.40.1.9", site="rtm-lam", method="video",
                           duration_s=60, actor="test")  # fmt: skip
        store.end_session("02:5e:00:0d:0d:0d", "10.40.1.9", reason="admin", actor="test")
        for i in range(60):
            clock.now = T0 + i * 60
            mac, ip = f"02:5e:00:00:00:{i:02x}", f"10.40.1.{i + 2}"
            store.open_session(mac, ip, site="rtm-lam", method="voucher", duration_s=600,
                               actor="test")  # fmt: skip
            clock.now += 30
            store.end_session(mac, ip, reason="logout", actor="test")
            ended.append((mac, ip))
        store.open_session(MAC, IP, site="rtm-lam", method="video", duration_s=600, actor="t")
    yield ended[::-1]
    for made in path.parent.glob("simpul.db*"):
        made.unlink()


def test_recent_sessions_newest_first_with_pages(
    operator: Browser, sessions: list[tuple[str, str]]
) -> None:
    body = operator.get("/api/v1/sessions").json
    assert [(s["mac"], s["ip"]) for s in body["items"]] == sessions[:PER_PAGE]
    assert body["more"] is True
    assert body["items"][0]["end_reason"] == "logout"
    older = operator.get("/api/v1/sessions?page=2").json
    assert [(s["mac"], s["ip"]) for s in older["items"]] == sessions[PER_PAGE:]
    assert older["more"] is False
    page = operator.get("/klien/riwayat")
    assert page.status_code == 200
    assert sessions[0][0] in page.text
    assert MAC not in page.text  # still open
    assert "02:5e:00:0d:0d:0d" not in page.text  # older than a week


@pytest.mark.parametrize(
    ("q", "expected"), [("10.40.1.61", [59]), ("0000:3B", [59]), ("02-5e-00-00-00-0a", [10])]
)
def test_recent_sessions_search(
    operator: Browser, sessions: list[tuple[str, str]], q: str, expected: list[int]
) -> None:
    page = operator.post("/klien/riwayat", {"q": q})
    assert page.status_code == 200
    found = re.findall(r"<td><code>([0-9a-f:]+)</code></td>", page.text)
    assert found == [f"02:5e:00:00:00:{i:02x}" for i in expected]


def test_recent_sessions_without_a_store(operator: Browser) -> None:
    page = operator.get("/klien/riwayat")
    assert page.status_code == 503
    assert "belum tersedia" in page.text
    response = operator.get("/api/v1/sessions")
    assert (response.status_code, response.json["error"]["code"]) == (503, "no-store")


def test_recent_sessions_bad_query(operator: Browser) -> None:
    response = operator.get("/api/v1/sessions?q=%27%20OR%201")
    assert response.status_code == 422
    assert "q" in response.json["error"]["fields"]
