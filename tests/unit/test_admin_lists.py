"""The console's block-list pages and API: the lists as the loader counts them, a list's entries
searched page by page, and uploading a list file into the draft."""

from __future__ import annotations

import copy
import io
import stat
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from portal.admin import lists as lists_module
from simpul.config import parse_config
from simpul.filtering.engine import engine_for
from simpul.filtering.lists import read
from simpul.filtering.policy import group_named
from tests.unit.admin_helpers import ROOT, Browser, FakeNetd, draft_of, make_app, sign_in

HOSTS = b"# TrustPositif contoh\n0.0.0.0 judi-baru.example\n0.0.0.0 slot-baru.example\n"
MALFORMED = b"bukan daftar\n<html><body>404</body></html>\n\n||x^$third-party\n"


@pytest.fixture
def lists_dir(tmp_path: Path) -> Path:
    """A lists directory: a 'kecil' list of 252 names (one exact, one wildcard) with two bad
    lines."""
    directory = tmp_path / "daftar-node"
    directory.mkdir()
    names = [f"situs-{i:03d}.example" for i in range(250)]
    lines = [
        "# contoh",
        *names[:100],
        "bukan_nama!",
        *names[100:],
        "-rusak.example",
        "=tepat.example",
        "*.liar.example",
    ]
    (directory / "kecil.txt").write_text("\n".join(lines) + "\n")
    return directory


@pytest.fixture
def netd(lists_dir: Path) -> FakeNetd:
    netd = FakeNetd()
    netd.document["filtering"]["lists"].append(
        {
            "name": "kecil",
            "category": "gambling",
            "path": str(lists_dir / "kecil.txt"),
            "format": "plain",
            "match": "subtree",
        }
    )
    return netd


def uploads(app: Flask) -> list[Path]:
    directory = Path(app.config["STATE_DIR"]) / "lists"  # the default: STATE_DIR/lists
    return sorted(directory.iterdir()) if directory.exists() else []


def upload(browser: Browser, content: bytes, api: bool = False, **fields: str) -> Any:
    data: dict[str, Any] = {
        "name": "trustpositif",
        "category": "gambling",
        "format": "auto",
        "match": "subtree",
        **fields,
        "file": (io.BytesIO(content), "trustpositif.txt"),
    }
    if api:
        return browser.client.post(
            "/api/v1/lists", data=data, headers={"X-CSRF-Token": browser.token}
        )
    return browser.post("/daftar/unggah", data)


# -- Access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "reviewer"])
def test_other_roles_may_not_see_or_upload_lists(app: Flask, netd: FakeNetd, role: str) -> None:
    browser = sign_in(app, role)
    before = copy.deepcopy(netd.document)
    for url in ("/daftar", "/daftar/kecil", "/api/v1/lists", "/api/v1/lists/kecil/entries"):
        assert browser.get(url).status_code == 403, url
    assert upload(browser, HOSTS).status_code == 403
    assert upload(browser, HOSTS, api=True).status_code == 403
    assert draft_of(app, role) is None and netd.document == before
    assert uploads(app) == []


# -- The lists ---------------------------------------------------------------------------------


def test_the_lists_are_counted_as_the_loader_counts_them(admin: Browser, lists_dir: Path) -> None:
    rows = {row["name"]: row for row in admin.get("/api/v1/lists").json}
    assert list(rows) == [
        "streaming-video",
        "drakor",
        "social-media",
        "games",
        "gambling",
        "adult",
        "doh",
        "kecil",
    ]
    for name in ("gambling", "kecil"):
        path = rows[name]["file"]
        _entries, report = read(path, "plain")
        assert rows[name]["report"]["entries"] == report.entries
        assert rows[name]["report"]["bad"] == report.bad
    assert rows["gambling"]["file"] == str(ROOT / "filter-lists" / "categories" / "gambling.txt")
    assert rows["kecil"]["report"]["entries"] == 252
    assert rows["kecil"]["report"]["bad_lines"] == [
        {"line": 102, "text": "bukan_nama!", "reason": "not a host name (character '!')"},
        {
            "line": 253,
            "text": "-rusak.example",
            "reason": "not a host name (label starts or ends with '-')",
        },
    ]
    page = admin.get("/daftar").text
    assert "baris 102: not a host name (character &#39;!&#39;)" in page
    assert "/kebijakan/pendidikan#allow" in page


def test_an_unreadable_list_is_shown_as_such(admin: Browser, lists_dir: Path) -> None:
    (lists_dir / "kecil.txt").unlink()
    row = next(r for r in admin.get("/api/v1/lists").json if r["name"] == "kecil")
    assert row["report"] is None and "kecil.txt" in row["error"]
    page = admin.get("/daftar")
    assert page.status_code == 200 and "tidak terbaca" in page.text


def test_entries_are_searched_and_paged(admin: Browser) -> None:
    first = admin.get("/api/v1/lists/kecil/entries").json
    assert first["entries"][:2] == ["situs-000.example", "situs-001.example"]
    assert len(first["entries"]) == 100 and first["more"] is True
    last = admin.get("/api/v1/lists/kecil/entries?page=3").json
    assert "situs-249.example" in last["entries"]
    assert len(last["entries"]) == 52 and last["more"] is False
    found = admin.get("/api/v1/lists/kecil/entries?q=SITUS-12").json
    assert found["entries"] == [f"situs-{i}.example" for i in range(120, 130)]
    page = admin.get("/daftar/kecil?q=situs-24&page=1")
    assert page.status_code == 200 and "situs-249.example" in page.text
    assert "situs-000.example" not in page.text


def test_entries_show_their_kind(admin: Browser) -> None:
    assert admin.get("/api/v1/lists/kecil/entries?q=tepat").json["entries"] == ["=tepat.example"]
    assert admin.get("/api/v1/lists/kecil/entries?q=liar").json["entries"] == ["*.liar.example"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("page=0", "page"), ("page=dua", "page"), (f"q={'a' * 254}", "q"), ("urut=nama", "urut")],
)
def test_bad_entry_queries_are_422(admin: Browser, query: str, field: str) -> None:
    response = admin.get(f"/api/v1/lists/kecil/entries?{query}")
    assert response.status_code == 422 and field in response.json["error"]["fields"]
    assert admin.get(f"/daftar/kecil?{query}").status_code == 422


def test_unknown_lists_are_404(admin: Browser) -> None:
    assert admin.get("/daftar/tidak-ada").status_code == 404
    assert admin.get("/api/v1/lists/tidak-ada/entries").status_code == 404


# -- Uploads -----------------------------------------------------------------------------------


def test_an_uploaded_list_is_kept_and_added_to_the_draft(app: Flask, admin: Browser) -> None:
    response = upload(admin, HOSTS)
    assert response.status_code == 302 and response.location == "/daftar"
    [kept] = uploads(app)
    assert kept.read_bytes() == HOSTS and kept.name.startswith("trustpositif-")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o644
    draft = draft_of(app)
    assert draft is not None
    assert draft["filtering"]["lists"][-1] == {
        "name": "trustpositif",
        "category": "gambling",
        "path": str(kept),
        "format": "auto",
        "match": "subtree",
    }
    # The absolute path works for the front end's engine, as the draft would run.
    config = parse_config(draft)
    engine, _lists, _warnings = engine_for(config)
    night = datetime(2026, 11, 26, 23, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
    verdict = engine.decide(group_named(config, "opd", "disdik"), "www.slot-baru.example", night)
    assert verdict.blocked and verdict.hit is not None and verdict.hit.list == "trustpositif"
    assert "trustpositif" in admin.get("/daftar").text


def test_the_api_uploads_and_reports_the_counts(app: Flask, admin: Browser) -> None:
    response = upload(admin, HOSTS, api=True, format="hosts", name="tp-hosts")
    assert response.status_code == 201
    assert response.json["list"]["name"] == "tp-hosts"
    assert response.json["report"]["entries"] == 2 and response.json["report"]["format"] == "hosts"


def test_a_malformed_list_is_refused_with_its_line_numbers(app: Flask, admin: Browser) -> None:
    response = upload(admin, MALFORMED)
    assert response.status_code == 422
    for line in (
        "3 dari 4 baris salah",
        "baris 1: more than one field on the line",
        "baris 2: not a host name (character &#39;&lt;&#39;)",
        "baris 4: not a host name (character &#39;|&#39;)",
    ):
        assert line in response.text, line
    assert 'value="trustpositif"' in response.text  # what was typed is kept
    api = upload(admin, MALFORMED, api=True, format="plain")
    assert api.status_code == 422
    message = api.json["error"]["fields"]["file"]
    assert "baris 1:" in message and "baris 2:" in message and "baris 4:" in message
    assert draft_of(app) is None and uploads(app) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Bukan Slug"}, "name"),
        ({"name": "gambling"}, "name"),
        ({"category": ""}, "category"),
        ({"format": "excel"}, "format"),
        ({"match": "regex"}, "match"),
        ({"sumber": "kominfo"}, "sumber"),
    ],
)
def test_bad_upload_fields_are_refused(
    app: Flask, admin: Browser, fields: dict[str, str], field: str
) -> None:
    response = upload(admin, HOSTS, api=True, **fields)
    assert response.status_code == 422 and field in response.json["error"]["fields"]
    assert draft_of(app) is None and uploads(app) == []


def test_a_binary_or_missing_file_is_refused(app: Flask, admin: Browser) -> None:
    binary = upload(admin, b"\x00\x01ELF", api=True)
    assert binary.status_code == 422
    assert "binary file" in binary.json["error"]["fields"]["file"]
    missing = admin.client.post(
        "/api/v1/lists",
        data={"name": "x-list", "category": "games"},
        headers={"X-CSRF-Token": admin.token},
    )
    assert missing.status_code == 422 and "file" in missing.json["error"]["fields"]
    assert draft_of(app) is None and uploads(app) == []


def test_a_list_over_the_limit_is_refused(
    app: Flask, admin: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lists_module, "UPLOAD_LIMIT_BYTES", len(HOSTS) - 1)
    response = upload(admin, HOSTS, api=True)
    assert response.status_code == 413
    assert draft_of(app) is None and uploads(app) == []


def test_without_a_configuration_the_page_says_so(tmp_path: Path) -> None:
    netd = FakeNetd()
    netd.document = {}
    admin = sign_in(make_app(tmp_path, netd), "admin")
    page = admin.get("/daftar")
    assert page.status_code == 409 and "Belum ada konfigurasi yang sah" in page.text


def test_an_invalid_draft_shows_the_running_lists_and_says_why(
    admin: Browser, netd: FakeNetd
) -> None:
    document = copy.deepcopy(netd.document)
    document["opds"][0]["policy"] = "tidak-ada"
    assert admin.send("PUT", "/api/v1/draft", {"document": document}).status_code == 200
    page = admin.get("/daftar")
    assert page.status_code == 200
    assert "Draf belum sah" in page.text and "no policy is named" in page.text
    assert "/daftar/kecil" in page.text
