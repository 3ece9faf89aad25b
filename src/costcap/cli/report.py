"""``costcap report …``: spend reports, budget pacing and anomalies from the cost ledger.

Every report prints a table, or ``--json`` (exact decimal strings) or ``--csv``. The ledger is
``--ledger URL``, else ``[ledger] url`` in costcap.toml, else ``sqlite:///costcap.db``.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from costcap.cli.app import app
from costcap.cli.formatting import decimal_text, money, tokens_text
from costcap.cli.options import config_path
from costcap.reports import (
    GRANULARITIES,
    AnomalyRules,
    Granularity,
    Reports,
    alert_anomalies,
    alert_pacing,
    cache_total,
    pacing,
    parse_when,
)

if TYPE_CHECKING:
    from costcap.alerts import Alert
    from costcap.guard import Guard

__all__ = ["record", "report_app"]

report_app = typer.Typer(
    help="Spend reports, budget pacing and anomalies from the cost ledger.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

DEFAULT_LEDGER = "sqlite:///costcap.db"

Since = Annotated[
    str | None,
    typer.Option(help="From this date (whole day) or ISO datetime (UTC unless it has an offset)."),
]
Until = Annotated[
    str | None, typer.Option(help="Up to this date (included) or ISO datetime (excluded).")
]
User = Annotated[str | None, typer.Option(help="Only calls of this user_id.")]
Feature = Annotated[str | None, typer.Option(help="Only calls of this feature.")]
Model = Annotated[str | None, typer.Option(help="Only calls billed to this model.")]
Ledger = Annotated[
    str | None,
    typer.Option(
        help="Ledger URL (default: \\[ledger] url in costcap.toml, else sqlite:///costcap.db)."
    ),
]
Config = Annotated[Path | None, typer.Option(help="costcap.toml (default: ./costcap.toml).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (money as decimal strings).")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV.")]

# How a column is shown in a table: money, count, tokens, percent, or as text.
Column = tuple[str, str, str]  # (header, field, kind)


# -- plumbing --------------------------------------------------------------------------------------


def _ledger_url(ledger: str | None, config: Path | None) -> tuple[str, bool]:
    """The ledger URL and whether it was asked for (flag or config) rather than defaulted."""
    if ledger is not None:
        return ledger, True
    path = config_path(config)
    if path is not None:
        from costcap.config import load_config

        url = load_config(path).ledger_url
        if url is not None:
            return url, True
    return DEFAULT_LEDGER, False


def _open(ledger: str | None, config: Path | None) -> Reports:
    from costcap.ledger._sinks import sqlite_path

    url, _ = _ledger_url(ledger, config)
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        if path != ":memory:" and not Path(path).is_file():
            raise typer.BadParameter(
                f"no ledger at {path}; pass --ledger URL", param_hint="--ledger"
            )
    return Reports.open(url)


def _when(text: str | None, name: str) -> date | datetime | None:
    if text is None:
        return None
    try:
        return parse_when(text, what=name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None


def _format(as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json")
    return "json" if as_json else "csv" if as_csv else "table"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(row: Any) -> dict[str, Any]:
    """A report row as JSON-ready data: exact decimal strings, ISO dates, None as null."""
    assert is_dataclass(row)
    return {f.name: _plain(getattr(row, f.name)) for f in fields(row)}


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "money":
        return money(value)
    if kind == "count":
        return f"{value:,}"
    if kind == "tokens":
        return tokens_text(Decimal(value))
    if kind == "pct":
        return f"{value}%"
    if kind == "rate":
        return f"{value * 100:.2f}%"
    return str(_plain(value))


def _emit(
    rows: Sequence[Any],
    *,
    fmt: str,
    title: str,
    columns: Sequence[Column],
    extra: Callable[[Table], None] | None = None,
) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps([record(r) for r in rows], indent=2) + "\n")
        return
    if fmt == "csv":
        names = [f.name for f in fields(rows[0])] if rows else [c[1] for c in columns]
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            data = record(row)
            writer.writerow(["" if data[n] is None else data[n] for n in names])
        return
    table = Table(title=title, title_justify="left")
    for header, _, kind in columns:
        table.add_column(header, justify="left" if kind == "text" else "right")
    for row in rows:
        table.add_row(*(_cell(getattr(row, name), kind) for _, name, kind in columns))
    if extra is not None:
        extra(table)
    Console().print(table)


def _span(since: date | datetime | None, until: date | datetime | None) -> str:
    if since is None and until is None:
        return "all time"
    return f"{since or '…'} → {until or 'now'}"


def _query(
    since: str | None, until: str | None, user: str | None, feature: str | None, model: str | None
) -> dict[str, Any]:
    return {
        "since": _when(since, "--since"),
        "until": _when(until, "--until"),
        "user": user,
        "feature": feature,
        "model": model,
    }


def _run(
    ledger: str | None, config: Path | None, report: Callable[[Reports], Any]
) -> Any:  # the report's rows
    reports = _open(ledger, config)
    try:
        return report(reports)
    except ValueError as exc:  # a bad range or filter, found by the API
        raise typer.BadParameter(str(exc)) from None
    finally:
        reports.close()


@contextmanager
def _alerting_guard(path: Path) -> Iterator[Guard]:
    """A Guard from costcap.toml whose alerts go to its configured notifiers (webhooks are
    drained before the command ends); the command prints what fired on stderr itself."""
    from costcap.alerts import LogNotifier
    from costcap.guard import Guard
    from costcap.guard_core import config_kwargs

    kwargs = config_kwargs(path, {})
    kwargs["notifiers"] = [n for n in kwargs["notifiers"] if not isinstance(n, LogNotifier)]
    guard = Guard(**kwargs)
    try:
        yield guard
    finally:
        guard.close()
        for notifier in guard.notifiers:
            close = getattr(notifier, "close", None)
            if callable(close):
                close()


def _report_fired(alerts: Sequence[Alert]) -> None:
    for fired in alerts:
        sys.stderr.write(f"{fired.message}\n")


# -- spend reports ---------------------------------------------------------------------------------


@report_app.command("features")
def features(
    since: Since = None,
    until: Until = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Spend by feature."""
    fmt, q = _format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = _run(ledger, config, lambda r: r.by_feature(**q))
    _emit(
        rows,
        fmt=fmt,
        title=f"spend by feature · {_span(q['since'], q['until'])}",
        columns=[
            ("feature", "feature", "text"),
            ("calls", "calls", "count"),
            ("refused", "refused", "count"),
            ("input tok", "input_tokens", "tokens"),
            ("output tok", "output_tokens", "tokens"),
            ("spend", "cost_usd", "money"),
            ("share", "share_pct", "pct"),
        ],
    )


@report_app.command("users")
def users(
    limit: Annotated[int, typer.Option(help="How many users.")] = 10,
    since: Since = None,
    until: Until = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Top users by spend (calls, spend, average per call, share of all spend)."""
    if limit <= 0:
        raise typer.BadParameter(f"must be positive (got {limit})", param_hint="--limit")
    fmt, q = _format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = _run(ledger, config, lambda r: r.top_users(limit=limit, **q))
    _emit(
        rows,
        fmt=fmt,
        title=f"top {limit} users · {_span(q['since'], q['until'])}",
        columns=[
            ("user", "user", "text"),
            ("calls", "calls", "count"),
            ("spend", "cost_usd", "money"),
            ("per call", "avg_cost_usd", "money"),
            ("share", "share_pct", "pct"),
        ],
    )


@report_app.command("per-user")
def per_user(
    since: Since = None,
    until: Until = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Cost per user: how spend spreads over users (mean, median, p90, max)."""
    fmt, q = _format(as_json, as_csv), _query(since, until, user, feature, model)
    summary = _run(ledger, config, lambda r: r.cost_per_user(**q))
    if fmt == "json":
        sys.stdout.write(json.dumps(record(summary), indent=2) + "\n")
        return
    _emit(
        [summary],
        fmt=fmt,
        title=f"cost per user · {_span(q['since'], q['until'])}",
        columns=[
            ("users", "users", "count"),
            ("calls", "calls", "count"),
            ("spend", "cost_usd", "money"),
            ("mean", "mean_usd", "money"),
            ("median", "median_usd", "money"),
            ("p90", "p90_usd", "money"),
            ("max", "max_usd", "money"),
            ("no user: calls", "unattributed_calls", "count"),
            ("no user: spend", "unattributed_cost_usd", "money"),
        ],
    )


@report_app.command("models")
def models(
    since: Since = None,
    until: Until = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Token efficiency by model: average tokens and cost per call, cost per 1k output tokens."""
    fmt, q = _format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = _run(ledger, config, lambda r: r.by_model(**q))
    _emit(
        rows,
        fmt=fmt,
        title=f"token efficiency by model · {_span(q['since'], q['until'])}",
        columns=[
            ("model", "model", "text"),
            ("calls", "calls", "count"),
            ("avg input", "avg_input_tokens", "tokens"),
            ("avg output", "avg_output_tokens", "tokens"),
            ("spend", "cost_usd", "money"),
            ("per call", "avg_cost_usd", "money"),
            ("per 1k output", "cost_per_1k_output_usd", "money"),
        ],
    )


@report_app.command("time")
def over_time(
    granularity: Annotated[
        str, typer.Option(help="day, week (ISO, from Monday) or month.")
    ] = "day",
    since: Since = None,
    until: Until = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Spend over time, per UTC day, week or month (empty buckets at zero)."""
    if granularity not in GRANULARITIES:
        raise typer.BadParameter(
            f"must be one of {', '.join(GRANULARITIES)} (got {granularity!r})",
            param_hint="--granularity",
        )
    grain: Granularity = granularity  # checked just above
    fmt, q = _format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = _run(ledger, config, lambda r: r.over_time(granularity=grain, **q))
    _emit(
        rows,
        fmt=fmt,
        title=f"spend per {granularity} · {_span(q['since'], q['until'])}",
        columns=[
            (granularity, "start", "text"),
            ("calls", "calls", "count"),
            ("refused", "refused", "count"),
            ("cache hits", "cache_hits", "count"),
            ("spend", "cost_usd", "money"),
            ("saved", "saved_usd", "money"),
        ],
    )


@report_app.command("cache")
def cache(
    since: Since = None,
    until: Until = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Cache savings per feature: hit rate, dollars saved and their share."""
    fmt, q = _format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = _run(ledger, config, lambda r: r.cache_savings(**q))
    columns: list[Column] = [
        ("feature", "feature", "text"),
        ("answered", "answered", "count"),
        ("cache hits", "cache_hits", "count"),
        ("hit rate", "hit_rate", "rate"),
        ("spend", "cost_usd", "money"),
        ("saved", "saved_usd", "money"),
        ("saved share", "saved_pct", "pct"),
    ]

    def total(table: Table) -> None:
        t = cache_total(rows)
        table.add_row(
            "all", *(_cell(getattr(t, name), kind) for _, name, kind in columns[1:]), style="bold"
        )

    title = f"cache savings · {_span(q['since'], q['until'])}"
    _emit(rows, fmt=fmt, title=title, columns=columns, extra=total if rows else None)


@report_app.command("refused")
def refused(
    since: Since = None,
    until: Until = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Refused calls by reason (the budget, rate limit or policy that said no)."""
    fmt, q = _format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = _run(ledger, config, lambda r: r.refused(**q))
    _emit(
        rows,
        fmt=fmt,
        title=f"refused calls · {_span(q['since'], q['until'])}",
        columns=[
            ("reason", "reason", "text"),
            ("kind", "category", "text"),
            ("calls", "calls", "count"),
            ("users", "users", "count"),
            ("last", "last_at", "text"),
        ],
    )


# -- pacing and anomalies --------------------------------------------------------------------------


@report_app.command("pacing")
def pacing_report(
    config: Config = None,
    ledger: Ledger = None,
    user: Annotated[str | None, typer.Option(help="The budgets that apply to this user.")] = None,
    feature: Annotated[str | None, typer.Option(help="... to this feature.")] = None,
    key: Annotated[str | None, typer.Option(help="... to this API key id.")] = None,
    model: Annotated[str | None, typer.Option(help="... to this model.")] = None,
    alert: Annotated[
        bool, typer.Option("--alert", help="Alert (once per period) budgets trending over.")
    ] = False,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Budget pacing: burn rate, projected end-of-period spend, status, exhaustion date."""
    fmt = _format(as_json, as_csv)
    path = config_path(config)
    if path is None:
        raise typer.BadParameter("no costcap.toml here; pass --config PATH", param_hint="--config")
    url, asked = _ledger_url(ledger, path)
    reports = _open(url, path) if asked or Path("costcap.db").is_file() else None
    try:
        with _alerting_guard(path) as guard:
            rows = pacing(
                guard, reports=reports, user_id=user, feature=feature, api_key=key, model=model
            )
            if alert:
                _report_fired(alert_pacing(guard, rows))
    finally:
        if reports is not None:
            reports.close()
    _emit(
        rows,
        fmt=fmt,
        title=f"budget pacing · {path}",
        columns=[
            ("budget", "budget", "text"),
            ("member", "member", "text"),
            ("period", "bucket", "text"),
            ("limit", "limit_usd", "money"),
            ("spent", "spent_usd", "money"),
            ("burn/day", "burn_usd_per_day", "money"),
            ("projected", "projected_usd", "money"),
            ("of limit", "projected_pct", "pct"),
            ("status", "status", "text"),
            ("runs out", "exhausts_at", "text"),
        ],
    )


@report_app.command("anomalies")
def anomalies(
    until: Annotated[
        str | None, typer.Option(help="Judge as of this instant (default: now).")
    ] = None,
    user: User = None,
    feature: Feature = None,
    model: Model = None,
    k: Annotated[str, typer.Option(help="Spike: spread multiples above the median.")] = "5",
    min_hour: Annotated[str, typer.Option(help="Spike: least dollars in an hour.")] = "1",
    min_day: Annotated[str, typer.Option(help="Spike: least dollars in 24 hours.")] = "10",
    loop_calls: Annotated[int, typer.Option(help="Loop: same prompt this many times…")] = 20,
    loop_minutes: Annotated[int, typer.Option(help="… within this many minutes.")] = 10,
    alert: Annotated[
        bool, typer.Option("--alert", help="Alert each anomaly once through costcap.toml alerts.")
    ] = False,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Spend spikes (users, features) against their own 7-day baseline, and runaway loops."""
    from costcap.cli.options import decimal_option

    fmt = _format(as_json, as_csv)
    at = _when(until, "--until")
    if isinstance(at, date) and not isinstance(at, datetime):
        raise typer.BadParameter("give an ISO datetime (2026-03-05T14:00Z)", param_hint="--until")
    numbers = {
        name: decimal_option(text, name=name) or Decimal(0)
        for name, text in (("--k", k), ("--min-hour", min_hour), ("--min-day", min_day))
    }
    try:
        rules = AnomalyRules(
            k=numbers["--k"],
            min_hour_usd=numbers["--min-hour"],
            min_day_usd=numbers["--min-day"],
            loop_calls=loop_calls,
            loop_minutes=loop_minutes,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    path = config_path(config)
    if alert and path is None:
        raise typer.BadParameter("--alert needs costcap.toml; pass --config", param_hint="--alert")
    found = _run(
        ledger,
        config,
        lambda r: r.anomalies(at=at, rules=rules, user=user, feature=feature, model=model),
    )
    if alert and path is not None:
        with _alerting_guard(path) as guard:
            _report_fired(alert_anomalies(guard, found))
    _emit(
        found,
        fmt=fmt,
        title="anomalies",
        columns=[
            ("kind", "kind", "text"),
            ("scope", "scope", "text"),
            ("member", "member", "text"),
            ("window", "window", "text"),
            ("spend", "spend_usd", "money"),
            ("median", "baseline_usd", "money"),
            ("threshold", "threshold_usd", "money"),
            ("z", "score", "text"),
            ("calls", "calls", "text"),
            ("prompt", "prompt_hash", "text"),
        ],
    )
