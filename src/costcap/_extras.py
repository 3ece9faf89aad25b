"""The error for a feature whose optional extra is not installed."""

from __future__ import annotations

from costcap.errors import ConfigError

__all__ = ["missing_extra"]


def missing_extra(*, extra: str, what: str) -> ConfigError:
    """``ConfigError("the redis store needs: pip install 'costcap[redis]'")``: raise it where
    importing the extra's package failed."""
    return ConfigError(f"{what} needs: pip install 'costcap[{extra}]'")
