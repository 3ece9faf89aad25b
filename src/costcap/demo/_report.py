"""The end-of-day report: the reconciliation, then the ledger's reports as `costcap report` shows
them (the demo runs the real commands against its own ledger and config)."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from costcap.cli.app import run
from costcap.demo._day import DayResult
from costcap.money import usd_from_pico

__all__ = ["render_day"]


def _summary(console: Console, day: DayResult) -> None:
    refused = [o for o in day.outcomes if o.status == "refused"]
    table = Table(title="the day in one table", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("calls made", f"{len(day.outcomes):,}")
    table.add_row("answered", f"{sum(o.status == 'ok' for o in day.outcomes):,}")
    by_budget = sum(o.refused_by.startswith("budget") for o in refused)
    table.add_row("refused by a budget", f"{by_budget:,}")
    table.add_row(
        "refused by a rate limit", f"{sum(o.refused_by.startswith('rate') for o in refused):,}"
    )
    table.add_row(
        "refused by policy", f"{sum(o.refused_by.startswith('policy') for o in refused):,}"
    )
    table.add_row(
        "failed at the provider (released)", f"{sum(o.status == 'error' for o in day.outcomes):,}"
    )
    table.add_row("streams abandoned mid-answer (cut, partial cost kept)", f"{day.cut_streams:,}")
    table.add_row("spend recorded by costcap", f"${usd_from_pico(day.recorded_pico)}")
    table.add_row("billed by the provider", f"${usd_from_pico(day.provider_billed_pico)}")
    whole_recorded = day.recorded_pico - day.recorded_cut_pico
    whole_billed = day.provider_billed_pico - day.billed_cut_pico
    exact = whole_recorded == whole_billed
    table.add_row(
        "calls read to the end: costcap vs provider",
        "exact to the picodollar" if exact else f"OFF BY {whole_recorded - whole_billed} pico$",
        style="green" if exact else "red",
    )
    table.add_row(
        "abandoned streams: recorded / billed",
        f"${usd_from_pico(day.recorded_cut_pico)} / ${usd_from_pico(day.billed_cut_pico)}",
    )
    console.print(table)
    if day.billed_cut_pico != day.recorded_cut_pico:
        console.print(
            "[dim]An abandoned stream is recorded as what costcap received before it closed the "
            "connection; the provider also bills what it generated until the disconnect reached "
            "it.[/dim]"
        )


def render_day(console: Console, day: DayResult) -> None:
    _summary(console, day)
    ledger, config = day.ledger_url, str(day.config)
    for command in (
        ["report", "features", "--ledger", ledger],
        ["report", "users", "--limit", "10", "--ledger", ledger],
        ["report", "models", "--ledger", ledger],
        ["report", "models", "--by-tier", "--ledger", ledger],
        ["report", "refused", "--ledger", ledger],
        ["report", "cache", "--ledger", ledger, "--advice-after-calls", "50"],
        ["budgets", "--config", config],
        ["report", "pacing", "--config", config],
    ):
        shown = " ".join(command).replace(ledger, "<ledger>").replace(config, "<costcap.toml>")
        console.print(f"\n[dim]$ costcap {shown}[/dim]")
        run(command)
    if day.alerts:
        kinds = Counter(a.kind for a in day.alerts)
        console.print(
            f"\n[bold]alerts fired[/bold] ({', '.join(f'{n} {k}' for k, n in kinds.items())}; "
            "each once per budget and period):"
        )
        for alert in day.alerts[:12]:
            console.print(f"  • {alert.message}")
        if len(day.alerts) > 12:
            console.print(f"  … and {len(day.alerts) - 12} more")
