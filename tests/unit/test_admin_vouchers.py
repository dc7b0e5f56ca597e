"""The console's voucher pages and API (`portal.admin.vouchers`). The fake netd answers the
voucher methods with netd's own `VoucherApi` over a real store in a temporary directory, the
store the printed sheet reads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from netctl.errors import RequestError
from netctl.protocol import ApiError
from netctl.voucher_api import VoucherApi
from portal.admin.vouchers import PER_PAGE
from simpul import vouchers
from simpul.config import load_config_file
from simpul.store import Store
from tests.unit.admin_helpers import LAB_CONFIG, Browser, FakeNetd, renew, shared_console

T0 = 1_700_000_000.0
CODE = re.compile(r"[2-9A-HJ-KMNP-TW-Z]{5}-?[2-9A-HJ-KMNP-TW-Z]{5}")


def as_netd(method: Any) -> Any:
    """A VoucherApi method answering like netd: the console's user as the actor, a refusal
    as ApiError."""

    def answer(params: dict[str, Any]) -> Any:
        params = dict(params)
        actor = f"{params.pop('on_behalf', 'nobody')} via simpul-admin(uid 998)"
        try:
            return method({**params, "_actor": actor})
        except RequestError as exc:
            raise ApiError(exc.code, str(exc)) from None

    return answer


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Flask, FakeNetd, dict[str, Any]]:
    """One console and one browser per role for the module."""
    return shared_console(tmp_path_factory.mktemp("console"), CLOCK=lambda: T0)


@pytest.fixture
def store(shared: tuple[Flask, FakeNetd, dict[str, Any]]) -> Iterator[Store]:
    """netd's store (with examples/lab.yaml) in the console's state directory; removed after
    the test."""
    path = Path(shared[0].config["STATE_DIR"]) / "simpul.db"
    with Store(str(path), clock=lambda: T0) as opened:
        opened.import_config(load_config_file(str(LAB_CONFIG)), actor="test")
        yield opened
    for made in path.parent.glob("simpul.db*"):
        made.unlink()


@pytest.fixture
def netd(shared: tuple[Flask, FakeNetd, dict[str, Any]], store: Store) -> FakeNetd:
    """The module's fake netd, made afresh, its voucher methods netd's own over `store`."""
    api = VoucherApi(store, lambda: T0)
    return renew(shared[0], shared[1], {"voucher_create": as_netd(api.create),
                                        "voucher_batches": as_netd(api.batches)})  # fmt: skip


@pytest.fixture
def browsers(shared: tuple[Flask, FakeNetd, dict[str, Any]], netd: FakeNetd) -> dict[str, Any]:
    return shared[2]


@pytest.fixture
def operator(browsers: dict[str, Browser]) -> Browser:
    return browsers["operator"]


def batches(store: Store) -> int:
    return store.db.execute("SELECT COUNT(*) FROM voucher_batch").fetchone()[0]


def make(operator: Browser, **body: Any) -> dict[str, Any]:
    response = operator.send("POST", "/api/v1/vouchers", {"count": 4, "minutes": 90, **body})
    assert response.status_code == 201, response.json
    return response.json


# -- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_admin_and_operator_may_make_and_print(
    browsers: dict[str, Browser], netd: FakeNetd, role: str
) -> None:
    browser = browsers[role]
    assert browser.get("/voucher").status_code == 200
    batch = make(browser)["batch"]
    assert browser.get(f"/voucher/{batch}").status_code == 200
    assert browser.get(f"/voucher/{batch}/cetak").status_code == 200
    assert browser.get("/voucher/lembar.css").status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("GET", "/voucher", None),
        ("POST", "/voucher", {"count": "5", "minutes": "60"}),
        ("GET", "/voucher/1", None),
        ("GET", "/voucher/1/cetak", None),
        ("GET", "/voucher/lembar.css", None),
        ("POST", "/api/v1/vouchers", {"count": 5, "minutes": 60}),
        ("GET", "/api/v1/vouchers", None),
        ("GET", "/api/v1/vouchers/1", None),
    ],
)
def test_a_reviewer_is_refused_everywhere(
    browsers: dict[str, Browser], netd: FakeNetd, store: Store, method: str, url: str, data: Any
) -> None:
    store.add_voucher_batch(["K7QM4XR2HB"], minutes=60, site=None, actor="test")
    reviewer = browsers["reviewer"]
    if url.startswith("/api/"):
        response = reviewer.send(method, url, data)
    elif method == "POST":
        response = reviewer.post(url, data)
    else:
        response = reviewer.get(url)
    assert response.status_code == 403
    assert "K7QM4" not in response.text
    assert not netd.called("voucher_create") and not netd.called("voucher_batches")
    assert batches(store) == 1


# -- making a batch --------------------------------------------------------------------------


def test_make_a_batch_from_the_page(operator: Browser, netd: FakeNetd, store: Store) -> None:
    response = operator.post("/voucher", {"site": "rtm-lam", "count": "12", "minutes": "120",
                                          "note": "Lomba 17 Agustus"})  # fmt: skip
    assert response.status_code == 302
    assert response.location == "/voucher/1"
    assert netd.called("voucher_create") == [
        {"site": "rtm-lam", "count": 12, "minutes": 120, "note": "Lomba 17 Agustus",
         "on_behalf": "operator"}
    ]  # fmt: skip
    stored = store.voucher_batch(1)
    assert len(stored) == 12 and {v.site for v in stored} == {"rtm-lam"}
    page = operator.get("/voucher/1")
    assert "Batch 1 dibuat: 12 voucher" in page.text
    assert "RTM LAM Selatpanjang" in page.text and "Lomba 17 Agustus" in page.text
    assert not any(v.code[:5] in page.text for v in stored)  # codes only on the sheet
    entry = store.audit_log(1, action="voucher.")[0]
    assert entry["actor"] == "operator via simpul-admin(uid 998)"


def test_make_a_batch_for_every_site(operator: Browser, netd: FakeNetd) -> None:
    operator.post("/voucher", {"site": "", "count": "3", "minutes": "60", "note": ""})
    assert netd.called("voucher_create") == [
        {"site": None, "count": 3, "minutes": 60, "note": "", "on_behalf": "operator"}
    ]


def test_make_a_batch_through_the_api(operator: Browser, netd: FakeNetd, store: Store) -> None:
    made = make(operator, site="taman-cik-puan", note="rapat")
    assert made["batch"] == 1 and made["count"] == 4 and made["site"] == "taman-cik-puan"
    assert sorted(vouchers.normalize(c) for c in made["codes"]) == sorted(
        v.code for v in store.voucher_batch(1)
    )
    assert netd.called("voucher_create") == [
        {"site": "taman-cik-puan", "count": 4, "minutes": 90, "note": "rapat",
         "on_behalf": "operator"}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"count": 0, "minutes": 60}, "count"),
        ({"count": 501, "minutes": 60}, "count"),
        ({"count": "5", "minutes": 60}, "count"),
        ({"count": 5.0, "minutes": 60}, "count"),
        ({"count": True, "minutes": 60}, "count"),
        ({"minutes": 60}, "count"),
        ({"count": 5, "minutes": 0}, "minutes"),
        ({"count": 5, "minutes": 7 * 24 * 60 + 1}, "minutes"),
        ({"count": 5}, "minutes"),
        ({"count": 5, "minutes": 60, "note": "x" * 81}, "note"),
        ({"count": 5, "minutes": 60, "site": "RTM LAM"}, "site"),
        ({"count": 5, "minutes": 60, "expires": 3}, "expires"),
    ],
)
def test_bad_batches_are_refused_with_nothing_sent(
    operator: Browser, netd: FakeNetd, store: Store, body: dict[str, Any], field: str
) -> None:
    response = operator.send("POST", "/api/v1/vouchers", body)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert not netd.called("voucher_create")
    assert batches(store) == 0


def test_a_bad_form_shows_the_field_and_keeps_what_was_typed(
    operator: Browser, netd: FakeNetd, store: Store
) -> None:
    page = operator.post("/voucher", {"site": "rtm-lam", "count": "lima", "minutes": "30",
                                      "note": "untuk RT 04"})  # fmt: skip
    assert page.status_code == 422
    assert 'class="field-error"' in page.text
    assert 'value="lima"' in page.text and 'value="untuk RT 04"' in page.text
    assert re.search(r'value="rtm-lam"\s+selected', page.text)
    assert not netd.called("voucher_create")
    assert batches(store) == 0


def test_netd_refusing_a_site_is_shown(operator: Browser, netd: FakeNetd, store: Store) -> None:
    response = operator.send("POST", "/api/v1/vouchers", {"count": 2, "minutes": 60,
                                                         "site": "pulau-merbau"})  # fmt: skip
    assert response.status_code == 422
    assert "no hotspot site 'pulau-merbau'" in response.json["error"]["message"]
    page = operator.post("/voucher", {"site": "pulau-merbau", "count": "2", "minutes": "60"})
    assert page.status_code == 422
    assert "no hotspot site" in page.text
    assert batches(store) == 0


# -- listing ---------------------------------------------------------------------------------


def test_batches_are_listed_with_counts_and_no_codes(
    operator: Browser, netd: FakeNetd, store: Store
) -> None:
    first = make(operator, count=5)
    make(operator, count=2, site="rtm-lam")
    store.first_use_of(vouchers.normalize(first["codes"][0]))
    listed = operator.get("/api/v1/vouchers").json
    assert [(b["batch"], b["count"], b["used"], b["unused"]) for b in listed] == [
        (2, 2, 0, 2),
        (1, 5, 1, 4),
    ]
    one = operator.get("/api/v1/vouchers/1").json
    assert (one["batch"], one["minutes"], one["running"]) == (1, 90, 1)
    page = operator.get("/voucher")
    assert "/voucher/2" in page.text and "/voucher/1" in page.text
    for text in (page.text, operator.get("/voucher/1").text, str(listed), str(one)):
        assert not CODE.search(text)
    assert netd.called("voucher_batches")[-1] == {"batch": 1, "on_behalf": "operator"}


def test_older_batches_page(operator: Browser, netd: FakeNetd) -> None:
    operator.get("/voucher?before=3")
    assert netd.called("voucher_batches") == [
        {"limit": PER_PAGE, "before": 3, "on_behalf": "operator"}
    ]
    operator.get("/api/v1/vouchers")
    assert netd.called("voucher_batches")[-1] == {
        "limit": PER_PAGE,
        "before": None,
        "on_behalf": "operator",
    }


@pytest.mark.parametrize("query", ["before=0", "before=x", "after=2"])
def test_bad_list_queries(operator: Browser, netd: FakeNetd, query: str) -> None:
    assert operator.get(f"/api/v1/vouchers?{query}").status_code == 422
    assert not netd.called("voucher_batches")


def test_no_batch_yet(operator: Browser) -> None:
    page = operator.get("/voucher")
    assert page.status_code == 200
    assert "Belum ada batch voucher" in page.text
    assert operator.get("/api/v1/vouchers").json == []


@pytest.mark.parametrize("batch", [0, 7, 2**63])
def test_a_missing_batch_is_404(operator: Browser, batch: int) -> None:
    assert operator.get(f"/api/v1/vouchers/{batch}").status_code == 404
    assert operator.get(f"/voucher/{batch}").status_code == 404
    assert operator.get(f"/voucher/{batch}/cetak").status_code == 404


# -- printing --------------------------------------------------------------------------------


def test_the_sheet_is_the_clis_with_its_style_linked(operator: Browser, store: Store) -> None:
    made = make(operator, count=6, minutes=150, site="rtm-lam")
    response = operator.get(f"/voucher/{made['batch']}/cetak")
    assert response.status_code == 200
    codes = [v.code for v in store.voucher_batch(made["batch"])]
    info = vouchers.SheetInfo("Kabupaten Kepulauan Meranti", "RTM LAM Selatpanjang", 150, 1)
    expected = vouchers.sheet_html(info, codes, stylesheet_href="/voucher/lembar.css")
    assert response.text == expected
    assert sorted(CODE.findall(response.text)) == sorted(made["codes"])
    assert "<style" not in response.text and "style=" not in response.text
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    css = operator.get("/voucher/lembar.css")
    assert css.mimetype == "text/css"
    assert "@page" in css.text and ".card" in css.text


def test_the_sheet_of_a_batch_for_every_site(operator: Browser) -> None:
    made = make(operator, count=1)
    assert "semua lokasi" in operator.get(f"/voucher/{made['batch']}/cetak").text


def test_no_store_yet_means_no_sheet(
    shared: tuple[Flask, FakeNetd, dict[str, Any]], operator: Browser, store: Store
) -> None:
    make(operator, count=1)
    for made in Path(shared[0].config["STATE_DIR"]).glob("simpul.db*"):
        made.unlink()
    page = operator.get("/voucher/1/cetak")
    assert page.status_code == 503
    assert "belum tersedia" in page.text
