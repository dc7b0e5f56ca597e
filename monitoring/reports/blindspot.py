"""Blind spots: the villages of the register to tell the operator (Telkom) about, because no
operator's signal reaches them, or because the node's site serving them was down too long in the
period; and the rows of the export sent to the operator.

Pure: the caller brings the register and each site's seconds down in the period (from the
monitor's outage ledger). Reasons are Bahasa Indonesia first and English after " / ".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitoring.reports.villages import LEVELS, TECHNOLOGIES, Level, Village

OPERATOR_COLUMNS = (
    "kode_wilayah", "kecamatan", "desa", "lat", "lon", "masalah", "sinyal_terbaik", "site",
    "downtime_jam",
)  # fmt: skip


@dataclass(frozen=True)
class BlindSpot:
    """A village to report and why: `reasons` holds one text per rule it fails. `best_on` is the
    (operator, technology) of the best signal, None when the best is tidak-ada; `downtime_s` is
    its site's seconds down in the period, None when no site serves it."""

    village: Village
    no_signal: bool
    site_down: bool
    reasons: tuple[str, ...]
    best_signal: Level
    best_on: tuple[str, str] | None
    downtime_s: float | None

    @property
    def site(self) -> str | None:
        """The slug of the node's site serving the village, if any."""
        return self.village.site


def best_signal(village: Village) -> tuple[Level, tuple[str, str] | None]:
    """The strongest level surveyed in `village` and where: (operator, technology), the newer
    technology and then the operator first in alphabetical order winning ties; None when the
    best is tidak-ada."""
    found = [
        (operator, technology, level)
        for operator in sorted(village.signal)
        for technology, level in village.signal[operator].items()
    ]
    if not found:
        return "tidak-ada", None
    operator, technology, level = max(
        found, key=lambda f: (LEVELS.index(f[2]), TECHNOLOGIES.index(f[1]))
    )
    return level, (None if level == "tidak-ada" else (operator, technology))


def _num(value: float, comma: bool) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if comma else text


def _no_signal_reason(village: Village) -> str:
    day = village.surveyed.isoformat()
    if not village.signal:
        return f"tidak ada operator seluler (survei {day}) / no mobile operator (surveyed {day})"
    operators = ", ".join(sorted(village.signal))
    return (
        f"tidak ada sinyal seluler dari {operators} (survei {day}) / "
        f"no mobile signal from {operators} (surveyed {day})"
    )


def _site_down_reason(site: str, downtime_s: float, period_s: float, threshold: float) -> str:
    hours, percent = downtime_s / 3600, downtime_s * 100 / period_s
    return (
        f"site {site} mati {_num(hours, True)} jam, {_num(percent, True)}% periode "
        f"(batas {_num(threshold, True)}%) / site {site} down {_num(hours, False)} h, "
        f"{_num(percent, False)}% of the period (limit {_num(threshold, False)}%)"
    )


def blind_spots(
    villages: Iterable[Village],
    outages_by_site: Mapping[str, float],
    period_s: float,
    threshold_percent: float,
) -> list[BlindSpot]:
    """The villages no operator reaches with at least a weak (lemah) signal on any technology,
    and those whose site was down more than `threshold_percent` of `period_s` seconds
    (`outages_by_site`: seconds down per site slug; a site it does not name was not down), by
    kecamatan and desa."""
    if period_s <= 0:
        raise ValueError(f"the period must be longer than 0 s, got {period_s}")
    if not 0 <= threshold_percent <= 100:
        raise ValueError(f"the threshold is a percentage (0-100), got {threshold_percent}")
    spots = []
    for village in villages:
        level, where = best_signal(village)
        no_signal = level == "tidak-ada"
        reasons = [_no_signal_reason(village)] if no_signal else []
        downtime: float | None = None
        site_down = False
        if village.site is not None:
            downtime = outages_by_site.get(village.site, 0.0)
            # Compared without dividing, so a downtime of exactly the threshold is not above it.
            site_down = downtime * 100 > threshold_percent * period_s
            if site_down:
                reasons.append(
                    _site_down_reason(village.site, downtime, period_s, threshold_percent)
                )
        if reasons:
            spots.append(
                BlindSpot(village, no_signal, site_down, tuple(reasons), level, where, downtime)
            )
    return sorted(
        spots,
        key=lambda s: (s.village.kecamatan.casefold(), s.village.desa.casefold(), s.village.code),
    )


def operator_rows(spots: Iterable[BlindSpot]) -> list[dict[str, str]]:
    """One row per blind spot for the export to the operator, keyed by `OPERATOR_COLUMNS`
    (decimal points; downtime in hours, empty without a site)."""
    rows = []
    for spot in spots:
        village = spot.village
        best: str = spot.best_signal
        if spot.best_on is not None:
            best += f" ({spot.best_on[0]} {spot.best_on[1]})"
        rows.append(
            {
                "kode_wilayah": village.code,
                "kecamatan": village.kecamatan,
                "desa": village.desa,
                "lat": str(village.lat),
                "lon": str(village.lon),
                "masalah": "; ".join(spot.reasons),
                "sinyal_terbaik": best,
                "site": village.site or "",
                "downtime_jam": "" if spot.downtime_s is None else f"{spot.downtime_s / 3600:.2f}",
            }
        )
    return rows
