"""``costcap report …``: spend reports from the cost ledger (pacing and anomalies are in
:mod:`costcap.cli.report_watch`).

Every report prints a table, or ``--json`` (exact decimal strings) or ``--csv``, and takes the
same options: ``--since`` / ``--until``, ``--user`` / ``--feature`` / ``--model``, and the
ledger: ``--ledger URL``, else ``[ledger] url`` in costcap.toml, else ``sqlite:///costcap-ledger.db``.
Counts mean the same everywhere: ``calls`` every call (refused ones included), ``answered`` the
calls not refused, ``refused``; averages per call are per answered call (``…/answered``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from costcap.cli.app import app
from costcap.cli.options import catalog_from, config_path, decimal_option
from costcap.cli.rows import Column, cell, emit, output_format, record
from costcap.errors import ConfigError
from costcap.reports import (
    CASCADE_ASSUMPTION,
    GRANULARITIES,
    CacheRules,
    CascadeSavings,
    CostPerUser,
    FeatureCache,
    FeatureSpend,
    Granularity,
    ModelEfficiency,
    ModelTierEfficiency,
    RefusedCalls,
    Reports,
    RouteSpend,
    SpendBucket,
    UserSpend,
    cache_use_total,
    parse_when,
)
from costcap.reports._range import check_bound

if TYPE_CHECKING:
    from costcap.config import GuardConfig

__all__ = [
    "DEFAULT_LEDGER",
    "granularity_of",
    "ledger_url",
    "no_calls",
    "open_reports",
    "report_app",
    "run_report",
    "when",
]

report_app = typer.Typer(
    help="Spend reports, budget pacing and anomalies from the cost ledger.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

DEFAULT_LEDGER = "sqlite:///costcap-ledger.db"
MAX_LIMIT = 1_000_000  # users listed by ``report users``

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
        help="Ledger URL (default: \\[ledger] url in costcap.toml, else sqlite:///costcap-ledger.db)."
    ),
]
Config = Annotated[Path | None, typer.Option(help="costcap.toml (default: ./costcap.toml).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (money as decimal strings).")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV.")]
Plot = Annotated[
    Path | None,
    typer.Option(help="Also draw the report as a chart into this file (.svg or .png)."),
]
By = Annotated[
    str | None, typer.Option(help="Stack the chart's spend by feature (default), model or user.")
]


# -- plumbing --------------------------------------------------------------------------------------


def settings(config: Path | None) -> GuardConfig | None:
    """costcap.toml (``--config``, else ``$COSTCAP_CONFIG``, else ``./costcap.toml``), read and
    checked; None when there is none."""
    path = config_path(config)
    if path is None:
        return None
    from costcap.config import load_config

    return load_config(path)


def ledger_url(
    ledger: str | None, config: Path | None, *, loaded: GuardConfig | None = None
) -> tuple[str, bool]:
    """The ledger URL and whether it was asked for (flag or config) rather than defaulted
    (``loaded``: costcap.toml already read, instead of reading ``config``)."""
    if ledger is not None:
        return ledger, True
    if loaded is None:
        loaded = settings(config)
    if loaded is not None and loaded.ledger_url is not None:
        return loaded.ledger_url, True
    return DEFAULT_LEDGER, False


def open_reports(ledger: str | None, config: Path | None) -> Reports:
    """The ledger, opened read-only (a URL with no ledger is a one-line error)."""
    url, _ = ledger_url(ledger, config)
    return Reports.open(url)


def when(text: str | None, name: str) -> date | datetime | None:
    """``--since`` / ``--until``: a date or an ISO datetime a range can start or end at."""
    if text is None:
        return None
    try:
        value = parse_when(text, what=name)
        check_bound(value, end=name == "--until")
    except ValueError as exc:
        raise typer.BadParameter(str(exc).removeprefix(f"{name}: "), param_hint=name) from None
    return value


def granularity_of(text: str) -> Granularity:
    """``--granularity``: day, week or month."""
    for grain in GRANULARITIES:
        if grain == text:
            return grain
    raise typer.BadParameter(
        f"must be one of {', '.join(GRANULARITIES)} (got {text!r})", param_hint="--granularity"
    )


def _span(since: date | datetime | None, until: date | datetime | None) -> str:
    if since is None and until is None:
        return "all time"
    return f"{since or '…'} → {until or 'now'}"


def no_calls(q: dict[str, Any], what: str = "calls") -> str:
    """``no calls of user=ann from 2026-03-01 to 2026-03-31``: the line an empty report prints."""
    filters = ", ".join(f"{k}={q[k]}" for k in ("user", "feature", "model") if q.get(k))
    since, until = q.get("since"), q.get("until")
    text = f"no {what}" + (f" of {filters}" if filters else "")
    if since is not None and until is not None:
        return f"{text} from {since} to {until}"
    if since is not None:
        return f"{text} since {since}"
    return f"{text} until {until}" if until is not None else f"{text} in the ledger"


def _query(
    since: str | None, until: str | None, user: str | None, feature: str | None, model: str | None
) -> dict[str, Any]:
    return {
        "since": when(since, "--since"),
        "until": when(until, "--until"),
        "user": user,
        "feature": feature,
        "model": model,
    }


def run_report(
    ledger: str | None, config: Path | None, report: Callable[[Reports], Any]
) -> Any:  # the report's rows
    reports = open_reports(ledger, config)
    try:
        return report(reports)
    except ConfigError:  # the ledger itself (one older than the report), not a value given
        raise
    except ValueError as exc:  # a bad range or filter, found by the API
        raise typer.BadParameter(str(exc)) from None
    finally:
        reports.close()


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
    plot: Plot = None,
) -> None:
    """Spend by feature (--plot: and its chart)."""
    fmt, q = output_format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = run_report(ledger, config, lambda r: r.by_feature(**q))
    if plot is not None:
        from costcap.cli.report_chart import plot_features

        plot_features(plot, rows, q)
    emit(
        rows,
        row_type=FeatureSpend,
        fmt=fmt,
        title=f"spend by feature · {_span(q['since'], q['until'])}",
        empty=no_calls(q),
        columns=[
            ("feature", "feature", "text"),
            ("calls", "calls", "count"),
            ("answered", "answered", "count"),
            ("refused", "refused", "count"),
            ("input tok", "input_tokens", "tokens"),
            ("output tok", "output_tokens", "tokens"),
            ("spend", "cost_usd", "money"),
            ("share", "share_pct", "pct"),
        ],
    )


@report_app.command("users")
def users(
    limit: Annotated[int, typer.Option(help=f"How many users (1..{MAX_LIMIT:,}).")] = 10,
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
    """Top users by spend (calls, answered, refused, spend, cost per answered call, share of
    all spend)."""
    if not 0 < limit <= MAX_LIMIT:
        raise typer.BadParameter(f"must be 1..{MAX_LIMIT:,} (got {limit})", param_hint="--limit")
    fmt, q = output_format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = run_report(ledger, config, lambda r: r.top_users(limit=limit, **q))
    emit(
        rows,
        row_type=UserSpend,
        fmt=fmt,
        title=f"top {limit} users · {_span(q['since'], q['until'])}",
        empty=no_calls(q),
        columns=[
            ("user", "user", "text"),
            ("calls", "calls", "count"),
            ("answered", "answered", "count"),
            ("refused", "refused", "count"),
            ("spend", "cost_usd", "money"),
            ("avg / answered", "cost_per_answered_usd", "money"),
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
    fmt, q = output_format(as_json, as_csv), _query(since, until, user, feature, model)
    summary = run_report(ledger, config, lambda r: r.cost_per_user(**q))
    if fmt == "json":
        sys.stdout.write(json.dumps(record(summary), indent=2) + "\n")
        return
    emit(
        [summary] if fmt != "table" or summary.calls or summary.unattributed_calls else [],
        row_type=CostPerUser,
        fmt=fmt,
        title=f"cost per user · {_span(q['since'], q['until'])}",
        empty=no_calls(q),
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
    by_tier: Annotated[
        bool,
        typer.Option(
            "--by-tier",
            help="One row per model and service tier (priority, flex, fast, …; '-': none "
            "recorded, the standard price).",
        ),
    ] = False,
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
    """Token efficiency by model: tokens and cost per answered call, cost per 1k output tokens;
    with --by-tier, per model and service tier."""
    fmt, q = output_format(as_json, as_csv), _query(since, until, user, feature, model)
    by = "model and service tier" if by_tier else "model"
    rows = run_report(
        ledger, config, lambda r: r.by_model_tier(**q) if by_tier else r.by_model(**q)
    )
    emit(
        rows,
        row_type=ModelTierEfficiency if by_tier else ModelEfficiency,
        fmt=fmt,
        title=f"token efficiency by {by} · {_span(q['since'], q['until'])}",
        empty=no_calls(q),
        columns=[
            ("model", "model", "text"),
            *([("tier", "service_tier", "text")] if by_tier else []),
            ("calls", "calls", "count"),  # refused: calls - answered (in JSON and CSV too)
            ("answered", "answered", "count"),
            ("input / answered", "input_tokens_per_answered", "tokens"),
            ("output / answered", "output_tokens_per_answered", "tokens"),
            ("spend", "cost_usd", "money"),
            ("avg / answered", "cost_per_answered_usd", "money"),
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
    plot: Plot = None,
    by: By = None,
) -> None:
    """Spend over time, per UTC day, week or month (empty buckets at zero); --plot: and its
    chart, stacked --by feature, model or user."""
    grain = granularity_of(granularity)
    if by is not None and plot is None:
        raise typer.BadParameter("stacks the chart: give --plot FILE with it", param_hint="--by")
    fmt, q = output_format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = run_report(ledger, config, lambda r: r.over_time(granularity=grain, **q))
    if plot is not None:
        from costcap.cli.report_chart import plot_over_time

        plot_over_time(plot, ledger, config, q, granularity=grain, by=by or "feature")
    emit(
        rows if fmt != "table" or any(r.calls or r.refused for r in rows) else [],
        row_type=SpendBucket,
        fmt=fmt,
        title=f"spend per {granularity} · {_span(q['since'], q['until'])}",
        empty=no_calls(q),
        columns=[
            (granularity, "start", "text"),
            ("calls", "calls", "count"),
            ("answered", "answered", "count"),
            ("refused", "refused", "count"),
            ("cache hits", "cache_hits", "count"),
            ("cache misses", "cache_misses", "count"),
            ("spend", "cost_usd", "money"),
            ("saved", "saved_usd", "money"),
        ],
    )


def cache_rules(
    useful_hit_rate: str | None, advice_after_calls: int | None, loaded: GuardConfig | None
) -> CacheRules:
    """The thresholds of ``report cache``: the options, else ``[cache]`` in costcap.toml, else
    the defaults (0.20, 1,000)."""
    rules = CacheRules()
    rate = decimal_option(useful_hit_rate, name="--useful-hit-rate")
    if rate is None and loaded is not None:
        rate = loaded.cache_useful_hit_rate
    if rate is not None and not 0 <= rate <= 1:
        raise typer.BadParameter(
            f"must be from 0 to 1 (got {useful_hit_rate})", param_hint="--useful-hit-rate"
        )
    calls = advice_after_calls
    if calls is None and loaded is not None:
        calls = loaded.cache_advice_after_calls
    if calls is not None and calls < 1:
        raise typer.BadParameter(
            f"must be at least 1 (got {calls})", param_hint="--advice-after-calls"
        )
    return CacheRules(
        useful_hit_rate=rules.useful_hit_rate if rate is None else rate,
        advice_after_calls=rules.advice_after_calls if calls is None else calls,
    )


@report_app.command("cache")
def cache(
    useful_hit_rate: Annotated[
        str | None,
        typer.Option(
            help="Advise caching off below this hit rate, on from this share of repeated "
            "requests (0 to 1; default \\[cache] useful_hit_rate in costcap.toml, else 0.2)."
        ),
    ] = None,
    advice_after_calls: Annotated[
        int | None,
        typer.Option(
            help="Advise only after this many calls (default \\[cache] advice_after_calls in "
            "costcap.toml, else 1000)."
        ),
    ] = None,
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
    """The response cache per feature: cacheable calls, hits, misses, hit rate, dollars saved,
    and advice (turn caching off, or on where requests repeat)."""
    fmt, q = output_format(as_json, as_csv), _query(since, until, user, feature, model)
    loaded = settings(config)
    rules = cache_rules(useful_hit_rate, advice_after_calls, loaded)
    url, _ = ledger_url(ledger, config, loaded=loaded)
    rows = run_report(url, None, lambda r: r.cache_use(rules=rules, **q))
    columns: list[Column] = [
        ("feature", "feature", "text"),
        ("cacheable", "cacheable", "count"),
        ("hits", "cache_hits", "count"),
        ("misses", "cache_misses", "count"),
        ("hit rate", "hit_rate", "rate"),
        ("saved", "saved_usd", "money"),
        ("repeats", "repeats", "count"),
        ("advice", "advice", "text"),
    ]

    def total(table: Table) -> None:
        t = cache_use_total(rows)
        cells = [cell(getattr(t, name), kind) for _, name, kind in columns[1:-1]]
        table.add_row("all", *cells, "", style="bold")

    title = f"response cache · {_span(q['since'], q['until'])}"
    emit(
        rows,
        row_type=FeatureCache,
        fmt=fmt,
        title=title,
        columns=columns,
        empty=no_calls(q),
        extra=total if rows else None,
    )


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
    fmt, q = output_format(as_json, as_csv), _query(since, until, user, feature, model)
    rows = run_report(ledger, config, lambda r: r.refused(**q))
    emit(
        rows,
        row_type=RefusedCalls,
        fmt=fmt,
        title=f"refused calls · {_span(q['since'], q['until'])}",
        empty=no_calls(q, "refused calls"),
        columns=[
            ("reason", "reason", "text"),
            ("kind", "category", "text"),
            ("calls", "calls", "count"),
            ("users", "users", "count"),
            ("last", "last_at", "time"),
        ],
    )


_CASCADE_COLUMNS: list[Column] = [
    ("feature", "feature", "text"),
    ("cascades", "cascades", "count"),
    ("escalated", "escalations", "count"),
    ("rate", "escalation_rate", "rate"),
    ("calls", "calls", "count"),
    ("cost", "cost_usd", "money"),
    ("all upper tier", "upper_cost_usd", "money"),
    ("saved", "saved_usd", "money"),
]


@report_app.command("routes")
def routes(
    cascades_only: Annotated[
        bool,
        typer.Option(
            "--cascades", help="Only the cascades (the CSV of the cascades, not of the routes)."
        ),
    ] = False,
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
    """Routing: spend and calls per feature, routing tier and route reason; and per feature its
    cascades: how many escalated, what they cost against sending each straight to the upper
    tier."""
    fmt, q = output_format(as_json, as_csv), _query(since, until, user, feature, model)
    loaded = settings(config)
    url, _ = ledger_url(ledger, config, loaded=loaded)
    catalog = catalog_from(config)

    def read(reports: Reports) -> tuple[list[RouteSpend], list[CascadeSavings]]:
        spend = [] if cascades_only else reports.routes(**q)
        return spend, reports.cascades(catalog=catalog, **q)

    spend, cascades = run_report(url, None, read)
    span = _span(q["since"], q["until"])
    if fmt == "json":
        data: dict[str, Any] = {} if cascades_only else {"routes": [record(r) for r in spend]}
        data["cascades"] = [record(r) for r in cascades]
        data["cascade_assumption"] = CASCADE_ASSUMPTION
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    if fmt == "csv" and cascades_only:
        emit(cascades, row_type=CascadeSavings, fmt=fmt, title="", columns=[], empty="")
        return
    if not cascades_only:
        emit(
            spend,
            row_type=RouteSpend,
            fmt=fmt,
            title=f"spend by routing tier and reason · {span}",
            empty=no_calls(q),
            columns=[
                ("feature", "feature", "text"),
                ("tier", "tier", "text"),
                ("reason", "route_reason", "text"),
                ("calls", "calls", "count"),
                ("answered", "answered", "count"),
                ("refused", "refused", "count"),
                ("input tok", "input_tokens", "tokens"),
                ("output tok", "output_tokens", "tokens"),
                ("spend", "cost_usd", "money"),
                ("share", "share_pct", "pct"),
            ],
        )
    if fmt == "csv" or (not cascades and not cascades_only):
        return
    emit(
        cascades,
        row_type=CascadeSavings,
        fmt=fmt,
        title=f"cascades · {span}",
        empty=no_calls(q, "cascades"),
        columns=_CASCADE_COLUMNS,
    )
    if cascades:
        Console().print(CASCADE_ASSUMPTION, highlight=False, markup=False)
