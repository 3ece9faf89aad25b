"""The spend-by-feature chart: a horizontal bar per feature, labelled with its dollars."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from costcap.charts._dollars import axis_dollars, label_dollars
from costcap.charts._figure import (
    OTHER_COLOR,
    Format,
    palette,
    render,
    render_empty,
    shortened,
)
from costcap.reports import OTHER_GROUP, FeatureSpend

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MAX_BARS", "by_feature_chart"]

# Bars that fit 450 px with their labels readable; the features beyond are one "(other)" bar.
MAX_BARS = 12
_NO_FEATURE = "(no feature)"
_LABEL_CHARS = 32
_MIN_SLOTS = 6


def _bars(rows: Sequence[FeatureSpend]) -> list[tuple[str, Decimal]]:
    """(name, spend) most expensive first (then by name), the features past
    :data:`MAX_BARS` - 1 summed as "(other)" when there are more than :data:`MAX_BARS`."""
    named = [(r.feature or _NO_FEATURE, r.cost_usd) for r in rows]
    named.sort(key=lambda bar: (-bar[1], bar[0]))
    if len(named) <= MAX_BARS:
        return named
    rest = sum((cost for _, cost in named[MAX_BARS - 1 :]), Decimal(0))
    return [*named[: MAX_BARS - 1], (OTHER_GROUP, rest)]


def by_feature_chart(
    rows: Sequence[FeatureSpend], *, fmt: Format = "svg", title: str | None = None
) -> bytes:
    """Horizontal bars of spend per feature (:meth:`costcap.reports.Reports.by_feature`'s
    rows), the largest on top, each labelled with its dollars; past :data:`MAX_BARS` features
    the smallest are one grey "(other)" bar. SVG or PNG bytes. No rows: a small chart saying
    so."""
    heading = title if title is not None else "Spend by feature"
    if not rows:
        return render_empty(fmt, heading)
    bars = _bars(rows)

    def draw(figure: Figure) -> None:
        from matplotlib.ticker import FuncFormatter

        axes = figure.add_subplot()
        (colour,) = palette(1)
        found = axes.barh(
            range(len(bars)),  # positions, not names: two long names may shorten alike
            [float(cost) for _, cost in bars],
            height=0.7,
            color=[OTHER_COLOR if name == OTHER_GROUP else colour for name, _ in bars],
            linewidth=0,
        )
        axes.set_yticks(range(len(bars)), [shortened(name, _LABEL_CHARS) for name, _ in bars])
        axes.bar_label(found, labels=[label_dollars(cost) for _, cost in bars], padding=4)
        # the first (largest) bar on top; room for at least six, so few bars stay slim
        axes.set_ylim(max(len(bars), _MIN_SLOTS) - 0.5, -0.5)
        axes.margins(x=0.14)  # room for the labels past the longest bar
        axes.set_xlim(left=0)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: axis_dollars(value)))
        axes.xaxis.grid(True, color="#e6e6e6", linewidth=0.8)
        axes.set_axisbelow(True)
        axes.tick_params(axis="y", length=0)
        axes.set_title(heading)

    return render(draw, fmt, label=heading)
