"""The end-of-day report: what a user of costcap wants to see after a day of traffic."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from costcap.cli.formatting import money as _money
from costcap.demo._day import DayResult, Outcome

__all__ = ["render_day"]

_TENTH_CENT = Decimal("0.0001")


def money(value: Decimal) -> str:
    """Report money: cents from a dollar up, four places below (exact figures are in the store)."""
    return _money(value if value >= 1 else value.quantize(_TENTH_CENT))


def _group(outcomes: Iterable[Outcome], key: str) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        name = {
            "feature": o.request.feature.name,
            "model": o.request.feature.model,
            "user": o.request.user,
        }[key]
        groups[name].append(o)
    return groups


def _spend_table(
    title: str, groups: dict[str, list[Outcome]], total: Decimal, *, top: int | None = None
) -> Table:
    table = Table(title=title, title_justify="left")
    for header in (
        title.rsplit(maxsplit=1)[-1],
        "calls",
        "refused",
        "input tok",
        "output tok",
        "spend",
        "share",
        "per call",
    ):
        table.add_column(
            header, justify="left" if header == title.rsplit(maxsplit=1)[-1] else "right"
        )
    rows = sorted(groups.items(), key=lambda kv: sum(o.cost_usd for o in kv[1]), reverse=True)
    for name, items in rows[:top]:
        ok = [o for o in items if o.status == "ok"]
        spend = sum((o.cost_usd for o in ok), Decimal(0))
        table.add_row(
            name,
            f"{len(ok):,}",
            f"{sum(o.status == 'refused' for o in items):,}",
            f"{sum(o.input_tokens for o in ok):,}",
            f"{sum(o.output_tokens for o in ok):,}",
            money(spend),
            f"{spend / total * 100:.1f}%" if total else "-",
            money(spend / len(ok)) if ok else "-",
        )
    return table


def render_day(console: Console, day: DayResult) -> None:
    ok = [o for o in day.outcomes if o.status == "ok"]
    refused = [o for o in day.outcomes if o.status == "refused"]
    spent = sum((o.cost_usd for o in ok), Decimal(0))
    reserved = sum((o.reserved_usd for o in ok), Decimal(0))
    summary = Table(title="the day in one table", title_justify="left", show_header=False)
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("calls made", f"{len(day.outcomes):,}")
    summary.add_row("answered", f"{len(ok):,}")
    by_limit = sum(o.refused_by.startswith("rate limit") for o in refused)
    summary.add_row(
        "refused by a budget", f"{sum(o.refused_by.startswith('budget') for o in refused):,}"
    )
    summary.add_row("refused by a rate limit", f"{by_limit:,}")
    summary.add_row(
        "failed at the provider (released)", f"{sum(o.status == 'error' for o in day.outcomes):,}"
    )
    summary.add_row("max_tokens injected (call had none)", f"{sum(o.injected for o in ok):,}")
    summary.add_row("max_tokens clamped to the cap", f"{sum(o.clamped for o in ok):,}")
    summary.add_row("worst case reserved before calls", money(reserved))
    summary.add_row("actual spend recorded by costcap", money(spent))
    summary.add_row("billed by the provider", money(day.provider_billed_usd))
    match = (
        "exact to the picodollar"
        if spent == day.provider_billed_usd
        else f"OFF BY {spent - day.provider_billed_usd}"
    )
    summary.add_row(
        "costcap vs provider", match, style="green" if spent == day.provider_billed_usd else "red"
    )
    console.print(summary)
    console.print(_spend_table("spend by feature", _group(ok + refused, "feature"), spent))
    console.print(_spend_table("spend by model", _group(ok, "model"), spent))
    console.print(_spend_table("top 10 users by user", _group(ok + refused, "user"), spent, top=10))

    budgets = Table(title="budgets at the end of the day", title_justify="left")
    for header in ("budget", "member", "mode", "limit", "spent", "left", "resets"):
        budgets.add_column(
            header, justify="right" if header in ("limit", "spent", "left") else "left"
        )
    for row in day.budgets:
        budgets.add_row(
            str(row["budget"]), str(row["member"]) or "-", str(row["mode"]),
            money(Decimal(str(row["limit_usd"]))), money(Decimal(str(row["spent_usd"]))),
            money(Decimal(str(row["remaining_usd"]))), str(row["resets_at"]),
        )  # fmt: skip
    console.print(budgets)

    reasons = Counter(o.refused_by for o in refused)
    if reasons:
        why = Table(title="why calls were refused", title_justify="left")
        why.add_column("budget, rate limit or policy")
        why.add_column("refused", justify="right")
        for reason, count in reasons.most_common(8):
            why.add_row(reason, f"{count:,}")
        console.print(why)
    if day.alerts:
        console.print("[bold]alerts fired[/bold] (each once per budget and period):")
        for alert in day.alerts:
            console.print(f"  • {alert.message}")
