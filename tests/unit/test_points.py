"""Export points: validation and the exact line-protocol encoding, checked against a reference
parser and influxdb-client's own encoder."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from influxdb_client import Point as ClientPoint
from influxdb_client import WritePrecision

from monitoring.points import INT64_MAX, INT64_MIN, Point, encode, point

T = 1_700_000_000_000_000_000


Tokens = list[tuple[str, bool]]  # (character, was escaped)


def tokens(text: str) -> Tokens:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ", =":
            out.append((text[i + 1], True))
            i += 2
        else:
            out.append((text[i], False))
            i += 1
    return out


def split(toks: Tokens, sep: str) -> list[Tokens]:
    """`toks` cut at each unescaped `sep`."""
    pieces: list[Tokens] = [[]]
    for c, escaped in toks:
        if c == sep and not escaped:
            pieces.append([])
        else:
            pieces[-1].append((c, escaped))
    return pieces


def text(toks: Tokens) -> str:
    return "".join(c for c, _ in toks)


def parse(line: str) -> tuple[str, dict[str, str], dict[str, int | float], int]:
    """A reference line-protocol reader (numeric fields only)."""
    series, field_set, stamp = split(tokens(line), " ")
    measurement, *tag_pairs = split(series, ",")
    tags = dict(tuple(text(t) for t in split(pair, "=")) for pair in tag_pairs)
    fields: dict[str, int | float] = {}
    for pair in split(field_set, ","):
        key, raw = (text(t) for t in split(pair, "="))
        fields[key] = int(raw[:-1]) if raw.endswith("i") else float(raw)
    return text(measurement), tags, fields, int(text(stamp))


def test_encodes_tags_ints_floats_and_time() -> None:
    p = point("acct", {"site": "rtm-lam", "opd": "disdik"}, {"bytes_in": 123, "rate": 1.5}, T)
    assert encode(p) == f"acct,opd=disdik,site=rtm-lam bytes_in=123i,rate=1.5 {T}"


def test_point_helper_sorts_tags_and_fields() -> None:
    p = point("m", {"b": "2", "a": "1"}, {"y": 1, "x": 2}, T)
    assert p.tags == (("a", "1"), ("b", "2"))
    assert p.fields == (("x", 2), ("y", 1))


def test_no_tags() -> None:
    assert encode(point("uptime", {}, {"seconds": 5}, 0)) == "uptime seconds=5i 0"


@pytest.mark.parametrize(
    ("measurement", "tags", "field", "line"),
    [
        ("a b,c=d", {}, "f", r"a\ b\,c=d f=1i 1"),  # '=' needs no escape in a measurement
        ("m", {"k,1": "v 1"}, "f", r"m,k\,1=v\ 1 f=1i 1"),
        ("m", {"k=1": "v=1"}, "f", r"m,k\=1=v\=1 f=1i 1"),
        ("m", {"k": "a,b c=d"}, "f i=,", r"m,k=a\,b\ c\=d f\ i\=\,=1i 1"),
        (
            "m",
            {"site": "Kantor Camat, Tebing Tinggi"},
            "f",
            r"m,site=Kantor\ Camat\,\ Tebing\ Tinggi f=1i 1",
        ),
    ],
)
def test_escaping(measurement: str, tags: dict[str, str], field: str, line: str) -> None:
    p = point(measurement, tags, {field: 1}, 1)
    assert encode(p) == line
    assert parse(line) == (measurement, tags, {field: 1}, 1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (-0.5, "-0.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e20, "1e+20"),
        (5e-324, "5e-324"),
        (0, "0i"),
        (-7, "-7i"),
        (INT64_MAX, f"{INT64_MAX}i"),
        (INT64_MIN, f"{INT64_MIN}i"),
    ],
)
def test_field_values(value: int | float, text: str) -> None:
    assert encode(point("m", {}, {"v": value}, 1)) == f"m v={text} 1"


def test_floats_read_back_exactly() -> None:
    for value in (math.pi, 1 / 3, 1e-300, 123456789.123456789, -2.5e15):
        assert parse(encode(point("m", {}, {"v": value}, 1)))[2]["v"] == value


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "has no field"),
        ({"v": math.nan}, "not a finite number"),
        ({"v": math.inf}, "not a finite number"),
        ({"v": -math.inf}, "not a finite number"),
        ({"v": True}, "must be an int or a float"),
        ({"v": "12"}, "must be an int or a float"),
        ({"v": None}, "must be an int or a float"),
        ({"v": INT64_MAX + 1}, "signed 64-bit"),
        ({"v": INT64_MIN - 1}, "signed 64-bit"),
        ({"": 1}, "non-empty"),
        ({"_field": 1}, "reserved"),
        ({"time": 1}, "reserved"),
    ],
)
def test_invalid_fields(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        point("m", {}, fields, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("measurement", "tags", "message"),
    [
        ("", {}, "measurement must be a non-empty"),
        ("_m", {}, "reserved"),
        ("m\n", {}, "control character"),
        ("m", {"": "v"}, "tag key must be a non-empty"),
        ("m", {"k": ""}, "value must be a non-empty"),
        ("m", {"_start": "v"}, "reserved"),
        ("m", {"time": "v"}, "reserved"),
        ("m", {"k": "a\nb"}, "control character"),
        ("m", {"k": "a\tb"}, "control character"),
        ("m", {"k": "a\\"}, "backslash"),
        ("m", {"k\\": "a"}, "backslash"),
    ],
)
def test_invalid_series(measurement: str, tags: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        point(measurement, tags, {"v": 1}, 1)


def test_point_itself_wants_sorted_unique_pairs() -> None:
    with pytest.raises(ValueError, match="sorted"):
        Point("m", (("b", "1"), ("a", "2")), (("v", 1),), 1)
    with pytest.raises(ValueError, match="sorted"):
        Point("m", (("a", "1"), ("a", "2")), (("v", 1),), 1)
    with pytest.raises(ValueError, match="sorted"):
        Point("m", (), (("v", 1), ("v", 2)), 1)


@pytest.mark.parametrize("stamp", [1.5, True, "1", 2**63])
def test_invalid_time(stamp: object) -> None:
    with pytest.raises(ValueError, match="time"):
        point("m", {}, {"v": 1}, stamp)  # type: ignore[arg-type]


def test_points_are_frozen_and_hashable() -> None:
    p = point("m", {"k": "v"}, {"v": 1}, 1)
    with pytest.raises(AttributeError):
        p.time_ns = 2  # type: ignore[misc]
    assert p == point("m", {"k": "v"}, {"v": 1}, 1)
    assert len({p, point("m", {"k": "v"}, {"v": 1}, 1)}) == 1


NAME = st.text(alphabet=st.sampled_from("abcxyz019_-.:/ ,=é"), min_size=1, max_size=12).filter(
    lambda s: not s.startswith("_") and s != "time"
)
VALUE = st.one_of(
    st.integers(INT64_MIN, INT64_MAX), st.floats(allow_nan=False, allow_infinity=False)
)


@given(
    measurement=NAME,
    tags=st.dictionaries(NAME, NAME, max_size=4),
    fields=st.dictionaries(NAME, VALUE, min_size=1, max_size=4),
    stamp=st.integers(INT64_MIN, INT64_MAX),
)
def test_reference_parser_reads_back_what_was_encoded(
    measurement: str, tags: dict[str, str], fields: dict[str, int | float], stamp: int
) -> None:
    line = encode(point(measurement, tags, fields, stamp))
    assert parse(line) == (measurement, tags, fields, stamp)


@given(
    measurement=NAME,
    tags=st.dictionaries(NAME, NAME, max_size=4),
    fields=st.dictionaries(NAME, st.integers(INT64_MIN, INT64_MAX), min_size=1, max_size=4),
    stamp=st.integers(0, INT64_MAX),
)
def test_same_line_as_influxdb_client(
    measurement: str, tags: dict[str, str], fields: dict[str, int], stamp: int
) -> None:
    theirs = ClientPoint(measurement).time(stamp, WritePrecision.NS)
    for key, value in tags.items():
        theirs.tag(key, value)
    for key, value in fields.items():
        theirs.field(key, value)
    assert encode(point(measurement, tags, fields, stamp)) == theirs.to_line_protocol()
