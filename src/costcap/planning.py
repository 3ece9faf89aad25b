"""Cost before you build: the planning formula, as pure functions.

    period cost = daily calls × (input tokens × input price + output tokens × output price) × days

Every figure is exact: a call's cost is integer picodollars from the price catalog (long-context
tiers included, since each call is priced as a whole), multiplied by integer call and day counts.
Only the cache-hit rate and a sample's mean introduce fractions, and those stay ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from costcap.money import usd_from_pico
from costcap.pricing import Cost, PriceCatalog, Usage

__all__ = ["CallShape", "Comparison", "Plan", "compare_plans", "plan"]

DEFAULT_DAYS = 30
DEFAULT_WARN_ABOVE_USD = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class CallShape:
    """The tokens of one call (or, from a sample, of each call in it)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0

    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """What a workload costs on one model. All ``*_usd`` fields are exact ``Decimal``."""

    model: str
    daily_calls: int
    days: int
    input_tokens: Decimal  # per call (a mean when planned from a sample)
    output_tokens: Decimal
    per_call_usd: Decimal
    input_usd: Decimal  # over the whole period
    output_usd: Decimal
    daily_usd: Decimal
    period_usd: Decimal
    cache_hit_rate: Decimal
    daily_usd_with_cache: Decimal
    period_usd_with_cache: Decimal


@dataclass(frozen=True, slots=True)
class Comparison:
    plan: Plan
    saving_usd: Decimal  # against the baseline (negative: costs more)
    saving_pct: Decimal


def plan(
    catalog: PriceCatalog,
    model: str,
    *,
    daily_calls: int,
    calls: Sequence[CallShape],
    days: int = DEFAULT_DAYS,
    cache_hit_rate: Decimal = Decimal(0),
) -> Plan:
    """Plan ``daily_calls`` a day for ``days`` days of calls shaped like ``calls`` (their mean).

    Raises ``ValueError`` for counts out of range and ``UnknownModel`` for an unpriced model.
    """
    if daily_calls < 0:
        raise ValueError(f"daily calls must not be negative: {daily_calls}")
    if days <= 0:
        raise ValueError(f"days must be positive: {days}")
    if not Decimal(0) <= cache_hit_rate <= Decimal(1):
        raise ValueError(f"cache hit rate must be between 0 and 1: {cache_hit_rate}")
    if not calls:
        raise ValueError("no calls to plan from")
    price = catalog.resolve(model)
    costs: list[Cost] = [price.cost(call.usage()) for call in calls]
    n = len(calls)
    # Sums over the sample stay integer picodollars; divide by n once, as Decimal.
    input_pico = sum(c.total_pico - c.output_pico for c in costs)  # incl. cache and per-request
    output_pico = sum(c.output_pico for c in costs)
    volume = daily_calls * days
    input_usd = usd_from_pico(input_pico * volume) / n
    output_usd = usd_from_pico(output_pico * volume) / n
    per_call = usd_from_pico(input_pico + output_pico) / n
    daily = per_call * daily_calls
    miss = Decimal(1) - cache_hit_rate
    return Plan(
        model=price.model,
        daily_calls=daily_calls,
        days=days,
        input_tokens=Decimal(sum(c.input_tokens for c in calls)) / n,
        output_tokens=Decimal(sum(c.output_tokens for c in calls)) / n,
        per_call_usd=per_call,
        input_usd=input_usd,
        output_usd=output_usd,
        daily_usd=daily,
        period_usd=input_usd + output_usd,
        cache_hit_rate=cache_hit_rate,
        daily_usd_with_cache=daily * miss,
        period_usd_with_cache=(input_usd + output_usd) * miss,
    )


def compare_plans(baseline: Plan, others: Sequence[Plan]) -> list[Comparison]:
    """Each other plan with its saving against ``baseline`` (period cost, after cache)."""
    out = []
    base = baseline.period_usd_with_cache
    for other in others:
        saving = base - other.period_usd_with_cache
        pct = (saving / base * 100) if base else Decimal(0)
        out.append(Comparison(plan=other, saving_usd=saving, saving_pct=pct))
    return out
