"""Numbers, sizes, rates, times and durations as the console shows them (portal.admin.formatting),
in Indonesian and English, and the template filters that use them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import render_template_string

from portal.admin import formatting
from portal.admin.formatting import duration, number, rate, size, when, zone
from tests.unit.admin_helpers import FakeNetd, make_app

# 17 August 2026, 02:05 UTC: 09:05 WIB, 10:05 WITA, 11:05 WIT.
AUGUST_17 = datetime(2026, 8, 17, 2, 5, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "decimals", "indonesian", "english"),
    [
        (0, 0, "0", "0"),
        (999, 0, "999", "999"),
        (1000, 0, "1.000", "1,000"),
        (1234567, 0, "1.234.567", "1,234,567"),
        (1234567.891, 2, "1.234.567,89", "1,234,567.89"),
        (0.5, 1, "0,5", "0.5"),
        (-1234.5, 1, "-1.234,5", "-1,234.5"),
        (2.5, 0, "2", "2"),  # rounds half to even, as Python does
        (1e9, 0, "1.000.000.000", "1,000,000,000"),
    ],
)
def test_number(value: float, decimals: int, indonesian: str, english: str) -> None:
    assert number(value, "id", decimals) == indonesian
    assert number(value, "en", decimals) == english


@pytest.mark.parametrize(
    ("count", "indonesian", "english"),
    [
        (0, "0 B", "0 B"),
        (-5, "0 B", "0 B"),
        (999, "999 B", "999 B"),
        (1000, "1,00 KB", "1.00 KB"),
        (1234, "1,23 KB", "1.23 KB"),
        (12_345, "12,3 KB", "12.3 KB"),
        (123_456, "123 KB", "123 KB"),
        (1_234_567, "1,23 MB", "1.23 MB"),
        (5 * 10**9, "5,00 GB", "5.00 GB"),
        (2.5e12, "2,50 TB", "2.50 TB"),
        (3 * 10**15, "3,00 PB", "3.00 PB"),
        (4 * 10**18, "4.000 PB", "4,000 PB"),  # nothing above PB
    ],
)
def test_size(count: float, indonesian: str, english: str) -> None:
    assert size(count, "id") == indonesian
    assert size(count, "en") == english


@pytest.mark.parametrize(
    ("count", "expected"),
    [(999_999, "1,00 MB"), (999_500, "1,00 MB"), (9_999, "10,0 KB"), (99_999, "100 KB")],
)
def test_size_keeps_three_figures_when_rounding_up(count: float, expected: str) -> None:
    assert size(count, "id") == expected


@pytest.mark.parametrize(
    ("bits_per_s", "indonesian", "english"),
    [
        (0, "0 kbit/s", "0 kbit/s"),
        (64_000, "64 kbit/s", "64 kbit/s"),
        (512_400, "512 kbit/s", "512 kbit/s"),
        (1_000_000, "1,0 Mbit/s", "1.0 Mbit/s"),
        (1_550_000, "1,6 Mbit/s", "1.6 Mbit/s"),
        (20e6, "20,0 Mbit/s", "20.0 Mbit/s"),
        (2.5e9, "2.500,0 Mbit/s", "2,500.0 Mbit/s"),
    ],
)
def test_rate(bits_per_s: float, indonesian: str, english: str) -> None:
    assert rate(bits_per_s, "id") == indonesian
    assert rate(bits_per_s, "en") == english


def test_rate_just_under_a_megabit() -> None:
    assert rate(999_600, "id") == "1,0 Mbit/s"


@pytest.mark.parametrize(
    ("timezone", "lang", "expected"),
    [
        ("WIB", "id", "17 Agu 2026 09:05 WIB"),
        ("WIB", "en", "17 Aug 2026 09:05 WIB"),
        ("WITA", "id", "17 Agu 2026 10:05 WITA"),
        ("WITA", "en", "17 Aug 2026 10:05 WITA"),
        ("WIT", "id", "17 Agu 2026 11:05 WIT"),
        ("WIT", "en", "17 Aug 2026 11:05 WIT"),
        ("Asia/Makassar", "id", "17 Agu 2026 10:05 WITA"),
        ("UTC", "en", "17 Aug 2026 02:05 UTC"),
    ],
)
def test_when(timezone: str, lang: str, expected: str) -> None:
    assert when(AUGUST_17, timezone, lang) == expected


@pytest.mark.parametrize(
    ("month", "indonesian", "english"),
    [(1, "Jan", "Jan"), (5, "Mei", "May"), (8, "Agu", "Aug"), (10, "Okt", "Oct"),
     (12, "Des", "Dec")],
)  # fmt: skip
def test_month_names(month: int, indonesian: str, english: str) -> None:
    epoch = datetime(2026, month, 3, 5, 0, tzinfo=UTC).timestamp()
    assert when(epoch, "WIB", "id") == f"3 {indonesian} 2026 12:00 WIB"
    assert when(epoch, "WIB", "en") == f"3 {english} 2026 12:00 WIB"


def test_when_crosses_midnight_and_the_year_in_the_east() -> None:
    epoch = datetime(2026, 12, 31, 20, 0, tzinfo=UTC).timestamp()
    assert when(epoch, "WIB", "id") == "1 Jan 2027 03:00 WIB"
    assert when(epoch, "WIT", "id") == "1 Jan 2027 05:00 WIT"
    assert when(epoch - 6 * 3600, "WIB", "id") == "31 Des 2026 21:00 WIB"


def test_no_time() -> None:
    assert when(None, "WIB", "id") == "–"


@pytest.mark.parametrize(
    ("timezone", "name"),
    [("WIB", "Asia/Jakarta"), ("WITA", "Asia/Makassar"), ("WIT", "Asia/Jayapura"),
     ("Asia/Pontianak", "Asia/Pontianak")],
)  # fmt: skip
def test_zone(timezone: str, name: str) -> None:
    assert zone(timezone).key == name


@pytest.mark.parametrize(
    ("seconds", "indonesian", "english"),
    [
        (0, "0 dtk", "0 s"),
        (-30, "0 dtk", "0 s"),
        (59.9, "59 dtk", "59 s"),
        (60, "1 m", "1 m"),
        (3599, "59 m", "59 m"),
        (3600, "1 j 00 m", "1 h 00 m"),
        (7500, "2 j 05 m", "2 h 05 m"),
        (90_000, "25 j 00 m", "25 h 00 m"),
    ],
)
def test_duration(seconds: float, indonesian: str, english: str) -> None:
    assert duration(seconds, "id") == indonesian
    assert duration(seconds, "en") == english


# -- the template filters ------------------------------------------------------------------------

FILTERS = "{{ t|datetime }} | {{ b|size }} | {{ r|rate }} | {{ n|number(1) }} | {{ s|duration }}"


@pytest.mark.parametrize(
    ("cookie", "timezone", "expected"),
    [
        (None, "WITA", "17 Agu 2026 10:05 WITA | 1,23 MB | 1,5 Mbit/s | 1.234,5 | 2 j 05 m"),
        ("lang=en", "WIT", "17 Aug 2026 11:05 WIT | 1.23 MB | 1.5 Mbit/s | 1,234.5 | 2 h 05 m"),
    ],
)
def test_the_template_filters_follow_the_language_and_the_nodes_zone(
    tmp_path: Path, cookie: str | None, timezone: str, expected: str
) -> None:
    netd = FakeNetd()
    netd.document["node"]["timezone"] = timezone
    app = make_app(tmp_path, netd)
    headers = {"Cookie": cookie} if cookie else {}
    with app.test_request_context("/", headers=headers):
        rendered = render_template_string(
            FILTERS, t=AUGUST_17, b=1_234_567, r=1.5e6, n=1234.5, s=7500
        )
    assert rendered == expected


def test_the_filters_show_wib_without_a_running_configuration(tmp_path: Path) -> None:
    app = make_app(tmp_path, FakeNetd({"config_document": OSError("away")}))
    with app.test_request_context("/"):
        assert render_template_string("{{ t|datetime }}", t=AUGUST_17) == "17 Agu 2026 09:05 WIB"


def test_the_units_are_decimal() -> None:
    assert formatting.UNITS == ("B", "KB", "MB", "GB", "TB", "PB")
    assert size(10**9, "en") == "1.00 GB"
