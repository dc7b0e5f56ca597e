"""The admin console in the lab, as people and scripts use it: Chromium (Debian's, driven by
Playwright on the host) against the console on 127.0.0.1, netd behind it, DNS verdicts seen from
an OPD's workstation, and schemathesis against its JSON API.

Each test that changes the configuration puts the lab's own back afterwards, so the other lab
tests find what they expect.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from portal.admin.changes import DEFAULT_CONFIRM_S
from tests.integration.console_flow import Console, csrf, launch, menu, signed_in
from tests.integration.helpers import LabHandle, lab_data, wait_until
from tests.integration.test_filtering import VIU, addresses, dig, dnsd_status, wait_for_reload

OPD = "diskominfo"
HOST = "opd-diskominfo"
LAB_POLICY = "pegawai-kominfo"  # examples/lab.yaml: drakor allowed at any time
BLOCKING_POLICY = "hotspot-umum"  # blocks drakor at all times, so verdicts need no clock
DRAKOR = "viu.com"
CONFIRM_S = 10  # the shortest probation the API takes (the page's is DEFAULT_CONFIRM_S)
PASSWORDS = {"operator": "kata-sandi-operator-1", "reviewer": "kata-sandi-peninjau-1"}
MENUS = {
    "admin": ["Dasbor", "Klien", "Voucher", "Lokasi hotspot", "OPD", "Kebijakan",
              "Daftar blokir", "Pemantauan", "Laporan", "Perubahan", "Pengguna", "Ekspor",
              "Log audit"],
    "operator": ["Dasbor", "Klien", "Voucher", "Pemantauan", "Laporan"],
    "reviewer": ["Dasbor", "Pemantauan", "Laporan"],
}  # fmt: skip


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def console(lab: LabHandle) -> Console:
    """The lab's console, with an operator and a reviewer made with `simpul admin user add`."""
    made = Console(lab)
    for role, password in PASSWORDS.items():
        made.ensure_user(role, role, password)
    return made


@pytest.fixture(scope="module")
def admin_token(console: Console) -> str:
    return console.add_token("admin", "lab tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def running(lab: LabHandle) -> dict[str, Any]:
    """netd's stored configuration: revision, document, pending."""
    return lab.call("config_document")  # type: ignore[return-value]


def running_policy(lab: LabHandle) -> str:
    """The OPD's policy in the running configuration."""
    document = running(lab)["document"]
    return next(opd["policy"] for opd in document["opds"] if opd["slug"] == OPD)


def verdict(lab: LabHandle) -> list[str]:
    """The addresses DRAKOR resolves to from the OPD's workstation (the gateway's: blocked)."""
    return addresses(dig(lab, HOST, DRAKOR))


def gateway(lab: LabHandle) -> str:
    resolver = lab.lab.plan.host(HOST).resolver
    assert resolver is not None
    return resolver


def restore(lab: LabHandle, tmp_path: Path) -> None:
    """The lab's own configuration back (a change left on probation is confirmed first, so
    netd's rollback cannot land on top later)."""
    if lab.call("config_pending") is not None:
        lab.call("config_confirm")
    changed = running_policy(lab) != LAB_POLICY
    reloads = dnsd_status(lab)["reloads"]
    lab.configure(tmp_path, lab_data())
    if changed:
        wait_for_reload(lab, reloads)


@pytest.fixture
def clean(lab: LabHandle, console: Console, admin_token: str, tmp_path: Path) -> Iterator[None]:
    """No draft of the admin's before the test; the lab's configuration and no draft after."""
    console.api("DELETE", "/api/v1/draft", admin_token)
    assert running_policy(lab) == LAB_POLICY
    yield
    restore(lab, tmp_path)
    console.api("DELETE", "/api/v1/draft", admin_token)


# -- the lab runs it as it should --------------------------------------------------------------


def test_console_runs_unprivileged_on_the_hosts_loopback(lab: LabHandle, console: Console) -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    state = lab.lab.status()
    assert state["daemons"]["console"]["running"]  # type: ignore[index]
    assert state["console"]["url"] == console.url  # type: ignore[index]
    pid = lab.pid("console")
    assert os.stat(f"/proc/{pid}").st_uid == nobody
    assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")  # the host's
    port = console.url.rsplit(":", 1)[1]
    listening = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True,
                               text=True, check=True).stdout.split()  # fmt: skip
    assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    paths = lab.lab.paths
    for owned, mode in ((paths.console_db, None), (paths.console_secret, 0o600)):
        assert owned.stat().st_uid == nobody
        assert mode is None or owned.stat().st_mode & 0o777 == mode
    assert paths.admin_password.stat().st_uid == 0
    assert paths.admin_password.stat().st_mode & 0o777 == 0o600
    assert paths.media.stat().st_uid == nobody  # it uploads the portal's videos


def test_the_console_user_reads_the_nodes_databases_read_only(
    lab: LabHandle, console: Console
) -> None:
    """SQLite in WAL mode opened read-only by a user who may not write the -wal/-shm files."""
    root = lab.lab.paths.root
    code = """
import json, sqlite3, sys
from monitoring.store import connect as monitor
from simpul.sqlite import open_db
from simpul.store import Store
from simpul.usage.db import connect as usage
root = sys.argv[1]
store = Store(f"{root}/simpul.db", readonly=True)
seen = {"revision": store.config_revision()}
seen["usage"] = usage(f"{root}/usage.db", readonly=True).execute(
    "SELECT count(*) FROM sqlite_master").fetchone()[0]
seen["monitor"] = monitor(f"{root}/monitor/monitor.db", readonly=True).execute(
    "SELECT count(*) FROM sqlite_master").fetchone()[0]
seen["dns"] = open_db(f"{root}/netd/dnsd/dns.db", "", readonly=True).execute(
    "SELECT count(*) FROM sqlite_master").fetchone()[0]
try:
    store.db.execute("CREATE TABLE intruder (x)")
    seen["write"] = "allowed"
except sqlite3.OperationalError as exc:
    seen["write"] = str(exc)
print(json.dumps(seen))
"""
    seen = json.loads(console.as_console_user(sys.executable, "-c", code, str(root)))
    assert seen["revision"] == running(lab)["revision"]
    assert seen["usage"] > 0 and seen["monitor"] > 0 and seen["dns"] > 0
    assert "readonly" in seen["write"]


def test_a_reviewer_reads_the_dashboard_and_a_report_on_a_phone(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    """Leadership reads on a phone: nothing wider than the screen, the map and charts drawn, and
    every request to the console itself (nothing from the internet)."""
    with signed_in(browser, console, "reviewer", PASSWORDS["reviewer"], phone=True) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        for path in ("/", "/laporan/penggunaan", "/pemantauan"):
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            overflow = page.evaluate(
                "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
            )
            wide = page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => "
                "e.getBoundingClientRect().right > innerWidth + 1).slice(0, 5).map(e => "
                "e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect()"
                ".right))"
            )
            assert overflow <= 1, (path, overflow, wide)
            if path == "/":
                assert page.locator("svg.map").count() == 1
                assert page.locator("svg.chart").count() >= 1
                page.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
        foreign = [url for url in requested if not url.startswith((console.url, "data:"))]
        assert requested and foreign == []


# -- a: roles ----------------------------------------------------------------------------------


def test_each_role_sees_its_menu_and_is_refused_the_rest(
    lab: LabHandle, console: Console, browser: Browser, clean: None
) -> None:
    revision = running(lab)["revision"]
    with signed_in(browser, console, "admin", console.admin_password) as page:
        entries = menu(page)
        assert "admin (admin)" in (page.locator("header nav").text_content() or "")
    assert list(entries) == MENUS["admin"]
    for role in ("operator", "reviewer"):
        with signed_in(browser, console, role, PASSWORDS[role]) as page:
            assert list(menu(page)) == MENUS[role]
            for label, path in entries.items():
                status = page.request.get(console.url + path, max_redirects=0).status
                assert status == (200 if label in MENUS[role] else 403), (role, path, status)
            assert page.request.get(f"{console.url}/opd", max_redirects=0).status == 403
            refused = _forbidden_changes(page, console)
            assert refused == {"opd form": 403, "opd api": 403, "apply": 403, "apply api": 403}
            assert console.draft(role) is None
    assert running(lab)["revision"] == revision
    assert running_policy(lab) == LAB_POLICY


def _forbidden_changes(page: Page, console: Console) -> dict[str, int]:
    """Try, with a valid CSRF token, what only an admin may: the statuses answered."""
    token, url = csrf(page), console.url
    form = {"csrf_token": token, "name": "Dinas Kominfo", "policy": BLOCKING_POLICY}
    header = {"X-CSRF-Token": token}
    return {
        "opd form": page.request.post(f"{url}/opd/{OPD}", form=form, max_redirects=0).status,
        "opd api": page.request.put(f"{url}/api/v1/opds/{OPD}", data={"policy": BLOCKING_POLICY},
                                    headers=header).status,
        "apply": page.request.post(f"{url}/perubahan/terapkan", form={"csrf_token": token},
                                   max_redirects=0).status,
        "apply api": page.request.post(f"{url}/api/v1/draft/apply", data={},
                                       headers=header).status,
    }  # fmt: skip


# -- b: CSRF -----------------------------------------------------------------------------------


def test_a_form_without_csrf_token_is_refused_and_changes_nothing(
    lab: LabHandle, console: Console, browser: Browser, clean: None
) -> None:
    revision = running(lab)["revision"]
    url = console.url
    with signed_in(browser, console, "admin", console.admin_password) as page:
        form = {"name": "Dinas Kominfo", "policy": BLOCKING_POLICY}
        missing = page.request.post(f"{url}/opd/{OPD}", form=form, max_redirects=0)
        forged = page.request.post(f"{url}/opd/{OPD}", form={**form, "csrf_token": "x" * 43},
                                   max_redirects=0)  # fmt: skip
        api = page.request.put(f"{url}/api/v1/opds/{OPD}", data={"policy": BLOCKING_POLICY})
        assert (missing.status, forged.status, api.status) == (400, 400, 400)
        assert "CSRF" in missing.text()
        page.goto(f"/opd/{OPD}")
        expect(page.locator("select[name=policy]")).to_have_value(LAB_POLICY)
    assert console.draft("admin") is None
    assert running(lab)["revision"] == revision


# -- c: a policy change through the pages, seen in DNS -------------------------------------------


def test_admin_changes_an_opd_policy_through_the_pages_and_dns_follows(
    lab: LabHandle, console: Console, browser: Browser, clean: None
) -> None:
    assert verdict(lab) == [VIU]
    with signed_in(browser, console, "admin", console.admin_password) as page:
        page.goto(f"/opd/{OPD}")
        page.get_by_label("Kebijakan").select_option(BLOCKING_POLICY)
        page.get_by_role("button", name="Simpan ke draf").click()
        expect(page.locator(".flash.ok")).to_contain_text("Disimpan ke draf")
        assert running_policy(lab) == LAB_POLICY  # only the draft has it so far
        page.goto("/perubahan")
        expect(page.locator("pre.diff").first).to_contain_text(BLOCKING_POLICY)
        confirm = page.locator("input[name=confirm]")
        expect(confirm).to_be_checked()  # on probation by default, for DEFAULT_CONFIRM_S
        expect(page.locator("label:has(input[name=confirm])")).to_contain_text(
            str(DEFAULT_CONFIRM_S)
        )
        confirm.uncheck()
        reloads = dnsd_status(lab)["reloads"]
        page.get_by_role("button", name="Terapkan", exact=True).click()
        expect(page.locator(".flash.ok")).to_contain_text("Diterapkan sebagai revisi")
        expect(page.locator(".banner.warn")).to_have_count(0)  # not on probation
    assert lab.call("config_pending") is None
    assert running_policy(lab) == BLOCKING_POLICY
    assert console.draft("admin") is None  # applied drafts are gone
    wait_for_reload(lab, reloads)
    assert verdict(lab) == [gateway(lab)]


# -- d, e: apply on probation, rollback, confirmation, and the audit log -------------------------


def _stage_and_apply(console: Console, token: str) -> dict[str, Any]:
    """The blocking policy into the admin's draft and applied on probation, by the API."""
    status, body = console.api("PUT", f"/api/v1/opds/{OPD}", token, {"policy": BLOCKING_POLICY})
    assert status == 200, body
    status, body = console.api("POST", "/api/v1/draft/apply", token, {"confirm_s": CONFIRM_S})
    assert status == 200 and body["confirm_by"], body
    return body  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def probation(
    lab: LabHandle,
    console: Console,
    admin_token: str,
    browser: Browser,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """A change applied on probation and left unconfirmed, then one confirmed on the page:
    what was seen along the way (the tests judge it); the lab's configuration is back after."""
    console.api("DELETE", "/api/v1/draft", admin_token)
    seen: dict[str, Any] = {"before": running(lab), "verdict_before": verdict(lab)}
    try:
        with signed_in(browser, console, "admin", console.admin_password) as page:
            reloads = dnsd_status(lab)["reloads"]
            seen["unconfirmed"] = _stage_and_apply(console, admin_token)
            page.goto("/perubahan")
            countdown = page.locator(".banner.warn .countdown")
            seen["countdown"] = int(countdown.get_attribute("data-seconds") or -1)
            page.wait_for_function(
                "s => Number(document.querySelector('.countdown').textContent) < s",
                arg=seen["countdown"], timeout=3_000,
            )  # fmt: skip
            wait_for_reload(lab, reloads)
            seen["verdict_on_probation"] = verdict(lab)
            reloads = dnsd_status(lab)["reloads"]
            wait_until(
                "rollback",
                lambda: lab.call("config_pending") is None,
                CONFIRM_S + 10,
                interval_s=0.2,
            )
            seen["rolled_back_at"] = time.time()
            wait_for_reload(lab, reloads)
            seen["after_rollback"] = running(lab)
            seen["verdict_after_rollback"] = verdict(lab)

            seen["confirmed"] = _stage_and_apply(console, admin_token)
            page.goto("/perubahan")
            page.locator(".banner.warn").get_by_role("button", name="Konfirmasi").click()
            expect(page.locator(".flash.ok")).to_contain_text("dikonfirmasi")
            time.sleep(max(0.0, seen["confirmed"]["confirm_by"] - time.time()) + 2)
            seen["after_confirmed_deadline"] = running(lab)
            seen["verdict_after_confirmation"] = verdict(lab)
    finally:
        restore(lab, tmp_path_factory.mktemp("restore"))
    return seen


def test_an_unconfirmed_change_rolls_back_and_a_confirmed_one_stays(
    lab: LabHandle, probation: dict[str, Any]
) -> None:
    blocked = [gateway(lab)]
    assert probation["verdict_before"] == [VIU]
    assert 0 < probation["countdown"] <= CONFIRM_S
    assert probation["verdict_on_probation"] == blocked
    # netd put the previous revision's configuration back by itself, DNS verdicts with it.
    late = probation["rolled_back_at"] - probation["unconfirmed"]["confirm_by"]
    assert 0 <= late < 5
    assert probation["after_rollback"]["document"] == probation["before"]["document"]
    assert probation["after_rollback"]["revision"] > probation["unconfirmed"]["revision"]
    assert probation["verdict_after_rollback"] == [VIU]
    # Confirmed on the page: still there after its deadline.
    assert probation["after_confirmed_deadline"]["revision"] == probation["confirmed"]["revision"]
    assert probation["after_confirmed_deadline"]["pending"] is None
    kept = probation["after_confirmed_deadline"]["document"]
    assert {o["slug"]: o["policy"] for o in kept["opds"]}[OPD] == BLOCKING_POLICY
    assert probation["verdict_after_confirmation"] == blocked


def test_the_audit_log_page_shows_each_change_and_the_rollback(
    console: Console, browser: Browser, probation: dict[str, Any]
) -> None:
    with signed_in(browser, console, "admin", console.admin_password) as page:
        page.goto(menu(page)["Log audit"] + "?action=config.")
        entries = audit_entries(page)
    admin = "admin via nobody(uid"  # the person, through the console's user
    unconfirmed = probation["unconfirmed"]["revision"]
    confirmed = probation["confirmed"]["revision"]
    restored = probation["after_rollback"]["revision"]
    expected = [
        ("config.import", admin, f"revision: {unconfirmed}", f"{LAB_POLICY} {BLOCKING_POLICY}"),
        ("config.import", "netd (rollback)", f"revision: {restored}",
         f"{BLOCKING_POLICY} {LAB_POLICY}"),
        ("config.rollback", "netd (rollback)", f"revision: {unconfirmed}",
         "not confirmed in time"),
        ("config.import", admin, f"revision: {confirmed}", f"{LAB_POLICY} {BLOCKING_POLICY}"),
        ("config.confirm", admin, f"revision: {confirmed}", ""),
    ]  # fmt: skip
    for action, actor, revision, text in expected:
        assert any(
            e["action"] == action and actor in e["actor"] and revision in e["text"]
            and text in e["text"] for e in entries
        ), (action, actor, revision, entries[:8])  # fmt: skip


def audit_entries(page: Page) -> list[dict[str, str]]:
    """The audit page's entries: action, the line naming the actor, and all text (cells joined
    by spaces)."""
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        "section.audit-entry",
        r"""sections => sections.map(s => ({
            action: s.querySelector('h2').textContent.trim(),
            actor: s.querySelector('p.muted').textContent,
            text: s.innerText.replace(/\s+/g, ' '),
        }))""",
    )


# -- f: a wrong upload -------------------------------------------------------------------------


def test_a_video_of_the_wrong_type_is_refused_visibly_and_nothing_is_written(
    lab: LabHandle, console: Console, browser: Browser, clean: None
) -> None:
    media = lab.lab.paths.media
    before = sorted(path.name for path in media.iterdir())
    with signed_in(browser, console, "admin", console.admin_password) as page:
        page.goto("/lokasi/video")
        form = page.locator("form:has(input[type=file][name=file])")
        form.locator("input[name=title]").fill("Bukan video")
        form.locator("input[type=file][name=file]").set_input_files(
            files=[{"name": "x.mp4", "mimeType": "video/mp4",
                    "buffer": b"ini bukan video, hanya teks\n" * 40}]
        )  # fmt: skip
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/lokasi/video")
        ) as answer:
            form.locator("button[type=submit], button:not([type])").last.click()
        assert answer.value.status == 422
        error = page.locator(".field-error").first
        expect(error).to_be_visible()
        assert error.inner_text().strip()
        expect(page.locator("input[name=title]")).to_have_value("Bukan video")  # kept
    assert sorted(path.name for path in media.iterdir()) == before
    assert console.draft("admin") is None


# -- g: schemathesis against the JSON API --------------------------------------------------------

# Operations that act at once (not only on the caller's draft): fuzzing them would change the lab
# under the other tests, so they are left out of the run.
NOT_FUZZED = {
    ("POST", "/api/v1/draft/apply"): "applies the (fuzzed) draft to the running lab",
    ("POST", "/api/v1/config/confirm"): "keeps a change on probation",
    ("POST", "/api/v1/clients/block"): "blocks a device: a new revision applied at once",
    ("POST", "/api/v1/clients/disconnect"): "ends a lab device's session",
    ("POST", "/api/v1/lists"): "stores a block-list file",
    ("POST", "/api/v1/portal/videos"): "writes uploaded files into the portal's media directory",
    ("POST", "/api/v1/monitoring/targets/{name}/ack"): "acknowledges a link's alert",
    ("POST", "/api/v1/vouchers"): "makes voucher codes in the store",
    ("POST", "/api/v1/users"): "adds console users",
    ("PATCH", "/api/v1/users/{name}"): "changes users' roles, passwords, state (the tests' own)",
}
# Changes that only touch the caller's own draft or account (the fuzzing user's, no one else's).
DRAFT_ONLY = {
    ("POST", "/api/v1/me/password"), ("POST", "/api/v1/me/tokens"),
    ("DELETE", "/api/v1/me/tokens/{token_id}"),
    ("PUT", "/api/v1/calendar"), ("PUT", "/api/v1/draft"), ("DELETE", "/api/v1/draft"),
    ("PUT", "/api/v1/monitoring/maintenance"), ("PUT", "/api/v1/opds/{slug}"),
    ("PUT", "/api/v1/policies/{name}"), ("PUT", "/api/v1/portal"),
    ("DELETE", "/api/v1/portal/videos/{name}"), ("PUT", "/api/v1/schedules/{name}"),
    ("PUT", "/api/v1/settings/export"), ("PUT", "/api/v1/sites/{slug}"),
}  # fmt: skip
FUZZ_USER = "fuzz"


def test_the_api_answers_fuzzed_requests_without_a_server_error(
    lab: LabHandle, console: Console, tmp_path: Path
) -> None:
    """Every operation schemathesis runs answers without a 5xx. It runs as an admin of its own,
    so its draft edits stay in its own draft."""
    console.ensure_user(FUZZ_USER, "admin", "kata-sandi-fuzz-123")
    token = console.add_token(FUZZ_USER, "schemathesis")
    status, document = console.api("GET", "/api/v1/openapi.json", token)
    assert status == 200
    operations = {
        (method.upper(), path): op["operationId"]
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    unclassified = {op for op in operations if op[0] != "GET"} - set(NOT_FUZZED) - DRAFT_ONLY
    assert not unclassified, f"say whether these act at once or only on a draft: {unclassified}"
    revision = running(lab)["revision"]
    junit = tmp_path / "junit.xml"
    excluded = [arg for op in NOT_FUZZED if op in operations
                for arg in ("--exclude-operation-id", operations[op])]  # fmt: skip
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("st")), "run", f"{console.url}/api/v1/openapi.json",
         "--header", f"Authorization: Bearer {token}", "--checks", "not_a_server_error",
         "--max-examples", "10", "--seed", "20240101", "--workers", "1",
         "--request-timeout", "30", *excluded, "--report", "junit",
         "--report-junit-path", str(junit)],
        cwd=tmp_path, capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-6000:]
    suite = ElementTree.parse(junit).getroot()
    cases = suite.findall(".//testcase")
    ran = {case.get("name") for case in cases if case.find("skipped") is None}
    assert int(suite.get("failures", "0")) == 0 and int(suite.get("errors", "0")) == 0
    expected = {f"{m} {p}" for (m, p) in operations if (m, p) not in NOT_FUZZED}
    assert not expected - ran, f"not run: {sorted(expected - ran)}"
    assert running(lab)["revision"] == revision  # the run changed nothing that runs
