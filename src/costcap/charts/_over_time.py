"""The stacked spend-over-time chart: a bar per day, week or month, one segment per group."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from costcap.charts._dollars import axis_dollars
from costcap.charts._figure import (
    OTHER_COLOR,
    Format,
    palette,
    render,
    render_empty,
    shortened,
)
from costcap.reports import GRANULARITIES, OTHER_GROUP, Granularity, StackedBucket
from costcap.reports._range import bucket_count, bucket_start, buckets
from costcap.reports._spend import MAX_FILLED_BUCKETS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["spend_over_time_chart"]

_SPACING = {"day": 1, "week": 7, "month": 30}  # days between bars, about
_BAR = 0.8  # of the spacing: bars are drawn apart
_MAX_TICKS = 10
_TICK_FORMAT = {"day": "%b %d", "week": "%b %d", "month": "%b"}
_LEGEND_ROWS = 18  # legend lines in a column before a second column starts
_LABEL_CHARS = 28


def _ranked(totals: dict[str, float]) -> list[str]:
    """Groups by their spend over the whole chart (then by name), "(other)" last: the order
    the report ranks them in, so the biggest segment sits at the bottom of each bar."""
    named = sorted((g for g in totals if g != OTHER_GROUP), key=lambda g: (-totals[g], g))
    return [*named, OTHER_GROUP] if OTHER_GROUP in totals else named


def _columns(
    rows: Sequence[StackedBucket], grain: Granularity, first: date | None, last: date | None
) -> list[date]:
    """Every bucket from the first to the last (empty ones too, so the axis keeps time);
    ``first`` / ``last`` widen that to the report's range, unless the range is wider than
    :data:`MAX_FILLED_BUCKETS` buckets."""
    starts = [bucket_start(r.start, grain) for r in rows]
    lo, hi = min(starts), max(starts)
    wide_lo = lo if first is None else min(lo, first)
    wide_hi = hi if last is None else max(hi, last)
    if bucket_count(wide_lo, wide_hi, grain) <= MAX_FILLED_BUCKETS:
        lo, hi = wide_lo, wide_hi
    return list(buckets(lo, hi, grain))


def _dates() -> Any:
    """:mod:`matplotlib.dates`, whose functions carry no type hints."""
    import matplotlib.dates

    return matplotlib.dates


def _locator(grain: Granularity, count: int) -> Any:
    """Ticks on bucket starts, at most about ten: days and weeks on Mondays (every day for a
    short range), months on their first."""
    dates = _dates()
    if grain == "day" and count <= _MAX_TICKS:
        return dates.DayLocator()
    if grain == "month":
        return dates.MonthLocator(interval=math.ceil(count / _MAX_TICKS))
    weeks = count if grain == "week" else math.ceil(count / 7)
    return dates.WeekdayLocator(byweekday=dates.MO, interval=math.ceil(weeks / _MAX_TICKS))


def _years(columns: Sequence[date]) -> str:
    """The year(s) under the axis: the ticks name months and days only."""
    first, last = columns[0].year, columns[-1].year
    return str(first) if first == last else f"{first}–{last}"


def spend_over_time_chart(
    rows: Sequence[StackedBucket],
    *,
    granularity: str,
    by: str,
    fmt: Format = "svg",
    title: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> bytes:
    """Stacked bars of spend per bucket (:meth:`costcap.reports.Reports.over_time_by`'s rows),
    a segment per group, a legend of the groups (the biggest spender first, "(other)" grey), a
    dollar axis; SVG or PNG bytes. Empty buckets between the first and the last keep their
    place; ``first`` / ``last`` (the report's days) extend the axis to the whole range. Rows
    of finer buckets are summed into ``granularity``'s. No rows: a small chart saying so."""
    if granularity not in GRANULARITIES:
        raise ValueError(
            f"granularity must be one of {', '.join(GRANULARITIES)}, not {granularity!r}"
        )
    heading = title if title is not None else f"Spend per {granularity} by {by}"
    if not rows:
        return render_empty(fmt, heading)
    grain: Granularity = granularity  # checked just above
    columns = _columns(rows, grain, first, last)
    place = {start: n for n, start in enumerate(columns)}
    spend: dict[tuple[int, str], float] = {}
    totals: dict[str, float] = {}
    for row in rows:
        cell = (place[bucket_start(row.start, grain)], row.group)
        spend[cell] = spend.get(cell, 0.0) + float(row.cost_usd)
        totals[row.group] = totals.get(row.group, 0.0) + float(row.cost_usd)
    groups = _ranked(totals)

    def draw(figure: Figure) -> None:
        from matplotlib.collections import PolyCollection
        from matplotlib.patches import Patch
        from matplotlib.ticker import FuncFormatter

        axes = figure.add_subplot()
        dates = _dates()
        x = [float(dates.date2num(start)) for start in columns]
        half_bar = _BAR * _SPACING[grain] / 2
        named = [g for g in groups if g != OTHER_GROUP]
        colours = dict(zip(named, palette(len(named)), strict=True)) | {OTHER_GROUP: OTHER_COLOR}
        bottom = [0.0] * len(columns)
        handles = []
        for group in groups:
            # One collection of rectangles per group, not axes.bar: that makes an artist of
            # every bar, and 810 of them (90 days × 9 groups) take five times as long to draw.
            boxes = []
            for n in range(len(columns)):
                height = spend.get((n, group), 0.0)
                if height > 0:
                    low, high = x[n] - half_bar, x[n] + half_bar
                    top = bottom[n] + height
                    boxes.append([(low, bottom[n]), (low, top), (high, top), (high, bottom[n])])
                    bottom[n] = top
            colour = colours[group]
            axes.add_collection(
                PolyCollection(boxes, facecolors=colour, linewidths=0), autolim=False
            )
            handles.append(Patch(color=colour, label=shortened(group, _LABEL_CHARS)))
        locator = _locator(grain, len(columns))
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(dates.DateFormatter(_TICK_FORMAT[grain]))
        axes.set_xlabel(_years(columns), color="#595959")
        half = 0.6 * _SPACING[grain]
        axes.set_xlim(x[0] - half, x[-1] + half)
        axes.set_ylim(0, max(bottom) * 1.05 or 0.01)  # spend of $0 (refusals only): an axis still
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: axis_dollars(value)))
        axes.yaxis.grid(True, color="#e6e6e6", linewidth=0.8)
        axes.set_axisbelow(True)
        axes.set_title(heading)
        figure.legend(
            handles=handles[::-1],  # top to bottom, as the segments are stacked
            loc="outside right upper",
            ncols=math.ceil(len(handles) / _LEGEND_ROWS),
            fontsize=8.5,
            title=by,
            title_fontsize=9,
            alignment="left",
        )

    return render(draw, fmt, label=heading)
