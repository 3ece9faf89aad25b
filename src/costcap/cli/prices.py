"""``costcap prices MODEL``: a model's prices (USD per million tokens) in each window of the
day, and its limits."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from costcap.cli.app import app
from costcap.cli.formatting import decimal_text
from costcap.cli.options import catalog_from
from costcap.cli.price_timing import At, at_or_now, hours_text
from costcap.planning import PriceWindow, day_windows
from costcap.pricing import ModelPrice


def _rates(price: ModelPrice) -> dict[str, Any]:
    """A price's rates in USD per million tokens, long-context tiers included."""

    def rate(value: int | None) -> str | None:
        usd = price.usd_per_mtok(value)
        return None if usd is None else decimal_text(usd)

    return {
        "input_per_mtok_usd": rate(price.input_pico_per_token),
        "output_per_mtok_usd": rate(price.output_pico_per_token),
        "cache_read_per_mtok_usd": rate(price.cache_read_pico_per_token),
        "cache_write_per_mtok_usd": rate(price.cache_write_pico_per_token),
        "long_context": [
            {
                "above_input_tokens": tier.threshold,
                "input_per_mtok_usd": rate(tier.input_pico_per_token),
                "output_per_mtok_usd": rate(tier.output_pico_per_token),
                "cache_read_per_mtok_usd": rate(tier.cache_read_pico_per_token),
                "cache_write_per_mtok_usd": rate(tier.cache_write_pico_per_token),
            }
            for tier in price.tiers
        ],
    }


def _describe(price: ModelPrice, windows: tuple[PriceWindow, ...], at: datetime) -> dict[str, Any]:
    """The prices in force at ``at`` (top level, as before windows were listed) and every
    window of ``at``'s UTC day."""
    return {
        "model": price.model,
        "provider": price.provider,
        "source": price.source,
        "at": at.isoformat(),
        **_rates(price),
        "windows": [
            {
                "hours_utc": [{"from": f"{a:%H:%M}", "until": f"{b:%H:%M}"} for a, b in w.hours],
                "in_force": w.price == price,
                **_rates(w.price),
            }
            for w in windows
        ],
        "context_window": price.context_window,
        "max_output_tokens": price.max_output_tokens,
    }


@app.command()
def prices(
    model: Annotated[str, typer.Argument(help="Model name, alias or dated snapshot.")],
    at: At = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    config: Annotated[Path | None, typer.Option(help="costcap.toml with price overrides.")] = None,
) -> None:
    """Show what MODEL costs per million tokens in each window of the day, its tiers and limits."""
    instant = at_or_now(at)
    catalog = catalog_from(config)
    price = catalog.resolve(model, at=instant)
    price = dataclasses.replace(price, valid_from=None, valid_until=None)
    windows = day_windows(catalog, model, day=instant.astimezone(UTC).date())
    info = _describe(price, windows, instant)
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    table = Table(
        title=f"{info['model']} · {info['provider']} · {info['source']}", title_justify="left"
    )
    table.add_column("USD per 1M tokens")
    table.add_column("input", justify="right")
    table.add_column("output", justify="right")
    table.add_column("cache read", justify="right")
    table.add_column("cache write", justify="right")

    def cells(row: dict[str, Any]) -> list[str]:
        keys = ("input", "output", "cache_read", "cache_write")
        return [f"${row[f'{k}_per_mtok_usd']}" if row[f"{k}_per_mtok_usd"] else "-" for k in keys]

    for window, row in zip(windows, info["windows"], strict=True):
        table.add_row(hours_text(window.hours), *cells(row))
        for tier in row["long_context"]:
            table.add_row(f"  input > {tier['above_input_tokens']:,} tokens", *cells(tier))
    console = Console()
    console.print(table)
    in_force = [w for w in windows if w.price == price]
    if len(windows) > 1 and in_force:
        when = f"{instant.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        console.print(f"in force at {when}: the {hours_text(in_force[0].hours)} prices")
    limits = [
        f"context window: {info['context_window']:,}" if info["context_window"] else None,
        f"max output: {info['max_output_tokens']:,}" if info["max_output_tokens"] else None,
    ]
    shown = [item for item in limits if item]
    console.print(" · ".join(shown) if shown else "limits: not in the price data")
