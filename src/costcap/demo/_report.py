"""The end-of-day report: the reconciliation, then the ledger's reports as `costcap report` shows
them (the demo runs the real commands against its own ledger and config)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from costcap.cli.app import run
from costcap.demo._day import DayResult
from costcap.demo._gateway import GatewayKey
from costcap.money import usd_from_pico
from costcap.pricing import default_catalog
from costcap.reports import RefusedCalls, Reports
from costcap.router import load_router

__all__ = ["KeyUsage", "RoutingSaving", "gateway_usage", "render_day", "routing_saving"]

ROUTED = "chat"  # the demo's feature whose calls ask for costcap:auto


@dataclass(frozen=True, slots=True)
class RoutingSaving:
    """A routed feature's answered calls: how many went to each tier, what they cost, and what
    the same tokens would have cost at its top tier's model."""

    feature: str
    top_model: str
    tiers: dict[str, int]
    cost_pico: int
    top_pico: int

    @property
    def saved_pico(self) -> int:
        return self.top_pico - self.cost_pico


def routing_saving(day: DayResult, feature: str = ROUTED) -> RoutingSaving:
    """From the ledger: each routed call of ``feature`` that reached a model, its tokens priced
    at the feature's top tier (the same tokenizer: Claude's), beside what it cost."""
    routes = load_router(day.config).for_feature(feature)
    assert routes is not None
    top = routes.model(routes.top)
    catalog = default_catalog()
    tiers: Counter[str] = Counter()
    cost = top_cost = 0
    with Reports.open(day.ledger_url) as reports:
        rows = reports.sink.query(
            "SELECT tier, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
            "cost_pico FROM costcap_events WHERE feature = ? AND tier IS NOT NULL "
            "AND status <> 'refused'",
            (feature,),
        )
    for tier, input_tokens, output_tokens, cache_read, cache_write, pico in rows:
        tiers[tier] += 1
        cost += pico
        top_cost += catalog.cost(top, {
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cache_read_tokens": cache_read, "cache_write_tokens": cache_write,
        }).total_pico  # fmt: skip
    ordered = {name: tiers[name] for name in routes.names if tiers[name]}
    return RoutingSaving(feature, top, ordered, cost, top_cost)


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """One virtual key's day in the ledger: its requests, those answered and refused, what it
    spent, its refusals by reason; and the HTTP statuses its service got back."""

    key: GatewayKey
    calls: int
    answered: int
    refused: int
    cost_pico: int
    refusals: list[RefusedCalls]
    statuses: dict[int, int]


def gateway_usage(day: DayResult) -> list[KeyUsage]:
    """Each gateway key's usage, read from the ledger with :class:`costcap.reports.Reports`.
    The reports have no per-key breakdown (the ledger's ``api_key_id``): each of the demo's
    keys charges a feature of its own, which no other caller uses, so the key's calls are its
    feature's — the totals and refusals of ``feature=<the key's>``."""
    if day.gateway is None:
        return []
    usage = []
    with Reports.open(day.ledger_url) as reports:
        for feature, key in day.gateway.keys.items():
            totals = reports.totals(feature=feature)
            usage.append(KeyUsage(
                key, totals.calls, totals.answered, totals.refused, totals.cost_pico,
                reports.refused(feature=feature), day.gateway.statuses.get(feature, {}),
            ))  # fmt: skip
    return usage


def _gateway(console: Console, day: DayResult) -> None:
    usage = gateway_usage(day)
    if day.gateway is None or not usage:
        return
    keys = Table(
        title=f"through the gateway (costcap serve, {day.gateway.base_url}), by virtual key",
        title_justify="left",
    )
    for name in ("key", "service", "feature", "user named by", "budget", "limit"):
        keys.add_column(name)
    for name in ("requests", "answered", "refused", "spend"):
        keys.add_column(name, justify="right")
    for use in usage:
        key, service = use.key, use.key.service
        keys.add_row(
            key.id, f"{service.name} ({service.language})", key.feature,
            f"the key: {key.user}" if key.user else service.user_from, service.budget,
            service.limit,
            f"{use.calls:,}", f"{use.answered:,}", f"{use.refused:,}",
            f"${usd_from_pico(use.cost_pico)}",
        )  # fmt: skip
    console.print(keys)
    refused = Table(title="refused at the gateway, by reason", title_justify="left")
    for name in ("key", "reason", "kind"):
        refused.add_column(name)
    refused.add_column("calls", justify="right")
    for use in usage:
        for row in use.refusals:
            refused.add_row(use.key.id, row.reason, row.category, f"{row.calls:,}")
    if refused.rows:
        console.print(refused)
    seen = "; ".join(
        f"{use.key.service.name}: "
        + (", ".join(f"{status} ×{n:,}" for status, n in sorted(use.statuses.items())) or "none")
        for use in usage
    )
    agree = all(
        use.statuses.get(200, 0) == use.answered and sum(use.statuses.values()) == use.calls
        for use in usage
    )
    console.print(
        f"what the services got back (HTTP): {seen} — "
        + ("[green]the same as the ledger's[/green]" if agree else "[red]NOT the ledger's[/red]")
    )


def _routing(console: Console, saving: RoutingSaving) -> None:
    if not saving.tiers:
        return
    share = saving.saved_pico / saving.top_pico if saving.top_pico else 0
    calls = ", ".join(f"{n:,} {tier}" for tier, n in saving.tiers.items())
    console.print(
        f'\n[bold]what routing saved[/bold] ({saving.feature}, model="costcap:auto"): '
        f"{sum(saving.tiers.values()):,} calls answered ({calls}) cost "
        f"${usd_from_pico(saving.cost_pico)}; the same tokens all at {saving.top_model} "
        f"would have cost ${usd_from_pico(saving.top_pico)}: "
        f"[green]${usd_from_pico(saving.saved_pico)} saved ({share:.0%})[/green]"
    )


def _summary(console: Console, day: DayResult) -> None:
    refused = [o for o in day.outcomes if o.status == "refused"]
    table = Table(title="the day in one table", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("calls made", f"{len(day.outcomes):,}")
    through = sum(o.request.feature.service is not None for o in day.outcomes)
    table.add_row("  of them through the gateway (plain HTTP, virtual keys)", f"{through:,}")
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
    table.add_row(
        "streams abandoned mid-answer (what was streamed is kept)", f"{day.cut_streams:,}"
    )
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
    _gateway(console, day)
    ledger, config = day.ledger_url, str(day.config)
    for command in (
        ["report", "features", "--ledger", ledger],
        ["report", "users", "--limit", "10", "--ledger", ledger],
        ["report", "models", "--ledger", ledger],
        ["report", "models", "--by-tier", "--ledger", ledger],
        ["report", "refused", "--ledger", ledger],
        ["report", "cache", "--ledger", ledger, "--advice-after-calls", "50"],
        ["report", "routes", "--ledger", ledger],
        ["budgets", "--config", config],
        ["report", "pacing", "--config", config],
    ):
        shown = " ".join(command).replace(ledger, "<ledger>").replace(config, "<costcap.toml>")
        console.print(f"\n[dim]$ costcap {shown}[/dim]")
        run(command)
        if command[:2] == ["report", "routes"]:
            _routing(console, routing_saving(day))
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
