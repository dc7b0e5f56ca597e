"""The console's hotspot-site and portal-content pages and API: edits land in the admin's draft,
uploads in the media directory, and everyone else is refused with nothing changed."""

from __future__ import annotations

import copy
import dataclasses
import io
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from netctl.protocol import ApiError
from portal.admin import sites
from portal.admin.media_upload import VIDEO
from portal.captive.media import media_type
from tests.unit.admin_helpers import Browser, FakeNetd, draft_of, sign_in
from tests.unit.test_media_upload import JPEG, PNG, WEBM, mp4_head

SITE = "rtm-lam"
VIDEOS = [
    {"file": "satu.webm", "poster": "satu.jpg", "title": "Satu"},
    {"file": "dua.mp4", "poster": None, "title": "Dua"},
    {"file": "tiga.mp4", "poster": None, "title": "Tiga"},
]
GOOD_SITE_FORM = {
    "name": "RTM LAM Baru",
    "kecamatan": "Tebing Tinggi Barat",
    "region_code": "14.10.02",
    "location.lat": "1,02",
    "location.lon": "102.70",
    "bandwidth.down_mbps": "50",
    "bandwidth.up_mbps": "10",
    "access.methods": ["video", "voucher"],
    "access.session_minutes": "90",
    "access.idle_minutes": "10",
    "access.daily_minutes": "240",
    "access.client_down_kbps": "",
    "access.client_up_kbps": "2000",
    "access.quota_mb": "500",
    "access.throttle_kbps": "128",
}
GOOD_SITE_BODY = {
    "name": "RTM LAM Baru",
    "kecamatan": "Tebing Tinggi Barat",
    "region_code": "14.10.02",
    "location": {"lat": 1.02, "lon": 102.7},
    "bandwidth": None,
    "access": {"methods": ["voucher"], "session_minutes": 60},
}
GOOD_PORTAL_FORM = {
    "hostname": "portal.wifi.merantikab.go.id",
    "address": "",
    "http_port": "80",
    "https_port": "443",
    "news_url": "https://berita.merantikab.go.id/",
    "video_seconds": "20",
    "walled_garden": "198.51.100.10/32\n198.51.100.11/32",
    "walled_garden_names": "merantikab.go.id\n*.riau.go.id",
    "mac_allow": "02:1A:2B:3C:4D:5E",
    "mac_block": "",
}


@pytest.fixture
def netd() -> FakeNetd:
    fake = FakeNetd()
    fake.document["portal"]["videos"] = copy.deepcopy(VIDEOS)
    return fake


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return tmp_path / "media"


def draft_site(app: Flask, slug: str = SITE) -> dict[str, Any]:
    document = draft_of(app)
    assert document is not None
    return next(site for site in document["hotspot_sites"] if site["slug"] == slug)


def field_errors_on(html: str) -> list[str]:
    return re.findall(r'<p class="field-error" id="error-([\w-]+)">([^<]*)</p>', html)


def upload(browser: Browser, url: str, files: dict[str, tuple[bytes, str]], **fields: str) -> Any:
    data: dict[str, Any] = dict(fields)
    data |= {name: (io.BytesIO(body), filename) for name, (body, filename) in files.items()}
    if url.startswith("/api/"):
        return browser.client.post(url, data=data, headers={"X-CSRF-Token": browser.token},
                                   content_type="multipart/form-data")  # fmt: skip
    return browser.post(url, data, content_type="multipart/form-data")


# -- who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "reviewer"])
def test_only_admins_see_or_change_sites_and_portal(app: Flask, media: Path, role: str) -> None:
    browser = sign_in(app, role)
    for url in ("/lokasi", f"/lokasi/{SITE}", "/lokasi/portal", "/lokasi/video"):
        assert browser.get(url).status_code == 403, url
    assert browser.post(f"/lokasi/{SITE}", GOOD_SITE_FORM).status_code == 403
    assert browser.post("/lokasi/portal", GOOD_PORTAL_FORM).status_code == 403
    for action in ("up", "down", "title", "remove"):
        response = browser.post("/lokasi/portal/video/dua.mp4", {"action": action, "title": "X"})
        assert response.status_code == 403
    assert (
        upload(browser, "/lokasi/video", {"file": (WEBM, "a.webm")}, title="A").status_code == 403
    )
    assert browser.send("GET", "/api/v1/sites").status_code == 403
    assert browser.send("PUT", f"/api/v1/sites/{SITE}", GOOD_SITE_BODY).status_code == 403
    assert browser.send("GET", "/api/v1/portal").status_code == 403
    portal = {**sites.portal_view({"portal": {}}), "videos": []}
    assert browser.send("PUT", "/api/v1/portal", portal).status_code == 403
    response = upload(browser, "/api/v1/portal/videos", {"file": (WEBM, "a.webm")}, title="A")
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert browser.send("DELETE", "/api/v1/portal/videos/dua.mp4").status_code == 403
    assert draft_of(app, role) is None
    assert draft_of(app, "admin") is None
    assert list(media.iterdir()) == []


def test_signed_out_callers_are_sent_away(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/lokasi").status_code == 302
    assert client.get("/api/v1/portal").status_code == 401


def test_admin_sees_the_sites_with_their_access_rules(admin: Browser) -> None:
    page = admin.get("/lokasi")
    assert page.status_code == 200
    assert "RTM LAM Selatpanjang" in page.text and "Taman Cik Puan" in page.text
    assert "10.40.1.0/24" in page.text
    assert "4,0 Mbit/s" in page.text  # the lab's default per-device download rate
    assert "simpul config import" in page.text  # adding sites is not done here: it says where
    assert admin.get("/lokasi/portal").status_code == 200
    assert admin.get("/lokasi/video").status_code == 200


def test_without_a_configuration_the_sites_page_says_so(app: Flask, netd: FakeNetd) -> None:
    netd.answers["config_document"] = ApiError("no-config", "no configuration imported yet")
    admin = sign_in(app, "admin")
    page = admin.get("/lokasi")
    assert page.status_code == 200
    assert "no configuration imported yet" in page.text
    assert "Belum ada lokasi hotspot" in page.text
    assert admin.send("GET", "/api/v1/sites").status_code == 409


# -- sites --------------------------------------------------------------------------------------


def test_site_form_saves_into_the_draft(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    response = admin.post(f"/lokasi/{SITE}", GOOD_SITE_FORM)
    assert response.status_code == 302 and response.headers["Location"] == "/lokasi"
    site = draft_site(app)
    assert site["name"] == "RTM LAM Baru" and site["region_code"] == "14.10.02"
    assert site["location"] == {"lat": 1.02, "lon": 102.7}
    assert site["bandwidth"] == {"down_mbps": 50.0, "up_mbps": 10.0}
    assert site["access"] == {
        "methods": ["video", "voucher"], "session_minutes": 90, "idle_minutes": 10,
        "daily_minutes": 240, "client_down_kbps": None, "client_up_kbps": 2000,
        "quota_mb": 500, "throttle_kbps": 128,
    }  # fmt: skip
    # Only the edited fields changed; the network planning stayed.
    before = next(s for s in netd.document["hotspot_sites"] if s["slug"] == SITE)
    edited = set(sites.SITE_FIELDS)
    assert {k: v for k, v in site.items() if k not in edited} == {
        k: v for k, v in before.items() if k not in edited
    }
    document = draft_of(app)
    assert document is not None
    assert {k: v for k, v in document.items() if k != "hotspot_sites"} == {
        k: v for k, v in netd.document.items() if k != "hotspot_sites"
    }
    assert not netd.called("config_apply")
    # The pages now show the draft.
    assert "RTM LAM Baru" in admin.get("/lokasi").text
    assert 'value="RTM LAM Baru"' in admin.get(f"/lokasi/{SITE}").text


def test_bad_site_form_shows_each_problem_and_keeps_the_input(app: Flask, admin: Browser) -> None:
    form = GOOD_SITE_FORM | {
        "location.lat": "20",
        "location.lon": "timur",
        "access.methods": [],
        "access.session_minutes": "0",
        "bandwidth.up_mbps": "",
        "region_code": "14.1",
    }
    response = admin.post(f"/lokasi/{SITE}", form)
    assert response.status_code == 422
    errors = dict(field_errors_on(response.text))
    assert "less than or equal to 6.5" in errors["location-lat"]
    assert "valid number" in errors["location-lon"]
    assert "at least 1 item" in errors["access-methods"]
    assert "greater than or equal to 1" in errors["access-session_minutes"]
    assert "valid number" in errors["bandwidth-up_mbps"]
    assert "Kemendagri region code" in errors["region_code"]
    assert "name" not in errors
    assert 'name="location.lat" value="20"' in response.text
    assert 'name="location.lon" value="timur"' in response.text
    assert 'value="RTM LAM Baru"' in response.text
    assert draft_of(app) is None


def test_unknown_site_is_404(app: Flask, admin: Browser) -> None:
    assert admin.get("/lokasi/tidak-ada").status_code == 404
    assert admin.post("/lokasi/tidak-ada", GOOD_SITE_FORM).status_code == 404
    response = admin.send("PUT", "/api/v1/sites/tidak-ada", GOOD_SITE_BODY)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not-found"
    assert draft_of(app) is None


def test_sites_api(app: Flask, admin: Browser) -> None:
    listed = admin.send("GET", "/api/v1/sites")
    assert listed.status_code == 200
    assert [site["slug"] for site in listed.json] == ["rtm-lam", "taman-cik-puan"]
    assert listed.json[0]["access"]["methods"] == ["video"]
    response = admin.send("PUT", f"/api/v1/sites/{SITE}", GOOD_SITE_BODY)
    assert response.status_code == 200, response.json
    assert response.json["name"] == "RTM LAM Baru"
    site = draft_site(app)
    assert site["bandwidth"] is None
    assert site["access"]["methods"] == ["voucher"] and site["access"]["session_minutes"] == 60
    assert site["subnet"] == "10.40.1.0/24"
    assert admin.send("GET", "/api/v1/sites").json[0]["name"] == "RTM LAM Baru"


def test_site_edit_checks_the_whole_site(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    document = copy.deepcopy(netd.document)
    document["hotspot_sites"][0]["interface"] = "bukan nama antarmuka"
    assert admin.send("PUT", "/api/v1/draft", {"document": document}).status_code == 200
    response = admin.send("PUT", f"/api/v1/sites/{SITE}", GOOD_SITE_BODY)
    assert response.status_code == 422
    assert "interface" in response.json["error"]["fields"]
    page = admin.post(f"/lokasi/{SITE}", GOOD_SITE_FORM)
    assert page.status_code == 422
    assert "interface: " in page.text  # no field of the form shows it: listed above the form
    assert draft_site(app)["name"] == "RTM LAM Selatpanjang"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": {"lat": 20, "lon": 102.7}}, "location.lat"),
        ({"subnet": "10.9.9.0/24"}, "subnet"),  # network planning is not editable here
        ({"access": {"methods": ["wifi"]}}, "access.methods.0"),
        ({"name": "x"}, "name"),
    ],
)
def test_sites_api_refuses_bad_bodies(
    app: Flask, admin: Browser, change: dict[str, Any], field: str
) -> None:
    response = admin.send("PUT", f"/api/v1/sites/{SITE}", GOOD_SITE_BODY | change)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    body = {k: v for k, v in GOOD_SITE_BODY.items() if k != "access"}
    assert "access" in admin.send("PUT", f"/api/v1/sites/{SITE}", body).json["error"]["fields"]
    assert draft_of(app) is None


# -- portal settings and playlist ---------------------------------------------------------------


def draft_portal(app: Flask) -> dict[str, Any]:
    document = draft_of(app)
    assert document is not None
    return document["portal"]


def test_portal_settings_form(app: Flask, admin: Browser, netd: FakeNetd) -> None:
    response = admin.post("/lokasi/portal", GOOD_PORTAL_FORM)
    assert response.status_code == 302
    portal = draft_portal(app)
    assert portal["news_url"] == "https://berita.merantikab.go.id/"
    assert portal["video_seconds"] == 20
    assert portal["walled_garden"] == ["198.51.100.10/32", "198.51.100.11/32"]
    assert portal["walled_garden_names"] == ["merantikab.go.id", "*.riau.go.id"]
    assert portal["mac_allow"] == ["02:1a:2b:3c:4d:5e"]
    assert portal["address"] is None
    # What the page does not edit is as it was: the secrets and the playlist.
    for key in ("otp", "radius", "videos"):
        assert portal[key] == netd.document["portal"][key]
    page = admin.get("/lokasi/portal").text
    assert "https://berita.merantikab.go.id/" in page
    assert "lab-radius-secret" not in page and "lab-token" not in page


def test_bad_portal_form_shows_each_problem(app: Flask, admin: Browser) -> None:
    form = GOOD_PORTAL_FORM | {
        "news_url": "berita",
        "video_seconds": "601",
        "walled_garden_names": "merantikab.go.id\nbukan nama",
        "mac_allow": "01:00:5e:00:00:01",
        "hostname": "Portal",
    }
    response = admin.post("/lokasi/portal", form)
    assert response.status_code == 422
    errors = dict(field_errors_on(response.text))
    assert "http(s) URL" in errors["news_url"]
    assert "less than or equal to 600" in errors["video_seconds"]
    assert errors["walled_garden_names"].startswith("baris 2: ")
    assert "not a domain" in errors["walled_garden_names"]
    assert "MAC address" in errors["mac_allow"]
    assert "lowercase DNS name" in errors["hostname"]
    assert "merantikab.go.id\nbukan nama</textarea>" in response.text
    assert draft_of(app) is None


def titles(app: Flask) -> list[str]:
    return [video["title"] for video in draft_portal(app)["videos"]]


def test_playlist_order_titles_and_removal_from_the_page(app: Flask, admin: Browser) -> None:
    assert admin.post("/lokasi/portal/video/dua.mp4", {"action": "up"}).status_code == 302
    assert titles(app) == ["Dua", "Satu", "Tiga"]
    admin.post("/lokasi/portal/video/dua.mp4", {"action": "up"})  # already first: stays
    assert titles(app) == ["Dua", "Satu", "Tiga"]
    admin.post("/lokasi/portal/video/satu.webm", {"action": "down"})
    assert titles(app) == ["Dua", "Tiga", "Satu"]
    admin.post("/lokasi/portal/video/tiga.mp4", {"action": "title", "title": "  Tiga baru "})
    assert titles(app) == ["Dua", "Tiga baru", "Satu"]
    response = admin.post("/lokasi/portal/video/tiga.mp4", {"action": "title", "title": ""})
    assert response.status_code == 422
    assert "at least 1 character" in response.text
    assert titles(app) == ["Dua", "Tiga baru", "Satu"]
    admin.post("/lokasi/portal/video/satu.webm", {"action": "remove"})
    assert draft_portal(app)["videos"] == [
        {"file": "dua.mp4", "poster": None, "title": "Dua"},
        {"file": "tiga.mp4", "poster": None, "title": "Tiga baru"},
    ]
    assert admin.post("/lokasi/portal/video/satu.webm", {"action": "up"}).status_code == 404
    assert admin.post("/lokasi/portal/video/dua.mp4", {"action": "jump"}).status_code == 400
    page = admin.get("/lokasi/portal").text
    assert "data-confirm=" in page and "Tiga baru" in page


def test_portal_api(app: Flask, admin: Browser) -> None:
    portal = admin.send("GET", "/api/v1/portal").json
    assert [video["file"] for video in portal["videos"]] == ["satu.webm", "dua.mp4", "tiga.mp4"]
    assert "otp" not in portal and "radius" not in portal
    portal["video_seconds"] = 45
    portal["videos"] = [
        portal["videos"][2] | {"title": "Tiga!"},
        portal["videos"][0] | {"poster": None},
    ]
    response = admin.send("PUT", "/api/v1/portal", portal)
    assert response.status_code == 200, response.json
    assert draft_portal(app)["video_seconds"] == 45
    assert draft_portal(app)["videos"] == [
        {"file": "tiga.mp4", "poster": None, "title": "Tiga!"},
        {"file": "satu.webm", "poster": None, "title": "Satu"},
    ]
    assert draft_portal(app)["radius"]["secret"] == "lab-radius-secret"
    gone = admin.send("DELETE", "/api/v1/portal/videos/tiga.mp4")
    assert gone.status_code == 200
    assert [video["file"] for video in gone.json["videos"]] == ["satu.webm"]
    assert admin.send("DELETE", "/api/v1/portal/videos/tiga.mp4").status_code == 404


@pytest.mark.parametrize(
    ("videos", "field"),
    [
        ([{"file": "baru.mp4", "poster": None, "title": "Baru"}], "videos.0.file"),
        ([VIDEOS[1], VIDEOS[1]], "videos.1.file"),
        ([VIDEOS[0] | {"poster": "lain.jpg"}], "videos.0.poster"),
        ([VIDEOS[0] | {"title": ""}], "videos.0.title"),
        ([VIDEOS[0] | {"file": "../etc/passwd"}], "videos.0.file"),
    ],
)
def test_portal_api_refuses_bad_playlists(
    app: Flask, admin: Browser, videos: list[dict[str, Any]], field: str
) -> None:
    portal = admin.send("GET", "/api/v1/portal").json | {"videos": videos}
    response = admin.send("PUT", "/api/v1/portal", portal)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert draft_of(app) is None


def test_portal_api_refuses_secrets_and_missing_fields(app: Flask, admin: Browser) -> None:
    portal = admin.send("GET", "/api/v1/portal").json
    with_secret = portal | {"radius": {"server": "203.0.113.9", "secret": "x" * 12}}
    assert "radius" in admin.send("PUT", "/api/v1/portal", with_secret).json["error"]["fields"]
    partial = {k: v for k, v in portal.items() if k != "news_url"}
    assert "news_url" in admin.send("PUT", "/api/v1/portal", partial).json["error"]["fields"]
    assert admin.send("PUT", "/api/v1/portal", ["not", "an", "object"]).status_code == 422
    assert draft_of(app) is None


# -- uploads ------------------------------------------------------------------------------------


def test_a_text_file_named_video_mp4_is_refused(app: Flask, admin: Browser, media: Path) -> None:
    files = {"file": (b"Ini bukan video.\n", "video.mp4")}
    response = upload(admin, "/lokasi/video", files, title="Palsu")
    assert response.status_code == 422
    errors = dict(field_errors_on(response.text))
    assert "bukan video MP4/WebM" in errors["file"] and "teks biasa" in errors["file"]
    assert "video.mp4" in errors["file"]
    assert 'value="Palsu"' in response.text
    admin.client.set_cookie("lang", "en")
    response = upload(admin, "/lokasi/video", files, title="Palsu")
    assert "is not a video (MP4/WebM)" in dict(field_errors_on(response.text))["file"]
    response = upload(admin, "/api/v1/portal/videos", files, title="Palsu")
    assert response.status_code == 422
    assert "plain text" in response.json["error"]["fields"]["file"]
    assert list(media.iterdir()) == []
    assert draft_of(app) is None


def test_an_mp4_upload_is_kept_and_put_first(app: Flask, admin: Browser, media: Path) -> None:
    body = mp4_head() + bytes(5000)
    response = upload(admin, "/lokasi/video", {"file": (body, "rekaman.MOV")}, title="Profil Desa")
    assert response.status_code == 302 and response.headers["Location"] == "/lokasi/portal"
    entry = draft_portal(app)["videos"][0]
    assert re.fullmatch(r"profil-desa-[0-9a-f]{8}\.mp4", entry["file"])
    assert entry == {"file": entry["file"], "poster": None, "title": "Profil Desa"}
    assert [video["file"] for video in draft_portal(app)["videos"][1:]] == [
        video["file"] for video in VIDEOS
    ]
    kept = media / entry["file"]
    assert kept.read_bytes() == body
    assert stat.S_IMODE(kept.stat().st_mode) == 0o644  # the portal runs as another user
    assert media_type(entry["file"]) == "video/mp4"  # the captive portal serves it
    assert [path.name for path in media.iterdir()] == [entry["file"]]  # no temporary left


def test_a_webm_upload_with_a_poster_through_the_api(
    app: Flask, admin: Browser, media: Path
) -> None:
    files = {"file": (WEBM + bytes(100), "a.bin"), "poster": (PNG + bytes(100), "p.dat")}
    response = upload(admin, "/api/v1/portal/videos", files, title="Wisata Meranti")
    assert response.status_code == 201, response.json
    entry = response.json["video"]
    assert entry["file"].endswith(".webm") and entry["poster"].endswith(".png")
    assert entry["file"][:-5] == entry["poster"][:-4]
    assert response.json["videos"][0] == entry
    assert draft_portal(app)["videos"][0] == entry
    assert media_type(entry["poster"]) == "image/png"
    assert sorted(path.name for path in media.iterdir()) == sorted([entry["file"], entry["poster"]])


@pytest.mark.parametrize(
    ("files", "title", "status", "field"),
    [
        ({"file": (b"", "kosong.mp4")}, "Kosong", 422, "file"),
        ({}, "Tanpa berkas", 422, "file"),
        ({"file": (WEBM, "a.webm")}, "", 422, "title"),
        ({"file": (WEBM, "a.webm"), "poster": (b"<svg/>", "p.png")}, "Poster", 422, "poster"),
        ({"file": (WEBM, "a.webm"), "poster": (JPEG + bytes(80_001), "p.jpg")}, "X", 413, "poster"),
    ],
)
def test_refused_uploads_write_nothing(
    app: Flask,
    admin: Browser,
    media: Path,
    files: dict[str, tuple[bytes, str]],
    title: str,
    status: int,
    field: str,
) -> None:
    response = upload(admin, "/api/v1/portal/videos", files, title=title)
    assert response.status_code == status
    assert field in response.json["error"]["fields"]
    page = upload(admin, "/lokasi/video", files, title=title)
    assert page.status_code == status
    assert field in dict(field_errors_on(page.text))
    assert list(media.iterdir()) == []
    assert draft_of(app) is None


def test_oversize_video_is_refused(
    app: Flask, admin: Browser, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sites, "VIDEO", dataclasses.replace(VIDEO, max_bytes=4000))
    body = mp4_head() + bytes(4000)
    response = upload(admin, "/lokasi/video", {"file": (body, "besar.mp4")}, title="Besar")
    assert response.status_code == 413
    assert "batasnya 4,00 KB" in dict(field_errors_on(response.text))["file"]
    response = upload(admin, "/api/v1/portal/videos", {"file": (body, "b.mp4")}, title="Besar")
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too-large"
    assert list(media.iterdir()) == []
    assert draft_of(app) is None
    fits = mp4_head() + bytes(4000 - len(mp4_head()))
    response = upload(admin, "/api/v1/portal/videos", {"file": (fits, "b.mp4")}, title="Pas")
    assert response.status_code == 201


def test_upload_into_an_invalid_draft_leaves_no_file(
    app: Flask, admin: Browser, media: Path, netd: FakeNetd
) -> None:
    document = copy.deepcopy(netd.document)
    document["portal"]["video_seconds"] = -1  # a draft put whole through the API
    assert admin.send("PUT", "/api/v1/draft", {"document": document}).status_code == 200
    response = upload(admin, "/api/v1/portal/videos", {"file": (WEBM, "a.webm")}, title="A")
    assert response.status_code == 422
    assert "video_seconds" in response.json["error"]["fields"]
    assert list(media.iterdir()) == []
    assert draft_portal(app)["videos"] == VIDEOS


def test_unwritable_media_directory_is_reported(app: Flask, admin: Browser, media: Path) -> None:
    media.rmdir()
    response = upload(admin, "/api/v1/portal/videos", {"file": (WEBM, "a.webm")}, title="A")
    assert response.status_code == 500
    assert response.json["error"]["code"] == "media-unwritable"
    assert draft_of(app) is None


def test_openapi_documents_the_json_operations(app: Flask, admin: Browser) -> None:
    document = admin.get("/api/v1/openapi.json").json
    paths = document["paths"]
    assert set(paths["/api/v1/sites/{slug}"]) == {"put"}
    assert set(paths["/api/v1/portal"]) == {"get", "put"}
    assert set(paths["/api/v1/portal/videos/{name}"]) == {"delete"}
    assert "get" in paths["/api/v1/sites"]
    schemas = document["components"]["schemas"]
    assert set(schemas["SiteEdit"]["required"]) == set(sites.SITE_FIELDS)
    assert schemas["SiteEdit"]["additionalProperties"] is False
    assert "radius" not in schemas["PortalEdit"]["properties"]
