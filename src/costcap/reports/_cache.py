"""The response cache per feature, and whether it earns its keep: pure functions over sums.

Hits, misses and what they saved or cost come from the spend rollups (fast at any volume). For
the features whose cache was never asked in the range, the requests that repeated an earlier
one come from the events (:mod:`costcap.reports._repeats`): what a cache could have answered.

**Advice** (:class:`CacheRules`: ``useful_hit_rate`` r, default 0.20; ``advice_after_calls`` n,
default 1,000), per feature over the range:

* ``turn caching off`` — at least n cacheable calls (hits + misses) and a hit rate below r;
* ``turn caching on`` — the cache was never asked (no hit, no miss), at least n answered calls
  with a prompt digest, and at least r of them repeats of an earlier one (repeats ÷ those calls);
* none otherwise: too few calls to judge, or nothing to change. Without misses in the ledger
  (schema 4 or older) the hit rate is unknown and caching is never advised off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from costcap.reports._rows import FeatureCache, Totals, rate, usd

__all__ = [
    "ADVICE_OFF",
    "ADVICE_ON",
    "CacheRules",
    "Repeats",
    "cache_use_total",
    "feature_cache",
    "never_asked",
]

ADVICE_OFF = "turn caching off"
ADVICE_ON = "turn caching on"


@dataclass(frozen=True, slots=True)
class CacheRules:
    """When the cache report advises: ``useful_hit_rate`` (0 to 1; a number or its text) and
    ``advice_after_calls`` (an int, at least 1). A bad value is a ValueError naming it."""

    useful_hit_rate: Decimal = Decimal("0.20")
    advice_after_calls: int = 1000

    def __post_init__(self) -> None:
        value: object = self.useful_hit_rate
        if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
            raise ValueError(f"useful_hit_rate must be a number from 0 to 1, not {value!r}")
        try:
            number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
        except ArithmeticError:
            raise ValueError(
                f"useful_hit_rate must be a number from 0 to 1, not {value!r}"
            ) from None
        if not number.is_finite() or not 0 <= number <= 1:
            raise ValueError(f"useful_hit_rate must be from 0 to 1, not {value}")
        object.__setattr__(self, "useful_hit_rate", number)
        calls: object = self.advice_after_calls
        if type(calls) is not int or calls < 1:
            raise ValueError(
                f"advice_after_calls must be a whole number of at least 1, not {calls!r}"
            )


@dataclass(frozen=True, slots=True)
class Repeats:
    """A feature's answered calls with a prompt digest (``hashed``), how many repeated the
    digest of an earlier one (``repeats``: hashed − distinct digests) and what those cost."""

    hashed: int = 0
    repeats: int = 0
    cost_pico: int = 0


def never_asked(totals: Totals) -> bool:
    """Whether a feature's cache was never asked over these sums: no hit and no miss."""
    return totals.cache_hits == 0 and totals.cache_misses == 0


def _advice(
    t: Totals, found: Repeats | None, rules: CacheRules, *, misses_known: bool
) -> str | None:
    least, useful = rules.advice_after_calls, rules.useful_hit_rate
    cacheable = t.cache_hits + t.cache_misses
    if misses_known and cacheable >= least and t.cache_hits < useful * cacheable:
        return ADVICE_OFF
    if found is not None and found.hashed >= least and found.repeats >= useful * found.hashed:
        return ADVICE_ON
    return None


def _row(
    key: str, t: Totals, found: Repeats | None, rules: CacheRules, *, misses_known: bool
) -> FeatureCache:
    cacheable = t.cache_hits + t.cache_misses
    return FeatureCache(
        feature=key or None,
        cacheable=cacheable if misses_known else None,
        cache_hits=t.cache_hits,
        cache_misses=t.cache_misses if misses_known else None,
        hit_rate=rate(t.cache_hits, cacheable) if misses_known and cacheable else None,
        saved_usd=usd(t.saved_pico),
        miss_cost_usd=usd(t.cache_miss_cost_pico) if misses_known else None,
        hashed=None if found is None else found.hashed,
        repeats=None if found is None else found.repeats,
        repeat_share=rate(found.repeats, found.hashed) if found and found.hashed else None,
        repeat_cost_usd=None if found is None else usd(found.cost_pico),
        advice=_advice(t, found, rules, misses_known=misses_known),
    )


def feature_cache(
    groups: Mapping[str, Totals],
    repeats: Mapping[str, Repeats],
    rules: CacheRules,
    *,
    misses_known: bool = True,
) -> list[FeatureCache]:
    """One row per feature of ``groups`` (``''``: none); ``repeats`` holds the features whose
    cache was never asked (a feature of those missing from it had no hashed call). The features
    that saved most come first, then those whose repeats cost most, then by cacheable and
    answered calls, then by name."""

    def found(key: str, t: Totals) -> Repeats | None:
        return repeats.get(key, Repeats()) if never_asked(t) else None

    def rank(item: tuple[str, Totals]) -> tuple[int, int, int, int, str]:
        key, t = item
        cost = (found(key, t) or Repeats()).cost_pico
        return (-t.saved_pico, -cost, -(t.cache_hits + t.cache_misses), -t.answered, key)

    return [
        _row(key, t, found(key, t), rules, misses_known=misses_known)
        for key, t in sorted(groups.items(), key=rank)
    ]


def _sum(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _sum_usd(values: Iterable[Decimal | None]) -> Decimal | None:
    known = [v for v in values if v is not None]
    return sum(known, Decimal(0)) if known else None


def cache_use_total(rows: Iterable[FeatureCache]) -> FeatureCache:
    """Every row together (``feature`` None, no advice): counts and money summed, the hit rate
    and the repeat share of the sums; a figure no row knows stays None."""
    rows = list(rows)
    hits = sum(r.cache_hits for r in rows)
    cacheable = _sum(r.cacheable for r in rows)
    hashed, repeats = _sum(r.hashed for r in rows), _sum(r.repeats for r in rows)
    return FeatureCache(
        feature=None,
        cacheable=cacheable,
        cache_hits=hits,
        cache_misses=_sum(r.cache_misses for r in rows),
        hit_rate=rate(hits, cacheable) if cacheable else None,
        saved_usd=sum((r.saved_usd for r in rows), Decimal(0)),
        miss_cost_usd=_sum_usd(r.miss_cost_usd for r in rows),
        hashed=hashed,
        repeats=repeats,
        repeat_share=rate(repeats or 0, hashed) if hashed else None,
        repeat_cost_usd=_sum_usd(r.repeat_cost_usd for r in rows),
        advice=None,
    )
