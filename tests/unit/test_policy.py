"""Verdicts per group and moment: precedence, schedules, holidays, bypass, explain chains."""

from __future__ import annotations

from datetime import date, datetime
from ipaddress import IPv4Address
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from simpul.config.load import config_to_data, load_config_file, parse_config
from simpul.config.model import Config
from simpul.filtering.calendar import Calendar, parse_year
from simpul.filtering.engine import engine_for
from simpul.filtering.lists import Kind
from simpul.filtering.matcher import DomainSet
from simpul.filtering.policy import (
    Classifier,
    Group,
    PolicyEngine,
    group_named,
    group_of,
)

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))
WIB = ZoneInfo("Asia/Jakarta")
CALENDAR_2026 = """
year: 2026
days:
  - {date: 2026-12-25, name: Hari Raya Natal, kind: libur}
  - {date: 2026-12-24, name: Cuti bersama Natal, kind: cuti-bersama}
ramadan: {from: 2026-02-19, to: 2026-03-20}
"""
LISTS = {
    "streaming-video": ["youtube.com", "googlevideo.com", "*.ytimg.com"],
    "drakor": ["viu.com"],
    "games": ["roblox.com"],
    "gambling": ["judi-contoh.com"],
    "doh": ["dns.google"],
}


def engine(config: Config = LAB) -> PolicyEngine:
    sets = {
        name: (name, DomainSet.from_entries(
            (n[2:], Kind.SUBDOMAINS) if n.startswith("*.") else (n, Kind.SUBTREE) for n in names
        ))
        for name, names in LISTS.items()
    }  # fmt: skip
    calendar = Calendar.build([parse_year(CALENDAR_2026, "id-2026.yaml")], config.filtering)
    return PolicyEngine(config, Classifier(sets), calendar)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=WIB)


DISDIK = group_named(LAB, "opd", "disdik")
KOMINFO = group_named(LAB, "opd", "diskominfo")
THURSDAY_WORK = at("2026-11-26T09:12")
THURSDAY_EVENING = at("2026-11-26T19:00")


def test_groups_by_address() -> None:
    disdik = LAB.opd("disdik")
    found = group_of(LAB, disdik.gateway_address.ip + 10)
    assert (found.kind, found.slug, found.policy.name) == ("opd", "disdik", "pendidikan")
    site = LAB.hotspot_sites[0]
    assert group_of(LAB, site.gateway_address.ip + 5).key == f"hotspot:{site.slug}"
    assert group_of(LAB, LAB.zones.management.address.ip).key == "management"
    assert group_of(LAB, IPv4Address("203.0.113.9")).kind == "unknown"


def test_work_hours_block_for_disdik_not_for_kominfo() -> None:
    verdict = engine().decide(DISDIK, "www.youtube.com", THURSDAY_WORK)
    assert verdict.blocked and verdict.reason == "rule" and verdict.rule == 2
    assert verdict.hit.list == "streaming-video" and verdict.hit.entry == "youtube.com"
    assert verdict.schedule == "jam-kerja" and verdict.window == "mon-thu 07:30-16:00"
    assert verdict.until == at("2026-11-26T16:00")
    assert verdict.rcode == "page"
    assert not engine().decide(KOMINFO, "www.youtube.com", THURSDAY_WORK).blocked
    assert not engine().decide(KOMINFO, "viu.com", THURSDAY_WORK).blocked
    # Kominfo's own rules still block games at work.
    assert engine().decide(KOMINFO, "roblox.com", THURSDAY_WORK).blocked


def test_after_hours_allowed_until_the_next_morning() -> None:
    verdict = engine().decide(DISDIK, "www.youtube.com", THURSDAY_EVENING)
    assert not verdict.blocked
    assert verdict.until == at("2026-11-27T07:30")
    assert verdict.ttl_cap(THURSDAY_EVENING) == 12 * 3600 + 30 * 60


def test_always_rules_ignore_the_clock() -> None:
    for moment in (THURSDAY_WORK, THURSDAY_EVENING, at("2026-12-25T10:00")):
        verdict = engine().decide(DISDIK, "judi-contoh.com", moment)
        assert verdict.blocked and verdict.rule == 1 and verdict.until is None


def test_a_holiday_lifts_work_hour_blocks() -> None:
    verdict = engine().decide(DISDIK, "www.youtube.com", at("2026-12-24T10:00"))
    assert not verdict.blocked
    assert verdict.until == at("2026-12-28T07:30")


def test_ramadan_hours_apply() -> None:
    assert not engine().decide(DISDIK, "youtube.com", at("2026-03-05T07:45")).blocked
    verdict = engine().decide(DISDIK, "youtube.com", at("2026-03-05T09:00"))
    assert verdict.blocked and verdict.window == "mon-thu 08:00-15:00 (Ramadan)"


def test_allow_list_beats_rules_and_deny_list_beats_rules() -> None:
    data = config_to_data(LAB)
    for policy in data["policies"]:
        if policy["name"] == "pendidikan":
            policy["allow"] = ["edu.youtube.com"]
            policy["deny"] = ["tiktok.com", "*.example.org"]
    config = parse_config(data)
    eng = engine(config)
    group = group_named(config, "opd", "disdik")
    allowed = eng.decide(group, "edu.youtube.com", THURSDAY_WORK)
    assert not allowed.blocked and allowed.reason == "allow-list"
    assert allowed.entry == "edu.youtube.com"
    denied = eng.decide(group, "www.tiktok.com", THURSDAY_EVENING)
    assert denied.blocked and denied.reason == "deny-list" and denied.until is None
    assert eng.decide(group, "a.example.org", THURSDAY_EVENING).blocked
    assert not eng.decide(group, "example.org", THURSDAY_EVENING).blocked


def test_first_applying_rule_decides_and_earlier_windows_shorten_until() -> None:
    data = config_to_data(LAB)
    data["schedules"].append(
        {"name": "istirahat", "windows": [{"days": ["thu"], "start": "12:00", "end": "13:00"}]}
    )
    for policy in data["policies"]:
        if policy["name"] == "pendidikan":
            policy["rules"].insert(
                0, {"action": "allow", "categories": ["streaming-video"], "schedule": "istirahat"}
            )
    config = parse_config(data)
    eng = engine(config)
    group = group_named(config, "opd", "disdik")
    morning = eng.decide(group, "youtube.com", THURSDAY_WORK)
    assert morning.blocked and morning.rule == 3
    assert morning.until == at("2026-11-26T12:00")  # lunch opens it earlier than 16:00
    lunch = eng.decide(group, "youtube.com", at("2026-11-26T12:30"))
    assert not lunch.blocked and lunch.reason == "rule" and lunch.rule == 1
    assert lunch.until == at("2026-11-26T13:00")


def test_bypass_prevention_comes_first_for_filtered_zones_only() -> None:
    eng = engine()
    for name in ("use-application-dns.net", "mask.icloud.com", "dns.google"):
        verdict = eng.decide(KOMINFO, name, THURSDAY_EVENING)
        assert verdict.blocked and verdict.reason == "bypass" and verdict.rcode == "nxdomain"
    site = group_named(LAB, "hotspot", LAB.hotspot_sites[0].slug)
    assert eng.decide(site, "dns.google", THURSDAY_EVENING).reason == "bypass"
    assert not eng.decide(Group("management"), "dns.google", THURSDAY_WORK).blocked


def test_hotspots_get_nxdomain_and_their_own_profile() -> None:
    eng = engine()
    site = group_named(LAB, "hotspot", LAB.hotspot_sites[0].slug)
    verdict = eng.decide(site, "roblox.com", THURSDAY_EVENING)
    assert verdict.blocked and verdict.rcode == "nxdomain" and verdict.until is None
    assert not eng.decide(site, "youtube.com", THURSDAY_WORK).blocked


def test_subdomain_only_entries() -> None:
    eng = engine()
    assert eng.decide(DISDIK, "i.ytimg.com", THURSDAY_WORK).blocked
    assert not eng.decide(DISDIK, "ytimg.com", THURSDAY_WORK).blocked


def test_groups_without_policy_are_allowed() -> None:
    data = config_to_data(LAB)
    data["opds"][0]["policy"] = None
    config = parse_config(data)
    group = group_named(config, "opd", data["opds"][0]["slug"])
    verdict = engine(config).decide(group, "judi-contoh.com", THURSDAY_WORK)
    assert not verdict.blocked and "no policy for this group" in verdict.chain()


def test_chain_reads_rule_list_category_schedule() -> None:
    verdict = engine().decide(DISDIK, "www.youtube.com", THURSDAY_WORK)
    assert verdict.chain("WIB") == [
        "BLOCK for opd:disdik",
        "policy pendidikan, rule 2",
        "list streaming-video: entry youtube.com",
        "category streaming-video",
        "schedule jam-kerja: window mon-thu 07:30-16:00",
        "until 2026-11-26 16:00 WIB",
    ]
    evening = engine().decide(DISDIK, "www.youtube.com", THURSDAY_EVENING).chain("WIB")
    assert evening[1] == "policy pendidikan: no rule applies"
    assert evening[-2:] == ["schedule jam-kerja: off now", "until 2026-11-27 07:30 WIB"]


def test_wit_node_uses_its_own_clock() -> None:
    data = config_to_data(LAB)
    data["node"]["timezone"] = "WIT"
    config = parse_config(data)
    group = group_named(config, "opd", "disdik")
    # 16:30 WIB is 18:30 WIT: after hours in Papua.
    moment = at("2026-11-26T14:30")
    assert not engine(config).decide(group, "youtube.com", moment).blocked
    assert engine(LAB).decide(DISDIK, "youtube.com", moment).blocked


def test_verdicts_are_computed_per_group_not_shared() -> None:
    eng = engine()
    first = eng.decide(DISDIK, "youtube.com", THURSDAY_WORK)
    second = eng.decide(KOMINFO, "youtube.com", THURSDAY_WORK)
    third = eng.decide(DISDIK, "youtube.com", THURSDAY_WORK)
    assert first.blocked and not second.blocked and third.blocked
    assert eng.classifier.classify("youtube.com") == eng.classifier.classify("youtube.com")


def test_shipped_lists_and_calendar_build_an_engine() -> None:
    assert LAB.filtering.lists_dir is None  # the lists shipped with the software
    assert LAB.filtering.lists_path == ROOT / "filter-lists"
    eng, lists, warnings = engine_for(LAB)
    assert warnings == []
    assert {item.spec.category for item in lists.values()} >= {"streaming-video", "gambling"}
    assert all(item.report.bad == 0 for item in lists.values())
    assert eng.calendar.day_off(date(2026, 8, 17)) is not None
    assert eng.decide(DISDIK, "www.youtube.com", THURSDAY_WORK).blocked


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"categories": ["nonexistent"]}, "no list has category 'nonexistent'"),
        ({"schedule": "tidak-ada"}, "no schedule is named 'tidak-ada'"),
    ],
)
def test_bad_policies_are_refused_with_their_place(change: dict, message: str) -> None:
    from simpul.config import ConfigError

    data = config_to_data(LAB)
    data["policies"][0]["rules"][0].update(change)
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(data)
    assert "policies[0].rules[0]" in caught.value.render()


def test_overnight_windows_explain_across_midnight() -> None:
    data = config_to_data(LAB)
    data["schedules"].append(
        {"name": "malam", "windows": [{"days": ["fri"], "start": "22:00", "end": "05:00"}]}
    )
    for policy in data["policies"]:
        if policy["name"] == "pegawai-kominfo":
            policy["rules"].append({"categories": ["streaming-video"], "schedule": "malam"})
    config = parse_config(data)
    eng = engine(config)
    group = group_named(config, "opd", "diskominfo")
    saturday_early = eng.decide(group, "youtube.com", at("2026-11-28T03:00"))
    assert saturday_early.blocked and saturday_early.window == "fri 22:00-05:00"
    assert saturday_early.until == at("2026-11-28T05:00")
    friday_evening = eng.decide(group, "youtube.com", at("2026-11-27T21:59"))
    assert not friday_evening.blocked and friday_evening.until == at("2026-11-27T22:00")


def test_a_refreshed_list_file_is_noticed(tmp_path: Path) -> None:
    from simpul.filtering.engine import lists_changed, load_lists

    (tmp_path / "categories").mkdir()
    path = tmp_path / "categories" / "gambling.txt"
    path.write_text("judi-contoh.com\n")
    data = config_to_data(LAB)
    data["filtering"]["lists_dir"] = str(tmp_path)
    data["filtering"]["lists"] = [{"name": "gambling", "category": "gambling",
                                   "path": "categories/gambling.txt"}]  # fmt: skip
    for policy in data["policies"]:
        policy["rules"] = [r for r in policy["rules"] if r["categories"] == ["gambling"]]
    lists = load_lists(parse_config(data))
    assert not lists_changed(lists)
    path.write_text("judi-contoh.com\nslot-contoh.net\n")
    assert lists_changed(lists)
    path.unlink()
    assert not lists_changed(lists)  # gone is not a change: what is loaded keeps serving
