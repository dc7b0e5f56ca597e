"""Device profiles: the shipped files load, every kind of bad file names its problem precisely,
and raw values become readings (text numbers, scale, enum labels, threshold levels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.snmp.http_status import extract, status_url
from monitoring.snmp.profiles import (
    Profile,
    ProfileError,
    load_profile,
    load_profiles,
    make_reading,
    parse_number,
    parse_profile,
)

GOOD = """\
name: modem
description: a test modem
values:
  - name: snr
    column: 1.3.6.1.4.1.99.1.2
    type: gauge
    text: true
    unit: dB
    thresholds: {warning: 7, critical: 5, direction: below}
  - name: state
    oid: 1.3.6.1.4.1.99.1.1.0
    type: enum
    enum: {0: green, 1: yellow, 2: red}
    thresholds: {warning: [yellow], critical: [red]}
  - name: temp
    oid: 1.3.6.1.4.1.99.1.3.0
    type: gauge
    scale: 0.1
    thresholds: {warning: 60, critical: 70, direction: above}
"""


def test_shipped_profiles_load() -> None:
    profiles = load_profiles()
    assert {"generic", "idirect", "newtec", "http_example"} <= set(profiles)
    assert profiles["generic"].verified
    assert not profiles["idirect"].verified
    assert not profiles["newtec"].verified
    assert profiles["http_example"].kind == "http"
    idirect = {v.name: v for v in profiles["idirect"].values}
    assert idirect["downstream_snr"].column == "1.3.6.1.4.1.13732.1.4.3.1.2"
    assert idirect["downstream_snr"].text
    assert idirect["state"].address("4242") == (1, 3, 6, 1, 4, 1, 13732, 1, 1, 1, 1, 12, 4242)


def test_good_profile() -> None:
    profile = parse_profile(GOOD)
    assert profile.kind == "snmp"
    assert [v.name for v in profile.scalars()] == ["state", "temp"]
    assert [v.name for v in profile.columns()] == ["snr"]
    assert profile.values[0].address() == (1, 3, 6, 1, 4, 1, 99, 1, 2)


def _error(text: str) -> str:
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "bad.yaml")
    return str(caught.value)


def _with(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "bad.yaml: line 1: (top level): not valid YAML: expected ',' or ']'"),
        ("", "bad.yaml: (top level): the file is empty"),
        ("- a\n- b\n", "bad.yaml: line 1: (top level): a profile is a mapping of fields"),
        (
            _with("    unit: dB\n", "    units: dB\n"),
            "bad.yaml: line 8: values[0].units: unknown field (misspelt, or not valid here)",
        ),
        (_with("description: a test modem\n", ""), "bad.yaml: line 1: description: is required"),
        (
            _with("column: 1.3.6.1.4.1.99.1.2", "column: IF-MIB::ifName"),
            "line 5: values[0].column: not a numeric OID (like 1.3.6.1.2.1.1.3.0): "
            "'IF-MIB::ifName'",
        ),
        (
            _with("  - name: snr", "  - name: Rx-SNR"),
            "line 4: values[0].name: must be lower_snake_case (a-z, 0-9, _), starting with a "
            "letter",
        ),
        (
            _with("type: gauge\n    text", "type: float\n    text"),
            "line 6: values[0].type: Input should be 'gauge', 'counter' or 'enum'",
        ),
        (
            _with(
                "    type: gauge\n    text",
                "    oid: 1.3.6.1.4.1.99.1.2.0\n    type: gauge\n    text",
            ),
            "line 4: values[0]: give exactly one of oid, column (snmp) or regex, json (http)",
        ),
        (
            _with("{warning: 7, critical: 5, direction: below}", "{warning: 7, critical: 5}"),
            "line 9: values[0].thresholds: numeric thresholds need direction: above or below",
        ),
        (
            _with(
                "{warning: 7, critical: 5, direction: below}",
                "{warning: 5, critical: 7, direction: below}",
            ),
            "values[0].thresholds: critical (7) must be below warning (5)",
        ),
        (
            _with("critical: [red]", "critical: [purple]"),
            "line 10: values[1]: threshold labels not in enum: purple",
        ),
        (
            _with("    scale: 0.1\n", "    scale: 0.1\n    enum: {1: hot}\n"),
            "values[2]: enum labels are only for type enum",
        ),
        (
            _with("  - name: temp", "  - name: snr"),
            "(top level): values[2]: name 'snr' appears twice",
        ),
        (
            _with("description: a test modem\n", "description: x\ndescription: y\n"),
            "bad.yaml: line 3: description: appears twice",
        ),
        (
            _with("description: a test modem\n", "description: x\nurl: http://{address}/\n"),
            "(top level): url is only for kind http",
        ),
        (
            _with("    column: 1.3.6.1.4.1.99.1.2\n", "    regex: 'SNR (\\d+)'\n"),
            "values[0] (snr): a snmp profile reads oid or column",
        ),
        (
            "name: web\nkind: http\ndescription: x\nvalues:\n"
            "  - {name: snr, regex: 'SNR \\d+', type: gauge}\n",
            "line 5: values[0]: regex needs a capture group around the value",
        ),
        (
            "name: web\nkind: http\ndescription: x\nvalues:\n"
            "  - {name: snr, regex: 'SNR (', type: gauge}\n",
            "values[0]: regex does not compile: missing ), unterminated subpattern",
        ),
        (
            "name: web\nkind: http\ndescription: x\nvalues:\n"
            "  - {name: snr, json: a.b, type: gauge}\n",
            "(top level): an http profile needs url (e.g. http://{address}/status)",
        ),
        (
            "name: c\ndescription: x\nvalues:\n"
            "  - {name: n, oid: 1.3.6.1.0, type: counter,"
            " thresholds: {warning: 1, direction: above}}\n",
            "values[0]: thresholds on a raw counter mean nothing; threshold its rate",
        ),
        (
            "name: c\ndescription: x\nvalues: []\n",
            "line 3: values: Tuple should have at least 1 item",
        ),
    ],
)
def test_bad_profiles_name_the_problem(text: str, message: str) -> None:
    assert message in _error(text)


def test_every_problem_is_reported_at_once() -> None:
    text = _with("    unit: dB\n", "    units: dB\n").replace("type: enum", "type: state")
    error = _error(text)
    assert "values[0].units: unknown field" in error
    assert "values[1].type: Input should be" in error


def test_file_name_must_match_profile_name(tmp_path: Path) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(GOOD)
    with pytest.raises(ProfileError, match=r"vendor.yaml: name: 'modem' does not match the file"):
        load_profile(path)
    path.rename(tmp_path / "modem.yaml")
    assert load_profiles(tmp_path) == {"modem": parse_profile(GOOD)}


def _spec(profile: Profile, name: str):  # type: ignore[no-untyped-def]
    return next(v for v in profile.values if v.name == name)


def test_readings_from_raw_values() -> None:
    profile = parse_profile(GOOD)
    snr = _spec(profile, "snr")
    assert make_reading(snr, "12.4 dB", "4242").value == pytest.approx(12.4)
    assert make_reading(snr, "12.4", "4242").level == "ok"
    assert make_reading(snr, "6.0").level == "warning"
    assert make_reading(snr, "5").level == "critical"
    broken = make_reading(snr, "n/a")
    assert (broken.value, broken.error) == (None, "not a number: 'n/a'")
    state = _spec(profile, "state")
    red = make_reading(state, 2)
    assert (red.value, red.label, red.level) == (2, "red", "critical")
    unknown = make_reading(state, 9)
    assert (unknown.label, unknown.level) == (None, "ok")
    temp = make_reading(_spec(profile, "temp"), 655)
    assert temp.value == pytest.approx(65.5)
    assert temp.level == "warning"


def test_parse_number() -> None:
    assert parse_number("-12.5 dBm") == -12.5
    assert parse_number("SNR: 9") == 9.0
    assert parse_number("none") is None


HTTP = """\
name: web
kind: http
description: status page
url: http://{address}/status.json
values:
  - {name: snr, json: modem.rx.0.snr, type: gauge, unit: dB}
  - {name: state, json: modem.state, type: enum, enum: {online: online, offline: offline}}
  - {name: tx_power, regex: 'Tx Power: (-?[0-9.]+)', type: gauge, unit: dBm}
"""


def test_http_status_extraction() -> None:
    profile = parse_profile(HTTP)
    assert status_url(profile, "10.9.1.2") == "http://10.9.1.2/status.json"
    body = '{"modem": {"rx": [{"snr": 11.5}], "state": "online"}, "text": "Tx Power: -3.5"}'
    snr, state, tx = extract(profile, body)
    assert snr.value == 11.5
    assert (state.value, state.label) == ("online", "online")
    assert tx.value == -3.5
    html = "<html>Tx Power: 1.5 dBm</html>"
    snr, state, tx = extract(profile, html)
    assert snr.error == "the page is not JSON"
    assert tx.value == 1.5
    snr, _, tx = extract(profile, '{"modem": {"rx": []}}')
    assert snr.error == "no modem.rx.0.snr in the JSON"
    assert tx.error is not None and "not found" in tx.error
