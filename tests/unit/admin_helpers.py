"""Test helpers for the console: a recording fake of netd, an app over a temporary console.db,
signed-in test clients for each role (their CSRF token at hand), and wall-clock times in WIB."""

from __future__ import annotations

import copy
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient

from netctl.protocol import ApiError
from portal.admin.accounts import ConsoleDb
from portal.admin.app import create_admin_app
from portal.admin.session import EXTENSION
from simpul.config import config_to_data, load_config_file

ROOT = Path(__file__).resolve().parents[2]
LAB_CONFIG = ROOT / "examples" / "lab.yaml"
PASSWORD = "kata-sandi-uji-123"
WIB = ZoneInfo("Asia/Jakarta")  # examples/lab.yaml's zone


def at(text: str) -> float:
    """A wall-clock time in WIB ("2026-11-26 10:00") in seconds since the epoch."""
    return datetime.fromisoformat(text).replace(tzinfo=WIB).timestamp()


def lab_document() -> dict[str, Any]:
    """examples/lab.yaml as the plain data netd's `config_document` returns."""
    return config_to_data(load_config_file(str(LAB_CONFIG)))


class FakeNetd:
    """Answers netd's methods from `answers` (a value, or a callable of the params) and records
    every call. Unanswered methods raise ApiError('unknown-method'), as netd would."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.revision = 7
        self.document = lab_document()
        self.answers: dict[str, Any] = {
            "portal_config": {"timezone": "WIB", "regency": "Kabupaten Meranti"},
            "config_pending": None,
            "audit_record": {"recorded": True},
            "config_document": lambda p: {"revision": self.revision,
                                          "document": copy.deepcopy(self.document),
                                          "pending": None},
        }  # fmt: skip
        self.answers.update(answers or {})

    def call(self, api_method: str, **params: Any) -> Any:
        self.calls.append((api_method, params))
        if api_method not in self.answers:
            raise ApiError("unknown-method", f"no method {api_method!r}")
        answer = self.answers[api_method]
        if isinstance(answer, Exception):
            raise answer
        return answer(params) if callable(answer) else copy.deepcopy(answer)

    def close(self) -> None:
        pass

    def called(self, method: str) -> list[dict[str, Any]]:
        """The params of every call of `method`."""
        return [p for m, p in self.calls if m == method]


def make_app(tmp_path: Path, netd: FakeNetd, **config: Any) -> Flask:
    """The console over `tmp_path` (console.db, secret, state dir) talking to `netd`."""
    secret = tmp_path / "admin.secret"
    secret.write_text("s" * 44)
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "media").mkdir(exist_ok=True)
    settings: dict[str, Any] = {
        "TESTING": True,
        "ADMIN_DB": str(tmp_path / "console.db"),
        "ADMIN_SECRET_FILE": str(secret),
        "STATE_DIR": str(tmp_path / "state"),
        "MEDIA_DIR": str(tmp_path / "media"),
        "INSECURE_COOKIES": True,
        "NETD_FACTORY": lambda: netd,
    }
    settings.update(config)
    return create_admin_app(settings)


class Browser:
    """A signed-in test client that sends the CSRF token with every form and JSON change."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kw)

    def send(self, method: str, url: str, json: Any = None) -> Any:
        """A JSON API call with the session's CSRF header."""
        return self.client.open(url, method=method, json=json,
                                headers={"X-CSRF-Token": self.token})  # fmt: skip


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(app: Flask, role: str, name: str | None = None) -> Browser:
    """A user of `role` (made if absent) signed in through the form."""
    name = name or role
    db = ConsoleDb(app.config["ADMIN_DB"])
    try:
        if db.user(name) is None:
            db.add_user(name, role, PASSWORD)
    finally:
        db.close()
    client = app.test_client()
    token = csrf_of(client.get("/masuk").text)
    response = client.post("/masuk", data={"name": name, "password": PASSWORD,
                                           "csrf_token": token})  # fmt: skip
    assert response.status_code == 302, response.text
    # Signing in starts a new session with a new CSRF token.
    return Browser(client, csrf_of(client.get("/akun").text))


def draft_of(app: Flask, user: str = "admin") -> dict[str, Any] | None:
    """The document of `user`'s draft in the app's console.db, or None."""
    db = ConsoleDb(app.config["ADMIN_DB"])
    try:
        draft = db.draft(user)
    finally:
        db.close()
    return None if draft is None else draft.document


def role_clients(app: Flask) -> dict[str, Browser]:
    """One signed-in browser per role."""
    return {role: sign_in(app, role) for role in ("admin", "operator", "reviewer")}


def shared_console(directory: Path, **config: Any) -> tuple[Flask, FakeNetd, dict[str, Browser]]:
    """A console, its fake netd and one signed-in browser per role, for a module to share
    (signing in hashes a password: deliberately slow); `renew` its netd for each test."""
    fake = FakeNetd()
    app = make_app(directory, fake, **config)
    return app, fake, role_clients(app)


def renew(app: Flask, netd: FakeNetd, answers: dict[str, Any] | None = None) -> FakeNetd:
    """A shared console's `netd` made afresh with `answers`, and the console's cached
    configuration dropped with it."""
    netd.__dict__.update(FakeNetd(answers).__dict__)
    app.extensions[EXTENSION].config = None
    return netd
