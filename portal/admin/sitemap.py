"""A map of sites drawn from their coordinates only (pure): no tiles, nothing from the internet,
a few kilobytes of SVG that a slow phone shows at once.

Equirectangular projection with longitude scaled by the cosine of the points' mean latitude (true
to scale across a regency), fitted to the points' bounding box with padding; a light graticule
with degree labels; one circle per point coloured by its state; labels placed greedily so none
overlaps another (the most urgent states first, the rest stay in each point's <title>); a legend
of the states shown. Colours are SVG presentation attributes, which the console's CSP allows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from markupsafe import Markup

from portal.admin.charts import nice_step
from portal.admin.formatting import number

State = Literal["up", "down", "maintenance", "unknown", "no-signal", "site-down"]
# Drawn in this order (later on top), labelled in the reverse: trouble first.
STATES: tuple[State, ...] = ("up", "unknown", "maintenance", "site-down", "no-signal", "down")
COLOURS: dict[State, str] = {
    "up": "#1a7f37", "down": "#b3261e", "maintenance": "#2f5fb3", "unknown": "#8a94a3",
    "no-signal": "#8e3b8e", "site-down": "#b5651d",
}  # fmt: skip
GRID, GRID_TEXT, HALO = "#e3e7ec", "#5b6676", "#ffffff"
MIN_SPAN_DEG = 0.02  # about 2 km: one site, or sites on one spot, still get a sensible frame
PAD = 0.12  # of the span, on each side
FONT = 15  # label size in viewBox units: the map is 400 wide, so about 11 px on a phone
LEGEND_FONT = 13
GRID_FONT = 11
RADIUS = 6
LABEL_CHARS = 20  # with FONT, fits beside a point in the middle of the map
CHAR_W = 0.6  # of the font size: a system sans-serif's average glyph width


Box = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True)
class MapPoint:
    """One place on the map: `detail` is added to its title; `href` makes it a link."""

    name: str
    lat: float
    lon: float
    state: State
    detail: str = ""
    href: str | None = None


@dataclass(frozen=True)
class _Frame:
    """The projection: degrees to viewBox units."""

    lon0: float
    lat1: float
    k: float  # cos(mean latitude)
    scale: float
    x_off: float
    y_off: float

    def x(self, lon: float) -> float:
        return self.x_off + (lon - self.lon0) * self.k * self.scale

    def y(self, lat: float) -> float:
        return self.y_off + (self.lat1 - lat) * self.scale

    def lon(self, x: float) -> float:
        return self.lon0 + (x - self.x_off) / (self.k * self.scale)

    def lat(self, y: float) -> float:
        return self.lat1 - (y - self.y_off) / self.scale


def _bounds(points: Sequence[MapPoint]) -> tuple[float, float, float, float, float]:
    """(west, east, south, north, k) padded, never narrower than MIN_SPAN_DEG."""
    lats, lons = [p.lat for p in points], [p.lon for p in points]
    k = math.cos(math.radians(sum(lats) / len(lats)))
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    lat_span = max(north - south, MIN_SPAN_DEG)
    lon_span = max((east - west) * k, MIN_SPAN_DEG) / k
    mid_lat, mid_lon = (south + north) / 2, (west + east) / 2
    lat_span, lon_span = lat_span * (1 + 2 * PAD), lon_span * (1 + 2 * PAD)
    return (mid_lon - lon_span / 2, mid_lon + lon_span / 2, mid_lat - lat_span / 2,
            mid_lat + lat_span / 2, k)  # fmt: skip


def _frame(points: Sequence[MapPoint], width: int) -> tuple[_Frame, int]:
    """The projection fitted to `points` and the map's height (from their shape, bounded)."""
    west, east, south, north, k = _bounds(points)
    span_x, span_y = (east - west) * k, north - south
    height = int(min(max(width * span_y / span_x, width * 0.5), width * 1.25))
    scale = min(width / span_x, height / span_y)
    x_off = (width - span_x * scale) / 2
    y_off = (height - span_y * scale) / 2
    return _Frame(west, north, k, scale, x_off, y_off), height


def _degrees(value: float, step: float, positive: str, negative: str, lang: str) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    hemisphere = positive if value >= 0 else negative
    return f"{number(abs(value), lang, decimals)}°{hemisphere}"


def _ticks(low: float, high: float) -> list[float]:
    step = nice_step(high - low, 3)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(max(0, math.floor((high - first) / step) + 1))]


def _text(x: float, y: float, body: str, anchor: str = "start", size: int = FONT,
          fill: str = "#1c2430") -> str:  # fmt: skip
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" '
            f'text-anchor="{anchor}" stroke="{HALO}" stroke-width="3" paint-order="stroke" '
            f'stroke-linejoin="round">{escape(body)}</text>')  # fmt: skip


def _graticule(frame: _Frame, width: int, height: int, lang: str) -> tuple[list[str], list[Box]]:
    """Lines every round number of degrees, their labels, and the boxes the labels take."""
    north, south = frame.lat(0), frame.lat(height)
    west, east = frame.lon(0), frame.lon(width)
    lat_step = nice_step(north - south, 3)
    lon_step = nice_step(east - west, 3)
    north_s, south_s = ("LU", "LS") if lang == "id" else ("N", "S")
    east_s, west_s = ("BT", "BB") if lang == "id" else ("E", "W")
    parts, boxes = [], []
    for lat in _ticks(south, north):
        y = frame.y(lat)
        text = _degrees(lat, lat_step, north_s, south_s, lang)
        parts.append(f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        if y - 3 - GRID_FONT >= 0:
            parts.append(_text(3, y - 3, text, size=GRID_FONT, fill=GRID_TEXT))
            boxes.append((3, y - 3 - GRID_FONT, 3 + len(text) * GRID_FONT * CHAR_W, y - 1))
    for lon in _ticks(west, east):
        x = frame.x(lon)
        text = _degrees(lon, lon_step, east_s, west_s, lang)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="{GRID}"/>')
        right = x + 3 + len(text) * GRID_FONT * CHAR_W
        if right <= width:
            parts.append(_text(x + 3, height - 4, text, size=GRID_FONT, fill=GRID_TEXT))
            boxes.append((x + 3, height - 4 - GRID_FONT, right, height))
    return parts, boxes


def _short(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1].rstrip() + "…"


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _labels(
    placed: Sequence[tuple[MapPoint, float, float]], taken: list[Box], width: int, height: int
) -> list[str]:
    """Labels right of their point, else left of it, skipping any that would leave the map or
    overlap a point, a degree label or a label already placed; trouble is placed first."""
    taken = taken + [(x - RADIUS, y - RADIUS, x + RADIUS, y + RADIUS) for _, x, y in placed]
    parts = []
    for point, x, y in sorted(placed, key=lambda item: -STATES.index(item[0].state)):
        text = _short(point.name)
        w = len(text) * FONT * CHAR_W
        top, bottom = y - FONT * 0.8, y + FONT * 0.3
        right: Box = (x + RADIUS + 3, top, x + RADIUS + 3 + w, bottom)
        left: Box = (x - RADIUS - 3 - w, top, x - RADIUS - 3, bottom)
        for box, anchor, at in ((right, "start", right[0]), (left, "end", left[2])):
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
            if inside and not any(_overlaps(box, other) for other in taken):
                taken.append(box)
                parts.append(_text(at, y + FONT * 0.35, text, anchor))
                break
    return parts


def _marker(point: MapPoint, x: float, y: float, state_label: str) -> str:
    title = f"{point.name} — {state_label}" + (f" ({point.detail})" if point.detail else "")
    circle = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS}" fill="{COLOURS[point.state]}" '
              f'stroke="{HALO}" stroke-width="1.5"/>')  # fmt: skip
    if point.href:
        return f'<a href="{escape(point.href)}"><title>{escape(title)}</title>{circle}</a>'
    return f"<g><title>{escape(title)}</title>{circle}</g>"


def _legend(states: Sequence[State], labels: Mapping[State, str], counts: Counter[State],
            y: float) -> list[str]:  # fmt: skip
    parts, x = [], 4.0
    for state in states:
        text = f"{labels[state]} ({counts[state]})"
        parts.append(f'<circle cx="{x + 6:.1f}" cy="{y:.1f}" r="5" fill="{COLOURS[state]}"/>')
        parts.append(_text(x + 15, y + 5, text, size=LEGEND_FONT))
        x += 30 + len(text) * LEGEND_FONT * CHAR_W
    return parts


def _legend_rows(states: Sequence[State], labels: Mapping[State, str], counts: Counter[State],
                 width: int) -> list[list[State]]:  # fmt: skip
    rows: list[list[State]] = [[]]
    used = 0.0
    for state in states:
        need = 30 + len(f"{labels[state]} ({counts[state]})") * LEGEND_FONT * CHAR_W
        if rows[-1] and used + need > width:
            rows.append([])
            used = 0.0
        rows[-1].append(state)
        used += need
    return rows


def site_map(
    points: Sequence[MapPoint],
    *,
    title: str,
    labels: Mapping[State, str],
    lang: str = "id",
    width: int = 400,
    empty: str = "–",
) -> Markup:
    """The points on a map, coloured by state; `labels` names each state (legend, titles)."""
    head_title = f"<title>{escape(title)}</title>"
    if not points:
        return Markup(f'<svg class="map" viewBox="0 0 {width} 80" role="img" '
                      f'aria-label="{escape(title)}">{head_title}'
                      f'{_text(width / 2, 44, empty, "middle")}</svg>')  # fmt: skip
    frame, map_h = _frame(points, width)
    counts = Counter(p.state for p in points)
    shown = [s for s in STATES if counts[s]]
    legend_rows = _legend_rows(shown, labels, counts, width)
    height = map_h + 22 * len(legend_rows) + 8
    placed = [(p, frame.x(p.lon), frame.y(p.lat)) for p in points]
    grid, grid_labels = _graticule(frame, width, map_h, lang)
    desc = "; ".join(f"{labels[s]}: {counts[s]}" for s in reversed(shown))
    parts = [
        f'<svg class="map" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">{head_title}<desc>{escape(desc)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{map_h}" fill="#f8fafc" stroke="{GRID}"/>',
        *grid,
    ]
    for point, x, y in sorted(placed, key=lambda item: STATES.index(item[0].state)):
        parts.append(_marker(point, x, y, labels[point.state]))
    parts += _labels(placed, grid_labels, width, map_h)
    for index, row in enumerate(legend_rows):
        parts += _legend(row, labels, counts, map_h + 14 + 22 * index)
    parts.append("</svg>")
    return Markup("".join(parts))
