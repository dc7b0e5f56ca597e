"""netd's configuration API (netctl/config_api.py): preview, apply, apply on probation with its
rollback (also across a restart), block a device, the audit log; over a real store and netd
with the recording fake kernel of test_netd."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netctl.confirm import MAX_CONFIRM_S, MIN_CONFIRM_S, confirm_seconds
from netctl.libnft import NftError
from netctl.netd import Netd, RequestError
from simpul.config import config_to_data
from simpul.store import Store
from tests.unit.test_netd import (  # noqa: F401  (fixtures)
    LAB,
    MAC,
    Clock,
    FakeKernel,
    answer,
    bare,
    clock,
    error_code,
    kernel,
    neighbours,
    netd,
    request,
    shaper,
    state_dir,
    store,
)

ACTOR = {"_actor": "alice via nobody(uid 65534)"}


def lab_doc() -> dict[str, Any]:
    return config_to_data(LAB)


def with_policy(doc: dict[str, Any], opd: str, policy: str | None) -> dict[str, Any]:
    for item in doc["opds"]:
        if item["slug"] == opd:
            item["policy"] = policy
    return doc


def first_opd_with_policy() -> tuple[str, str]:
    opd = next(o for o in LAB.opds if o.policy)
    return opd.slug, opd.policy or ""


def apply_doc(netd: Netd, doc: dict[str, Any], **params: Any) -> dict[str, Any]:
    base = netd.store.config_revision()
    return netd.changes.apply_document({"document": doc, "base_revision": base, **ACTOR,
                                        **params})  # fmt: skip


# -- preview ---------------------------------------------------------------------------------


def test_preview_shows_both_diffs(netd: Netd) -> None:
    slug, _policy = first_opd_with_policy()
    result = netd.changes.preview({"document": with_policy(lab_doc(), slug, None)})
    assert result["valid"] and result["changed"]
    assert "-  policy:" in result["config_diff"] and "+  policy: null" in result["config_diff"]
    assert result["ruleset_diff"].startswith("--- diterapkan")
    assert result["base_revision"] == netd.store.config_revision()


def test_preview_of_an_invalid_draft_names_each_problem(netd: Netd) -> None:
    doc = lab_doc()
    doc["opds"][0]["subnet"] = "10.999.0.0/24"
    doc["opds"][1]["name"] = ""
    result = netd.changes.preview({"document": doc})
    assert result["valid"] is False
    paths = {p["path"] for p in result["problems"]}
    assert paths == {"opds[0].subnet", "opds[1].name"}


def test_preview_reports_cross_checks_too(netd: Netd) -> None:
    doc = lab_doc()
    doc["opds"][1]["policy"] = "no-such-policy"
    result = netd.changes.preview({"document": doc})
    assert [p["path"] for p in result["problems"]] == ["opds[1].policy"]


@pytest.mark.parametrize("document", [None, [], "text", 3])
def test_preview_refuses_what_is_not_a_document(netd: Netd, document: Any) -> None:
    with pytest.raises(RequestError) as exc:
        netd.changes.preview({"document": document})
    assert exc.value.code == "invalid"


# -- apply -----------------------------------------------------------------------------------


def test_apply_stores_a_revision_applies_it_and_audits_before_and_after(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    slug, policy = first_opd_with_policy()
    before = store.config_revision()
    result = apply_doc(netd, with_policy(lab_doc(), slug, None), comment="tanpa filter")
    assert result["changed"] and result["revision"] == before + 1
    assert result["confirm_by"] is None
    assert store.config().opd(slug).policy is None
    assert kernel.called("apply"), "the kernel got the new ruleset"
    entry = next(r for r in store.audit_log() if r["action"] == "config.import")
    assert entry["actor"] == ACTOR["_actor"]
    detail = json.loads(entry["detail"])
    assert detail["comment"] == "tanpa filter"
    change = next(c for c in detail["changes"] if c["object"] == f"opds/{slug}")
    assert change["before"]["policy"] == policy and change["after"]["policy"] is None


def test_audit_never_records_a_secret(netd: Netd, store: Store) -> None:
    doc = lab_doc()
    target = doc["monitoring"]["targets"][0]
    target["snmp"]["community"] = "sangat-rahasia"
    apply_doc(netd, doc)
    entry = next(r for r in store.audit_log() if r["action"] == "config.import")
    assert "sangat-rahasia" not in entry["detail"]
    assert "(rahasia)" in entry["detail"]


def test_apply_of_an_unchanged_document_changes_nothing(netd: Netd, store: Store) -> None:
    before = store.config_revision()
    result = apply_doc(netd, lab_doc())
    assert result == {"revision": None, "changed": False, "confirm_by": None}
    assert store.config_revision() == before


def test_apply_refuses_a_draft_made_from_an_older_revision(netd: Netd, store: Store) -> None:
    slug, _ = first_opd_with_policy()
    stale = store.config_revision() - 1
    with pytest.raises(RequestError) as exc:
        netd.changes.apply_document({"document": with_policy(lab_doc(), slug, None),
                                     "base_revision": stale, **ACTOR})  # fmt: skip
    assert exc.value.code == "conflict"
    assert store.config().opd(slug).policy is not None


def test_apply_refuses_an_invalid_draft_and_stores_nothing(netd: Netd, store: Store) -> None:
    doc = lab_doc()
    doc["opds"][0]["subnet"] = "not a subnet"
    before = store.config_revision()
    with pytest.raises(RequestError) as exc:
        apply_doc(netd, doc)
    assert exc.value.code == "invalid-config" and "opds[0].subnet" in str(exc.value)
    assert store.config_revision() == before


def test_a_ruleset_the_kernel_refuses_puts_the_previous_revision_back(
    netd: Netd, store: Store, kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug, policy = first_opd_with_policy()
    before = store.config_revision()
    real_apply = kernel.apply

    def refuse_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(kernel, "apply", real_apply)
        raise NftError("Error: Could not process rule: No such file or directory")

    monkeypatch.setattr(kernel, "apply", refuse_once)
    with pytest.raises(RequestError) as exc:
        apply_doc(netd, with_policy(lab_doc(), slug, None))
    assert f"revision {before} was put back" in str(exc.value)
    assert store.config().opd(slug).policy == policy
    assert store.config_document() == store.revision_document(before)


# -- on probation ----------------------------------------------------------------------------


def test_unconfirmed_change_rolls_back_at_its_deadline(
    netd: Netd, store: Store, clock: Clock
) -> None:
    slug, policy = first_opd_with_policy()
    before = store.config_revision()
    result = apply_doc(netd, with_policy(lab_doc(), slug, None), confirm_s=30)
    assert result["confirm_by"] == clock.now + 30
    assert netd.changes.pending_info({})["seconds_left"] == 30
    clock.now += 29
    assert netd.changes.roll_back_if_due() is False
    assert store.config().opd(slug).policy is None
    clock.now += 2
    assert netd.changes.roll_back_if_due() is True
    assert store.config().opd(slug).policy == policy
    assert store.config_document() == store.revision_document(before)
    assert netd.changes.pending_info({}) is None
    rollback = next(r for r in store.audit_log() if r["action"] == "config.rollback")
    assert json.loads(rollback["detail"])["restored"] == before


def test_housekeeping_rolls_back_a_change_past_its_deadline(
    netd: Netd, store: Store, clock: Clock
) -> None:
    slug, policy = first_opd_with_policy()
    apply_doc(netd, with_policy(lab_doc(), slug, None), confirm_s=10)
    clock.now += 11
    netd.housekeeping()
    assert store.config().opd(slug).policy == policy


def test_a_confirmed_change_stays(netd: Netd, store: Store, clock: Clock) -> None:
    slug, _ = first_opd_with_policy()
    apply_doc(netd, with_policy(lab_doc(), slug, None), confirm_s=10)
    assert netd.changes.confirm(dict(ACTOR)) == {"confirmed": store.config_revision()}
    clock.now += 60
    assert netd.changes.roll_back_if_due() is False
    assert store.config().opd(slug).policy is None
    assert any(r["action"] == "config.confirm" for r in store.audit_log())
    with pytest.raises(RequestError) as exc:
        netd.changes.confirm(dict(ACTOR))
    assert exc.value.code == "not-pending"


def test_a_change_on_probation_blocks_further_changes(netd: Netd) -> None:
    slug, _ = first_opd_with_policy()
    apply_doc(netd, with_policy(lab_doc(), slug, None), confirm_s=10)
    with pytest.raises(RequestError) as exc:
        apply_doc(netd, lab_doc())
    assert exc.value.code == "pending"
    with pytest.raises(RequestError) as exc:
        netd.changes.block({"mac": MAC, **ACTOR})
    assert exc.value.code == "pending"


def test_a_restart_before_confirmation_rolls_back(
    netd: Netd, store: Store, kernel: FakeKernel, state_dir: Path, clock: Clock
) -> None:
    """The pending change is on disk: a new netd (after kill -9 or a reboot) undoes it at start,
    whatever time is left."""
    slug, policy = first_opd_with_policy()
    apply_doc(netd, with_policy(lab_doc(), slug, None), confirm_s=3600)
    assert (state_dir / "pending-change.json").exists()
    restarted = Netd(store, kernel, str(state_dir), clock=clock,  # type: ignore[arg-type]
                     run_later=lambda work: work())  # fmt: skip
    assert restarted.changes.roll_back_if_due(now_anyway=True) is True
    assert store.config().opd(slug).policy == policy
    assert not (state_dir / "pending-change.json").exists()


def test_a_damaged_pending_file_is_reported_and_dropped(
    netd: Netd, store: Store, state_dir: Path
) -> None:
    (state_dir / "pending-change.json").write_text("{not json")
    before = store.config_revision()
    assert netd.changes.roll_back_if_due(now_anyway=True) is False
    assert store.config_revision() == before
    assert not (state_dir / "pending-change.json").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0, None), (MIN_CONFIRM_S, MIN_CONFIRM_S), (MAX_CONFIRM_S, MAX_CONFIRM_S)],
)
def test_confirm_seconds_accepts(value: Any, expected: int | None) -> None:
    assert confirm_seconds(value) == expected


@pytest.mark.parametrize("value", [MIN_CONFIRM_S - 1, MAX_CONFIRM_S + 1, "60", 60.5, True, -5])
def test_confirm_seconds_refuses(value: Any) -> None:
    with pytest.raises(ValueError, match="confirm_s"):
        confirm_seconds(value)


# -- blocking a device -----------------------------------------------------------------------


def test_block_adds_the_mac_applies_and_ends_its_sessions(
    netd: Netd, store: Store, kernel: FakeKernel
) -> None:
    netd.authorize({"mac": MAC, "ip": "10.40.1.51"})
    result = netd.changes.block({"mac": MAC.upper().replace(":", "-"), **ACTOR})
    assert result["blocked"] and result["sessions_ended"] == 1 and result["changed"]
    assert MAC in store.config().portal.mac_block
    assert store.active_sessions() == []
    unblocked = netd.changes.block({"mac": MAC, "blocked": False, **ACTOR})
    assert unblocked["sessions_ended"] == 0
    assert MAC not in store.config().portal.mac_block


@pytest.mark.parametrize(
    ("params", "code"), [({"mac": "zz:zz"}, "invalid"), ({"mac": MAC, "blocked": "yes"}, "invalid")]
)
def test_block_refuses_bad_input(netd: Netd, store: Store, params: dict[str, Any],
                                 code: str) -> None:  # fmt: skip
    before = store.config_revision()
    with pytest.raises(RequestError) as exc:
        netd.changes.block({**params, **ACTOR})
    assert exc.value.code == code
    assert store.config_revision() == before


# -- audit -----------------------------------------------------------------------------------


def test_audit_record_and_filters(netd: Netd) -> None:
    netd.changes.audit_record({"action": "console.user.add", "detail": {"user": "budi"}, **ACTOR})
    netd.changes.audit_record({"action": "console.login", "detail": {}, "_actor": "siti via x"})
    rows = netd.changes.audit_log({"action": "console.user"})
    assert [r["detail"] for r in rows] == [{"user": "budi"}]
    assert [r["action"] for r in netd.changes.audit_log({"actor": "siti"})] == ["console.login"]
    newest = netd.changes.audit_log({"limit": 1})[0]
    older = netd.changes.audit_log({"before_id": newest["id"]})
    assert all(r["id"] < newest["id"] for r in older)
    assert netd.changes.audit_log({"action": "%"}) == []  # a LIKE wildcard is literal


@pytest.mark.parametrize(
    "params",
    [{"action": "Bad Action"}, {"action": ""}, {"action": "x" * 80},
     {"action": "ok.action", "detail": "x" * 30_000}],
)  # fmt: skip
def test_audit_record_refuses_bad_input(netd: Netd, params: dict[str, Any]) -> None:
    with pytest.raises(RequestError) as exc:
        netd.changes.audit_record({**params, **ACTOR})
    assert exc.value.code == "invalid"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": "5"}, {"before_id": -1},
                                    {"actor": 5}])  # fmt: skip
def test_audit_log_refuses_bad_paging(netd: Netd, params: dict[str, Any]) -> None:
    with pytest.raises(RequestError):
        netd.changes.audit_log(params)


# -- acting on behalf of a console user -------------------------------------------------------


def test_on_behalf_names_the_person_and_the_process(netd: Netd, store: Store) -> None:
    reply = answer(netd, request("audit_record", {"action": "console.login",
                                                  "on_behalf": "budi"}))  # fmt: skip
    assert reply["ok"], reply
    assert store.audit_log(1)[0]["actor"] == "budi via alice(uid 1000)"


def test_on_behalf_needs_the_right_to_change(netd: Netd) -> None:
    reply = answer(netd, request("clients", {"on_behalf": "budi"}), may_change=False)
    assert error_code(reply) == "forbidden"


@pytest.mark.parametrize("name", ["Budi", "", "a b", "x" * 40, 7, "budi\n"])
def test_on_behalf_refuses_what_is_not_a_user_name(netd: Netd, name: Any) -> None:
    reply = answer(netd, request("clients", {"on_behalf": name}))
    assert error_code(reply) == "invalid"
