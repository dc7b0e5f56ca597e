"""Helpers for the admin console's lab tests: its users and tokens (made as the console's own
user, who owns console.db), its JSON API, and Chromium signed in as one of its users.

The console runs on the host's 127.0.0.1, so the browser runs on the host too (not in a lab
namespace): Debian's /usr/bin/chromium driven by Playwright, never a downloaded browser.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from simpul.lab.runner import unprivileged
from tests.integration.browser_flow import ARGS
from tests.integration.helpers import LabHandle

CHROMIUM = "/usr/bin/chromium"


class Console:
    """The lab's running console: where it listens and its database, for the tests."""

    def __init__(self, lab: LabHandle) -> None:
        access = lab.lab.console_access()
        assert access is not None, "the lab has no console"
        self.lab = lab
        self.url = access["url"]
        self.admin_password = access["password"]
        self.db = str(lab.lab.paths.console_db)

    def as_console_user(self, *argv: str, input_text: str | None = None) -> str:
        """Run a command as the console's (unprivileged) user; its standard output."""
        proc = subprocess.run([*unprivileged(), *argv], input=input_text, capture_output=True,
                              text=True, check=False, timeout=30)  # fmt: skip
        assert proc.returncode == 0, f"{argv}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def ensure_user(self, name: str, role: str, password: str) -> None:
        """User `name` with `role` and `password`, made with `simpul admin user add` (or given
        the password again if a kept console.db has it already)."""
        cli = [sys.executable, "-m", "simpul.cli", "admin", "user"]
        users = json.loads(self.as_console_user(*cli, "list", "--json", "--db", self.db))
        if any(user["name"] == name for user in users):
            command = ["passwd", name]
        else:
            command = ["add", name, "--role", role]
        self.as_console_user(*cli, *command, "--db", self.db, "--password-file", "-",
                             input_text=password + "\n")  # fmt: skip

    def add_token(self, user: str, label: str) -> str:
        """A new API token of `user` (ConsoleDb.add_token)."""
        code = (
            "import sys; from portal.admin.accounts import ConsoleDb; "
            "print(ConsoleDb(sys.argv[1]).add_token(sys.argv[2], sys.argv[3]))"
        )
        return self.as_console_user(sys.executable, "-c", code, self.db, user, label).strip()

    def draft(self, user: str) -> dict[str, Any] | None:
        """`user`'s draft document in console.db, or None."""
        code = (
            "import json, sys; from portal.admin.accounts import ConsoleDb; "
            "d = ConsoleDb(sys.argv[1]).draft(sys.argv[2]); "
            "print(json.dumps(d.document if d else None))"
        )
        return json.loads(self.as_console_user(sys.executable, "-c", code, self.db, user))  # type: ignore[no-any-return]

    def api(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        """One JSON API call with a bearer token: (status, decoded body)."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


def launch(playwright: Any) -> Browser:
    """Debian's Chromium, headless, with the flags DESIGN.md names."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)  # type: ignore[no-any-return]


PHONE = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/120.0 Mobile Safari/537.36",
}


@contextmanager
def signed_in(
    browser: Browser, console: Console, name: str, password: str, *, phone: bool = False
) -> Iterator[Page]:
    """A fresh browser profile signed in as `name` through the sign-in page (on a desktop
    screen, or as an entry-level Android phone)."""
    device: dict[str, Any] = PHONE if phone else {"viewport": {"width": 1280, "height": 900}}
    context: BrowserContext = browser.new_context(base_url=console.url, **device)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # data-confirm questions
        page.goto("/masuk")
        page.get_by_label("Nama pengguna").fill(name)
        page.get_by_label("Kata sandi").fill(password)
        page.get_by_role("button", name="Masuk").click()
        page.wait_for_url(lambda url: "/masuk" not in url)
        yield page
    finally:
        context.close()


def csrf(page: Page) -> str:
    """The CSRF token of the page's browser session (every page carries it in a form)."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token, "no CSRF token on the page"
    return token


def menu(page: Page) -> dict[str, str]:
    """The menu's entries (label → path), without the user's own account link."""
    entries = page.eval_on_selector_all(
        "header nav a",
        "links => links.map(a => [a.textContent.trim(), a.getAttribute('href')])",
    )
    return {label: href for label, href in entries if not href.endswith("/akun")}
