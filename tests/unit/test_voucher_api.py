"""netd's voucher methods (`netctl.voucher_api`) over a real store in a temporary directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netctl.errors import RequestError
from netctl.netd import READ_METHODS, _permitted
from netctl.voucher_api import MAX_BATCH, VoucherApi
from simpul import vouchers
from simpul.config import load_config_file
from simpul.store import Store
from tests.unit.fake_clock import Clock

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))
T0 = 1_700_000_000.0
ACTOR = "operator via simpul-admin(uid 998)"


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store(str(tmp_path / "simpul.db"), clock=clock) as opened:
        opened.import_config(LAB, actor="test")
        yield opened


@pytest.fixture
def api(store: Store, clock: Clock) -> VoucherApi:
    return VoucherApi(store, clock)


def create(api: VoucherApi, **params: Any) -> dict[str, Any]:
    return api.create({"count": 3, "minutes": 90, "_actor": ACTOR, **params})


def refusal(call: Any, params: dict[str, Any]) -> str:
    with pytest.raises(RequestError) as exc:
        call(params)
    return exc.value.code


def batch_count(store: Store) -> int:
    return store.db.execute("SELECT COUNT(*) FROM voucher_batch").fetchone()[0]


def test_create_stores_the_batch_and_answers_its_printed_codes(
    api: VoucherApi, store: Store
) -> None:
    answer = create(api, site="rtm-lam", note="  Lomba 17 Agustus ")
    assert answer["batch"] == 1
    assert answer | {"codes": None} == {"batch": 1, "site": "rtm-lam", "minutes": 90,
                                        "note": "Lomba 17 Agustus", "count": 3,
                                        "codes": None}  # fmt: skip
    codes = [vouchers.normalize(c) for c in answer["codes"]]
    assert [vouchers.printed(c) for c in codes] == answer["codes"]
    stored = store.voucher_batch(1)
    assert sorted(v.code for v in stored) == sorted(codes)
    assert {(v.site, v.minutes, v.redeemed_at) for v in stored} == {("rtm-lam", 90, None)}


def test_create_is_audited_with_the_actor(api: VoucherApi, store: Store) -> None:
    create(api)
    entry = store.audit_log(1, action="voucher.")[0]
    assert entry["actor"] == ACTOR
    assert json.loads(entry["detail"]) == {"batch": 1, "count": 3, "site": None}


def test_create_without_a_site_is_for_every_site(api: VoucherApi, store: Store) -> None:
    answer = create(api, count=MAX_BATCH)
    assert answer["site"] is None
    assert len(set(answer["codes"])) == MAX_BATCH
    assert {v.site for v in store.voucher_batch(answer["batch"])} == {None}


@pytest.mark.parametrize(
    "params",
    [
        {"count": 0},
        {"count": MAX_BATCH + 1},
        {"count": "5"},
        {"count": True},
        {"count": 2.0},
        {"count": None},
        {"minutes": 0},
        {"minutes": 7 * 24 * 60 + 1},
        {"minutes": "60"},
        {"note": "x" * 81},
        {"note": 5},
        {"site": "nowhere"},
        {"site": "rangsang-pesisir"},  # a remote site, not a hotspot
        {"site": 7},
    ],
)
def test_create_refuses_bad_params_and_stores_nothing(
    api: VoucherApi, store: Store, params: dict[str, Any]
) -> None:
    audited = len(store.audit_log(500))
    assert refusal(api.create, {"count": 3, "minutes": 90, "_actor": ACTOR, **params}) == "invalid"
    assert batch_count(store) == 0
    assert len(store.audit_log(500)) == audited


def test_create_without_configuration(tmp_path: Path, clock: Clock) -> None:
    with Store(str(tmp_path / "empty.db"), clock=clock) as empty:
        assert refusal(VoucherApi(empty, clock).create,
                       {"count": 1, "minutes": 60, "_actor": ACTOR}) == "no-config"  # fmt: skip
        assert batch_count(empty) == 0


def test_batches_count_used_running_and_unused(api: VoucherApi, store: Store, clock: Clock) -> None:
    first = create(api, count=4, minutes=60)
    second = create(api, count=2, minutes=30, site="taman-cik-puan")
    codes = [vouchers.normalize(c) for c in first["codes"]]
    store.first_use_of(codes[0])  # used at T0: runs out at T0 + 3600
    clock.now = T0 + 3000
    store.first_use_of(codes[1])
    clock.now = T0 + 3700
    listed = api.batches({})
    assert [b["batch"] for b in listed] == [second["batch"], first["batch"]]
    newest, oldest = listed
    assert (oldest["count"], oldest["used"], oldest["running"], oldest["unused"]) == (4, 2, 1, 2)
    assert (newest["count"], newest["used"], newest["running"], newest["unused"]) == (2, 0, 0, 2)
    assert newest["site"] == "taman-cik-puan"
    assert newest["minutes"] == 30
    assert newest["actor"] == ACTOR
    assert newest["created_at"] == T0


def test_batches_never_carry_codes(api: VoucherApi) -> None:
    codes = create(api)["codes"]
    text = json.dumps(api.batches({}) + api.batches({"batch": 1}))
    assert not any(c in text or c.replace("-", "") in text for c in codes)


def test_batches_pages_and_one_batch(api: VoucherApi) -> None:
    for _ in range(5):
        create(api, count=1)
    assert [b["batch"] for b in api.batches({"limit": 2})] == [5, 4]
    assert [b["batch"] for b in api.batches({"limit": 2, "before": 4})] == [3, 2]
    assert [b["batch"] for b in api.batches({"batch": 3})] == [3]
    assert api.batches({"batch": 99}) == []


def test_batches_when_there_are_none(api: VoucherApi) -> None:
    assert api.batches({}) == []


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"limit": "5"}, {"before": 0}, {"batch": "1"},
               {"batch": -1}, {"before": True}]
)  # fmt: skip
def test_batches_refuse_bad_params(api: VoucherApi, params: dict[str, Any]) -> None:
    assert refusal(api.batches, params) == "invalid"


def test_only_the_list_is_a_read_method() -> None:
    """Listing is open to local readers; making codes needs netd's group, never the DNS front
    end."""
    assert "voucher_batches" in READ_METHODS
    assert "voucher_create" not in READ_METHODS
    assert _permitted("voucher_create", 1001, True, 64053)
    assert not _permitted("voucher_create", 1001, False, 64053)
    assert not _permitted("voucher_create", 64053, True, 64053)
