"""The Changes page and its API (portal.admin.changes, portal.admin.drafts): the draft's problems or
diffs, apply (now or on probation) with the draft's document and base revision, netd's refusals,
confirm, discard, the probation banner on every page, the revisions, and who may do any of it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask

from netctl.protocol import ApiError
from portal.admin.accounts import ConsoleDb, Draft
from tests.unit.admin_helpers import Browser, FakeNetd, role_clients, sign_in

CONFIG_DIFF = "--- tersimpan\n+++ draf\n@@ -1,2 +1,2 @@\n-name: lama\n+name: baru\n konteks"
RULESET_DIFF = "--- diterapkan\n+++ draf\n@@ -9 +9 @@\n-  elements = { 1 }\n+  elements = { 2 }"
PENDING = {"revision": 8, "previous": 7, "deadline": 1_780_000_120.0, "actor": "admin",
           "seconds_left": 97.6}  # fmt: skip
REVISIONS = [
    {"id": 8, "at": 1_780_000_000.0, "actor": "admin", "comment": "OPD <baru>"},
    {"id": 7, "at": 1_779_000_000.0, "actor": "ansible", "comment": ""},
]
CONFIGURE_PAGES = [
    ("GET", "/perubahan"),
    ("GET", "/perubahan/riwayat"),
    ("POST", "/perubahan/terapkan"),
    ("POST", "/perubahan/konfirmasi"),
    ("POST", "/perubahan/buang"),
]
CONFIGURE_API = [
    ("GET", "/api/v1/draft"),
    ("PUT", "/api/v1/draft"),
    ("DELETE", "/api/v1/draft"),
    ("GET", "/api/v1/draft/preview"),
    ("POST", "/api/v1/draft/apply"),
    ("POST", "/api/v1/config/confirm"),
    ("GET", "/api/v1/config/revisions"),
]
NETD_CHANGES = ("config_apply", "config_confirm")


def valid_preview(params: dict[str, Any]) -> dict[str, Any]:
    return {"valid": True, "changed": True, "config_diff": CONFIG_DIFF,
            "ruleset_diff": RULESET_DIFF, "base_revision": 7}  # fmt: skip


def applied(params: dict[str, Any]) -> dict[str, Any]:
    confirm_by = None if params["confirm_s"] is None else 1_780_000_000.0 + params["confirm_s"]
    return {"revision": 8, "changed": True, "stats": {}, "confirm_by": confirm_by}


@pytest.fixture
def netd() -> FakeNetd:
    return FakeNetd({
        "config_preview": valid_preview, "config_apply": applied,
        "config_confirm": {"confirmed": 8}, "config_revisions": REVISIONS,
    })  # fmt: skip


def edited_document(netd: FakeNetd) -> dict[str, Any]:
    document = copy.deepcopy(netd.document)
    document["opds"][0]["name"] = "Dinas Komunikasi dan Informatika (baru)"
    return document


def saved_draft(app: Flask, user: str) -> Draft | None:
    db = ConsoleDb(app.config["ADMIN_DB"])
    try:
        return db.draft(user)
    finally:
        db.close()


def keep_draft(app: Flask, user: str, base_revision: int, document: dict[str, Any]) -> None:
    db = ConsoleDb(app.config["ADMIN_DB"])
    try:
        db.save_draft(user, base_revision, document)
    finally:
        db.close()


def flashes(html: str) -> list[str]:
    """The flashed messages on a page."""
    return [line.split(">", 1)[1].split("<", 1)[0]
            for line in html.splitlines() if 'role="status"' in line]  # fmt: skip


# -- the page ------------------------------------------------------------------------------------


def test_no_draft(admin: Browser) -> None:
    page = admin.get("/perubahan")
    assert page.status_code == 200
    assert "Tidak ada draf." in page.text
    assert "/perubahan/terapkan" not in page.text and "/perubahan/buang" not in page.text


def test_an_invalid_draft_shows_its_problems(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    netd.answers["config_preview"] = {"valid": False, "problems": [
        {"path": "opds.0.slug", "message": "bukan slug: <b>Dinkes</b>"},
        {"path": "policies", "message": "kebijakan 'x' tidak ada"}]}  # fmt: skip
    keep_draft(app, "admin", 7, edited_document(netd))
    page = admin.get("/perubahan")
    assert page.status_code == 200 and "Draf belum sah" in page.text
    assert "<li><code>opds.0.slug</code>: bukan slug: &lt;b&gt;Dinkes&lt;/b&gt;</li>" in page.text
    assert "<code>policies</code>" in page.text
    assert "/perubahan/terapkan" not in page.text  # nothing to apply
    assert "/perubahan/buang" in page.text  # but it can be thrown away
    assert netd.called("config_preview") == [
        {"document": edited_document(netd), "on_behalf": "admin"}
    ]


def test_a_refused_preview_is_shown_as_a_problem(
    app: Flask, admin: Browser, netd: FakeNetd
) -> None:
    netd.answers["config_preview"] = OSError("no socket")
    keep_draft(app, "admin", 7, edited_document(netd))
    page = admin.get("/perubahan")
    assert page.status_code == 200 and "Draf belum sah" in page.text
    assert "<code>netd-unreachable</code>" in page.text


def test_a_valid_draft_shows_both_diffs_and_the_apply_form(
    app: Flask, admin: Browser, netd: FakeNetd
) -> None:
    keep_draft(app, "admin", 7, edited_document(netd))
    page = admin.get("/perubahan")
    assert '<span class="del">-name: lama</span>' in page.text
    assert '<span class="add">+name: baru</span>' in page.text
    assert '<span class="hunk">@@ -1,2 +1,2 @@</span>' in page.text
    assert '<span class="add">+  elements = { 2 }</span>' in page.text
    assert "Perbedaan ruleset (5 baris)" in page.text
    assert 'action="/perubahan/terapkan"' in page.text
    assert 'name="confirm" value="1" checked' in page.text and "120 detik" in page.text
    assert "Draf dibuat dari revisi" not in page.text


def test_a_draft_made_from_an_older_revision_is_flagged(
    app: Flask, admin: Browser, netd: FakeNetd
) -> None:
    keep_draft(app, "admin", 5, edited_document(netd))
    page = admin.get("/perubahan")
    assert "Draf dibuat dari revisi 5, tetapi yang tersimpan kini revisi 7." in page.text


@pytest.mark.parametrize(
    ("form", "confirm_s", "message"),
    [
        ({"confirm": "1", "comment": "OPD baru"}, 120,
         "Diterapkan sebagai revisi 8. Konfirmasi dalam 120 detik, atau perubahan dibatalkan "
         "otomatis."),
        ({"comment": "OPD baru"}, None, "Diterapkan sebagai revisi 8."),
    ],
)  # fmt: skip
def test_apply_sends_the_draft_and_drops_it(
    app: Flask,
    admin: Browser,
    netd: FakeNetd,
    form: dict[str, str],
    confirm_s: int | None,
    message: str,
) -> None:
    document = edited_document(netd)
    keep_draft(app, "admin", 7, document)
    response = admin.post("/perubahan/terapkan", form)
    assert response.status_code == 302 and response.headers["Location"] == "/perubahan"
    assert netd.called("config_apply") == [{
        "document": document, "base_revision": 7, "confirm_s": confirm_s,
        "comment": "OPD baru", "on_behalf": "admin"}]  # fmt: skip
    assert saved_draft(app, "admin") is None
    assert message in flashes(admin.get("/perubahan").text)


def test_applying_nothing_new(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    netd.answers["config_apply"] = {"revision": None, "changed": False, "confirm_by": None}
    keep_draft(app, "admin", 7, netd.document)
    admin.post("/perubahan/terapkan")
    assert "Tidak ada yang berubah." in flashes(admin.get("/perubahan").text)
    assert saved_draft(app, "admin") is None


def test_applying_without_a_draft(admin: Browser, netd: FakeNetd) -> None:
    admin.post("/perubahan/terapkan", {"confirm": "1"})
    assert "Tidak ada draf untuk diterapkan." in flashes(admin.get("/perubahan").text)
    assert netd.called("config_apply") == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("conflict", "the draft was made from revision 6, but revision 7 is now stored"),
        ("pending", "a change is waiting for confirmation: confirm it or let it roll back"),
        ("invalid-config", "opds.0.slug: bukan slug"),
    ],
)
def test_netds_refusal_is_shown_and_the_draft_kept(
    app: Flask, admin: Browser, netd: FakeNetd, code: str, message: str
) -> None:
    netd.answers["config_apply"] = ApiError(code, message)
    keep_draft(app, "admin", 6, edited_document(netd))
    response = admin.post("/perubahan/terapkan", {"confirm": "1"})
    assert response.status_code == 302
    assert flashes(admin.get("/perubahan").text) == [message]
    assert saved_draft(app, "admin").document == edited_document(netd)  # type: ignore[union-attr]


def test_confirm(admin: Browser, netd: FakeNetd) -> None:
    response = admin.post("/perubahan/konfirmasi", {"back": "/akun"})
    assert response.status_code == 302 and response.headers["Location"] == "/akun"
    assert netd.called("config_confirm") == [{"on_behalf": "admin"}]
    assert "Revisi 8 dikonfirmasi." in flashes(admin.get("/akun").text)
    netd.answers["config_confirm"] = ApiError("not-pending", "no change is waiting")
    response = admin.post("/perubahan/konfirmasi")
    assert response.headers["Location"] == "/perubahan"
    assert "no change is waiting" in flashes(admin.get("/perubahan").text)


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example"])
def test_confirm_goes_back_only_to_a_page_here(admin: Browser, back: str) -> None:
    response = admin.post("/perubahan/konfirmasi", {"back": back})
    assert response.status_code == 302 and response.headers["Location"] == "/perubahan"


def test_discard(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    keep_draft(app, "admin", 7, edited_document(netd))
    response = admin.post("/perubahan/buang")
    assert response.status_code == 302 and response.headers["Location"] == "/perubahan"
    assert saved_draft(app, "admin") is None
    assert "Draf dibuang." in flashes(admin.get("/perubahan").text)
    assert not [m for m, _p in netd.calls if m in NETD_CHANGES]


def test_drafts_are_per_user(app: Flask, netd: FakeNetd) -> None:
    first = sign_in(app, "admin")
    second = sign_in(app, "admin", "kedua")
    keep_draft(app, "kedua", 7, edited_document(netd))
    first.post("/perubahan/buang")
    first.post("/perubahan/terapkan")
    assert saved_draft(app, "kedua") is not None and netd.called("config_apply") == []
    assert second.get("/api/v1/draft").json["has_draft"] is True
    assert first.get("/api/v1/draft").json["has_draft"] is False


def test_the_revisions_page(admin: Browser, netd: FakeNetd) -> None:
    page = admin.get("/perubahan/riwayat")
    assert page.status_code == 200
    assert "<td>8</td>" in page.text and "OPD &lt;baru&gt;" in page.text
    assert "ansible" in page.text
    assert netd.called("config_revisions") == [{"limit": 100, "on_behalf": "admin"}]


def test_the_unapplied_draft_banner(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    banner = "Ada draf yang belum diterapkan"
    assert banner not in admin.get("/akun").text
    keep_draft(app, "admin", 7, edited_document(netd))
    assert banner in admin.get("/akun").text
    assert banner not in admin.get("/perubahan").text  # the page it points to


# -- the probation banner ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/akun", "/perubahan", "/perubahan/riwayat", "/tidak-ada"])
def test_the_probation_banner_is_on_every_page(admin: Browser, netd: FakeNetd, path: str) -> None:
    assert "menunggu konfirmasi" not in admin.get(path).text
    netd.answers["config_pending"] = PENDING
    page = admin.get(path).text
    assert "Revisi 8 menunggu konfirmasi: dibatalkan otomatis dalam" in page
    assert '<strong class="countdown" data-seconds="97">97</strong> detik' in page
    assert f'data-deadline="{PENDING["deadline"]}"' in page
    assert 'action="/perubahan/konfirmasi"' in page
    assert f'name="back" value="{path}"' in page


def test_the_probation_banner_without_the_confirm_button(app: Flask, netd: FakeNetd) -> None:
    netd.answers["config_pending"] = PENDING
    for browser in (sign_in(app, "reviewer"), sign_in(app, "operator")):
        page = browser.get("/akun").text
        assert "Revisi 8 menunggu konfirmasi" in page
        assert "/perubahan/konfirmasi" not in page


def test_the_banner_is_a_courtesy(admin: Browser, netd: FakeNetd) -> None:
    netd.answers["config_pending"] = OSError("netd away")
    page = admin.get("/akun")
    assert page.status_code == 200 and "menunggu konfirmasi" not in page.text


def test_no_banner_before_sign_in(app: Flask, netd: FakeNetd) -> None:
    netd.answers["config_pending"] = PENDING
    assert "menunggu konfirmasi" not in app.test_client().get("/masuk").text
    assert netd.called("config_pending") == []


# -- the API -------------------------------------------------------------------------------------


def test_the_draft_api(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    empty = admin.get("/api/v1/draft").json
    assert empty == {"base_revision": 7, "document": netd.document, "has_draft": False}
    document = edited_document(netd)
    put = admin.send("PUT", "/api/v1/draft", {"document": document})
    assert put.status_code == 200
    assert put.json == {"base_revision": 7, "document": document, "has_draft": True}
    netd.revision = 9  # someone else applied meanwhile: the draft keeps its base
    assert admin.get("/api/v1/draft").json == put.json
    replaced = admin.send("PUT", "/api/v1/draft", {"document": {"opds": []}}).json
    assert replaced["base_revision"] == 7
    assert saved_draft(app, "admin") is not None
    assert saved_draft(app, "admin").document == {"opds": []}  # type: ignore[union-attr]
    deleted = admin.send("DELETE", "/api/v1/draft")
    assert deleted.status_code == 200 and deleted.json == {"discarded": True}
    assert saved_draft(app, "admin") is None
    assert admin.get("/api/v1/draft").json["base_revision"] == 9


@pytest.mark.parametrize(
    "body",
    [None, [], "text", {}, {"document": []}, {"document": "x"}, {"document": {}, "extra": 1}],
)
def test_a_bad_draft_body_is_422_and_keeps_the_draft(
    app: Flask, admin: Browser, netd: FakeNetd, body: Any
) -> None:
    keep_draft(app, "admin", 7, edited_document(netd))
    response = admin.send("PUT", "/api/v1/draft", body)
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid"
    assert saved_draft(app, "admin").document == edited_document(netd)  # type: ignore[union-attr]


def test_the_preview_api(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    keep_draft(app, "admin", 6, edited_document(netd))
    preview = admin.get("/api/v1/draft/preview").json
    assert preview == {**valid_preview({}), "draft_base": 6, "has_draft": True}
    assert netd.called("config_preview") == [
        {"document": edited_document(netd), "on_behalf": "admin"}
    ]
    netd.answers["config_preview"] = ApiError("invalid", "document must be a configuration")
    refused = admin.get("/api/v1/draft/preview")
    assert refused.status_code == 422
    assert refused.json["error"] == {"code": "invalid",
                                     "message": "document must be a configuration"}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "confirm_s"),
    [
        ({}, None),
        ({"confirm_s": None}, None),
        ({"confirm_s": 10}, 10),
        ({"confirm_s": 120, "comment": "uji"}, 120),
        ({"confirm_s": 3600}, 3600),
    ],
)
def test_apply_api(
    app: Flask, admin: Browser, netd: FakeNetd, body: dict[str, Any], confirm_s: int | None
) -> None:
    document = edited_document(netd)
    keep_draft(app, "admin", 7, document)
    response = admin.send("POST", "/api/v1/draft/apply", body)
    assert response.status_code == 200 and response.json == applied({"confirm_s": confirm_s})
    assert netd.called("config_apply") == [{
        "document": document, "base_revision": 7, "confirm_s": confirm_s,
        "comment": body.get("comment", ""), "on_behalf": "admin"}]  # fmt: skip
    assert saved_draft(app, "admin") is None


@pytest.mark.parametrize(
    "body",
    [
        {"confirm_s": 9},
        {"confirm_s": 0},
        {"confirm_s": -120},
        {"confirm_s": 3601},
        {"confirm_s": "lama"},
        {"confirm_s": 12.5},
        {"comment": "x" * 201},
        {"confirm_s": 120, "force": True},
        [],
        None,
    ],
)
def test_apply_api_refuses_bad_input(app: Flask, admin: Browser, netd: FakeNetd, body: Any) -> None:
    keep_draft(app, "admin", 7, edited_document(netd))
    response = admin.send("POST", "/api/v1/draft/apply", body)
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid"
    assert netd.called("config_apply") == []
    assert saved_draft(app, "admin") is not None


def test_apply_api_fields_name_the_bad_one(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    keep_draft(app, "admin", 7, edited_document(netd))
    error = admin.send("POST", "/api/v1/draft/apply", {"confirm_s": 5000}).json["error"]
    assert list(error["fields"]) == ["confirm_s"]


def test_apply_api_without_a_draft_is_409(admin: Browser, netd: FakeNetd) -> None:
    response = admin.send("POST", "/api/v1/draft/apply", {"confirm_s": 120})
    assert response.status_code == 409 and response.json["error"]["code"] == "no-draft"
    assert netd.called("config_apply") == []


@pytest.mark.parametrize(("code", "status"), [("conflict", 409), ("pending", 409)])
def test_apply_api_passes_netds_refusal_on(
    app: Flask, admin: Browser, netd: FakeNetd, code: str, status: int
) -> None:
    netd.answers["config_apply"] = ApiError(code, f"netd says {code}")
    keep_draft(app, "admin", 7, edited_document(netd))
    response = admin.send("POST", "/api/v1/draft/apply", {"confirm_s": 120})
    assert response.status_code == status
    assert response.json["error"] == {"code": code, "message": f"netd says {code}"}
    assert saved_draft(app, "admin") is not None


def test_confirm_pending_and_revisions_api(admin: Browser, netd: FakeNetd) -> None:
    assert admin.get("/api/v1/config/pending").json is None
    netd.answers["config_pending"] = PENDING
    assert admin.get("/api/v1/config/pending").json == PENDING
    confirmed = admin.send("POST", "/api/v1/config/confirm")
    assert confirmed.status_code == 200 and confirmed.json == {"confirmed": 8}
    assert netd.called("config_confirm") == [{"on_behalf": "admin"}]
    netd.answers["config_confirm"] = ApiError("not-pending", "no change is waiting")
    refused = admin.send("POST", "/api/v1/config/confirm")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "not-pending"
    assert admin.get("/api/v1/config/revisions").json == REVISIONS


def test_netd_away(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    netd.answers["config_document"] = OSError("no socket")
    response = admin.get("/api/v1/draft")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "netd-unreachable"


# -- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "reviewer"])
def test_only_admins_see_or_change_the_draft(app: Flask, netd: FakeNetd, role: str) -> None:
    browser = sign_in(app, role)
    keep_draft(app, role, 7, edited_document(netd))
    netd.calls.clear()
    for method, url in CONFIGURE_PAGES:
        data = {"confirm": "1", "back": "/akun"}
        response = browser.get(url) if method == "GET" else browser.post(url, data)
        assert response.status_code == 403, url
        assert "tidak boleh melakukan ini" in response.text
    for method, url in CONFIGURE_API:
        response = browser.send(method, url, {"document": {}, "confirm_s": 120})
        assert response.status_code == 403, url
        assert response.json["error"]["code"] == "forbidden"
    assert {m for m, _p in netd.calls} <= {"config_pending"}
    assert saved_draft(app, role).document == edited_document(netd)  # type: ignore[union-attr]
    # Everyone may see whether a change is on probation.
    netd.answers["config_pending"] = PENDING
    assert browser.get("/api/v1/config/pending").json == PENDING


def test_signed_out_callers_get_nothing(app: Flask, netd: FakeNetd) -> None:
    client = app.test_client()
    for method, url in [*CONFIGURE_API, ("GET", "/api/v1/config/pending")]:
        response = client.open(url, method=method, json={})
        assert response.status_code in (400, 401), url  # changes: no CSRF token either
    assert client.get("/perubahan").status_code == 302
    assert netd.calls == []


def test_every_role_can_read_the_pending_change(app: Flask, netd: FakeNetd) -> None:
    netd.answers["config_pending"] = PENDING
    for role, browser in role_clients(app).items():
        assert browser.get("/api/v1/config/pending").json == PENDING, role
