"""``costcap report chart KIND --out PATH``: a report drawn as a chart, SVG or PNG by the
file's suffix — ``time``, spend over time stacked by feature, model or user; ``features``,
spend by feature — and the same charts ``report time --plot`` and ``report features --plot``
write beside their tables (:mod:`costcap.charts`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO

import typer

from costcap.charts import FORMATS, Format, by_feature_chart, spend_over_time_chart
from costcap.cli.options import require_extra
from costcap.cli.report import (
    By,
    Config,
    Feature,
    Ledger,
    Model,
    Since,
    Until,
    User,
    _query,
    _span,
    granularity_of,
    report_app,
    run_report,
)
from costcap.reports import FeatureSpend, Granularity, TimeRange
from costcap.reports._spend import MAX_TOP_GROUPS

__all__ = ["chart", "plot_features", "plot_over_time"]

Group = Literal["feature", "model", "user"]
_GROUPS: tuple[Group, ...] = ("feature", "model", "user")
_KINDS = ("time", "features")

Top = Annotated[
    int | None,
    typer.Option(
        help=f"time: the groups shown by name (1..{MAX_TOP_GROUPS}, default 8); the rest as "
        "(other)."
    ),
]


def _chart_format(path: Path, param: str) -> Format:
    """The format a chart file's suffix names (and matplotlib there to draw it, or the extra
    named before any work)."""
    suffix = path.suffix.lower()
    for fmt in FORMATS:
        if suffix == f".{fmt}":
            require_extra("dashboard", "charts", ("matplotlib",))
            return fmt
    named = f"ends in {suffix}" if suffix else "has no suffix"
    raise typer.BadParameter(f"{path} {named}: give a .svg or .png file", param_hint=param)


def _group(by: str) -> Group:
    for group in _GROUPS:
        if group == by:
            return group
    raise typer.BadParameter(f"must be one of {', '.join(_GROUPS)} (got {by!r})", param_hint="--by")


def _write(path: Path, data: bytes, fmt: Format, title: str, param: str, stream: TextIO) -> None:
    """Write the chart, and one line saying so on ``stream``."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {path}: {exc.strerror or exc}", param_hint=param
        ) from None
    stream.write(f"wrote {path} ({fmt.upper()}, {len(data):,} bytes): {title}\n")


def plot_over_time(
    path: Path,
    ledger: str | None,
    config: Path | None,
    q: dict[str, Any],
    *,
    granularity: Granularity,
    by: str,
    top: int = 8,
    param: str = "--plot",
    stream: TextIO | None = None,
) -> None:
    """Spend over time stacked by ``by`` (:meth:`~costcap.reports.Reports.over_time_by`) into
    ``path``; the line saying so goes to ``stream`` (default stderr: beside a report, stdout keeps
    the report's own output, JSON or CSV included)."""
    fmt, group = _chart_format(path, param), _group(by)
    if not 1 <= top <= MAX_TOP_GROUPS:
        raise typer.BadParameter(f"must be 1..{MAX_TOP_GROUPS} (got {top})", param_hint="--top")
    rows = run_report(
        ledger, config, lambda r: r.over_time_by(by=group, top=top, granularity=granularity, **q)
    )
    span = TimeRange.of(q["since"], q["until"])  # checked by the report just read
    title = f"Spend per {granularity} by {group} · {_span(q['since'], q['until'])}"
    data = spend_over_time_chart(
        rows,
        granularity=granularity,
        by=group,
        fmt=fmt,
        title=title,
        first=span.first_day(),
        last=span.last_day(),
    )
    _write(path, data, fmt, title, param, stream or sys.stderr)


def plot_features(
    path: Path,
    rows: Sequence[FeatureSpend],
    q: dict[str, Any],
    *,
    param: str = "--plot",
    stream: TextIO | None = None,
) -> None:
    """Spend by feature (``rows``, the report's) into ``path``; the line saying so goes to
    ``stream`` (default stderr, as for :func:`plot_over_time`)."""
    fmt = _chart_format(path, param)
    title = f"Spend by feature · {_span(q['since'], q['until'])}"
    data = by_feature_chart(rows, fmt=fmt, title=title)
    _write(path, data, fmt, title, param, stream or sys.stderr)


@report_app.command("chart")
def chart(
    kind: Annotated[
        str,
        typer.Argument(
            help="time (spend over time, stacked by --by) or features (spend by feature)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="The chart's file: .svg or .png.")],
    granularity: Annotated[
        str | None, typer.Option(help="time: day (default), week (ISO, from Monday) or month.")
    ] = None,
    by: By = None,
    top: Top = None,
    since: Since = None,
    until: Until = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    ledger: Ledger = None,
    config: Config = None,
) -> None:
    """Draw a report as a chart: SVG or PNG, as --out's suffix says."""
    if kind not in _KINDS:
        raise typer.BadParameter(
            f"must be one of {', '.join(_KINDS)} (got {kind!r})", param_hint="KIND"
        )
    if kind == "features":
        for name, value in (("--granularity", granularity), ("--by", by), ("--top", top)):
            if value is not None:
                raise typer.BadParameter("applies to chart time only", param_hint=name)
    grain = granularity_of(granularity or "day")
    _chart_format(out, "--out")  # a bad suffix is found before the ledger is read
    q = _query(since, until, user, feature, model)
    if kind == "time":
        plot_over_time(
            out,
            ledger,
            config,
            q,
            granularity=grain,
            by=by or "feature",
            top=8 if top is None else top,
            param="--out",
            stream=sys.stdout,
        )
        return
    rows = run_report(ledger, config, lambda r: r.by_feature(**q))
    plot_features(out, rows, q, param="--out", stream=sys.stdout)
