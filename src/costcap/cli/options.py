"""Option parsing shared by commands: config discovery and exact numbers."""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from costcap.pricing import PriceCatalog, default_catalog

__all__ = ["catalog_from", "decimal_option", "non_negative"]

CONFIG_ENV = "COSTCAP_CONFIG"
DEFAULT_CONFIG = Path("costcap.toml")


def catalog_from(config: Path | None) -> PriceCatalog:
    """The price catalog: ``--config``, else ``$COSTCAP_CONFIG``, else ``./costcap.toml`` when it
    exists, else the bundled genai-prices data alone."""
    if config is None and (env := os.environ.get(CONFIG_ENV)):
        config = Path(env)
    if config is None and DEFAULT_CONFIG.is_file():
        config = DEFAULT_CONFIG
    return default_catalog() if config is None else PriceCatalog.from_toml(config)


def decimal_option(value: str | None, *, name: str) -> Decimal | None:
    """A decimal number given as text (never via float), or a BadParameter naming the option."""
    if value is None:
        return None
    try:
        number = Decimal(value.strip().removeprefix("$").replace("_", "").replace(",", ""))
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a number", param_hint=name) from None
    if not number.is_finite():
        raise typer.BadParameter(f"{value!r} is not a finite number", param_hint=name)
    return number


def non_negative(value: int | None, *, name: str) -> int | None:
    if value is not None and value < 0:
        raise typer.BadParameter(f"must not be negative (got {value})", param_hint=name)
    return value
