"""The village register: every rule of the survey CSV (each problem by line and column, all of
them at once), the example file, and imports that replace the register atomically."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitoring.reports.register import import_register, load_register
from monitoring.reports.villages import (
    COLUMNS,
    RegisterError,
    Village,
    parse_register,
)
from simpul.config import load_config_file
from simpul.store import Store
from tests.unit.fake_clock import Clock

ROOT = Path(__file__).resolve().parents[2]
MERANTI = load_config_file(str(ROOT / "examples" / "meranti.yaml"))
LAB = load_config_file(str(ROOT / "examples" / "lab.yaml"))
EXAMPLE = (ROOT / "examples" / "villages-meranti.csv").read_text(encoding="utf-8")
TODAY = date(2025, 6, 30)
HEADER = ",".join(COLUMNS)
ALAH_AIR = {
    "kode_wilayah": "14.10.01.2002",
    "kecamatan": "Tebing Tinggi",
    "desa": "Alah Air",
    "lat": "0.9812",
    "lon": "102.6774",
    "operator": "Telkomsel",
    "teknologi": "4G",
    "sinyal": "kuat",
    "tanggal_survei": "2025-03-11",
    "site": "rtm-lam",
}
SESAP = {**ALAH_AIR, "kode_wilayah": "14.10.01.2005", "desa": "Sesap", "site": ""}


def row(base: dict[str, str] = ALAH_AIR, columns: tuple[str, ...] = COLUMNS, **cells: str) -> str:
    """A CSV line of `base` with some cells changed."""
    return ",".join({**base, **cells}[c] for c in columns)


def parse(*rows: str, header: str = HEADER, config: Any = MERANTI) -> list[Village]:
    return parse_register("\n".join([header, *rows]) + "\n", config, TODAY)


def problems_of(text: str, config: Any = MERANTI) -> list[tuple[int, str]]:
    """(line, column) of every problem parsing `text`; each message says it in both languages."""
    with pytest.raises(RegisterError) as caught:
        parse_register(text, config, TODAY)
    for problem in caught.value.problems:
        assert " / " in problem.message, problem
    return [(p.line, p.column) for p in caught.value.problems]


def problems(*rows: str, header: str = HEADER, config: Any = MERANTI) -> list[tuple[int, str]]:
    return problems_of("\n".join([header, *rows]) + "\n", config)


def message(*rows: str, header: str = HEADER) -> str:
    with pytest.raises(RegisterError) as caught:
        parse(*rows, header=header)
    return str(caught.value)


# -- accepted files ---------------------------------------------------------------------------


def test_rows_of_a_village_make_one_village_with_its_latest_survey() -> None:
    villages = parse(
        row(SESAP),
        row(),
        row(teknologi="2G", sinyal="sedang", tanggal_survei="2025-03-12"),
        row(operator="Indosat", sinyal="lemah"),
    )
    assert villages == [
        Village(
            "14.10.01.2002",
            "Tebing Tinggi",
            "Alah Air",
            0.9812,
            102.6774,
            {"Telkomsel": {"4G": "kuat", "2G": "sedang"}, "Indosat": {"4G": "lemah"}},
            date(2025, 3, 12),
            "rtm-lam",
        ),
        Village(
            "14.10.01.2005",
            "Tebing Tinggi",
            "Sesap",
            0.9812,
            102.6774,
            {"Telkomsel": {"4G": "kuat"}},
            date(2025, 3, 11),
            None,
        ),
    ]


def test_a_byte_order_mark_and_windows_line_endings_are_accepted() -> None:
    lines = [HEADER, row(), row(SESAP)]
    plain = parse_register("\n".join(lines) + "\n", MERANTI, TODAY)
    assert parse_register("\ufeff" + "\r\n".join(lines) + "\r\n", MERANTI, TODAY) == plain
    assert parse_register("\ufeff" + "\r\n".join(lines), MERANTI, TODAY) == plain


def test_the_site_column_may_be_left_out_or_empty() -> None:
    columns = COLUMNS[:-1]
    (village,) = parse(row(columns=columns), header=",".join(columns))
    assert village.site is None
    assert parse(row(site=""))[0].site is None


@pytest.mark.parametrize("site", ["rtm-lam", "kantor-camat-alai", "rangsang-barat"])
def test_a_site_is_a_hotspot_or_remote_site_of_the_configuration(site: str) -> None:
    assert parse(row(site=site))[0].site == site


def test_header_names_ignore_case_and_spaces_and_cells_are_trimmed() -> None:
    header = ", ".join(c.upper() for c in COLUMNS)
    (village,) = parse(row(desa="  Alah Air ", operator=" XL"), header=header)
    assert (village.desa, village.signal) == ("Alah Air", {"XL": {"4G": "kuat"}})


def test_technology_and_level_are_read_in_any_case() -> None:
    (village,) = parse(row(teknologi="4g", sinyal="Sedang"))
    assert village.signal == {"Telkomsel": {"4G": "sedang"}}


def test_an_operator_is_one_operator_whatever_its_case() -> None:
    (village,) = parse(row(), row(operator="TELKOMSEL", teknologi="2G"))
    assert village.signal == {"Telkomsel": {"4G": "kuat", "2G": "kuat"}}


def test_a_kelurahan_code_is_accepted() -> None:
    assert parse(row(kode_wilayah="14.10.01.1001"))[0].code == "14.10.01.1001"


@pytest.mark.parametrize("technology", ["-", ""])
def test_operator_dash_says_no_operator_at_all(technology: str) -> None:
    (village,) = parse(row(operator="-", teknologi=technology, sinyal="tidak-ada"))
    assert village.signal == {}


def test_blank_lines_are_skipped() -> None:
    assert len(parse("", row(), ",,,,,,,,,", row(SESAP), "")) == 2


# -- the file and its header ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\ufeff", "  \r\n\n"])
def test_an_empty_file_is_refused(text: str) -> None:
    assert problems_of(text) == [(1, "")]


def test_a_header_without_rows_is_refused() -> None:
    assert problems() == [(1, "")]
    assert problems("", "") == [(1, "")]


def test_missing_columns_are_named_on_line_1() -> None:
    columns = tuple(c for c in COLUMNS if c not in ("lat", "sinyal"))
    assert problems(row(columns=columns), header=",".join(columns)) == [(1, "lat"), (1, "sinyal")]


def test_extra_and_repeated_columns_are_refused() -> None:
    assert problems(row() + ",catatan", header=HEADER + ",keterangan") == [(1, "keterangan")]
    assert problems(row() + ",Alah Air", header=HEADER + ",desa") == [(1, "desa")]


def test_a_file_separated_by_semicolons_is_told_so() -> None:
    text = HEADER.replace(",", ";") + "\n" + row().replace(",", ";") + "\n"
    assert problems_of(text) == [(1, "")]
    with pytest.raises(RegisterError, match="titik koma"):
        parse_register(text, MERANTI, TODAY)


def test_a_row_with_another_number_of_cells_is_refused() -> None:
    assert problems(row(), row() + ",", row(SESAP).rsplit(",", 1)[0]) == [(3, ""), (4, "")]


@pytest.mark.parametrize("text", [HEADER + '\n"14.10.01.2002"x,', HEADER + '\n"14.10.01.2002'])
def test_broken_quoting_is_refused_at_its_line(text: str) -> None:
    assert problems_of(text) == [(2, "")]


# -- cells ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "",
        "14.10.01.201",
        "14.10.01.20011",
        "14.10.01.3001",
        "14.10.1.2001",
        "14.10.01",
        "14-10-01-2001",
        "14.11.01.2001",
        "13.10.01.2001",
    ],
)
def test_a_village_code_has_four_parts_in_the_node_region(code: str) -> None:
    assert problems(row(kode_wilayah=code)) == [(2, "kode_wilayah")]


@pytest.mark.parametrize("column", ["kecamatan", "desa"])
@pytest.mark.parametrize("value", ["", "X", "x" * 81])
def test_names_are_2_to_80_characters(column: str, value: str) -> None:
    assert problems(row(**{column: value})) == [(2, column)]


def test_names_of_80_characters_are_accepted() -> None:
    assert parse(row(desa="x" * 80))[0].desa == "x" * 80


@pytest.mark.parametrize(
    ("column", "value"),
    [("lat", "-11.5"), ("lat", "6.5"), ("lon", "94.5"), ("lon", "141.5"), ("lat", "+1")],
)
def test_coordinates_at_the_edges_of_indonesia_are_accepted(column: str, value: str) -> None:
    assert getattr(parse(row(**{column: value}))[0], column) == float(value)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("lat", "-11.51"),
        ("lat", "6.51"),
        ("lon", "94.49"),
        ("lon", "141.51"),
        ("lat", ""),
        ("lat", "abc"),
        ("lat", "nan"),
        ("lat", "1e0"),
        ("lon", "inf"),
        ("lon", "102.7.1"),
    ],
)
def test_coordinates_outside_indonesia_or_not_numbers_are_refused(column: str, value: str) -> None:
    assert problems(row(**{column: value})) == [(2, column)]


def test_a_decimal_comma_is_told_so() -> None:
    assert "titik desimal" in message(row(lat='"0,9812"'))


@pytest.mark.parametrize("operator", ["", "X", "x" * 31])
def test_an_operator_is_2_to_30_characters(operator: str) -> None:
    assert problems(row(operator=operator)) == [(2, "operator")]


def test_an_operator_of_30_characters_is_accepted() -> None:
    assert list(parse(row(operator="x" * 30))[0].signal) == ["x" * 30]


@pytest.mark.parametrize("technology", ["LTE", "6G", "4", "", "-"])
def test_an_operator_row_needs_2g_to_5g(technology: str) -> None:
    assert problems(row(teknologi=technology)) == [(2, "teknologi")]


@pytest.mark.parametrize("level", ["", "bagus", "tidak ada", "none"])
def test_a_level_is_one_of_the_four(level: str) -> None:
    assert problems(row(sinyal=level)) == [(2, "sinyal")]


@pytest.mark.parametrize("day", ["", "2025-02-30", "11/03/2025", "2025-3-11", "20250311"])
def test_a_survey_date_is_yyyy_mm_dd(day: str) -> None:
    assert problems(row(tanggal_survei=day)) == [(2, "tanggal_survei")]


def test_a_survey_date_may_be_today_but_not_later() -> None:
    assert parse(row(tanggal_survei=TODAY.isoformat()))[0].surveyed == TODAY
    later = (TODAY + timedelta(days=1)).isoformat()
    assert problems(row(tanggal_survei=later)) == [(2, "tanggal_survei")]


def test_an_unknown_site_is_refused() -> None:
    assert problems(row(site="kantor-bupati")) == [(2, "site")]
    assert problems(row(site="kantor-camat-alai"), config=LAB) == [(2, "site")]


def test_operator_dash_takes_no_technology_and_no_signal() -> None:
    dash = {**ALAH_AIR, "operator": "-", "teknologi": "-", "sinyal": "tidak-ada"}
    sesap = row(dash, kode_wilayah="14.10.01.2005", desa="Sesap", sinyal="lemah")
    assert problems(row(dash, teknologi="4G"), sesap) == [(2, "teknologi"), (3, "sinyal")]


def test_operator_dash_does_not_go_with_operators() -> None:
    dash = row(operator="-", teknologi="-", sinyal="tidak-ada")
    assert problems(dash, row()) == [(3, "operator")]
    assert problems(row(), dash) == [(3, "operator")]
    assert problems(dash, row(SESAP), dash) == [(4, "")]


# -- rows together ----------------------------------------------------------------------------


def test_a_village_operator_and_technology_appear_once() -> None:
    text = "\n".join([HEADER, row(), row(SESAP), row(operator="telkomsel", sinyal="lemah")])
    assert problems_of(text) == [(4, "")]
    with pytest.raises(RegisterError, match="already on line 2"):
        parse_register(text, MERANTI, TODAY)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kecamatan", "Tebing Tinggi Barat"),
        ("desa", "Alahair"),
        ("lat", "0.9813"),
        ("lon", "102.6775"),
        ("site", "taman-cik-puan"),
        ("site", ""),
    ],
)
def test_rows_of_a_village_agree_on_where_it_is(column: str, value: str) -> None:
    rows = (row(), row(SESAP), row(teknologi="2G", **{column: value}))
    assert problems(*rows) == [(4, column)]
    assert "baris 2" in message(*rows)


def test_the_same_coordinates_written_otherwise_agree() -> None:
    (village,) = parse(row(), row(teknologi="2G", lat="0.98120", lon="+102.6774"))
    assert (village.lat, village.lon) == (0.9812, 102.6774)


def test_every_problem_is_reported_at_once_by_the_line_it_starts_on() -> None:
    text = "\n".join(
        [
            HEADER,  # 1
            row(),  # 2
            "",  # 3
            row(teknologi="2G", lat="95"),  # 4
            row(SESAP, desa='"Sesap\nDarat"', sinyal="bagus"),  # 5-6
            row(SESAP, tanggal_survei="2099-01-01", site="pasar"),  # 7
            row(sinyal="lemah"),  # 8
            row(kode_wilayah="14.11.01.2001", operator="X"),  # 9
        ]
    )
    assert problems_of(text) == [
        (4, "lat"),
        (5, "sinyal"),
        (7, "tanggal_survei"),
        (7, "site"),
        (8, ""),
        (9, "kode_wilayah"),
        (9, "operator"),
    ]


def test_the_error_reads_line_by_line() -> None:
    with pytest.raises(RegisterError) as caught:
        parse(row(lat="x"), row(SESAP, sinyal="x"))
    assert caught.value.render().splitlines()[1:] == [
        "  - baris/line 2, lat: 'x' bukan angka derajat / is not a number of degrees",
        "  - baris/line 3, sinyal: 'x' bukan tingkat sinyal: tidak-ada, lemah, sedang, kuat / "
        "is not a signal level: tidak-ada, lemah, sedang, kuat",
    ]


# -- the example ------------------------------------------------------------------------------


def test_the_example_register_parses_against_the_meranti_configuration() -> None:
    villages = parse_register(EXAMPLE, MERANTI, TODAY)
    assert len(villages) == 14
    assert len({v.kecamatan for v in villages}) == 8
    sites = {s.slug for s in [*MERANTI.hotspot_sites, *MERANTI.remote_sites]}
    lab_sites = {s.slug for s in [*LAB.hotspot_sites, *LAB.remote_sites]}
    assert {v.site for v in villages} - {None} <= sites
    assert {v.site for v in villages} & lab_sites
    assert [v.desa for v in villages if not v.signal] == [
        "Bagan Melibur",
        "Bandul",
        "Tenggayun Raya",
    ]
    assert all(0.8 <= v.lat <= 1.2 and 102.2 <= v.lon <= 103.1 for v in villages)


# -- the store --------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(str(tmp_path / "simpul.db"), clock=Clock(1_750_000_000.0)) as s:
        yield s


def imports(store: Store) -> list[tuple[Any, ...]]:
    rows = store.db.execute("SELECT id, at, actor, source, villages FROM village_import")
    return [tuple(r) for r in rows]


def test_the_register_is_empty_before_the_first_import(store: Store) -> None:
    assert load_register(store) == []


def test_an_import_is_kept_recorded_and_audited(store: Store) -> None:
    villages = parse_register(EXAMPLE, MERANTI, TODAY)
    number = import_register(store, villages, "admin.kominfo", "villages-meranti.csv")
    assert load_register(store) == villages
    assert imports(store) == [
        (number, 1_750_000_000.0, "admin.kominfo", "villages-meranti.csv", 14)
    ]
    (entry,) = store.audit_log()
    assert (entry["actor"], entry["action"]) == ("admin.kominfo", "village.import")
    assert entry["detail"] == (
        f'{{"import":{number},"source":"villages-meranti.csv","villages":14}}'
    )


def test_an_import_replaces_the_whole_register(store: Store) -> None:
    import_register(store, parse_register(EXAMPLE, MERANTI, TODAY), "a", "first.csv")
    replacement = parse(row(SESAP))
    import_register(store, replacement, "b", "second.csv")
    assert load_register(store) == replacement
    assert [(r[3], r[4]) for r in imports(store)] == [("first.csv", 14), ("second.csv", 1)]


def test_a_failed_import_leaves_the_previous_register(store: Store) -> None:
    before = parse_register(EXAMPLE, MERANTI, TODAY)
    import_register(store, before, "a", "first.csv")
    (sesap,) = parse(row(SESAP))
    with pytest.raises(sqlite3.IntegrityError):
        import_register(store, [sesap, sesap], "b", "twice.csv")
    assert load_register(store) == before
    assert len(imports(store)) == 1
    assert len(store.audit_log()) == 1


def test_a_failure_after_the_import_row_rolls_it_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = parse(row())
    import_register(store, before, "a", "first.csv")

    def fail(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_audit", fail)
    with pytest.raises(sqlite3.OperationalError):
        import_register(store, parse(row(SESAP)), "b", "second.csv")
    assert load_register(store) == before
    assert len(imports(store)) == 1
