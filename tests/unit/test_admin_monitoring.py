"""The console's monitoring pages and API over a real monitor.db: every link's state, a link's
charts and outages, acknowledging trouble (operate) and maintenance windows in the draft
(configure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from monitoring.store import LedgerChanges, MonitorDb, Sample, outages
from tests.unit.admin_helpers import (
    WIB,
    FakeNetd,
    at,
    draft_of,
    lab_document,
    make_app,
    role_clients,
    sign_in,
)

T = "router-rangsang-pesisir"
OTHER = "router-pulau-merbau"
WINDOW = {"target": T, "site": None, "start": "2026-11-21T08:00:00",
          "end": "2026-11-21T10:00:00", "reason": "ganti modem"}  # fmt: skip


NOW = at("2026-11-20 10:05")


def fill_monitor_db(path: Path) -> None:
    """T down since 09:58 (an open outage) after a day of samples; two closed outages this
    month (20 min of link, 60 min of power); OTHER never sampled."""
    db = MonitorDb(str(path))
    for minute in range(0, 24 * 60, 10):
        moment = NOW - 86_400 + minute * 60
        db.record([Sample(T, moment, "ok", 600.0 + minute % 50, 0.0, 5.0, 1e5, None)],
                  [(T, moment, "ether1", 2e6, 5e5, None)], {}, WIB)  # fmt: skip
    db.record([Sample(T, at("2026-11-20 10:00"), "down", None, 100.0, None, None,
                      "timeout", ("tidak menjawab / no answer",))], [],
              {T: {"target": T, "state": "down", "since": "2026-11-20T09:58:00+07:00"}},
              WIB)  # fmt: skip
    starts = [at("2026-11-03 08:00"), at("2026-11-04 08:00"), at("2026-11-20 09:58")]
    site = "rangsang-pesisir"
    db.record([], [], {}, WIB, LedgerChanges(opened=[(T, site, s, False) for s in starts]))
    rows = sorted(outages(db.db, starts[0], starts[2] + 1), key=lambda r: r.start)
    db.record([], [], {}, WIB, LedgerChanges(closed=[
        (rows[0].id, at("2026-11-03 08:20"), "link"), (rows[1].id, at("2026-11-04 09:00"), "power"),
    ]))  # fmt: skip
    db.close()


@pytest.fixture
def app(tmp_path: Path, netd: FakeNetd) -> Flask:
    fill_monitor_db(tmp_path / "state" / "monitor" / "monitor.db")
    return make_app(tmp_path, netd, CLOCK=lambda: NOW)


@pytest.fixture
def bare_app(tmp_path: Path, netd: FakeNetd) -> Flask:
    """No monitor.db yet."""
    return make_app(tmp_path, netd, CLOCK=lambda: NOW)


def queued_acks(app: Flask) -> list[tuple[str, str]]:
    db = MonitorDb(str(Path(app.config["STATE_DIR"]) / "monitor" / "monitor.db"))
    try:
        return [(target, who) for target, who, _ in db.take_acks()]
    finally:
        db.close()


# -- reading -----------------------------------------------------------------------------------


def test_every_role_sees_each_links_state(app: Flask) -> None:
    for role, browser in role_clients(app).items():
        page = browser.get("/pemantauan")
        assert page.status_code == 200, role
        assert T in page.text and OTHER in page.text
    body = sign_in(app, "reviewer").get("/api/v1/monitoring/targets").json
    assert body["monitor_db"] is True
    rows = {r["name"]: r for r in body["targets"]}
    down = rows[T]
    assert (down["state"], down["site"], down["loss_percent"]) == (
        "down",
        "rangsang-pesisir",
        100.0,
    )
    assert down["last_sample"] == at("2026-11-20 10:00")
    assert down["outage"]["start"] == at("2026-11-20 09:58")
    assert down["reasons"] == ["tidak menjawab / no answer"]
    assert down["acked_by"] is None and down["ack_queued"] is None
    assert rows[OTHER]["state"] == "unknown" and rows[OTHER]["last_sample"] is None


def test_the_page_offers_ack_only_to_who_may_ack(app: Flask) -> None:
    browsers = role_clients(app)
    ack_form = f'action="/pemantauan/{T}/ack"'
    assert ack_form in browsers["operator"].get("/pemantauan").text
    assert ack_form not in browsers["reviewer"].get("/pemantauan").text


def test_a_links_page_draws_its_charts_and_this_months_outages(app: Flask) -> None:
    admin = sign_in(app, "admin")
    page = admin.get(f"/pemantauan/{T}")
    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 5  # RTT and loss × day and week, ether1
    assert "ether1" in page.text and "tidak menjawab" in page.text
    detail = admin.get(f"/api/v1/monitoring/targets/{T}").json
    assert len(detail["day"]) == 24 * 6 + 1 and detail["day"][0]["rtt_ms"] == 600.0
    assert detail["week"] and detail["week"][-1]["loss_percent"] == 100.0
    assert list(detail["interfaces"]) == ["ether1"]
    month = detail["month"]
    assert month["month"] == "2026-11"
    assert [(o["cause"], o["sla"]) for o in month["outages"]] == [
        ("link", True), ("power", False), ("unknown", False),
    ]  # fmt: skip
    assert month["availability"]["sla_minutes"] == 20.0
    assert month["availability"]["down_s"] == (20 + 60 + 7) * 60


def test_an_unknown_link_is_404(app: Flask) -> None:
    reviewer = sign_in(app, "reviewer")
    assert reviewer.get("/pemantauan/router-nowhere").status_code == 404
    assert reviewer.get("/api/v1/monitoring/targets/router-nowhere").status_code == 404
    operator = sign_in(app, "operator")
    assert operator.post("/pemantauan/router-nowhere/ack").status_code == 404
    assert operator.send("POST", "/api/v1/monitoring/targets/router-nowhere/ack").status_code == 404
    assert queued_acks(app) == []


def test_no_monitor_db_yet_is_said_not_a_500(bare_app: Flask) -> None:
    admin = sign_in(bare_app, "admin")
    page = admin.get("/pemantauan")
    assert page.status_code == 200 and "monitor.db" in page.text
    target = admin.get(f"/pemantauan/{T}")
    assert target.status_code == 200 and "monitor.db" in target.text
    body = admin.get("/api/v1/monitoring/targets").json
    assert body["monitor_db"] is False
    assert {r["state"] for r in body["targets"]} == {"unknown"}
    refused = admin.send("POST", f"/api/v1/monitoring/targets/{T}/ack")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "no-monitor-db"
    assert not (Path(bare_app.config["STATE_DIR"]) / "monitor" / "monitor.db").exists()


# -- acknowledging -----------------------------------------------------------------------------


def test_an_operator_acks_and_the_row_lands_in_monitor_db(app: Flask, netd: FakeNetd) -> None:
    operator = sign_in(app, "operator")
    response = operator.post(f"/pemantauan/{T}/ack", {"back": "target"})
    assert response.status_code == 302 and response.location.endswith(f"/pemantauan/{T}")
    row = next(r for r in operator.get("/api/v1/monitoring/targets").json["targets"]
               if r["name"] == T)  # fmt: skip
    assert row["ack_queued"] == {"who": "operator", "at": NOW}
    assert queued_acks(app) == [(T, "operator")]
    assert {"action": "monitoring.ack", "detail": {"target": T, "state": "down"},
            "on_behalf": "operator"} in netd.called("audit_record")  # fmt: skip
    api = operator.send("POST", f"/api/v1/monitoring/targets/{T}/ack")
    assert api.status_code == 200 and api.json["acked_by"] == "operator"
    assert queued_acks(app) == [(T, "operator")]


def test_a_reviewer_cannot_ack(app: Flask, netd: FakeNetd) -> None:
    reviewer = sign_in(app, "reviewer")
    assert reviewer.post(f"/pemantauan/{T}/ack").status_code == 403
    assert reviewer.send("POST", f"/api/v1/monitoring/targets/{T}/ack").status_code == 403
    assert queued_acks(app) == []
    assert not netd.called("audit_record") or all(
        c["action"] != "monitoring.ack" for c in netd.called("audit_record")
    )


def test_a_link_without_trouble_has_nothing_to_ack(app: Flask) -> None:
    operator = sign_in(app, "operator")
    refused = operator.send("POST", f"/api/v1/monitoring/targets/{OTHER}/ack")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "nothing-to-ack"
    page = operator.post(f"/pemantauan/{OTHER}/ack")
    assert page.status_code == 302
    assert queued_acks(app) == []


# -- maintenance windows -----------------------------------------------------------------------


def test_an_admin_plans_a_window_in_the_draft(app: Flask) -> None:
    admin = sign_in(app, "admin")
    assert admin.get("/pemeliharaan").status_code == 200
    response = admin.post(
        "/pemeliharaan",
        {
            "scope": f"target:{T}",
            "start": "2026-11-21T08:00",
            "end": "2026-11-21T10:00",
            "reason": "ganti modem",
        },
    )
    assert response.status_code == 302
    expected = lab_document()
    expected["monitoring"]["maintenance"] = [WINDOW]
    assert draft_of(app, "admin") == expected  # that window and nothing else
    page = admin.get("/pemeliharaan")
    assert "ganti modem" in page.text and "21 Nov 2026 08:00 WIB" in page.text
    listed = admin.get("/api/v1/monitoring/maintenance").json
    assert listed == {"timezone": "WIB", "windows": [WINDOW]}


def test_a_window_for_a_whole_site_and_its_removal(app: Flask) -> None:
    admin = sign_in(app, "admin")
    site_window = {**WINDOW, "target": None, "site": "pulau-merbau"}
    put = admin.send("PUT", "/api/v1/monitoring/maintenance",
                     {"windows": [WINDOW, site_window]})  # fmt: skip
    assert put.status_code == 200, put.json
    assert admin.post("/pemeliharaan/0/hapus").status_code == 302
    assert draft_of(app, "admin")["monitoring"]["maintenance"] == [site_window]  # type: ignore[index]
    assert admin.post("/pemeliharaan/5/hapus").status_code == 404
    assert draft_of(app, "admin")["monitoring"]["maintenance"] == [site_window]  # type: ignore[index]


def test_an_operator_can_ack_but_not_edit_maintenance(app: Flask) -> None:
    operator = sign_in(app, "operator")
    assert operator.get("/pemeliharaan").status_code == 403
    form = {"scope": f"target:{T}", "start": "2026-11-21T08:00", "end": "2026-11-21T10:00",
            "reason": "ganti modem"}  # fmt: skip
    assert operator.post("/pemeliharaan", form).status_code == 403
    assert operator.post("/pemeliharaan/0/hapus").status_code == 403
    assert operator.get("/api/v1/monitoring/maintenance").status_code == 403
    put = operator.send("PUT", "/api/v1/monitoring/maintenance", {"windows": [WINDOW]})
    assert put.status_code == 403
    assert draft_of(app, "operator") is None
    assert operator.post(f"/pemantauan/{T}/ack").status_code == 302
    assert queued_acks(app) == [(T, "operator")]
    reviewer = sign_in(app, "reviewer")
    assert reviewer.post("/pemeliharaan", form).status_code == 403
    assert draft_of(app, "reviewer") is None


def test_a_bad_window_is_refused_per_field_and_changes_nothing(app: Flask) -> None:
    admin = sign_in(app, "admin")
    page = admin.post(
        "/pemeliharaan",
        {
            "scope": f"target:{T}",
            "start": "2026-11-21T10:00",
            "end": "2026-11-21T08:00",
            "reason": "x",
        },
    )
    assert page.status_code == 422
    assert page.text.count('class="field-error"') == 1  # the reason is too short
    assert 'value="x"' in page.text and 'value="2026-11-21T10:00"' in page.text
    reversed_times = admin.post("/pemeliharaan", {"scope": f"target:{T}", "reason": "ganti modem",
                                                  "start": "2026-11-21T10:00",
                                                  "end": "2026-11-21T08:00"})  # fmt: skip
    assert reversed_times.status_code == 422
    assert "end must come after start" in reversed_times.text
    assert draft_of(app, "admin") is None
    unknown = admin.send("PUT", "/api/v1/monitoring/maintenance",
                         {"windows": [{**WINDOW, "target": "router-nowhere"}]})  # fmt: skip
    assert unknown.status_code == 422
    assert set(unknown.json["error"]["fields"]) == {"windows.0.target"}
    extra = admin.send("PUT", "/api/v1/monitoring/maintenance",
                       {"windows": [WINDOW], "also": 1})  # fmt: skip
    assert extra.status_code == 422
    both = admin.send("PUT", "/api/v1/monitoring/maintenance",
                      {"windows": [{**WINDOW, "site": "pulau-merbau"}]})  # fmt: skip
    assert both.status_code == 422
    assert draft_of(app, "admin") is None
