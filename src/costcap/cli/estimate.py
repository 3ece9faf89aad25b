"""``costcap estimate``: what a workload costs a month, before you build it."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from costcap.cli.app import app
from costcap.cli.formatting import decimal_text, money, tokens_text
from costcap.cli.options import catalog_from, decimal_option, non_negative
from costcap.cli.price_timing import (
    At,
    Profile,
    Timezone,
    hours_text,
    price_timing,
    span_text,
)
from costcap.planning import (
    DEFAULT_DAYS,
    DEFAULT_WARN_ABOVE_USD,
    CallShape,
    Comparison,
    Plan,
    WindowCost,
    compare_plans,
    plan,
)
from costcap.samples import MAX_SAMPLE_TOKENS, load_sample, shapes_for_model
from costcap.service_tiers import UnknownServiceTier, check_tier, price_context

# Far above any real workload, and low enough that every figure keeps to decimal's 28 digits.
MAX_DAILY_CALLS = 1_000_000_000
MAX_TOKENS = MAX_SAMPLE_TOKENS
MAX_DAYS = 366


@app.command()
def estimate(
    model: Annotated[str, typer.Option(help="Model to price, e.g. claude-sonnet-4-5.")],
    daily_calls: Annotated[int, typer.Option(help="Calls per day.")],
    input_tokens: Annotated[
        int | None, typer.Option(help="Input tokens per call (or use --from-sample).")
    ] = None,
    output_tokens: Annotated[
        int | None,
        typer.Option(help="Output tokens per call (with --from-sample: default each max_tokens)."),
    ] = None,
    from_sample: Annotated[
        Path | None,
        typer.Option(
            help="JSONL of real request bodies; their input tokens are counted "
            "(not with --input-tokens)."
        ),
    ] = None,
    compare: Annotated[
        str | None, typer.Option(help="Other models to compare, comma-separated.")
    ] = None,
    days: Annotated[int, typer.Option(help="Days in the period.")] = DEFAULT_DAYS,
    cache_hit_rate: Annotated[
        str | None, typer.Option(help="Share of calls served by a response cache, 0..1.")
    ] = None,
    warn_above: Annotated[
        str | None, typer.Option(help="Warn when the period cost passes this many dollars.")
    ] = None,
    profile: Profile = None,
    timezone: Timezone = None,
    at: At = None,
    service_tier: Annotated[
        str | None,
        typer.Option(
            help="Price at this service tier: flex, priority, fast (OpenAI priority, Anthropic "
            "fast mode), batch, … (default: the standard price)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    config: Annotated[
        Path | None, typer.Option(help="costcap.toml with price overrides and a traffic profile.")
    ] = None,
) -> None:
    """Monthly cost = daily calls x (input x input price + output x output price) x 30 days.

    Prices that change with the time of day are averaged over the day, weighted by --profile."""
    non_negative(daily_calls, name="--daily-calls", most=MAX_DAILY_CALLS)
    non_negative(input_tokens, name="--input-tokens", most=MAX_TOKENS)
    non_negative(output_tokens, name="--output-tokens", most=MAX_TOKENS)
    if not 0 < days <= MAX_DAYS:
        raise typer.BadParameter(f"must be 1..{MAX_DAYS:,} (got {days})", param_hint="--days")
    rate = decimal_option(cache_hit_rate, name="--cache-hit-rate") or Decimal(0)
    if not Decimal(0) <= rate <= Decimal(1):
        raise typer.BadParameter(
            f"must be between 0 and 1 (got {rate})", param_hint="--cache-hit-rate"
        )
    threshold = decimal_option(warn_above, name="--warn-above")
    if threshold is not None and threshold < 0:
        raise typer.BadParameter(
            f"must not be negative (got {warn_above})", param_hint="--warn-above"
        )
    threshold = DEFAULT_WARN_ABOVE_USD if threshold is None else threshold
    others = [m.strip() for m in (compare or "").split(",") if m.strip()]
    if from_sample is None:
        if input_tokens is None or output_tokens is None:
            missing = "--input-tokens" if input_tokens is None else "--output-tokens"
            raise typer.BadParameter("required unless --from-sample is given", param_hint=missing)
        fixed = [CallShape(input_tokens=input_tokens, output_tokens=output_tokens)]
    elif input_tokens is not None:
        raise typer.BadParameter(
            "cannot be combined with --from-sample (the sample's input tokens are counted)",
            param_hint="--input-tokens",
        )

    try:
        tier = check_tier(service_tier, "--service-tier")
    except UnknownServiceTier as exc:
        raise typer.BadParameter(
            str(exc).removeprefix("--service-tier "), param_hint="--service-tier"
        ) from None
    timing = price_timing(at=at, profile=profile, timezone=timezone, config=config)
    catalog = catalog_from(config)
    sample = load_sample(from_sample) if from_sample is not None else None

    def plan_for(name: str) -> Plan:
        calls = (
            fixed if sample is None else shapes_for_model(sample, name, output_tokens=output_tokens)
        )
        return plan(
            catalog,
            name,
            daily_calls=daily_calls,
            calls=calls,
            days=days,
            cache_hit_rate=rate,
            profile=timing.profile,
            day=timing.day,
            at=timing.at,
            context=price_context(catalog.resolve(name).provider, tier),
        )

    base = plan_for(model)
    comparisons = compare_plans(base, [plan_for(name) for name in others])
    over = base.period_usd_with_cache > threshold
    warning = (
        f"{money(base.period_usd_with_cache)} over {days} days passes the warning threshold of "
        f"{money(threshold)} (--warn-above)"
        if over
        else None
    )
    if as_json:
        payload = _as_json(
            base, comparisons, warning, sample_size=None if sample is None else len(sample)
        )
        payload["service_tier"] = tier
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        render_plans(Console(), base, comparisons, tier)
    if warning:
        sys.stderr.write(f"costcap: warning: {warning}\n")


def _plan_json(p: Plan) -> dict[str, Any]:
    return {
        "model": p.model,
        "daily_calls": p.daily_calls,
        "days": p.days,
        "input_tokens": decimal_text(p.input_tokens),
        "output_tokens": decimal_text(p.output_tokens),
        "per_call_usd": decimal_text(p.per_call_usd),
        "input_usd": decimal_text(p.input_usd),
        "output_usd": decimal_text(p.output_usd),
        "daily_usd": decimal_text(p.daily_usd),
        "monthly_usd": decimal_text(p.period_usd),
        "cache_hit_rate": decimal_text(p.cache_hit_rate),
        "daily_usd_with_cache": decimal_text(p.daily_usd_with_cache),
        "monthly_usd_with_cache": decimal_text(p.period_usd_with_cache),
        "price_windows": [_window_json(w) for w in p.windows],
    }


def _profile_json(p: Plan) -> dict[str, Any]:
    return {
        "name": p.profile.name,
        "timezone": p.profile.zone,
        "weights": [f"{w:f}" for w in p.profile.weights],
    }


def _window_json(cost: WindowCost) -> dict[str, Any]:
    window, price = cost.window, cost.window.price
    return {
        "hours_utc": [{"from": f"{a:%H:%M}", "until": f"{b:%H:%M}"} for a, b in window.hours],
        "share": decimal_text(_share(cost)),
        "input_per_mtok_usd": _optional(price.usd_per_mtok(price.input_pico_per_token)),
        "output_per_mtok_usd": _optional(price.usd_per_mtok(price.output_pico_per_token)),
        "per_call_usd": decimal_text(cost.per_call_usd),
    }


def _optional(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def _share(cost: WindowCost) -> Decimal:
    share = cost.window.share
    return Decimal(share.numerator) / share.denominator


def _rate_cell(value: Decimal | None) -> str:
    return "-" if value is None else money(value)


def _as_json(
    base: Plan, comparisons: list[Comparison], warning: str | None, *, sample_size: int | None
) -> dict[str, Any]:
    out = _plan_json(base)
    out["priced_at"] = None if base.at is None else base.at.isoformat()
    out["traffic_profile"] = None if base.at is not None else _profile_json(base)
    if sample_size is not None:
        out["sample_requests"] = sample_size
    if comparisons:
        out["comparisons"] = [
            {
                **_plan_json(c.plan),
                "saving_usd": decimal_text(c.saving_usd),
                "saving_pct": decimal_text(c.saving_pct.quantize(Decimal("0.01"))),
            }
            for c in comparisons
        ]
    out["warning"] = warning
    return out


def render_plans(
    console: Console, base: Plan, comparisons: list[Comparison], tier: str | None = None
) -> None:
    period = "monthly" if base.days == DEFAULT_DAYS else f"{base.days} days"
    table = Table(
        title=f"{base.model} · {base.daily_calls:,} calls a day · {base.days} days"
        + (f" · {tier} tier" if tier else ""),
        title_justify="left",
    )
    for header in ("", "tokens / call", "per call", "daily", period):
        table.add_column(header, justify="right" if header else "left")
    volume = base.daily_calls * base.days
    for label, tokens, usd in (
        ("input", base.input_tokens, base.input_usd),
        ("output", base.output_tokens, base.output_usd),
    ):
        per_call = usd / volume if volume else Decimal(0)
        table.add_row(
            label,
            tokens_text(tokens),
            money(per_call),
            money(per_call * base.daily_calls),
            money(usd),
        )
    table.add_row(
        "total",
        "",
        money(base.per_call_usd),
        money(base.daily_usd),
        money(base.period_usd),
        style="bold",
    )
    if base.cache_hit_rate:
        table.add_row(
            f"with {decimal_text(base.cache_hit_rate * 100)}% cache hits",
            "",
            "",
            money(base.daily_usd_with_cache),
            money(base.period_usd_with_cache),
            style="green",
        )
    console.print(table)
    if comparisons:
        _render_comparisons(console, base, comparisons, period)
    _render_windows(console, [base, *(c.plan for c in comparisons)])


def _render_comparisons(
    console: Console, base: Plan, comparisons: list[Comparison], period: str
) -> None:
    versus = Table(title=f"compared with {base.model}", title_justify="left")
    for header in ("model", "per call", "daily", period, "saving", "saving %"):
        versus.add_column(header, justify="left" if header == "model" else "right")
    for c in comparisons:
        p = c.plan
        versus.add_row(
            p.model,
            money(p.per_call_usd),
            money(p.daily_usd_with_cache),
            money(p.period_usd_with_cache),
            money(c.saving_usd),
            f"{c.saving_pct:.1f}%",
            style="green" if c.saving_usd > 0 else "red",
        )
    console.print(versus)


def _render_windows(console: Console, plans: list[Plan]) -> None:
    """Which prices the calls were priced at: the instant pinned, or each model's windows with
    their share of the traffic (nothing for models with one price all day)."""
    base = plans[0]
    if base.at is not None:
        hours = base.windows[0].window.hours
        console.print(f"priced at {base.at.isoformat()}: the {hours_text(hours)} prices")
    for p in plans:
        if len(p.windows) < 2:
            continue
        table = Table(
            title=f"{p.model} price windows · {p.profile.name} traffic by hour of {p.profile.zone}",
            title_justify="left",
        )
        headers = ("hours (UTC)", "input / 1M", "output / 1M", "share of calls", "per call")
        for header in headers:
            table.add_column(header, justify="left" if header == headers[0] else "right")
        for cost in p.windows:
            price = cost.window.price
            table.add_row(
                "\n".join(span_text(span) for span in cost.window.hours),
                _rate_cell(price.usd_per_mtok(price.input_pico_per_token)),
                _rate_cell(price.usd_per_mtok(price.output_pico_per_token)),
                f"{_share(cost) * 100:.1f}%",
                money(cost.per_call_usd),
            )
        console.print(table)
