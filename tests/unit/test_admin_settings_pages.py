"""The export and retention settings page and API: what goes into the draft (the InfluxDB token
write-only, kept when left empty), who may change it, and the exporter's spool shown read only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from monitoring.points import point
from monitoring.spool import Spool
from tests.unit.admin_helpers import draft_of, lab_document, sign_in

URL = "/pengaturan/ekspor"
API = "/api/v1/settings/export"
TOKEN = "lab-token"  # examples/lab.yaml's


def form(**changes: str) -> dict[str, str]:
    """The page's form as examples/lab.yaml fills it, token left empty, with `changes`."""
    fields = {
        "export.influx.enabled": "1",
        "export.influx.url": "http://203.0.113.30:8086",
        "export.influx.org": "diskominfo",
        "export.influx.bucket": "simpul",
        "export.influx.token": "",
        "export.influx.token_file": "",
        "export.influx.batch_size": "5000",
        "export.influx.flush_interval_s": "10",
        "export.influx.timeout_s": "10.0",
        "export.spool_mb": "64",
        "export.prometheus_listen": "10.255.0.1:9469",
        "retention.five_minute_days": "2",
        "retention.hourly_days": "62",
        "retention.daily_days": "400",
        "retention.monthly_days": "1830",
        "retention.client_days": "62",
        "privacy.session_days": "90",
    }
    fields.update(changes)
    return fields


def body(**influx: Any) -> dict[str, Any]:
    """The API's body as examples/lab.yaml fills it, token omitted, with `influx` changes."""
    return {
        "export": {"influx": {"url": "http://203.0.113.30:8086", "org": "diskominfo",
                              "bucket": "simpul", **influx},
                   "spool_mb": 64, "prometheus_listen": "10.255.0.1:9469"},
        "retention": {"five_minute_days": 2, "hourly_days": 62, "daily_days": 400,
                      "monthly_days": 1830, "client_days": 62},
        "privacy": {"session_days": 90},
    }  # fmt: skip


def test_the_page_shows_the_settings_but_never_the_token(app: Flask) -> None:
    admin = sign_in(app, "admin")
    page = admin.get(URL)
    assert page.status_code == 200
    assert 'value="diskominfo"' in page.text and 'value="10.255.0.1:9469"' in page.text
    assert TOKEN not in page.text
    assert "Token tersimpan: ada." in page.text
    got = admin.get(API).json
    assert got["export"]["influx"]["token_set"] is True
    assert "token" not in got["export"]["influx"] and TOKEN not in str(got)
    assert got["retention"]["hourly_days"] == 62 and got["privacy"] == {"session_days": 90}


def test_an_empty_token_field_keeps_the_old_token(app: Flask) -> None:
    admin = sign_in(app, "admin")
    changed = form(
        **{
            "export.influx.bucket": "simpul-2",
            "retention.hourly_days": "90",
            "privacy.session_days": "30",
            "export.prometheus_listen": "",
        }
    )
    response = admin.post(URL, changed)
    assert response.status_code == 302
    draft = draft_of(app, "admin")
    assert draft is not None
    influx = draft["export"]["influx"]
    assert (influx["bucket"], influx["token"], influx["token_file"]) == ("simpul-2", TOKEN, None)
    expected = lab_document()
    expected["export"]["influx"]["bucket"] = "simpul-2"
    expected["export"]["prometheus_listen"] = None
    expected["accounting"]["retention"]["hourly_days"] = 90
    expected["privacy"]["session_days"] = 30
    assert draft == expected  # those changes and nothing else
    assert TOKEN not in admin.get(URL).text


def test_a_new_token_replaces_the_old_and_is_not_shown(app: Flask) -> None:
    admin = sign_in(app, "admin")
    assert admin.post(URL, form(**{"export.influx.token": "token-baru-123"})).status_code == 302
    assert draft_of(app, "admin")["export"]["influx"]["token"] == "token-baru-123"  # type: ignore[index]
    assert "token-baru-123" not in admin.get(URL).text
    put = admin.send("PUT", API, body())
    assert put.status_code == 200 and "token-baru-123" not in put.text
    assert draft_of(app, "admin")["export"]["influx"]["token"] == "token-baru-123"  # type: ignore[index]


def test_a_token_file_replaces_the_stored_token(app: Flask) -> None:
    admin = sign_in(app, "admin")
    put = admin.send("PUT", API, body(token_file="/etc/simpul/influx.token"))
    assert put.status_code == 200, put.json
    influx = draft_of(app, "admin")["export"]["influx"]  # type: ignore[index]
    assert (influx["token"], influx["token_file"]) == ("", "/etc/simpul/influx.token")
    both = admin.post(
        URL,
        form(
            **{
                "export.influx.token": "x" * 12,
                "export.influx.token_file": "/etc/simpul/influx.token",
            }
        ),
    )
    assert both.status_code == 422 and "either token or token_file" in both.text
    assert draft_of(app, "admin")["export"]["influx"]["token"] == ""  # type: ignore[index]


def test_influx_can_be_switched_off(app: Flask) -> None:
    admin = sign_in(app, "admin")
    fields = form()
    del fields["export.influx.enabled"]
    assert admin.post(URL, fields).status_code == 302
    assert draft_of(app, "admin")["export"]["influx"] is None  # type: ignore[index]
    page = admin.get(URL)
    assert 'name="export.influx.enabled" value="1" >' in page.text  # unticked


def test_bad_values_are_refused_per_field_and_change_nothing(app: Flask) -> None:
    admin = sign_in(app, "admin")
    page = admin.post(
        URL,
        form(
            **{
                "retention.daily_days": "3",
                "export.influx.url": "nope",
                "export.influx.org": "meranti-typed",
            }
        ),
    )
    assert page.status_code == 422
    assert page.text.count('class="field-error"') == 2
    assert 'value="3"' in page.text and 'value="meranti-typed"' in page.text
    assert draft_of(app, "admin") is None
    refused = admin.send("PUT", API, {**body(), "extra": 1})
    assert refused.status_code == 422 and "extra" in refused.json["error"]["fields"]
    bad_listen = body()
    bad_listen["export"]["prometheus_listen"] = "anywhere"
    refused = admin.send("PUT", API, bad_listen)
    assert refused.status_code == 422
    assert set(refused.json["error"]["fields"]) == {"export.prometheus_listen"}
    refused = admin.send("PUT", API, body(batch_size=0))
    assert set(refused.json["error"]["fields"]) == {"export.influx.batch_size"}
    assert admin.send("PUT", API, [1]).status_code == 422
    assert draft_of(app, "admin") is None


def test_only_admins_see_or_change_the_settings(app: Flask) -> None:
    for role in ("operator", "reviewer"):
        browser = sign_in(app, role)
        assert browser.get(URL).status_code == 403
        assert browser.post(URL, form(**{"export.influx.token": "stolen-token"})).status_code == 403
        assert browser.get(API).status_code == 403
        assert browser.send("PUT", API, body(token="stolen-token")).status_code == 403
        assert draft_of(app, role) is None


def test_the_spool_is_shown_read_only_or_said_missing(app: Flask) -> None:
    admin = sign_in(app, "admin")
    assert "Belum ada spool" in admin.get(URL).text
    assert admin.get(API).json["spool"] is None
    spool_dir = Path(app.config["STATE_DIR"]) / "export"
    spool_dir.mkdir()
    with Spool(str(spool_dir / "export-spool.db"), 1 << 20) as spool:
        spool.put([point("usage_site", {"site": "s"}, {"down_bytes": n}, n * 10**9)
                   for n in range(1, 4)])  # fmt: skip
    state = admin.get(API).json["spool"]
    assert (state["waiting"], state["sent"], state["oldest_at"]) == (3, 0, 1.0)
    assert state["last_success"] is None and state["dropped"] == []
    page = admin.get(URL)
    assert "Belum ada spool" not in page.text and "Menunggu" in page.text
