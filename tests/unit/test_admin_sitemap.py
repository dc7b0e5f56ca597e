"""The console's offline site map (pure): projection, fitting, labels, legend, escaping."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from portal.admin.sitemap import COLOURS, MapPoint, State, site_map

SVG = "{http://www.w3.org/2000/svg}"
LABELS: dict[State, str] = {
    "up": "Tersambung", "down": "Putus", "maintenance": "Pemeliharaan",
    "unknown": "Tidak diketahui", "no-signal": "Desa tanpa sinyal",
    "site-down": "Desa dengan site sering mati",
}  # fmt: skip


def draw(points: list[MapPoint], **kw: object) -> ET.Element:
    svg = site_map(points, title="Peta lokasi", labels=LABELS, **kw)  # type: ignore[arg-type]
    assert isinstance(svg, Markup)
    return ET.fromstring(str(svg).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def view_box(root: ET.Element) -> tuple[float, float]:
    _x, _y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    return width, height


def markers(root: ET.Element) -> list[tuple[str, float, float, str]]:
    """(title, cx, cy, fill) of every point (the legend's circles have no title)."""
    out = []
    for group in root:
        title = group.find(f"{SVG}title")
        circle = group.find(f"{SVG}circle")
        if title is not None and circle is not None:
            out.append((title.text or "", float(circle.attrib["cx"]),
                        float(circle.attrib["cy"]), circle.attrib["fill"]))  # fmt: skip
    return out


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_each_point_is_a_circle_of_its_state_with_its_name_and_state_in_its_title() -> None:
    root = draw([MapPoint("Kantor Camat Merbau", 1.13, 102.45, "down", "V-Sat"),
                 MapPoint("RTM LAM", 1.0096, 102.7166, "up")])  # fmt: skip
    drawn = {title: fill for title, _x, _y, fill in markers(root)}
    assert drawn == {"Kantor Camat Merbau — Putus (V-Sat)": COLOURS["down"],
                     "RTM LAM — Tersambung": COLOURS["up"]}  # fmt: skip
    assert root.find(f"{SVG}title").text == "Peta lokasi"  # type: ignore[union-attr]
    assert root.attrib["role"] == "img" and root.attrib["aria-label"] == "Peta lokasi"
    assert root.find(f"{SVG}desc").text == "Putus: 1; Tersambung: 1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "points",
    [
        [MapPoint("Satu-satunya", 1.0, 102.7, "up")],
        [MapPoint(f"Titik {n}", 1.0, 102.7, "unknown") for n in range(5)],
    ],
    ids=["one site", "all on one spot"],
)
def test_one_site_or_sites_on_one_spot_still_draw_inside_the_map(points: list[MapPoint]) -> None:
    root = draw(points)
    width, height = view_box(root)
    for _title, x, y, _fill in markers(root):
        assert math.isfinite(x) and math.isfinite(y)
        assert 0 < x < width and 0 < y < height
    assert len(markers(root)) == len(points)
    assert any("°LU" in t for t in texts(root)) and any("°BT" in t for t in texts(root))


def test_points_fit_the_map_with_padding_and_keep_their_shape() -> None:
    # At 60° north a degree of longitude is half a degree of latitude on the ground.
    points = [MapPoint("barat", 60.0, 10.0, "up"), MapPoint("timur", 60.0, 11.0, "up"),
              MapPoint("utara", 60.5, 10.0, "up")]  # fmt: skip
    root = draw(points)
    width, _height = view_box(root)
    at = {title.split(" — ")[0]: (x, y) for title, x, y, _fill in markers(root)}
    east_west = at["timur"][0] - at["barat"][0]
    north_south = at["barat"][1] - at["utara"][1]
    assert east_west > 0 and north_south > 0  # east is right, north is up
    # 1° of longitude ≈ 0.5° of latitude at 60° (cos(mean latitude ≈ 60.17°) ≈ 0.497)
    assert east_west == pytest.approx(2 * north_south * math.cos(math.radians(60.1667)), rel=0.01)
    assert at["barat"][0] > 0.05 * width and at["timur"][0] < 0.95 * width


def test_labels_never_overlap_but_every_point_is_drawn() -> None:
    crowd = [MapPoint(f"Desa {n:02d}", 1.0 + n * 1e-4, 102.7, "no-signal") for n in range(30)]
    root = draw(crowd)
    assert len(markers(root)) == 30
    labels = [t for t in texts(root) if t.startswith("Desa ") and "(" not in t]
    assert 1 <= len(labels) < 30


def test_trouble_is_labelled_before_the_rest() -> None:
    points = [MapPoint("Baik", 1.0, 102.7, "up"), MapPoint("Bagus", 1.0, 102.7, "up"),
              MapPoint("Rusak", 1.0, 102.7, "down")]  # fmt: skip
    labels = [t for t in texts(draw(points)) if t in ("Baik", "Bagus", "Rusak")]
    assert labels == ["Rusak", "Baik"]  # one each side of the spot; no room for a third


def test_long_names_are_shortened_on_the_map_but_whole_in_the_title() -> None:
    name = "Kantor Camat Rangsang Pesisir Selatan Jauh"
    root = draw([MapPoint(name, 1.0, 102.7, "up")])
    assert markers(root)[0][0].startswith(name)
    assert any(t.endswith("…") and len(t) <= 20 for t in texts(root))


def test_the_legend_names_the_states_shown_with_their_counts() -> None:
    root = draw([MapPoint("a", 1.0, 102.7, "up"), MapPoint("b", 1.1, 102.8, "up"),
                 MapPoint("c", 1.2, 102.9, "maintenance")])  # fmt: skip
    legend = [t for t in texts(root) if re.search(r"\(\d+\)$", t)]
    assert legend == ["Tersambung (2)", "Pemeliharaan (1)"]


def test_degree_labels_follow_the_hemisphere_and_the_language() -> None:
    south = [MapPoint("a", -8.5, 115.1, "up"), MapPoint("b", -8.2, 115.4, "up")]
    assert any(t.endswith("°LS") for t in texts(draw(south)))
    english = texts(draw(south, lang="en"))
    assert any(t.endswith("°S") for t in english) and any(t.endswith("°E") for t in english)


def test_text_is_escaped_and_links_are_links() -> None:
    evil = 'Desa <script>alert("x")</script> & co'
    svg = str(site_map([MapPoint(evil, 1.0, 102.7, "up", href="/x?a=1&b=<2>")],
                       title="<b>Peta</b>", labels=LABELS))  # fmt: skip
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&amp; co" in svg
    root = draw([MapPoint(evil, 1.0, 102.7, "up", href="/x?a=1&b=<2>")])
    link = root.find(f"{SVG}a")
    assert link is not None and link.attrib["href"] == "/x?a=1&b=<2>"


def test_no_points_says_so() -> None:
    svg = str(site_map([], title="Peta", labels=LABELS, empty="Belum ada lokasi"))
    assert "Belum ada lokasi" in svg and "<circle" not in svg
