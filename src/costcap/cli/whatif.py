"""``costcap whatif``: what the ledger's calls would have cost under another routing, other
prices or a response cache — per feature: actual, what-if, difference, and every assumption
(:mod:`costcap.reports._whatif`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from costcap.cli.app import app
from costcap.cli.options import config_path, decimal_option
from costcap.cli.report import (
    AsJson,
    Config,
    Feature,
    Ledger,
    Model,
    Since,
    Until,
    User,
    ledger_url,
    no_calls,
    run_report,
    settings,
    when,
)
from costcap.cli.rows import Column, cell, emit, record
from costcap.pricing import PriceCatalog, default_catalog
from costcap.reports import Scenario, WhatIf, WhatIfRow
from costcap.reports._reprice import target_price

__all__ = ["parse_routes", "whatif"]


def parse_routes(values: Sequence[str], catalog: PriceCatalog) -> dict[str, str]:
    """``--route FEATURE=MODEL`` options as ``{feature: model}``; each model must be one the
    catalog prices (else ``UnknownModel``, with suggestions)."""
    routes: dict[str, str] = {}
    for value in values:
        feature, sign, model = value.partition("=")
        feature, model = feature.strip(), model.strip()
        if not sign or not feature or not model:
            raise typer.BadParameter(
                f"expected FEATURE=MODEL, such as chat=gpt-4o-mini (got {value!r})",
                param_hint="--route",
            )
        if feature in routes:
            raise typer.BadParameter(f"feature {feature!r} is routed twice", param_hint="--route")
        target_price(catalog, model, None)  # UnknownModel: one line, exit 2
        routes[feature] = model
    return routes


def _tiers(path: Path) -> tuple[Callable[[str | None, str], str | None], list[str]]:
    """The model each (feature, routing tier) maps to in the ``[router]`` of ``path``, and every
    model it names (the file's own check: each one priced)."""
    from costcap.router import load_router

    config = load_router(path)

    def model(feature: str | None, tier: str) -> str | None:
        routes = config.for_feature(feature)
        if routes is None:
            return None
        name = routes.tier_for(tier)
        return None if name is None else routes.model(name)

    models = sorted({m for r in config.all_routes().values() for m in r.tiers.values()})
    return model, models


def _rate(text: str | None) -> Decimal | None:
    rate = decimal_option(text, name="--cache-hit-rate")
    if rate is not None and not 0 <= rate <= 1:
        raise typer.BadParameter(f"must be from 0 to 1 (got {text})", param_hint="--cache-hit-rate")
    return rate


_COLUMNS: list[Column] = [
    ("feature", "feature", "text"),
    ("calls", "calls", "count"),
    ("priced", "priced", "count"),
    ("moved", "moved", "count"),
    ("actual", "actual_usd", "money"),
    ("what-if", "whatif_usd", "money"),
    ("difference", "difference_usd", "money"),
    ("change", "difference_pct", "pct"),
]


@app.command("whatif")
def whatif(
    route: Annotated[
        list[str] | None,
        typer.Option(
            help="FEATURE=MODEL: price that feature's calls as if sent to MODEL (repeatable)."
        ),
    ] = None,
    tiers: Annotated[
        Path | None,
        typer.Option(
            help="A costcap.toml: price each routed call at the model its routing tier maps to "
            "in its \\[router]."
        ),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            help="A costcap.toml: price every call again with its \\[models] over the bundled "
            "prices."
        ),
    ] = None,
    cache_hit_rate: Annotated[
        str | None,
        typer.Option(
            help="0 to 1: that share of each feature's calls answered by the provider costs $0."
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
) -> None:
    """What the ledger's calls would have cost with other routes, tiers, prices or a response
    cache: per feature, actual, what-if and the difference, with the assumptions."""
    rate = _rate(cache_hit_rate)
    if not route and tiers is None and prices is None and rate is None:
        raise typer.BadParameter(
            "nothing to change: give --route, --tiers, --prices or --cache-hit-rate"
        )
    q: dict[str, Any] = {
        "since": when(since, "--since"),
        "until": when(until, "--until"),
        "user": user,
        "feature": feature,
        "model": model,
    }
    loaded = settings(config)
    url, _ = ledger_url(ledger, config, loaded=loaded)
    found = config_path(config)  # its [models] price the calls moved
    catalog = None if found is None else PriceCatalog.from_toml(found)
    sources = [] if found is None else [str(found)]
    repriced = None if prices is None else PriceCatalog.from_toml(prices)
    tier_model, tier_models = (None, []) if tiers is None else _tiers(tiers)
    if tiers is not None and repriced is None:  # and those of the models its [router] names
        catalog = (catalog or PriceCatalog()).with_config(tiers)
        sources.append(str(tiers))
    scenario = Scenario(
        routes=parse_routes(route or [], repriced or catalog or default_catalog()),
        tier_model=tier_model,
        tier_models=tier_models,
        tiers_from=None if tiers is None else str(tiers),
        prices=repriced,
        prices_from=None if prices is None else str(prices),
        catalog=catalog,
        catalog_from=sources,
        cache_hit_rate=rate if rate is not None else Decimal(0),
    )
    result: WhatIf = run_report(url, None, lambda r: r.whatif(scenario, **q))
    if as_json:
        data = {
            "rows": [record(r) for r in result.rows],
            "total": record(result.total),
            "token_ratios": [record(r) for r in result.ratios],
            "assumptions": result.assumptions,
            "scenario": {
                "routes": scenario.routes,
                "tiers": scenario.tiers_from,
                "prices": scenario.prices_from,
                "cache_hit_rate": str(scenario.cache_hit_rate),
            },
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return

    def total(table: Table) -> None:
        t = result.total
        cells = [cell(getattr(t, name), kind) for _, name, kind in _COLUMNS[1:]]
        table.add_row("all", *cells, style="bold")

    emit(
        result.rows,
        row_type=WhatIfRow,
        fmt="table",
        title="what-if, per feature",
        columns=_COLUMNS,
        empty=no_calls(q),
        extra=total if result.rows else None,
    )
    if result.rows:
        console = Console(highlight=False)
        console.print("Assumptions:")
        for line in result.assumptions:
            console.print(f"- {line}", markup=False)
