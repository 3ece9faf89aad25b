"""Split one total across features by share: ``allocate(5000, {"chat": 40, "code": 30, …})``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from costcap._checks import dollars, text, usd
from costcap.budgets._budget import MAX_LIMIT_USD, Budget
from costcap.errors import ConfigError

__all__ = ["allocate"]

_MICRO = Decimal("0.000001")


def allocate(
    total_usd: Decimal | int | float | str,
    shares: Mapping[str, Decimal | int | float | str],
    *,
    period: str = "month",
    mode: Literal["hard", "soft"] = "hard",
    timezone: str = "UTC",
    scope_kind: str = "feature",
) -> list[Budget]:
    """One budget per feature, each ``total × share / 100`` (shares are percentages that must add
    up to at most 100), rounded down to the micro-dollar so the parts never add up to more than
    the total. A bad total or share is a ConfigError naming ``allocation.total_usd`` or
    ``allocation.shares``; each part is a :class:`Budget` (at most ``MAX_LIMIT_USD``)."""
    total = usd(total_usd, "allocation.total_usd")
    if total > MAX_LIMIT_USD:
        raise ConfigError(
            f"allocation.total_usd {dollars(total)} is above the largest limit every store "
            f"counts exactly, ${MAX_LIMIT_USD:,}"
        )
    if not isinstance(shares, Mapping):
        raise ConfigError(
            f"allocation.shares must be a table of percentages by feature, not {shares!r}"
        )
    parts = {
        text(name, "allocation.shares: a feature name"): usd(share, f"allocation.shares.{name}")
        for name, share in shares.items()
    }
    if not parts:
        raise ConfigError("allocation.shares: no shares given")
    if sum(parts.values()) > 100:
        raise ConfigError(f"allocation.shares add up to {sum(parts.values()):f}%, more than 100%")
    return [
        Budget(
            scope=f"{scope_kind}:{name}",
            period=period,
            limit_usd=(total * share / 100).quantize(_MICRO, rounding=ROUND_FLOOR),
            mode=mode,
            timezone=timezone,
        )
        for name, share in parts.items()
    ]
