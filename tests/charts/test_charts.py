"""The charts: SVG that is well-formed, self-contained and the same bytes every time; PNG of
the promised size with the bars drawn; what the bars show; empty rows; thread safety."""

from __future__ import annotations

import io
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PIL import Image

from costcap.charts import EMPTY_TEXT, Format, by_feature_chart, spend_over_time_chart
from costcap.errors import ConfigError
from costcap.reports import OTHER_GROUP, FeatureSpend, StackedBucket

GROUPS = ["chat", "search", "summarize", "code", "translate", "extract", "classify", "agent"]
START = date(2026, 1, 1)
# 90 days × 8 features and "(other)": spend that varies by day and group (1¢ to 50¢)
ROWS = [
    StackedBucket(START + timedelta(days=d), g, 1, Decimal((d * 7 + n * 13) % 50 + 1) / 100)
    for d in range(90)
    for n, g in enumerate([*GROUPS, OTHER_GROUP])
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
OTHER_RGB = (0xB4, 0xB4, 0xB4)
BAR_RGB = (0x1F, 0x77, 0xB4)  # tab:blue, the first colour of the palette


def feature(name: str | None, cents: int) -> FeatureSpend:
    cost = Decimal(cents) / 100
    return FeatureSpend(name, 1, 1, 0, 10, 10, cost, Decimal(0))


FEATURES = [feature(name, 100 * (n + 1)) for n, name in enumerate([*GROUPS, None])]


def time_chart(fmt: Format = "svg", rows: list[StackedBucket] = ROWS) -> bytes:
    return spend_over_time_chart(rows, granularity="day", by="feature", fmt=fmt)


def features_chart(fmt: Format = "svg") -> bytes:
    return by_feature_chart(FEATURES, fmt=fmt)


def svg_title(svg: bytes) -> str | None:
    title = ET.fromstring(svg).find("{http://www.w3.org/2000/svg}title")
    assert title is not None
    return title.text


def image(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    return Image.open(io.BytesIO(png)).convert("RGB")


def colours(png: bytes) -> Counter[tuple[int, int, int]]:
    """How many pixels of each colour."""
    found = image(png).getcolors(maxcolors=1000 * 450)
    assert found is not None
    return Counter({colour: n for n, colour in found})  # type: ignore[misc]


@pytest.mark.parametrize("chart", [time_chart, features_chart], ids=["time", "features"])
def test_svg_is_xml_without_external_references(chart: Callable[[], bytes]) -> None:
    """It parses; the only URLs in it are the SVG and xlink namespaces (no DTD, no metadata,
    no font or image fetched from anywhere)."""
    svg = chart()
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert set(re.findall(rb"https?://[^\"'\s<>]+", svg)) == {n.encode() for n in NAMESPACES}
    assert b"<!DOCTYPE" not in svg


def test_svg_text_is_drawn_as_paths() -> None:
    """No text element and no font named: a browser never asks for a font."""
    svg = time_chart()
    assert b"<text" not in svg
    assert b"font-family" not in svg
    assert b"@font-face" not in svg


def test_svg_is_the_same_bytes_every_time() -> None:
    assert time_chart() == time_chart()
    assert by_feature_chart(FEATURES) == by_feature_chart(FEATURES)


def test_svg_title_carries_the_chart_s_words() -> None:
    svg = spend_over_time_chart(ROWS, granularity="week", by="model", title="Spend & <more>")
    assert svg_title(svg) == "Spend & <more>"


def test_png_is_1000_by_450_with_the_bars_in_colour() -> None:
    """The promised size; most of the plot is drawn (not a blank page); the nine groups show
    in at least nine colours beside white, grey text and antialiasing."""
    png = time_chart("png")
    assert image(png).size == (1000, 450)
    counts = colours(png)
    white = counts.pop((255, 255, 255))
    assert sum(counts.values()) > white // 3
    assert len([p for p, n in counts.items() if n > 500]) >= 9


def test_other_is_grey_and_only_other() -> None:
    """The "(other)" segments are drawn in the grey no group colour uses."""
    assert colours(time_chart("png"))[OTHER_RGB] > 500
    named = [r for r in ROWS if r.group != OTHER_GROUP]
    assert colours(time_chart("png", named))[OTHER_RGB] < 50  # antialiased edges at most


def test_renders_in_threads_are_those_of_one_thread() -> None:
    """Charts drawn at once from worker threads (as the dashboard does) are byte for byte the
    chart drawn alone: no render sees another's settings."""
    alone = [time_chart(), by_feature_chart(FEATURES)]
    with ThreadPoolExecutor(4) as pool:
        both = list(
            pool.map(lambda n: time_chart() if n % 2 else by_feature_chart(FEATURES), range(8))
        )
    assert both == [alone[0] if n % 2 else alone[1] for n in range(8)]


@pytest.mark.parametrize(
    "render",
    [
        lambda fmt: spend_over_time_chart([], granularity="day", by="feature", fmt=fmt),
        lambda fmt: by_feature_chart([], fmt=fmt),
    ],
    ids=["time", "features"],
)
def test_no_rows_is_a_small_chart_that_says_so(render: Callable[[Format], bytes]) -> None:
    png = render("png")
    assert image(png).size == (600, 120)
    assert len(colours(png)) > 1  # words on white
    assert (svg_title(render("svg")) or "").endswith(f": {EMPTY_TEXT}")


def _bars(png: bytes, colour: tuple[int, int, int]) -> list[int]:
    """Top to bottom, the length in pixels of each horizontal bar of ``colour``."""
    picture = image(png)
    width, height = picture.size
    data = picture.load()
    assert data is not None
    runs = [sum(data[x, y] == colour for x in range(width)) for y in range(height)]
    runs = [run if run > 5 else 0 for run in runs]  # not an antialiased pixel here and there
    bars, inside = [], False
    for run in runs:
        if run and not inside:
            bars.append(run)
        elif run:
            bars[-1] = max(bars[-1], run)
        inside = bool(run)
    return bars


def test_features_largest_on_top() -> None:
    """Given smallest first, the bars still go from the longest (top) to the shortest."""
    rows = [feature(name, cents) for name, cents in [("a", 100), ("b", 300), ("c", 200)]]
    bars = _bars(by_feature_chart(rows, fmt="png"), BAR_RGB)
    assert len(bars) == 3
    assert bars == sorted(bars, reverse=True)
    assert bars[0] > bars[1] > bars[2]


def test_features_past_twelve_are_one_grey_bar() -> None:
    """15 features: the 11 largest have bars of their own, the 4 smallest one grey bar."""
    rows = [feature(f"f{n:02d}", 100 * (n + 1)) for n in range(15)]
    png = by_feature_chart(rows, fmt="png")
    assert len(_bars(png, BAR_RGB)) == 11
    assert len(_bars(png, OTHER_RGB)) == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="a chart is svg or png, not 'pdf'"):
        by_feature_chart(FEATURES, fmt="pdf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="granularity must be one of day, week, month, not 'hour'"):
        spend_over_time_chart(ROWS, granularity="hour", by="feature")


def test_without_matplotlib_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    with pytest.raises(
        ConfigError, match=re.escape("charts needs: pip install 'costcap[dashboard]'")
    ):
        by_feature_chart(FEATURES)
