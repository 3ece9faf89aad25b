"""Option parsing shared by commands: config discovery and exact numbers."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from costcap._extras import missing_extra
from costcap.pricing import PriceCatalog, default_catalog

__all__ = [
    "NO_CONFIG",
    "catalog_from",
    "config_path",
    "decimal_option",
    "non_negative",
    "not_empty",
    "reading_store",
    "require_extra",
]

CONFIG_ENV = "COSTCAP_CONFIG"
DEFAULT_CONFIG = Path("costcap.toml")
_DIGITS = 18  # a decimal option lies within 1e-18 … 1e18 (or is 0)
NO_CONFIG = "no costcap.toml in this directory: pass --config PATH (or set COSTCAP_CONFIG)"


def config_path(config: Path | None) -> Path | None:
    """``--config``, else ``$COSTCAP_CONFIG``, else ``./costcap.toml`` when it exists."""
    if config is None and (env := os.environ.get(CONFIG_ENV)):
        config = Path(env)
    if config is None and DEFAULT_CONFIG.is_file():
        config = DEFAULT_CONFIG
    return config


def catalog_from(config: Path | None) -> PriceCatalog:
    """The price catalog from the config file, else the bundled genai-prices data alone."""
    path = config_path(config)
    return default_catalog() if path is None else PriceCatalog.from_toml(path)


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
    if number and not -_DIGITS <= number.adjusted() <= _DIGITS:
        raise typer.BadParameter(f"{value!r} is out of range (1e-18 … 1e18)", param_hint=name)
    return number


def non_negative(value: int | None, *, name: str, most: int | None = None) -> int | None:
    """``value`` unless it is negative (or above ``most``): a BadParameter naming the option."""
    if value is not None and value < 0:
        raise typer.BadParameter(f"must not be negative (got {value})", param_hint=name)
    if value is not None and most is not None and value > most:
        raise typer.BadParameter(f"must be at most {most:,} (got {value:,})", param_hint=name)
    return value


def not_empty(**options: str | None) -> None:
    """Each filter given (``user="ann"``) must be a non-empty string: ``--user ""`` is refused."""
    for name, value in options.items():
        if value is not None and not value.strip():
            raise typer.BadParameter(
                f"must not be empty (got {value!r})", param_hint=f"--{name.replace('_', '-')}"
            )


def require_extra(extra: str, what: str, modules: Iterable[str]) -> None:
    """Import each of ``modules``: ``what needs: pip install 'costcap[extra]'`` when one is
    missing, before the command starts any work."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            raise missing_extra(extra=extra, what=what) from None


def reading_store(config: Path) -> dict[str, str]:
    """Guard overrides for a command that only reads the store: one that does not exist yet is
    read as empty (nothing spent) instead of being created by opening it."""
    from costcap.config import load_config
    from costcap.stores import store_exists

    return {} if store_exists(load_config(config).store) else {"store": "memory://"}
