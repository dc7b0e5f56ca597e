"""The console's policy, schedule and calendar pages and API, and the explain / what-if tool
(the same verdicts and chain as `simpul dns explain`, over the shipped filter lists)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.policies import cached_engine
from simpul.config import config_to_data, parse_config
from tests.unit.admin_helpers import (
    Browser,
    FakeNetd,
    at,
    draft_of,
    lab_document,
    make_app,
    sign_in,
)

# Thursday 26 November 2026, 10:00 WIB: a working day (jam-kerja runs 07:30-16:00).
THURSDAY_10 = at("2026-11-26 10:00")


@pytest.fixture
def app(tmp_path: Path, netd: FakeNetd) -> Flask:
    return make_app(tmp_path, netd, CLOCK=lambda: THURSDAY_10)


def policy_in(document: dict[str, Any] | None, name: str) -> dict[str, Any]:
    assert document is not None, "no draft"
    return next(p for p in document["policies"] if p["name"] == name)


def policy_form(policy: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """What the policy page's form sends for `policy` unchanged, with `changes` on top."""
    form: dict[str, Any] = {
        "description": policy["description"],
        "block_answer": policy["block_answer"],
        "query_log_days": str(policy["query_log_days"]),
        "allow": "\n".join(policy["allow"]),
        "deny": "\n".join(policy["deny"]),
        "rules_count": str(len(policy["rules"])),
    }
    if policy["cut_flows"]:
        form["cut_flows"] = "1"
    for i, rule in enumerate(policy["rules"]):
        form |= {
            f"rules-{i}-position": str(i + 1),
            f"rules-{i}-action": rule["action"],
            f"rules-{i}-categories": rule["categories"],
            f"rules-{i}-schedule": rule["schedule"] or "",
            f"rules-{i}-description": rule["description"],
        }
    return form | changes


LAB_PENDIDIKAN = policy_in(lab_document(), "pendidikan")


# -- Access ------------------------------------------------------------------------------------

PAGES = [
    "/kebijakan",
    "/kebijakan/pendidikan",
    "/kebijakan/jadwal/jam-kerja",
    "/kebijakan/kalender",
    "/kebijakan/jelaskan?opd=disdik&name=youtube.com",
    "/api/v1/policies",
    "/api/v1/schedules",
    "/api/v1/calendar",
    "/api/v1/explain?opd=disdik&name=youtube.com",
]
CHANGES = [
    ("POST", "/kebijakan/pendidikan", policy_form(LAB_PENDIDIKAN, deny="x.com")),
    ("POST", "/kebijakan/jadwal/jam-kerja", {"holidays": "on"}),
    ("POST", "/kebijakan/kalender", {"action": "add-working", "date": "2026-12-24"}),
    ("PUT", "/api/v1/policies/pendidikan", {"deny": ["x.com"]}),
    ("PUT", "/api/v1/schedules/jam-kerja", {"holidays": "on"}),
    ("PUT", "/api/v1/calendar", {"working_days": ["2026-12-24"]}),
]


@pytest.mark.parametrize("role", ["operator", "reviewer"])
def test_other_roles_may_not_see_or_change_policies(app: Flask, netd: FakeNetd, role: str) -> None:
    browser = sign_in(app, role)
    before = copy.deepcopy(netd.document)
    for url in PAGES:
        assert browser.get(url).status_code == 403, url
    for method, url, data in CHANGES:
        response = browser.post(url, data) if method == "POST" else browser.send(method, url, data)
        assert response.status_code == 403, url
    assert draft_of(app, role) is None and netd.document == before


def test_admins_see_every_page(admin: Browser) -> None:
    for url in PAGES:
        assert admin.get(url).status_code == 200, url


# -- Policies ----------------------------------------------------------------------------------


def test_the_index_lists_policies_with_their_users_and_the_schedules(admin: Browser) -> None:
    page = admin.get("/kebijakan").text
    for text in (
        "/kebijakan/pendidikan",
        "Dinas Pendidikan",
        "RTM LAM Selatpanjang",
        "/kebijakan/jadwal/jam-kerja",
        "mon-thu 07:30–16:00",
        "fri 08:00–15:30",
        "/kebijakan/kalender",
        "/kebijakan/jelaskan",
    ):
        assert text in page, text


def test_deny_names_go_into_the_draft_one_per_line(app: Flask, admin: Browser) -> None:
    form = policy_form(LAB_PENDIDIKAN, deny="judi-contoh.net\n\n*.Slot-Contoh.com.\n")
    response = admin.post("/kebijakan/pendidikan", form)
    assert response.status_code == 302 and response.location == "/kebijakan/pendidikan"
    expected = lab_document()
    policy_in(expected, "pendidikan")["deny"] = ["judi-contoh.net", "*.slot-contoh.com"]
    assert draft_of(app) == expected


def test_bad_allow_lines_are_named_by_line_and_kept(app: Flask, admin: Browser) -> None:
    typed = "belajar.id\nbukan domain\n\nrumah.belajar.id\nlocalhost"
    response = admin.post("/kebijakan/pendidikan", policy_form(LAB_PENDIDIKAN, allow=typed))
    assert response.status_code == 422
    assert "baris 2: &#39;bukan domain&#39; is not a domain" in response.text
    assert "baris 5: &#39;localhost&#39; is not a domain" in response.text
    assert "baris 1" not in response.text and "baris 4" not in response.text
    assert typed in response.text
    assert draft_of(app) is None


def test_rules_are_removed_added_and_reordered(app: Flask, admin: Browser) -> None:
    form = policy_form(
        LAB_PENDIDIKAN,
        **{
            "rules-0-position": "3",
            "rules-1-remove": "1",
            "rules-2-position": "1",
            "rules-2-action": "allow",
            "rules-2-categories": ["games"],
            "rules-2-schedule": "",
            "rules-2-description": "Game edukasi",
        },
    )
    assert admin.post("/kebijakan/pendidikan", form).status_code == 302
    assert policy_in(draft_of(app), "pendidikan")["rules"] == [
        {
            "action": "allow",
            "categories": ["games"],
            "schedule": None,
            "description": "Game edukasi",
        },
        {
            "action": "block",
            "categories": ["gambling", "adult"],
            "schedule": None,
            "description": "",
        },
    ]


def test_a_rule_without_categories_is_refused_at_its_place(app: Flask, admin: Browser) -> None:
    form = policy_form(LAB_PENDIDIKAN, **{"rules-1-categories": []})
    response = admin.post("/kebijakan/pendidikan", form)
    assert response.status_code == 422
    assert '<p class="field-error">List should have at least 1 item' in response.text
    assert draft_of(app) is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"rules": [{"categories": ["tidak-ada"]}]},
            "rules.0.categories.0",
            "no list has category 'tidak-ada'",
        ),
        (
            {"rules": [{"categories": ["games"], "schedule": "malam"}]},
            "rules.0.schedule",
            "no schedule is named 'malam'",
        ),
        ({"deny": ["ok.com", "not a name"]}, "deny.1", "is not a domain"),
        ({"block_answer": "drop"}, "block_answer", "'page' or 'nxdomain'"),
        ({"name": "lain"}, "name", "Extra inputs"),
    ],
)
def test_the_api_refuses_bad_policies_by_field(
    app: Flask, admin: Browser, body: dict[str, Any], field: str, message: str
) -> None:
    response = admin.send("PUT", "/api/v1/policies/pendidikan", body)
    assert response.status_code == 422
    assert message in response.json["error"]["fields"][field]
    assert draft_of(app) is None


def test_the_api_changes_a_policy(app: Flask, admin: Browser) -> None:
    body = {"rules": [{"categories": ["gambling"]}], "block_answer": "nxdomain"}
    response = admin.send("PUT", "/api/v1/policies/hotspot-umum", body)
    assert response.status_code == 200
    policy = policy_in(draft_of(app), "hotspot-umum")
    assert policy["block_answer"] == "nxdomain"
    assert policy["rules"] == [
        {"action": "block", "categories": ["gambling"], "schedule": None, "description": ""}
    ]
    names = [p["name"] for p in admin.get("/api/v1/policies").json]
    assert names == ["pegawai-umum", "pegawai-kominfo", "pendidikan", "hotspot-umum"]


def test_unknown_policies_and_schedules_are_404(app: Flask, admin: Browser) -> None:
    assert admin.get("/kebijakan/tidak-ada").status_code == 404
    assert admin.get("/kebijakan/jadwal/tidak-ada").status_code == 404
    assert admin.send("PUT", "/api/v1/policies/tidak-ada", {"deny": []}).status_code == 404
    assert admin.send("PUT", "/api/v1/schedules/tidak-ada", {}).status_code == 404
    assert draft_of(app) is None


# -- Schedules ---------------------------------------------------------------------------------


def schedule_form(**changes: Any) -> dict[str, Any]:
    """The jam-kerja form as the page sends it, with `changes`."""
    form: dict[str, Any] = {
        "description": "Jam kerja",
        "holidays": "off",
        "use_ramadan": "1",
        "windows_count": "2",
        "ramadan_count": "1",
        "windows-0-days": ["mon", "tue", "wed", "thu"],
        "windows-0-start": "07:30",
        "windows-0-end": "16:00",
        "windows-1-days": ["fri"],
        "windows-1-start": "07:30",
        "windows-1-end": "16:30",
        "ramadan-0-days": ["mon", "tue", "wed", "thu", "fri"],
        "ramadan-0-start": "08:00",
        "ramadan-0-end": "15:00",
    }
    return form | changes


def test_schedule_windows_go_into_the_draft(app: Flask, admin: Browser) -> None:
    form = schedule_form(
        **{
            "windows-2-days": ["sat"],
            "windows-2-start": "22:00",
            "windows-2-end": "05:00",
            "holidays": "on",
        }
    )
    response = admin.post("/kebijakan/jadwal/jam-kerja", form)
    assert response.status_code == 302
    draft = draft_of(app)
    assert draft is not None
    assert draft["schedules"] == [
        {
            "name": "jam-kerja",
            "description": "Jam kerja",
            "holidays": "on",
            "windows": [
                {"days": ["mon", "tue", "wed", "thu"], "start": "07:30", "end": "16:00"},
                {"days": ["fri"], "start": "07:30", "end": "16:30"},
                {"days": ["sat"], "start": "22:00", "end": "05:00"},
            ],
            "ramadan_windows": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "15:00"}
            ],
        }
    ]


def test_unticking_ramadan_uses_the_usual_windows(app: Flask, admin: Browser) -> None:
    form = schedule_form()
    del form["use_ramadan"]
    assert admin.post("/kebijakan/jadwal/jam-kerja", form).status_code == 302
    draft = draft_of(app)
    assert draft is not None and draft["schedules"][0]["ramadan_windows"] is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"windows-1-end": "25:00"}, "is not a time of day"),
        ({"windows-1-end": "07:30"}, "is empty"),
        ({"windows-1-days": []}, "at least 1 item"),
        ({"windows-0-remove": "1", "windows-1-remove": "1"}, "at least 1 item"),
    ],
)
def test_bad_windows_are_refused_and_kept(
    app: Flask, admin: Browser, changes: dict[str, Any], message: str
) -> None:
    response = admin.post("/kebijakan/jadwal/jam-kerja", schedule_form(**changes))
    assert response.status_code == 422
    assert message in response.text and 'class="field-error"' in response.text
    assert draft_of(app) is None


def test_the_schedule_api(app: Flask, admin: Browser) -> None:
    assert [s["name"] for s in admin.get("/api/v1/schedules").json] == ["jam-kerja"]
    assert admin.send("PUT", "/api/v1/schedules/jam-kerja", {"holidays": "on"}).status_code == 200
    expected = lab_document()
    expected["schedules"][0]["holidays"] = "on"
    assert draft_of(app) == expected
    bad = admin.send(
        "PUT",
        "/api/v1/schedules/jam-kerja",
        {"windows": [{"days": ["mon"], "start": "9", "end": "10:00"}]},
    )
    assert bad.status_code == 422 and "windows.0.start" in bad.json["error"]["fields"]


# -- The calendar ------------------------------------------------------------------------------


def test_calendar_entries_are_added_and_removed(app: Flask, admin: Browser) -> None:
    day = {
        "action": "add-day",
        "date": "2026-06-10",
        "name": "Hari Jadi Kabupaten",
        "kind": "libur",
    }
    assert admin.post("/kebijakan/kalender", day).status_code == 302
    span = {"action": "add-ramadan", "start": "2027-02-08", "end": "2027-03-09"}
    assert admin.post("/kebijakan/kalender", span).status_code == 302
    working = {"action": "add-working", "date": "2026-12-24"}
    assert admin.post("/kebijakan/kalender", working).status_code == 302
    assert admin.get("/api/v1/calendar").json == {
        "extra_days": [{"date": "2026-06-10", "name": "Hari Jadi Kabupaten", "kind": "libur"}],
        "working_days": ["2026-12-24"],
        "ramadan": [{"start": "2027-02-08", "end": "2027-03-09"}],
    }
    page = admin.get("/kebijakan/kalender").text
    assert "Hari Jadi Kabupaten" in page and "Kelahiran Yesus Kristus (Natal)" in page
    assert "Cuti bersama Kelahiran Yesus Kristus" not in page  # a working day now
    assert (
        admin.post(
            "/kebijakan/kalender", {"action": "remove-day", "date": "2026-06-10"}
        ).status_code
        == 302
    )
    draft = draft_of(app)
    assert draft is not None and draft["filtering"]["extra_days"] == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "add-ramadan", "start": "2027-03-09", "end": "2027-02-08"}, "before it starts"),
        ({"action": "add-day", "date": "2026-13-01", "name": "Libur"}, "valid date"),
        ({"action": "add-day", "date": "2026-06-10", "name": ""}, "at least 2 characters"),
        ({"action": "meledak"}, "Tindakan tidak dikenal"),
    ],
)
def test_bad_calendar_entries_are_refused(
    app: Flask, admin: Browser, form: dict[str, str], message: str
) -> None:
    response = admin.post("/kebijakan/kalender", form)
    assert response.status_code == 422 and message in response.text
    assert draft_of(app) is None


def test_a_day_off_listed_twice_is_refused_by_the_whole_config_check(
    app: Flask, admin: Browser
) -> None:
    day = {"date": "2026-06-10", "name": "Hari Jadi"}
    response = admin.send("PUT", "/api/v1/calendar", {"extra_days": [day, day]})
    assert response.status_code == 422
    assert response.json["error"]["fields"] == {"extra_days.1.date": "2026-06-10 is listed twice"}
    assert draft_of(app) is None


# -- Explain / what-if -------------------------------------------------------------------------


def explained(admin: Browser, query: str) -> Any:
    response = admin.get(f"/api/v1/explain?{query}")
    assert response.status_code == 200, response.json
    return response.json


def test_streaming_is_blocked_for_an_opd_in_work_hours(admin: Browser) -> None:
    result = explained(admin, "opd=disdik&name=www.youtube.com&at=2026-11-26%2009:12")
    assert result["lines"] == [
        "www.youtube.com at 2026-11-26 09:12 WIB (live policy):",
        "  BLOCK for opd:disdik",
        "  -> policy pendidikan, rule 2",
        "  -> list streaming-video: entry youtube.com",
        "  -> category streaming-video",
        "  -> schedule jam-kerja: window mon-thu 07:30-16:00",
        "  -> until 2026-11-26 16:00 WIB",
    ]
    assert result["action"] == "block" and result["until"] == "2026-11-26T16:00:00+07:00"
    page = admin.get("/kebijakan/jelaskan?opd=disdik&name=www.youtube.com&at=2026-11-26+09:12")
    assert "  -&gt; schedule jam-kerja: window mon-thu 07:30-16:00" in page.text


def test_streaming_is_allowed_after_hours_until_the_next_window(admin: Browser) -> None:
    result = explained(admin, "opd=disdik&name=www.youtube.com&at=2026-11-26T17:00")
    assert result["lines"] == [
        "www.youtube.com at 2026-11-26 17:00 WIB (live policy):",
        "  ALLOW for opd:disdik",
        "  -> policy pendidikan: no rule applies",
        "  -> list streaming-video: entry youtube.com",
        "  -> category streaming-video",
        "  -> schedule jam-kerja: off now",
        "  -> until 2026-11-27 07:30 WIB",
    ]


def test_a_time_of_day_is_today_on_the_node_clock_and_gambling_always_blocks(
    admin: Browser,
) -> None:
    result = explained(admin, "site=rtm-lam&name=1xbet.com&at=23:00")
    assert result["at"] == "2026-11-26T23:00:00+07:00"
    assert result["chain"][:2] == ["BLOCK for hotspot:rtm-lam", "policy hotspot-umum, rule 1"]
    assert explained(admin, "opd=disdik&name=youtube.com")["action"] == "block"  # now: 10:00


def test_the_draft_or_the_running_configuration_is_explained(admin: Browser) -> None:
    body = {"rules": [{"categories": ["gambling", "adult"]}]}
    assert admin.send("PUT", "/api/v1/policies/pendidikan", body).status_code == 200
    live = explained(admin, "opd=disdik&name=youtube.com&at=09:00")
    draft = explained(admin, "opd=disdik&name=youtube.com&at=09:00&draft=1")
    assert (live["action"], live["config"]) == ("block", "live")
    assert (draft["action"], draft["config"]) == ("allow", "draft")
    assert draft["lines"][0].endswith("(draft policy):")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("opd=disdik&name=bukan%20nama", "name"),
        ("opd=disdik&name=localhost", "name"),
        ("opd=disdik", "name"),
        ("opd=disdik&name=youtube.com&at=besok%20pagi", "at"),
        ("opd=disdik&name=youtube.com&at=2026-02-30%2009:00", "at"),
        ("name=youtube.com", "opd"),
        ("opd=disdik&site=rtm-lam&name=youtube.com", "site"),
        ("opd=tidak-ada&name=youtube.com", "opd"),
        ("site=tidak-ada&name=youtube.com", "site"),
        ("opd=disdik&name=youtube.com&draft=mungkin", "draft"),
        ("opd=disdik&name=youtube.com&client=10.20.2.9", "client"),
    ],
)
def test_bad_explain_queries_are_422_naming_the_field(
    admin: Browser, query: str, field: str
) -> None:
    response = admin.get(f"/api/v1/explain?{query}")
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


def test_the_explain_page_names_a_bad_field_next_to_it(admin: Browser) -> None:
    page = admin.get("/kebijakan/jelaskan?opd=disdik&name=youtube.com&at=besok")
    assert page.status_code == 422
    assert '<p class="field-error">&#39;besok&#39;: use HH:MM' in page.text
    assert 'value="besok"' in page.text


def test_an_invalid_draft_cannot_be_explained(admin: Browser, netd: FakeNetd) -> None:
    document = lab_document()
    document["opds"][0]["policy"] = "tidak-ada"
    assert admin.send("PUT", "/api/v1/draft", {"document": document}).status_code == 200
    response = admin.get("/api/v1/explain?opd=disdik&name=youtube.com&draft=true")
    assert response.status_code == 422 and "draft" in response.json["error"]["fields"]


def test_the_engine_is_kept_until_a_list_file_changes(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    (lists / "categories").mkdir(parents=True)
    for category in (
        "streaming-video",
        "drakor",
        "social-media",
        "games",
        "gambling",
        "adult",
        "doh",
    ):
        (lists / "categories" / f"{category}.txt").write_text(f"{category}-contoh.com\n")
    data = config_to_data(parse_config(lab_document()))
    data["filtering"]["lists_dir"] = str(lists)
    config = parse_config(data)
    first, _ = cached_engine(config)
    assert cached_engine(parse_config(data))[0] is first
    (lists / "categories" / "games.txt").write_text("games-contoh.com\nroblox.com\n")
    second, _ = cached_engine(config)
    assert second is not first
    assert second.classifier.classify("www.roblox.com")[0].category == "games"
