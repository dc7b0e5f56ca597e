"""Server-drawn SVG charts (portal.admin.charts, pure): round axis steps, empty charts, escaping of
every text a chart shows, and shapes that stay inside the picture."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree

import pytest
from markupsafe import Markup

from portal.admin.charts import PALETTE, Series, bar_chart, line_chart, nice_step

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script> & "quotes"'


def parse(svg: Markup) -> ElementTree.Element:
    """The chart as XML (it must be well-formed: an unescaped label would break it)."""
    return ElementTree.fromstring(str(svg).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def texts(svg: Markup) -> list[str]:
    return [t.text or "" for t in parse(svg).iter(f"{SVG}text")]


def number(value: float) -> str:
    return f"{value:g}"


@pytest.mark.parametrize(
    ("span", "ticks", "step"),
    [
        (0, 4, 1.0),
        (-5, 4, 1.0),
        (1, 4, 0.5),
        (4, 4, 1),
        (4.4, 4, 2),
        (7, 4, 2),
        (10, 4, 5),
        (20, 4, 5),
        (21, 4, 10),
        (40, 4, 10),
        (41, 4, 20),
        (100, 4, 50),
        (1000, 4, 500),
        (0.3, 4, 0.1),
        (0.04, 4, 0.01),
        (3e9, 4, 1e9),
        (123_456_789, 4, 5e7),
        (100, 10, 10),
        (100, 3, 50),
    ],
)
def test_nice_step(span: float, ticks: int, step: float) -> None:
    assert nice_step(span, ticks) == pytest.approx(step)


@pytest.mark.parametrize("span", [0.007, 0.9, 3, 17, 99, 101, 5555, 8e8, 1.2e12])
def test_nice_steps_are_one_two_or_five_and_cut_two_to_four_parts(span: float) -> None:
    step = nice_step(span)
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert round(mantissa, 9) in (1, 2, 5)
    assert 1.6 - 1e-9 <= span / step <= 4 + 1e-9  # the next round step is at most 2.5 times


def test_an_empty_line_chart_says_so() -> None:
    for series in ([], [Series("a", [])], [Series("a", []), Series("b", [])]):
        svg = line_chart(series, title="Lalu lintas", y_format=number, x_format=number,
                         empty="Belum ada data")  # fmt: skip
        assert isinstance(svg, Markup)
        assert texts(svg) == ["Belum ada data"]
        assert "<polyline" not in svg and parse(svg).find(f"{SVG}title").text == "Lalu lintas"


def test_an_empty_bar_chart_says_so() -> None:
    svg = bar_chart([], title="OPD", value_format=number)
    assert texts(svg) == ["–"] and "<rect" not in svg


def test_every_text_is_escaped_in_a_line_chart() -> None:
    series = [Series(EVIL, [(0, 1), (10, 5)]), Series("b&b", [(0, 2), (10, 3)])]
    svg = line_chart(series, title=EVIL, y_format=lambda y: f"<{y:g}>",
                     x_format=lambda x: f"t{x:g}&")  # fmt: skip
    assert "<script" not in svg and "alert(&quot;x&quot;)" in svg
    root = parse(svg)
    assert root.get("aria-label") == EVIL
    assert root.find(f"{SVG}title").text == EVIL  # type: ignore[union-attr]
    assert EVIL in texts(svg) and "b&b" in texts(svg)  # the legend
    assert "<0>" in texts(svg) and "t0&" in texts(svg)
    desc = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert f"{EVIL}: 2 titik, puncak <5> pada t10&" in desc  # type: ignore[operator]


def test_every_text_is_escaped_in_a_bar_chart() -> None:
    svg = bar_chart([(EVIL, 3.0), ("Dinas <Kesehatan>", 1.0)], title=EVIL,
                    value_format=lambda v: f"{v:g} <GB>")  # fmt: skip
    assert "<script" not in svg and "<Kesehatan>" not in svg
    assert texts(svg) == [EVIL, "3 <GB>", "Dinas <Kesehatan>", "1 <GB>"]
    assert parse(svg).get("aria-label") == EVIL
    desc = parse(svg).find(f"{SVG}desc").text
    assert desc == f"{EVIL}: 3 <GB>; Dinas <Kesehatan>: 1 <GB>"


def polyline_points(svg: Markup) -> list[list[tuple[float, float]]]:
    lines = []
    for line in parse(svg).iter(f"{SVG}polyline"):
        pairs = (pair.split(",") for pair in (line.get("points") or "").split())
        lines.append([(float(x), float(y)) for x, y in pairs])
    return lines


def test_a_line_chart_fits_its_box_and_starts_y_at_zero() -> None:
    series = [Series("masuk", [(1000, 0), (1060, 40), (1120, 95)]),
              Series("keluar", [(1000, 10), (1120, 5)])]  # fmt: skip
    svg = line_chart(series, title="t", y_format=number, x_format=number, width=400, height=200)
    lines = polyline_points(svg)
    assert [len(points) for points in lines] == [3, 2]
    for points in lines:
        assert all(0 <= x <= 400 and 0 <= y <= 200 for x, y in points)
    first = lines[0]
    assert first[0][0] < first[1][0] < first[2][0]  # x in order, left to right
    assert first[0][1] > first[2][1]  # a higher value is drawn higher
    # y axis: 0, 50, 100 (a round step above the peak of 95)
    labels = [t for t in texts(svg) if t in {"0", "50", "100", "150"}]
    assert labels[:3] == ["0", "50", "100"] and "150" not in labels
    assert 'stroke="' + PALETTE[0] in svg and 'stroke="' + PALETTE[1] in svg
    assert texts(svg)[-2:] == ["masuk", "keluar"]  # a legend for two lines


def test_one_line_has_no_legend() -> None:
    svg = line_chart([Series("masuk", [(0, 1), (1, 2)])], title="t", y_format=number,
                     x_format=number)  # fmt: skip
    assert "masuk" not in texts(svg) and "<rect" not in svg


@pytest.mark.parametrize(
    "points",
    [[(5, 3)], [(5, 0), (5, 0)], [(0, 0), (10, 0)], [(0, 1e-9), (1, 2e-9)], [(0, 5e12)]],
)
def test_degenerate_line_charts_still_draw(points: list[tuple[float, float]]) -> None:
    svg = line_chart([Series("a", points)], title="t", y_format=number, x_format=number)
    (drawn,) = polyline_points(svg)
    assert len(drawn) == len(points)
    assert all(0 <= x <= 640 and 0 <= y <= 220 for x, y in drawn)


def test_bars_are_proportional() -> None:
    svg = bar_chart([("a", 200.0), ("b", 100.0), ("c", 0.0)], title="t", value_format=number,
                    width=590)  # fmt: skip
    widths = [float(r.get("width") or 0) for r in parse(svg).iter(f"{SVG}rect")]
    assert widths == [500.0, 250.0, 1.0]  # the largest fills the row; nothing is still seen
    assert parse(svg).get("viewBox") == f"0 0 590 {34 * 3 + 4}"


def test_bars_of_nothing() -> None:
    svg = bar_chart([("a", 0.0), ("b", 0.0)], title="t", value_format=number)
    widths = [float(r.get("width") or 0) for r in parse(svg).iter(f"{SVG}rect")]
    assert widths == [1.0, 1.0]


def test_charts_carry_no_inline_style_or_script() -> None:
    svg = str(line_chart([Series("a", [(0, 1), (1, 2)]), Series("b", [(0, 2), (1, 1)])],
                         title="t", y_format=number, x_format=number))  # fmt: skip
    svg += str(bar_chart([("a", 1.0)], title="t", value_format=number))
    assert "style=" not in svg and "<script" not in svg and "<style" not in svg
    assert not re.search(r"\son\w+=", svg)
