"""The audit log page and API (admins only): netd's `audit_log` with filters and paging, and each
entry's detail made readable (a configuration change as its changed fields only)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from netctl.protocol import ApiError
from portal.admin.audit import describe, field_changes, flatten
from tests.unit.admin_helpers import FakeNetd, sign_in

SITE_BEFORE = {"slug": "taman-kota", "name": "Taman Kota", "access": {"session_minutes": 120,
               "methods": ["video"]}, "vlan": None}  # fmt: skip
SITE_AFTER = {"slug": "taman-kota", "name": "Taman Kota", "access": {"session_minutes": 60,
              "methods": ["video", "voucher"]}, "vlan": None}  # fmt: skip
ENTRIES = [
    {"id": 42, "at": 1_795_000_000.0, "actor": "admin via console", "action": "config.import",
     "detail": {"revision": 9, "comment": "sesi lebih pendek", "created": [], "removed": [],
                "updated": ["hotspot_sites/taman-kota"],
                "changes": [{"object": "hotspot_sites/taman-kota", "before": SITE_BEFORE,
                             "after": SITE_AFTER}]}},
    {"id": 41, "at": 1_794_999_000.0, "actor": "admin via console",
     "action": "console.user.update",
     "detail": {"user": "budi", "before": {"name": "budi", "role": "operator", "disabled": False},
                "after": {"name": "budi", "role": "reviewer", "disabled": False}}},
    {"id": 40, "at": 1_794_998_000.0, "actor": "operator via console", "action": "client.deny",
     "detail": {"device": "dev-8f3a", "reason": "judi daring"}},
]  # fmt: skip


@pytest.fixture
def netd() -> FakeNetd:
    return FakeNetd({"audit_log": lambda params: ENTRIES[: params.get("limit", 50)]})


def test_a_config_change_shows_only_its_changed_fields(app: Flask, netd: FakeNetd) -> None:
    page = sign_in(app, "admin").get("/audit")
    assert page.status_code == 200
    assert "access.session_minutes" in page.text and "<td>120</td><td>60</td>" in page.text
    assert "access.methods" in page.text
    assert "<code>name</code>" not in page.text and "<code>vlan</code>" not in page.text
    assert "<code>role</code></td><td>operator</td><td>reviewer</td>" in page.text
    assert "<code>reason</code>: judi daring" in page.text
    assert netd.called("audit_log") == [{"limit": 50, "action": "", "actor": "",
                                         "on_behalf": "admin"}]  # fmt: skip
    assert "Lebih lama" not in page.text  # fewer than a page: nothing older


def test_filters_and_paging_go_to_netd(app: Flask, netd: FakeNetd) -> None:
    admin = sign_in(app, "admin")
    page = admin.get("/audit?action=con&actor=admin&limit=2&before_id=100")
    assert page.status_code == 200
    assert netd.called("audit_log")[-1] == {"limit": 2, "before_id": 100, "action": "con",
                                            "actor": "admin", "on_behalf": "admin"}  # fmt: skip
    assert "/audit?before_id=41&amp;action=con&amp;actor=admin&amp;limit=2" in page.text
    body = admin.get("/api/v1/audit?limit=2&action=con").json
    assert [e["id"] for e in body["entries"]] == [42, 41] and body["next_before_id"] == 41
    assert admin.get("/api/v1/audit").json["next_before_id"] is None


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=banyak",
        "before_id=-1",
        "action=" + "a" * 61,
        "actor=" + "b" * 81,
        "page=2",
    ],
)
def test_bad_query_parameters_are_422(app: Flask, netd: FakeNetd, query: str) -> None:
    admin = sign_in(app, "admin")
    assert admin.get(f"/audit?{query}").status_code == 422
    refused = admin.get(f"/api/v1/audit?{query}")
    assert refused.status_code == 422 and refused.json["error"]["fields"]
    assert netd.called("audit_log") == []


def test_netds_refusal_is_passed_on(app: Flask, netd: FakeNetd) -> None:
    netd.answers["audit_log"] = ApiError("unavailable", "the store is busy")
    admin = sign_in(app, "admin")
    refused = admin.get("/api/v1/audit")
    assert refused.status_code == 503 and refused.json["error"]["message"] == "the store is busy"
    page = admin.get("/audit")
    assert page.status_code == 503 and "the store is busy" in page.text


def test_only_admins_read_the_audit_log(app: Flask, netd: FakeNetd) -> None:
    for role in ("operator", "reviewer"):
        browser = sign_in(app, role)
        assert browser.get("/audit").status_code == 403
        assert browser.get("/api/v1/audit").status_code == 403
    assert netd.called("audit_log") == []


def test_field_changes_walk_objects_and_keep_lists_of_names_whole() -> None:
    assert field_changes(SITE_BEFORE, SITE_AFTER) == [
        ("access.methods", '["video"]', '["video", "voucher"]'),
        ("access.session_minutes", "120", "60"),
    ]  # fmt: skip
    created = field_changes(None, {"name": "x", "windows": [{"start": "08:00"}]})
    assert created == [("name", None, "x"), ("windows[0].start", None, "08:00")]
    assert field_changes({"a": 1}, {"a": 1}) == []
    assert flatten("plain") == {"(nilai / value)": "plain"}


def test_describe_an_entry() -> None:
    shown = describe(ENTRIES[0]["detail"])
    (change,) = shown["objects"]
    assert (change["object"], change["kind"]) == ("hotspot_sites/taman-kota", "changed")
    assert ("comment", "sesi lebih pendek") in shown["lines"]
    user: dict[str, Any] = describe({"user": "siti", "before": None, "after": {"role": "admin"}})
    assert user["objects"] == [{"object": "siti", "kind": "created",
                                "fields": [("role", None, "admin")]}]  # fmt: skip
    assert describe(["odd"]) == {"objects": [], "lines": [("", '["odd"]')]}
