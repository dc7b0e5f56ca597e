"""Charts as inline SVG, drawn on the server (pure): no script, no font or library from the
internet, a few kilobytes on a slow phone, and readable by screen readers (title and desc).

Colours are SVG presentation attributes, which the console's CSP (no inline styles) allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

PALETTE = ("#0b6e4f", "#2f5fb3", "#b5651d", "#8e3b8e", "#b3261e", "#4f6d7a")
GRID, AXIS_TEXT = "#d9dee5", "#5b6676"


@dataclass(frozen=True)
class Series:
    """One line: (x, y) points in x order (x is usually seconds since the epoch)."""

    label: str
    points: Sequence[tuple[float, float]]


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 × 10^n) that cuts `span` into about `ticks` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _text(x: float, y: float, body: str, anchor: str = "middle") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" fill="{AXIS_TEXT}" '
            f'text-anchor="{anchor}">{escape(body)}</text>')  # fmt: skip


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_format: Callable[[float], str],
    x_format: Callable[[float], str],
    width: int = 640,
    height: int = 220,
    empty: str = "–",
) -> Markup:
    """Lines over a shared x axis, y from zero, with a legend when there is more than one."""
    points = [p for s in series for p in s.points]
    left, right, top, bottom = 72, 8, 10, 24 + (16 if len(series) > 1 else 0)
    head = (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>')  # fmt: skip
    if not points:
        return Markup(head + _text(width / 2, height / 2, empty) + "</svg>")
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    if x1 == x0:
        x1 = x0 + 1
    step = nice_step(max(p[1] for p in points) or 1.0)
    y_top = step * max(1, math.ceil(max(p[1] for p in points) / step))
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - y / y_top * plot_h

    parts = [head]
    tick = 0.0
    while tick <= y_top + step / 2:
        y = sy(tick)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')  # fmt: skip
        parts.append(_text(left - 4, y + 4, y_format(tick), "end"))
        tick += step
    for i in range(5):
        x = x0 + (x1 - x0) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(_text(sx(x), top + plot_h + 14, x_format(x), anchor))
    desc = []
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'stroke-linejoin="round" points="{path}"/>')  # fmt: skip
        if s.points:
            peak = max(s.points, key=lambda p: p[1])
            desc.append(f"{s.label}: {len(s.points)} titik, puncak {y_format(peak[1])} "
                        f"pada {x_format(peak[0])}")  # fmt: skip
    if len(series) > 1:
        x = left
        for index, s in enumerate(series):
            colour = PALETTE[index % len(PALETTE)]
            parts.append(f'<rect x="{x}" y="{height - 12}" width="10" height="10" '
                         f'fill="{colour}"/>')  # fmt: skip
            parts.append(_text(x + 14, height - 3, s.label, "start"))
            x += 24 + 7 * len(s.label)
    parts.append(f"<desc>{escape('; '.join(desc))}</desc></svg>")
    return Markup("".join(parts))


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    value_format: Callable[[float], str],
    width: int = 640,
    empty: str = "–",
) -> Markup:
    """Horizontal bars (label, value), largest first as given: long labels fit on a phone."""
    row, label_h = 34, 13
    height = max(40, row * len(bars) + 4)
    head = (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>')  # fmt: skip
    if not bars:
        return Markup(head + _text(width / 2, 24, empty) + "</svg>")
    top_value = max(v for _, v in bars) or 1.0
    parts = [head]
    for index, (label, value) in enumerate(bars):
        y = index * row + 2
        bar_w = max(1.0, value / top_value * (width - 90))
        parts.append(_text(0, y + label_h - 2, label, "start"))
        parts.append(f'<rect x="0" y="{y + label_h + 1}" width="{bar_w:.1f}" height="14" '
                     f'rx="2" fill="{PALETTE[0]}"/>')  # fmt: skip
        parts.append(_text(bar_w + 4, y + label_h + 12, value_format(value), "start"))
    desc = "; ".join(f"{label}: {value_format(value)}" for label, value in bars)
    parts.append(f"<desc>{escape(desc)}</desc></svg>")
    return Markup("".join(parts))
