"""Blind spots: no signal from any operator, or a site down too long, at the rules' boundaries;
the best signal seen; and the rows of the export to the operator."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from monitoring.reports.blindspot import (
    OPERATOR_COLUMNS,
    BlindSpot,
    best_signal,
    blind_spots,
    operator_rows,
)
from monitoring.reports.villages import Village, parse_register
from simpul.config import load_config_file

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400.0
PERIOD = 30 * DAY  # threshold 5%: 129 600 s


def village(
    signal: dict[str, dict[Any, Any]],
    *,
    site: str | None = None,
    kecamatan: str = "Rangsang",
    desa: str = "Bungur",
    code: str = "14.10.03.2005",
) -> Village:
    return Village(code, kecamatan, desa, 1.0186, 102.9712, signal, date(2025, 4, 22), site)


NONE = {"Telkomsel": {"2G": "tidak-ada", "4G": "tidak-ada"}, "XL": {"4G": "tidak-ada"}}
WEAK = {"Telkomsel": {"2G": "lemah", "4G": "tidak-ada"}, "XL": {"4G": "tidak-ada"}}


def spots(*villages: Village, down: dict[str, float] | None = None) -> list[BlindSpot]:
    return blind_spots(villages, down or {}, PERIOD, 5)


# -- no signal --------------------------------------------------------------------------------


def test_no_operator_with_any_signal_is_a_blind_spot() -> None:
    (spot,) = spots(village(NONE))
    assert (spot.no_signal, spot.site_down) == (True, False)
    assert (spot.best_signal, spot.best_on, spot.downtime_s, spot.site) == (
        "tidak-ada",
        None,
        None,
        None,
    )
    assert spot.reasons == (
        "tidak ada sinyal seluler dari Telkomsel, XL (survei 2025-04-22) / "
        "no mobile signal from Telkomsel, XL (surveyed 2025-04-22)",
    )


def test_no_operator_at_all_is_a_blind_spot() -> None:
    (spot,) = spots(village({}))
    assert spot.reasons == (
        "tidak ada operator seluler (survei 2025-04-22) / no mobile operator (surveyed 2025-04-22)",
    )


@pytest.mark.parametrize("level", ["lemah", "sedang", "kuat"])
def test_one_weak_signal_on_one_technology_is_enough(level: str) -> None:
    assert spots(village({**NONE, "Indosat": {"2G": level}})) == []


# -- site down --------------------------------------------------------------------------------


def test_a_site_down_exactly_the_threshold_is_not_a_blind_spot() -> None:
    assert spots(village(WEAK, site="pulau-merbau"), down={"pulau-merbau": 129_600}) == []


def test_a_site_down_just_above_the_threshold_is_a_blind_spot() -> None:
    (spot,) = spots(village(WEAK, site="pulau-merbau"), down={"pulau-merbau": 129_601})
    assert (spot.no_signal, spot.site_down, spot.downtime_s) == (False, True, 129_601)
    assert (spot.best_signal, spot.best_on) == ("lemah", ("Telkomsel", "2G"))
    assert spot.reasons == (
        "site pulau-merbau mati 36 jam, 5% periode (batas 5%) / "
        "site pulau-merbau down 36 h, 5% of the period (limit 5%)",
    )


def test_a_site_the_ledger_does_not_name_was_not_down() -> None:
    assert spots(village(WEAK, site="pulau-merbau"), down={"rangsang-barat": PERIOD}) == []


def test_a_village_without_a_site_is_never_site_down() -> None:
    assert spots(village(WEAK), down={"pulau-merbau": PERIOD}) == []


def test_a_zero_threshold_reports_any_downtime() -> None:
    served = village(WEAK, site="pulau-merbau")
    assert blind_spots([served], {"pulau-merbau": 0}, PERIOD, 0) == []
    (spot,) = blind_spots([served], {"pulau-merbau": 1}, PERIOD, 0)
    assert spot.site_down


def test_a_full_threshold_never_reports_a_site() -> None:
    served = village(WEAK, site="pulau-merbau")
    assert blind_spots([served], {"pulau-merbau": PERIOD}, PERIOD, 100) == []


def test_both_reasons_with_decimal_commas_first() -> None:
    (spot,) = blind_spots([village(NONE, site="rangsang-barat")], {"rangsang-barat": 9000}, DAY, 5)
    assert (spot.no_signal, spot.site_down) == (True, True)
    assert spot.reasons[1] == (
        "site rangsang-barat mati 2,5 jam, 10,42% periode (batas 5%) / "
        "site rangsang-barat down 2.5 h, 10.42% of the period (limit 5%)"
    )


@pytest.mark.parametrize(("period", "threshold"), [(0, 5), (-1, 5), (DAY, -0.1), (DAY, 100.1)])
def test_a_period_and_threshold_that_mean_nothing_are_refused(
    period: float, threshold: float
) -> None:
    with pytest.raises(ValueError):
        blind_spots([], {}, period, threshold)


# -- best signal and order --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signal", "best"),
    [
        ({}, ("tidak-ada", None)),
        (NONE, ("tidak-ada", None)),
        ({"XL": {"2G": "kuat"}, "Telkomsel": {"4G": "sedang"}}, ("kuat", ("XL", "2G"))),
        ({"Telkomsel": {"2G": "sedang"}, "XL": {"4G": "sedang"}}, ("sedang", ("XL", "4G"))),
        ({"XL": {"4G": "sedang"}, "Indosat": {"4G": "sedang"}}, ("sedang", ("Indosat", "4G"))),
    ],
)
def test_best_signal_is_the_strongest_then_newest_then_alphabetical(
    signal: dict[str, dict[Any, Any]], best: tuple[str, Any]
) -> None:
    assert best_signal(village(signal)) == best


def test_spots_are_by_kecamatan_then_desa() -> None:
    found = spots(
        village({}, kecamatan="Rangsang Pesisir", desa="Sonde", code="14.10.09.2002"),
        village({}, kecamatan="Rangsang", desa="Tanjung Samak", code="14.10.03.2001"),
        village({}, kecamatan="Merbau", desa="Lukun", code="14.10.05.2003"),
        village({}, kecamatan="Rangsang", desa="bungur", code="14.10.03.2005"),
    )
    assert [s.village.desa for s in found] == ["Lukun", "bungur", "Tanjung Samak", "Sonde"]


# -- the export to the operator ---------------------------------------------------------------


def test_operator_rows() -> None:
    found = blind_spots(
        [
            village(WEAK, site="pulau-merbau", desa="Semukut"),
            village({}, desa="Bagan Melibur", kecamatan="Merbau", code="14.10.05.2007"),
        ],
        {"pulau-merbau": 5 * 3600 + 900},
        DAY,
        10,
    )
    rows = operator_rows(found)
    assert all(tuple(r) == OPERATOR_COLUMNS for r in rows)
    assert rows == [
        {
            "kode_wilayah": "14.10.05.2007",
            "kecamatan": "Merbau",
            "desa": "Bagan Melibur",
            "lat": "1.0186",
            "lon": "102.9712",
            "masalah": "tidak ada operator seluler (survei 2025-04-22) / "
            "no mobile operator (surveyed 2025-04-22)",
            "sinyal_terbaik": "tidak-ada",
            "site": "",
            "downtime_jam": "",
        },
        {
            "kode_wilayah": "14.10.03.2005",
            "kecamatan": "Rangsang",
            "desa": "Semukut",
            "lat": "1.0186",
            "lon": "102.9712",
            "masalah": "site pulau-merbau mati 5,25 jam, 21,88% periode (batas 10%) / "
            "site pulau-merbau down 5.25 h, 21.88% of the period (limit 10%)",
            "sinyal_terbaik": "lemah (Telkomsel 2G)",
            "site": "pulau-merbau",
            "downtime_jam": "5.25",
        },
    ]


def test_the_example_register_with_a_site_down_three_days() -> None:
    config = load_config_file(str(ROOT / "examples" / "meranti.yaml"))
    text = (ROOT / "examples" / "villages-meranti.csv").read_text(encoding="utf-8")
    villages = parse_register(text, config, date(2025, 6, 30))
    found = blind_spots(villages, {"pulau-merbau": 3 * DAY}, PERIOD, 5)
    assert [(s.village.desa, s.no_signal, s.site_down) for s in found] == [
        ("Bagan Melibur", True, False),
        ("Renak Dungun", True, True),
        ("Semukut", False, True),
        ("Segomeng", True, False),
        ("Tenggayun Raya", True, False),
        ("Bandul", True, False),
        ("Tanjung Peranap", True, False),
    ]
