"""The village register: which mobile operators reach each desa, from Diskominfo's signal survey,
kept for the blind-spot report to the operator.

`parse_register` decides whether a survey CSV is acceptable (pure: every problem at once, each by
line and column, Bahasa Indonesia first and English after " / "); `monitoring.reports.register`
keeps the register in the store, each import replacing the whole register.

The CSV has one row per village × operator × technology; a village no operator reaches has one
row with operator "-" and sinyal "tidak-ada".
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeVar

from simpul.config import Config

Technology = Literal["2G", "3G", "4G", "5G"]
Level = Literal["tidak-ada", "lemah", "sedang", "kuat"]
TECHNOLOGIES: tuple[Technology, ...] = ("2G", "3G", "4G", "5G")
LEVELS: tuple[Level, ...] = ("tidak-ada", "lemah", "sedang", "kuat")  # weakest first
NO_OPERATOR = "-"
COLUMNS = (
    "kode_wilayah", "kecamatan", "desa", "lat", "lon", "operator", "teknologi", "sinyal",
    "tanggal_survei", "site",
)  # fmt: skip
OPTIONAL_COLUMNS = frozenset({"site"})

# A Kemendagri village code: province.regency.kecamatan.village (1xxx kelurahan, 2xxx desa).
_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.[12]\d{3}$")
_DEGREES = re.compile(r"^[+-]?\d{1,3}(?:\.\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BOUNDS = {"lat": (-11.5, 6.5), "lon": (94.5, 141.5)}
_SAME_FOR_A_VILLAGE = ("kecamatan", "desa", "lat", "lon", "site")

T = TypeVar("T")


@dataclass(frozen=True)
class Village:
    """A desa (or kelurahan) and its survey: the signal level per operator and technology (empty:
    no operator at all), the latest survey date, and the node's site serving it, if any."""

    code: str
    kecamatan: str
    desa: str
    lat: float
    lon: float
    signal: dict[str, dict[Technology, Level]]
    surveyed: date
    site: str | None = None


@dataclass(frozen=True)
class RegisterProblem:
    """One thing wrong with a register file: its line (1 is the header), the column ("" for the
    whole row or file) and why, in Bahasa Indonesia / English."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f", {self.column}" if self.column else ""
        return f"baris/line {self.line}{where}: {self.message}"


class RegisterError(Exception):
    """The register file is refused; `problems` lists every reason found, by line."""

    def __init__(self, problems: list[RegisterProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def render(self) -> str:
        """A multi-line report for a person."""
        head = f"{len(self.problems)} masalah di daftar desa / problem(s) in the village register:"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class _Refused(Exception):
    """A cell's value is refused; the message says why."""


@dataclass(frozen=True)
class _Row:
    line: int
    code: str
    kecamatan: str
    desa: str
    lat: float
    lon: float
    operator: str
    technology: Technology | Literal["-"]
    level: Level
    surveyed: date
    site: str | None


def _name(value: str) -> str:
    if not 2 <= len(value) <= 80:
        raise _Refused("harus 2-80 huruf / must be 2-80 characters")
    return value


def _code_check(region: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not _CODE.match(value):
            raise _Refused(
                f"{value!r} bukan kode desa Kemendagri seperti '14.10.01.2001' / "
                "is not a Kemendagri village code such as '14.10.01.2001'"
            )
        if not value.startswith(region + "."):
            raise _Refused(f"{value!r} di luar wilayah {region} / is outside region {region}")
        return value

    return check


def _degrees_check(column: str) -> Callable[[str], float]:
    low, high = _BOUNDS[column]

    def check(value: str) -> float:
        if not _DEGREES.match(value):
            if _DEGREES.match(value.replace(",", ".", 1)):
                raise _Refused(
                    f"{value!r}: pakai titik desimal, bukan koma / use a decimal point, not a comma"
                )
            raise _Refused(f"{value!r} bukan angka derajat / is not a number of degrees")
        number = float(value)
        if not low <= number <= high:
            raise _Refused(
                f"{value} di luar Indonesia ({low} sampai {high}) / "
                f"is outside Indonesia ({low} to {high})"
            )
        return number

    return check


def _operator(value: str) -> str:
    if value != NO_OPERATOR and not 2 <= len(value) <= 30:
        raise _Refused(
            "nama operator 2-30 huruf, atau '-' untuk tidak ada operator / "
            "an operator's name is 2-30 characters, or '-' for no operator"
        )
    return value


def _technology(value: str) -> Technology | Literal["-"]:
    if value in ("", NO_OPERATOR):
        return NO_OPERATOR
    for technology in TECHNOLOGIES:
        if value.upper() == technology:
            return technology
    raise _Refused(f"{value!r} bukan 2G, 3G, 4G atau 5G / is not 2G, 3G, 4G or 5G")


def _level(value: str) -> Level:
    for level in LEVELS:
        if value.lower() == level:
            return level
    raise _Refused(
        f"{value!r} bukan tingkat sinyal: {', '.join(LEVELS)} / "
        f"is not a signal level: {', '.join(LEVELS)}"
    )


def _date_check(today: date) -> Callable[[str], date]:
    def check(value: str) -> date:
        if not _DATE.match(value):
            raise _Refused(f"{value!r} bukan tanggal TTTT-BB-HH / is not a date YYYY-MM-DD")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise _Refused(f"tanggal {value} tidak ada / there is no date {value}") from None
        if day > today:
            raise _Refused(
                f"{value} di masa depan (hari ini {today}) / is in the future (today is {today})"
            )
        return day

    return check


def _site_check(slugs: frozenset[str]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value == "":
            return None
        if value not in slugs:
            raise _Refused(
                f"{value!r} bukan site di konfigurasi (hotspot atau kantor kecamatan) / "
                "is not a hotspot or remote site of the configuration"
            )
        return value

    return check


def _header(cells: list[str]) -> tuple[dict[str, int], list[RegisterProblem]]:
    """The position of each known column, and what is wrong with the header row."""
    problems = []
    index: dict[str, int] = {}
    for position, cell in enumerate(cells):
        name = cell.strip().lower()
        if name not in COLUMNS:
            problems.append(
                RegisterProblem(
                    1,
                    name,
                    f"kolom tidak dikenal; kolomnya: {', '.join(COLUMNS)} / "
                    f"unknown column; the columns are: {', '.join(COLUMNS)}",
                )
            )
        elif name in index:
            problems.append(
                RegisterProblem(1, name, "kolom muncul dua kali / column appears twice")
            )
        else:
            index[name] = position
    for name in COLUMNS:
        if name not in index and name not in OPTIONAL_COLUMNS:
            problems.append(RegisterProblem(1, name, "kolom tidak ada / column missing"))
    return index, problems


@dataclass(frozen=True)
class _Checks:
    """The checks of the cells that depend on the configuration or the date."""

    code: Callable[[str], str]
    lat: Callable[[str], float]
    lon: Callable[[str], float]
    surveyed: Callable[[str], date]
    site: Callable[[str], str | None]


def _row(
    line: int,
    cells: list[str],
    index: dict[str, int],
    checks: _Checks,
    problems: list[RegisterProblem],
) -> _Row | None:
    """One data row, or None when it is refused (its problems are added to `problems`)."""
    found: list[RegisterProblem] = []

    def take(column: str, check: Callable[[str], T], *, required: bool = True) -> T | None:
        position = index.get(column)
        if position is None:
            return None
        value = cells[position].strip()
        if required and not value:
            found.append(RegisterProblem(line, column, "wajib diisi / required"))
            return None
        try:
            return check(value)
        except _Refused as refused:
            found.append(RegisterProblem(line, column, str(refused)))
            return None

    code = take("kode_wilayah", checks.code)
    kecamatan = take("kecamatan", _name)
    desa = take("desa", _name)
    lat = take("lat", checks.lat)
    lon = take("lon", checks.lon)
    operator = take("operator", _operator)
    technology = take("teknologi", _technology, required=False)
    level = take("sinyal", _level)
    surveyed = take("tanggal_survei", checks.surveyed)
    site = take("site", checks.site, required=False)
    if operator == NO_OPERATOR:
        if technology not in (None, NO_OPERATOR):
            found.append(
                RegisterProblem(
                    line,
                    "teknologi",
                    "operator '-' (tidak ada operator) ditulis dengan teknologi '-' atau kosong / "
                    "operator '-' (no operator) takes technology '-' or nothing",
                )
            )
        if level not in (None, "tidak-ada"):
            found.append(
                RegisterProblem(
                    line,
                    "sinyal",
                    "operator '-' (tidak ada operator) hanya dengan sinyal tidak-ada / "
                    "operator '-' (no operator) only goes with sinyal tidak-ada",
                )
            )
    elif operator is not None and technology == NO_OPERATOR:
        found.append(
            RegisterProblem(
                line,
                "teknologi",
                "wajib diisi untuk operator: 2G, 3G, 4G atau 5G / "
                "required for an operator: 2G, 3G, 4G or 5G",
            )
        )
    problems.extend(found)
    fields = (code, kecamatan, desa, lat, lon, operator, technology, level, surveyed)
    if found or any(value is None for value in fields):
        return None
    return _Row(line, code, kecamatan, desa, lat, lon, operator, technology, level, surveyed, site)


def _villages(rows: list[_Row], problems: list[RegisterProblem]) -> list[Village]:
    """Rows grouped into villages, refusing rows that repeat or contradict earlier ones."""
    groups: dict[str, list[_Row]] = {}
    lines: dict[tuple[str, str, str], int] = {}
    for row in rows:
        group = groups.setdefault(row.code, [])
        if group:
            head = group[0]
            for column in _SAME_FOR_A_VILLAGE:
                theirs = getattr(head, column)
                if getattr(row, column) != theirs:
                    shown = NO_OPERATOR if theirs is None else theirs
                    problems.append(
                        RegisterProblem(
                            row.line,
                            column,
                            f"berbeda dengan baris {head.line} ({shown}) / "
                            f"differs from line {head.line} ({shown})",
                        )
                    )
            no_operator = row.operator == NO_OPERATOR
            other = next((r for r in group if (r.operator == NO_OPERATOR) != no_operator), None)
            if other is not None:
                problems.append(
                    RegisterProblem(
                        row.line,
                        "operator",
                        "operator '-' (tidak ada operator) tidak bisa bersama operator lain di "
                        f"satu desa (lihat baris {other.line}) / operator '-' (no operator) "
                        f"cannot go with other operators in one village (see line {other.line})",
                    )
                )
        key = (row.code, row.operator.casefold(), row.technology)
        if key in lines:
            problems.append(
                RegisterProblem(
                    row.line,
                    "",
                    f"desa, operator dan teknologi ini sudah ada di baris {lines[key]} / "
                    f"this village, operator and technology are already on line {lines[key]}",
                )
            )
        lines.setdefault(key, row.line)
        group.append(row)
    villages = []
    for code, group in sorted(groups.items()):
        head = group[0]
        names: dict[str, str] = {}  # an operator's first spelling in the village, by casefold
        signal: dict[str, dict[Technology, Level]] = {}
        for row in group:
            if row.technology == NO_OPERATOR:
                continue
            name = names.setdefault(row.operator.casefold(), row.operator)
            signal.setdefault(name, {})[row.technology] = row.level
        surveyed = max(row.surveyed for row in group)
        villages.append(
            Village(
                code, head.kecamatan, head.desa, head.lat, head.lon, signal, surveyed, head.site
            )
        )
    return villages


def parse_register(text: str, config: Config, today: date) -> list[Village]:
    """The villages of a survey CSV (UTF-8 text, comma separated, header first), by code.

    Village codes must lie in the node's region, sites must be the configuration's hotspot or
    remote sites, and survey dates must not be after `today`. Raises `RegisterError` with every
    problem found, each by line (a row's first line) and column.
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise RegisterError([RegisterProblem(1, "", "berkas kosong / the file is empty")])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[RegisterProblem] = []
    rows: list[_Row] = []
    try:
        header = next(reader)
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            raise RegisterError(
                [
                    RegisterProblem(
                        1,
                        "",
                        "kolom harus dipisah koma, bukan titik koma atau tab / "
                        "columns must be separated by commas, not semicolons or tabs",
                    )
                ]
            )
        index, problems = _header(header)
        slugs = frozenset(s.slug for s in [*config.hotspot_sites, *config.remote_sites])
        checks = _Checks(
            code=_code_check(config.node.region_code),
            lat=_degrees_check("lat"),
            lon=_degrees_check("lon"),
            surveyed=_date_check(today),
            site=_site_check(slugs),
        )
        data_rows = 0
        line = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                data_rows += 1
                if len(cells) != len(header):
                    problems.append(
                        RegisterProblem(
                            line,
                            "",
                            f"baris ini punya {len(cells)} kolom, kepala {len(header)} / "
                            f"this row has {len(cells)} columns, the header {len(header)}",
                        )
                    )
                else:
                    row = _row(line, cells, index, checks, problems)
                    if row is not None:
                        rows.append(row)
            line = reader.line_num + 1
    except csv.Error as error:
        problems.append(
            RegisterProblem(reader.line_num, "", f"CSV rusak: {error} / broken CSV: {error}")
        )
    else:
        if data_rows == 0:
            problems.append(
                RegisterProblem(1, "", "tidak ada baris desa / there are no village rows")
            )
    villages = _villages(rows, problems)
    if problems:
        raise RegisterError(sorted(problems, key=lambda p: p.line))
    return villages
