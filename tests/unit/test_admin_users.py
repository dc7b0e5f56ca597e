"""User management (admins only): list, add, change role, disable and enable, new password; each
change recorded in netd's audit log with before/after and never a password."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask

from portal.admin.accounts import ConsoleDb
from tests.unit.admin_helpers import PASSWORD, FakeNetd, sign_in

NEW_PASSWORD = "sandi-baru-yang-panjang"


def users_in(app: Flask) -> dict[str, tuple[str, bool]]:
    db = ConsoleDb(app.config["ADMIN_DB"])
    try:
        return {u.name: (u.role, u.disabled) for u in db.users()}
    finally:
        db.close()


def password_works(app: Flask, name: str, password: str) -> bool:
    db = ConsoleDb(app.config["ADMIN_DB"])
    try:
        return db.verify(name, password) is not None
    finally:
        db.close()


def user_records(netd: FakeNetd) -> list[dict[str, Any]]:
    return [c for c in netd.called("audit_record") if c["action"].startswith("console.user.")]


def test_an_admin_lists_the_users(app: Flask) -> None:
    sign_in(app, "reviewer", "peninjau")
    admin = sign_in(app, "admin")
    page = admin.get("/pengguna")
    assert page.status_code == 200 and "peninjau" in page.text and "Peninjau" in page.text
    listed = admin.get("/api/v1/users").json
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("admin", "admin", False), ("peninjau", "reviewer", False),
    ]  # fmt: skip
    assert all(set(u) == {"name", "role", "disabled", "created_at"} for u in listed)


def test_adding_a_user_is_audited_without_the_password(app: Flask, netd: FakeNetd) -> None:
    admin = sign_in(app, "admin")
    response = admin.post("/pengguna", {"name": "Budi.S", "role": "operator",
                                        "password": NEW_PASSWORD})  # fmt: skip
    assert response.status_code == 302
    assert users_in(app)["budi.s"] == ("operator", False)
    assert password_works(app, "budi.s", NEW_PASSWORD)
    (entry,) = user_records(netd)
    assert entry["action"] == "console.user.add" and entry["on_behalf"] == "admin"
    assert entry["detail"]["before"] is None
    assert entry["detail"]["after"]["role"] == "operator"
    assert NEW_PASSWORD not in json.dumps(entry)
    created = admin.send(
        "POST", "/api/v1/users", {"name": "siti", "role": "reviewer", "password": NEW_PASSWORD}
    )
    assert created.status_code == 201 and created.json["role"] == "reviewer"
    assert NEW_PASSWORD not in json.dumps(user_records(netd))


def test_a_user_change_records_before_and_after(app: Flask, netd: FakeNetd) -> None:
    sign_in(app, "operator", "budi")
    admin = sign_in(app, "admin")
    assert admin.post("/pengguna/budi", {"action": "role", "role": "reviewer"}).status_code == 302
    assert users_in(app)["budi"] == ("reviewer", False)
    (entry,) = user_records(netd)
    assert entry["action"] == "console.user.update"
    assert (entry["detail"]["before"]["role"], entry["detail"]["after"]["role"]) == (
        "operator", "reviewer")  # fmt: skip
    disabled = admin.send("PATCH", "/api/v1/users/budi", {"disabled": True})
    assert disabled.status_code == 200 and disabled.json["disabled"] is True
    assert admin.post("/pengguna/budi", {"action": "enable"}).status_code == 302
    assert users_in(app)["budi"] == ("reviewer", False)
    assert (
        admin.post("/pengguna/budi", {"action": "password", "password": NEW_PASSWORD}).status_code
        == 302
    )
    assert password_works(app, "budi", NEW_PASSWORD) and not password_works(app, "budi", PASSWORD)
    records = user_records(netd)
    assert [(r["detail"]["before"]["disabled"], r["detail"]["after"]["disabled"])
            for r in records[1:3]] == [(False, True), (True, False)]  # fmt: skip
    assert records[-1]["detail"]["password_changed"] is True
    assert NEW_PASSWORD not in json.dumps(records) and PASSWORD not in json.dumps(records)


def test_a_new_password_of_ones_own_keeps_one_signed_in(app: Flask) -> None:
    admin = sign_in(app, "admin")
    assert (
        admin.post("/pengguna/admin", {"action": "password", "password": NEW_PASSWORD}).status_code
        == 302
    )
    assert admin.get("/pengguna").status_code == 200


def test_bad_input_is_refused_per_field_and_changes_nothing(app: Flask, netd: FakeNetd) -> None:
    admin = sign_in(app, "admin")
    short = admin.post("/pengguna", {"name": "budi", "role": "operator", "password": "pendek"})
    assert short.status_code == 422 and short.text.count('class="field-error"') == 1
    assert 'value="budi"' in short.text
    taken = admin.post("/pengguna", {"name": "admin", "role": "operator",
                                     "password": NEW_PASSWORD})  # fmt: skip
    assert taken.status_code == 422 and "name taken" in taken.text
    for bad in (
        {"name": "X y", "role": "operator", "password": NEW_PASSWORD},
        {"name": "budi", "role": "root", "password": NEW_PASSWORD},
        {"name": "budi", "role": "operator", "password": NEW_PASSWORD, "admin": True},
    ):
        assert admin.send("POST", "/api/v1/users", bad).status_code == 422
    assert admin.send("PATCH", "/api/v1/users/admin", {}).status_code == 422
    assert admin.send("PATCH", "/api/v1/users/admin", {"password": "pendek"}).status_code == 422
    assert users_in(app) == {"admin": ("admin", False)}
    assert user_records(netd) == []


def test_the_last_enabled_admin_is_kept(app: Flask, netd: FakeNetd) -> None:
    admin = sign_in(app, "admin")
    page = admin.post("/pengguna/admin", {"action": "role", "role": "operator"})
    assert page.status_code == 422 and 'class="field-error"' in page.text
    refused = admin.send("PATCH", "/api/v1/users/admin", {"disabled": True})
    assert refused.status_code == 422 and set(refused.json["error"]["fields"]) == {"role"}
    assert users_in(app) == {"admin": ("admin", False)}
    assert user_records(netd) == []


def test_a_missing_user_is_404(app: Flask) -> None:
    admin = sign_in(app, "admin")
    assert admin.get("/pengguna/nobody").status_code == 404
    assert admin.post("/pengguna/nobody", {"action": "enable"}).status_code == 404
    assert admin.send("PATCH", "/api/v1/users/nobody", {"disabled": False}).status_code == 404


def test_only_admins_manage_users(app: Flask, netd: FakeNetd) -> None:
    sign_in(app, "admin")
    for role in ("operator", "reviewer"):
        browser = sign_in(app, role)
        assert browser.get("/pengguna").status_code == 403
        assert (
            browser.post(
                "/pengguna", {"name": "mallory", "role": "admin", "password": NEW_PASSWORD}
            ).status_code
            == 403
        )
        assert browser.get("/pengguna/admin").status_code == 403
        assert (
            browser.post(f"/pengguna/{role}", {"action": "role", "role": "admin"}).status_code
            == 403
        )
        assert browser.get("/api/v1/users").status_code == 403
        assert (
            browser.send(
                "POST",
                "/api/v1/users",
                {"name": "mallory", "role": "admin", "password": NEW_PASSWORD},
            ).status_code
            == 403
        )
        assert browser.send("PATCH", f"/api/v1/users/{role}", {"role": "admin"}).status_code == 403
    assert users_in(app) == {"admin": ("admin", False), "operator": ("operator", False),
                             "reviewer": ("reviewer", False)}  # fmt: skip
    assert user_records(netd) == []
