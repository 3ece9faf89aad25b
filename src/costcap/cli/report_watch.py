"""``costcap report pacing`` and ``costcap report anomalies``: spend watched as it happens,
with alerts (once per budget and period, or per anomaly and window) through costcap.toml."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from costcap.cli.options import (
    NO_CONFIG,
    config_path,
    decimal_option,
    not_empty,
    reading_store,
)
from costcap.cli.report import (
    DEFAULT_LEDGER,
    AsCsv,
    AsJson,
    Config,
    Feature,
    Ledger,
    Model,
    User,
    ledger_url,
    open_reports,
    report_app,
    run_report,
    when,
)
from costcap.cli.rows import emit, output_format
from costcap.errors import ConfigError
from costcap.ledger._sinks import sqlite_path
from costcap.reports import (
    ANOMALIES_EARLIEST,
    Anomaly,
    AnomalyRules,
    BudgetPace,
    NoLedger,
    alert_anomalies,
    alert_pacing,
    pacing,
)
from costcap.reports._detect import MAX_LOOP_CALLS, MAX_LOOP_MINUTES

if TYPE_CHECKING:
    from costcap.alerts import Alert
    from costcap.guard import Guard
    from costcap.ledger import Ledger as LedgerWriter

__all__ = ["anomalies", "pacing_report"]

_PICODOLLAR = Decimal("1e-12")


class _AlertHistory:
    """The Guard observer that records the alerts a report fires in the ledger at ``url``, as a
    Guard writing to it would (``costcap report alerts`` lists them). The ledger's writer is
    opened when the first alert fires: a run that fires none writes nothing (no spool, no
    migration), and ``close`` drains what it recorded before the command ends."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._writer: LedgerWriter | None = None

    def on_alert(self, alert: Alert, at: datetime) -> None:
        if self._writer is None:
            from costcap.ledger import Ledger as Writer

            self._writer = Writer(self._url)
        self._writer.on_alert(alert, at)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


@contextmanager
def _alerting_guard(path: Path, *, alert: bool, history: str | None = None) -> Iterator[Guard]:
    """A Guard from costcap.toml whose alerts go to its configured notifiers (webhooks are
    drained before the command ends) and, with ``history`` (a ledger URL), into that ledger;
    the command prints what fired on stderr itself. Without ``alert`` the command only reads:
    a store that does not exist yet is not created."""
    from costcap.alerts import LogNotifier
    from costcap.guard import Guard
    from costcap.guard_core import config_kwargs

    kwargs = config_kwargs(path, {} if alert else reading_store(path))
    kwargs["notifiers"] = [n for n in kwargs["notifiers"] if not isinstance(n, LogNotifier)]
    recorder = _AlertHistory(history) if alert and history is not None else None
    guard = Guard(**kwargs, observers=[recorder] if recorder is not None else [])
    try:
        yield guard
    finally:
        guard.close()
        if recorder is not None:
            recorder.close()
        for notifier in guard.notifiers:
            close = getattr(notifier, "close", None)
            if callable(close):
                close()


def _report_fired(alerts: Sequence[Alert]) -> None:
    for fired in alerts:
        sys.stderr.write(f"{fired.message}\n")


def _no_budgets(path: Path, **members: str | None) -> str:
    chosen = ", ".join(f"{k}={v}" for k, v in members.items() if v is not None)
    return f"no budget in {path} applies to {chosen}" if chosen else f"no budgets in {path}"


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
    fmt = output_format(as_json, as_csv)
    not_empty(user=user, feature=feature, key=key, model=model)
    path = config_path(config)
    if path is None:
        raise ConfigError(NO_CONFIG)
    url, asked = ledger_url(ledger, path)
    reports = None
    if asked or Path(sqlite_path(DEFAULT_LEDGER)).is_file():  # else: no ledger here
        try:
            reports = open_reports(url, path)
        except NoLedger:  # nothing recorded yet: the period's own average is the rate
            if ledger is not None:
                raise
    try:
        with _alerting_guard(path, alert=alert, history=None if reports is None else url) as guard:
            rows = pacing(
                guard, reports=reports, user_id=user, feature=feature, api_key=key, model=model
            )
            if alert:
                _report_fired(alert_pacing(guard, rows))
    finally:
        if reports is not None:
            reports.close()
    emit(
        rows,
        row_type=BudgetPace,
        fmt=fmt,
        title=f"budget pacing · {path}",
        empty=_no_budgets(path, user=user, feature=feature, key=key, model=model),
        columns=[
            ("budget", "budget", "text"),
            ("member", "member", "text"),
            ("period", "bucket", "text"),
            ("limit", "limit_usd", "money"),
            ("spent", "spent_usd", "money"),
            ("burn/day", "burn_usd_per_day", "money"),
            ("projected", "projected_usd", "money"),
            ("of limit", "projected_pct", "pct"),
            ("status", "status", "tag"),
            ("runs out", "exhausts_at", "time"),
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
    fmt = output_format(as_json, as_csv)
    at = when(until, "--until")
    if isinstance(at, date) and not isinstance(at, datetime):
        raise typer.BadParameter("give an ISO datetime (2026-03-05T14:00Z)", param_hint="--until")
    if at is not None and at < ANOMALIES_EARLIEST:
        raise typer.BadParameter(
            f"{at.isoformat()} is too early: anomalies look back a week "
            f"({ANOMALIES_EARLIEST.isoformat()} at least)",
            param_hint="--until",
        )
    numbers = {
        name: decimal_option(text, name=name) or Decimal(0)
        for name, text in (("--k", k), ("--min-hour", min_hour), ("--min-day", min_day))
    }
    if numbers["--k"] <= 0:
        raise typer.BadParameter(f"must be positive (got {k})", param_hint="--k")
    for name in ("--min-hour", "--min-day"):
        if numbers[name] < 0:
            raise typer.BadParameter(f"must not be negative (got {numbers[name]})", param_hint=name)
        if numbers[name] != numbers[name].quantize(_PICODOLLAR, context=Context(prec=60)):
            raise typer.BadParameter(
                f"{numbers[name]} is finer than a picodollar (0.000000000001)", param_hint=name
            )
    if not 2 <= loop_calls <= MAX_LOOP_CALLS:
        raise typer.BadParameter(
            f"must be 2..{MAX_LOOP_CALLS:,} (got {loop_calls})", param_hint="--loop-calls"
        )
    if not 1 <= loop_minutes <= MAX_LOOP_MINUTES:
        raise typer.BadParameter(
            f"must be 1..{MAX_LOOP_MINUTES} (got {loop_minutes})", param_hint="--loop-minutes"
        )
    rules = AnomalyRules(
        k=numbers["--k"],
        min_hour_usd=numbers["--min-hour"],
        min_day_usd=numbers["--min-day"],
        loop_calls=loop_calls,
        loop_minutes=loop_minutes,
    )
    path = config_path(config)
    if alert and path is None:
        raise ConfigError("--alert needs costcap.toml (its alerts): pass --config PATH")
    found = run_report(
        ledger,
        config,
        lambda r: r.anomalies(at=at, rules=rules, user=user, feature=feature, model=model),
    )
    if alert and path is not None:
        with _alerting_guard(path, alert=True, history=ledger_url(ledger, path)[0]) as guard:
            _report_fired(alert_anomalies(guard, found))
    emit(
        found,
        row_type=Anomaly,
        fmt=fmt,
        title="anomalies",
        empty=f"no anomalies as of {at.isoformat() if isinstance(at, datetime) else 'now'}",
        columns=[
            ("kind", "kind", "tag"),
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
