"""``costcap report alerts``: the alerts the Guards writing to the ledger fired, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from costcap.alerts import ALERT_KINDS
from costcap.cli.report import (
    AsCsv,
    AsJson,
    Config,
    Ledger,
    Since,
    Until,
    _span,
    no_calls,
    report_app,
    run_report,
    when,
)
from costcap.cli.rows import emit, output_format
from costcap.reports import AlertRecord

__all__ = ["alerts"]

Kind = Annotated[
    str | None, typer.Option(help=f"Only alerts of this kind: {', '.join(ALERT_KINDS)}.")
]
Limit = Annotated[int, typer.Option(help="How many alerts, the newest (1..10,000).")]


@report_app.command("alerts")
def alerts(
    since: Since = None,
    until: Until = None,
    kind: Kind = None,
    limit: Limit = 100,
    ledger: Ledger = None,
    config: Config = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """The alerts that fired, newest first: budget thresholds, exhausted and oversized budgets,
    pacing and anomalies (each once per budget, member, period and kind)."""
    fmt = output_format(as_json, as_csv)
    q = {"since": when(since, "--since"), "until": when(until, "--until")}
    rows = run_report(ledger, config, lambda r: r.alerts(kind=kind, limit=limit, **q))
    emit(
        rows,
        row_type=AlertRecord,
        fmt=fmt,
        title=f"alerts fired · {_span(q['since'], q['until'])}",
        empty=no_calls(q, f"{kind} alerts" if kind else "alerts"),
        columns=[
            ("fired", "at", "time"),
            ("kind", "kind", "text"),
            ("budget", "budget", "text"),
            ("member", "member", "text"),
            ("period", "period", "text"),
            ("pct", "threshold_pct", "pct"),
            ("spent", "spent_usd", "money"),
            ("limit", "limit_usd", "money"),
        ],
    )
