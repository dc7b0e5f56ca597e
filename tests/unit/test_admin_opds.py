"""The console's OPD pages and API: the list, the edit form (its contract), edits into the
draft, per-field refusals, and who may do it."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.unit.admin_helpers import Browser, FakeNetd, draft_of, lab_document, make_app, sign_in


class FormReader(HTMLParser):
    """The POST form to `action` on a page: its fields (as a browser would send them), the
    policy select's label text and options, and the submit button's text."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.target = action
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.options: list[tuple[str, str]] = []
        self.label = ""
        self.button = ""
        self._in_form = self._in_label = self._in_button = self._in_policy = False
        self._label_text = ""
        self._option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method") == "post" and a.get("action") == self.target:
            self.action, self._in_form = a["action"], True
        if not self._in_form:
            return
        if tag == "label":
            self._in_label, self._label_text = True, ""
        elif tag == "input" and a.get("type") not in ("checkbox", "submit"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._in_policy = a.get("name") == "policy"
            if self._in_policy:
                self.label = self._label_text.strip()
        elif tag == "option" and self._in_policy:
            self._option = a.get("value", "")
            if "selected" in a:
                self.fields["policy"] = self._option
        elif tag == "button":
            self._in_button = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
        elif tag == "label":
            self._in_label = False
        elif tag == "select":
            self._in_policy = False
        elif tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        if self._in_label:
            self._label_text += data
        if self._option is not None:
            self.options.append((self._option, data.strip()))
            self._option = None
        if self._in_button and self._in_form:
            self.button += data.strip()


def read_form(html: str, action: str = "/opd/disdik") -> FormReader:
    reader = FormReader(action)
    reader.feed(html)
    return reader


def test_the_list_shows_each_opd_with_its_network_policy_bandwidth_and_services(
    admin: Browser,
) -> None:
    page = admin.get("/opd")
    assert page.status_code == 200
    for text in (
        "Dinas Pendidikan",
        "10.20.2.0/24",
        "pendidikan",
        "simpeg",
        "/opd/bkpsdm",
        "60,0 Mbit/s",
    ):
        assert text in page.text


def test_the_edit_form_keeps_its_contract(admin: Browser) -> None:
    form = read_form(admin.get("/opd/disdik").text)
    assert form.action == "/opd/disdik"
    assert form.label.startswith("Kebijakan")
    names = [p["name"] for p in lab_document()["policies"]]
    assert form.options == [("", "tanpa kebijakan")] + [(n, n) for n in names]
    assert form.fields["policy"] == "pendidikan"
    assert form.button == "Simpan ke draf"


def test_a_post_changes_exactly_that_opds_policy_in_the_draft(
    app: Flask, admin: Browser, netd: FakeNetd
) -> None:
    form = read_form(admin.get("/opd/disdik").text)
    response = admin.post("/opd/disdik", {**form.fields, "policy": "pegawai-umum"})
    assert response.status_code == 302 and response.location == "/opd/disdik"
    expected = lab_document()
    next(o for o in expected["opds"] if o["slug"] == "disdik")["policy"] = "pegawai-umum"
    assert draft_of(app) == expected
    assert not netd.called("config_apply")
    page = admin.get("/opd/disdik")
    assert "Disimpan ke draf" in page.text
    assert read_form(page.text).fields["policy"] == "pegawai-umum"


def test_no_policy_is_a_choice(app: Flask, admin: Browser) -> None:
    form = read_form(admin.get("/opd/disdik").text)
    assert admin.post("/opd/disdik", {**form.fields, "policy": ""}).status_code == 302
    draft = draft_of(app)
    assert draft is not None
    assert next(o for o in draft["opds"] if o["slug"] == "disdik")["policy"] is None


def test_an_unknown_policy_is_refused_next_to_the_field(app: Flask, admin: Browser) -> None:
    form = read_form(admin.get("/opd/disdik").text)
    response = admin.post("/opd/disdik", {**form.fields, "policy": "tidak-ada"})
    assert response.status_code == 422
    assert '<p class="field-error">Tidak ada kebijakan bernama tidak-ada.</p>' in response.text
    assert draft_of(app) is None


def test_bad_bandwidth_is_refused_and_what_was_typed_is_kept(app: Flask, admin: Browser) -> None:
    form = read_form(admin.get("/opd/disdik").text)
    typed = {**form.fields, "name": "Disdik Baru", "bandwidth.down_mbps": "lima puluh"}
    response = admin.post("/opd/disdik", typed)
    assert response.status_code == 422
    assert 'value="lima puluh"' in response.text and 'value="Disdik Baru"' in response.text
    assert 'class="field-error"' in response.text
    assert draft_of(app) is None


def test_a_cap_below_the_guarantee_is_refused_with_the_whole_config_check(
    app: Flask, admin: Browser
) -> None:
    form = read_form(admin.get("/opd/disdik").text)
    capped = {**form.fields, "bandwidth_cap.down_mbps": "10", "bandwidth_cap.up_mbps": "10"}
    response = admin.post("/opd/disdik", capped)
    assert response.status_code == 422
    assert "must be at least the guaranteed bandwidth" in response.text
    assert draft_of(app) is None


def test_bandwidth_and_name_go_into_the_draft(app: Flask, admin: Browser) -> None:
    form = read_form(admin.get("/opd/disdik").text)
    changed = {
        **form.fields,
        "name": "Dinas Pendidikan Kab.",
        "bandwidth.down_mbps": "",
        "bandwidth.up_mbps": "",
        "bandwidth_cap.down_mbps": "40",
        "bandwidth_cap.up_mbps": "15.5",
    }
    assert admin.post("/opd/disdik", changed).status_code == 302
    draft = draft_of(app)
    assert draft is not None
    disdik = next(o for o in draft["opds"] if o["slug"] == "disdik")
    assert disdik["name"] == "Dinas Pendidikan Kab."
    assert disdik["bandwidth"] is None
    assert disdik["bandwidth_cap"] == {"down_mbps": 40.0, "up_mbps": 15.5}


def test_pages_show_the_draft_once_there_is_one(admin: Browser) -> None:
    assert admin.send("PUT", "/api/v1/opds/bkpsdm", {"policy": "pendidikan"}).status_code == 200
    assert read_form(admin.get("/opd/bkpsdm").text, "/opd/bkpsdm").fields["policy"] == "pendidikan"
    listed = {o["slug"]: o["policy"] for o in admin.get("/api/v1/opds").json}
    assert listed["bkpsdm"] == "pendidikan"


def test_unknown_opds_are_404(app: Flask, admin: Browser) -> None:
    assert admin.get("/opd/tidak-ada").status_code == 404
    assert admin.post("/opd/tidak-ada", {"name": "X", "policy": ""}).status_code == 404
    response = admin.send("PUT", "/api/v1/opds/tidak-ada", {"policy": "pendidikan"})
    assert response.status_code == 404 and response.json["error"]["code"] == "not-found"
    assert draft_of(app) is None


def test_the_api_lists_and_changes_opds(app: Flask, admin: Browser) -> None:
    listed = admin.get("/api/v1/opds")
    assert listed.status_code == 200
    assert [o["slug"] for o in listed.json] == ["diskominfo", "disdik", "bkpsdm"]
    body = {"policy": "pegawai-umum", "bandwidth_cap": {"down_mbps": 80, "up_mbps": 40}}
    response = admin.send("PUT", "/api/v1/opds/disdik", body)
    assert response.status_code == 200
    assert response.json["policy"] == "pegawai-umum"
    expected = lab_document()
    disdik = next(o for o in expected["opds"] if o["slug"] == "disdik")
    disdik.update(policy="pegawai-umum", bandwidth_cap={"down_mbps": 80.0, "up_mbps": 40.0})
    assert draft_of(app) == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"policy": "Bukan Slug"}, "policy"),
        ({"policy": "tidak-ada"}, "policy"),
        ({"bandwidth": {"down_mbps": -1, "up_mbps": 5}}, "bandwidth.down_mbps"),
        ({"bandwidth": {"down_mbps": 5}}, "bandwidth.up_mbps"),
        ({"name": "X"}, "name"),
        ({"subnet": "10.9.9.0/24"}, "subnet"),
    ],
)
def test_the_api_refuses_bad_fields_by_name_and_changes_nothing(
    app: Flask, admin: Browser, body: dict[str, Any], field: str
) -> None:
    response = admin.send("PUT", "/api/v1/opds/disdik", body)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert draft_of(app) is None


@pytest.mark.parametrize("role", ["operator", "reviewer"])
def test_other_roles_may_not_see_or_change_opds(app: Flask, netd: FakeNetd, role: str) -> None:
    browser = sign_in(app, role)
    before = copy.deepcopy(netd.document)
    assert browser.get("/opd").status_code == 403
    assert browser.get("/opd/disdik").status_code == 403
    assert browser.post("/opd/disdik", {"name": "X y", "policy": ""}).status_code == 403
    assert browser.get("/api/v1/opds").status_code == 403
    response = browser.send("PUT", "/api/v1/opds/disdik", {"policy": "pegawai-umum"})
    assert response.status_code == 403
    assert draft_of(app, role) is None and draft_of(app) is None
    assert netd.document == before


def test_without_a_configuration_the_list_says_so(tmp_path: Path) -> None:
    netd = FakeNetd()
    netd.document = {}
    admin = sign_in(make_app(tmp_path, netd), "admin")
    page = admin.get("/opd")
    assert page.status_code == 200 and "Belum ada OPD" in page.text


def test_when_netd_is_away_the_page_says_so(tmp_path: Path) -> None:
    netd = FakeNetd()
    admin = sign_in(make_app(tmp_path, netd), "admin")
    netd.answers["config_document"] = OSError("connection refused")
    page = admin.get("/opd/disdik")
    assert page.status_code == 503 and "netd" in page.text
