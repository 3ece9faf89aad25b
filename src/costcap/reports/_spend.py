"""Spend reports as pure functions over grouped :class:`Totals` (no SQL here).

Each function takes ``{key: Totals}`` — the sums for one value of a dimension, merged from the
rollup and the edge days — and returns report rows, most expensive first (ties: more calls
first, then by name).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import date
from decimal import Decimal
from typing import TypeVar

from costcap.reports._range import (
    GRANULARITIES,
    Granularity,
    bucket_count,
    bucket_start,
    buckets,
)
from costcap.reports._rows import (
    OTHER_GROUP,
    CacheSavings,
    CostPerUser,
    FeatureSpend,
    ModelEfficiency,
    ModelTierEfficiency,
    SpendBucket,
    StackedBucket,
    Totals,
    UserSpend,
    mean,
    pct,
    rate,
    usd,
    usd_ratio,
)

__all__ = [
    "MAX_FILLED_BUCKETS",
    "MAX_TOP_GROUPS",
    "cache_savings",
    "cache_total",
    "check_granularity",
    "check_top",
    "cost_per_user",
    "feature_spend",
    "merge",
    "model_efficiency",
    "model_tier_efficiency",
    "refusal_category",
    "spend_over_time",
    "stacked_over_time",
    "top_groups",
    "top_users",
]

Groups = Mapping[str, Totals]
_Key = TypeVar("_Key", str, tuple[str, str])


def merge(rows: Iterable[tuple[tuple[object, ...], Totals]]) -> dict[tuple[object, ...], Totals]:
    """Sum rows that share a key (a rollup part and its edge days)."""
    out: dict[tuple[object, ...], Totals] = {}
    for key, totals in rows:
        out[key] = out[key] + totals if key in out else totals
    return out


def _ranked(groups: Mapping[_Key, Totals]) -> list[tuple[_Key, Totals]]:
    return sorted(groups.items(), key=lambda kv: (-kv[1].cost_pico, -kv[1].calls, kv[0]))


def _name(key: str) -> str | None:
    return key or None


def feature_spend(groups: Groups) -> list[FeatureSpend]:
    total = sum(t.cost_pico for t in groups.values())
    return [
        FeatureSpend(
            feature=_name(key),
            calls=t.calls,
            answered=t.answered,
            refused=t.refused,
            input_tokens=t.input_tokens,
            output_tokens=t.output_tokens,
            cost_usd=usd(t.cost_pico),
            share_pct=pct(t.cost_pico, total),
        )
        for key, t in _ranked(groups)
    ]


def top_users(groups: Groups, limit: int, *, total_pico: int | None = None) -> list[UserSpend]:
    """The ``limit`` users who spent most; calls without a user_id are not a user. Shares are
    of ``total_pico`` (default: the sum of ``groups``)."""
    if limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}")
    total = sum(t.cost_pico for t in groups.values()) if total_pico is None else total_pico
    ranked = [(key, t) for key, t in _ranked(groups) if key]
    return [
        UserSpend(
            user=key,
            calls=t.calls,
            answered=t.answered,
            refused=t.refused,
            cost_usd=usd(t.cost_pico),
            cost_per_answered_usd=usd_ratio(t.cost_pico, t.answered),
            share_pct=pct(t.cost_pico, total),
        )
        for key, t in ranked[:limit]
    ]


def _median_pico(values: list[int]) -> Decimal:
    n = len(values)
    if n == 0:
        return Decimal(0)
    middle = n // 2
    if n % 2:
        return Decimal(values[middle])
    return Decimal(values[middle - 1] + values[middle]) / 2


def cost_per_user(groups: Groups) -> CostPerUser:
    spends = sorted(t.cost_pico for key, t in groups.items() if key)
    users = [t for key, t in groups.items() if key]
    anonymous = groups.get("", Totals())
    n = len(spends)
    total = sum(spends)
    p90 = spends[max(0, math.ceil(0.9 * n) - 1)] if n else 0
    return CostPerUser(
        users=n,
        calls=sum(t.calls for t in users),
        cost_usd=usd(total),
        mean_usd=usd_ratio(total, n),
        median_usd=usd_ratio(_median_pico(spends), 1),
        p90_usd=usd(p90),
        max_usd=usd(spends[-1] if n else 0),
        unattributed_calls=anonymous.calls,
        unattributed_cost_usd=usd(anonymous.cost_pico),
    )


def _efficiency(model: str, t: Totals) -> ModelEfficiency:
    return ModelEfficiency(
        model=model,
        calls=t.calls,
        answered=t.answered,
        refused=t.refused,
        input_tokens=t.input_tokens,
        output_tokens=t.output_tokens,
        input_tokens_per_answered=mean(t.input_tokens, t.answered),
        output_tokens_per_answered=mean(t.output_tokens, t.answered),
        cost_usd=usd(t.cost_pico),
        cost_per_answered_usd=usd_ratio(t.cost_pico, t.answered),
        cost_per_1k_output_usd=(
            usd_ratio(t.cost_pico * 1000, t.output_tokens) if t.output_tokens else None
        ),
    )


def model_efficiency(groups: Groups) -> list[ModelEfficiency]:
    return [_efficiency(key, t) for key, t in _ranked(groups)]


def model_tier_efficiency(groups: Mapping[tuple[str, str], Totals]) -> list[ModelTierEfficiency]:
    """One row per model and service tier (``''``: none recorded). Models are ranked as in
    :func:`model_efficiency` (by their calls at every tier); each model's tiers follow it, the
    most expensive first."""
    models: dict[str, Totals] = {}
    for (model, _), t in groups.items():
        models[model] = models[model] + t if model in models else t
    rank = {model: n for n, (model, _) in enumerate(_ranked(models))}
    rows = sorted(_ranked(groups), key=lambda kv: rank[kv[0][0]])  # stable: tiers stay ranked
    out = []
    for (model, tier), t in rows:
        row = _efficiency(model, t)
        values = {f.name: getattr(row, f.name) for f in fields(row)}
        out.append(ModelTierEfficiency(**values, service_tier=tier or None))
    return out


# Empty buckets are listed for a range up to this wide (ten years of days); a wider range is cut
# to the days that have calls.
MAX_FILLED_BUCKETS = 3660


def spend_over_time(
    days: Mapping[date, Totals],
    granularity: Granularity,
    *,
    first: date | None = None,
    last: date | None = None,
    misses_known: bool = True,
) -> list[SpendBucket]:
    """Days folded into buckets, every bucket from ``first`` to ``last`` present (empty ones at
    zero); without bounds, from the first to the last day that has calls. A range of more than
    :data:`MAX_FILLED_BUCKETS` buckets (``--since 0001-01-01``) lists only from its first to its
    last day with calls: the work follows the data, never the width of the range. Without
    ``misses_known`` (a ledger older than cache misses) the buckets' misses are None."""
    lo = first if first is not None else min(days, default=None)
    hi = last if last is not None else max(days, default=None)
    if lo is None or hi is None or lo > hi:
        return []
    if bucket_count(lo, hi, granularity) > MAX_FILLED_BUCKETS:
        inside = [day for day in days if lo <= day <= hi]
        if not inside:
            return []
        lo, hi = min(inside), max(inside)
    folded: dict[date, Totals] = {start: Totals() for start in buckets(lo, hi, granularity)}
    for day, totals in days.items():
        if lo <= day <= hi:
            start = bucket_start(day, granularity)
            folded[start] = folded[start] + totals
    return [
        SpendBucket(
            start=start,
            calls=t.calls,
            answered=t.answered,
            refused=t.refused,
            cache_hits=t.cache_hits,
            input_tokens=t.input_tokens,
            output_tokens=t.output_tokens,
            cost_usd=usd(t.cost_pico),
            saved_usd=usd(t.saved_pico),
            cache_misses=t.cache_misses if misses_known else None,
        )
        for start, t in folded.items()
    ]


# A stacked chart stays readable up to about this many groups (a legend line and a colour each).
MAX_TOP_GROUPS = 50


def check_top(top: int) -> None:
    """ValueError unless ``top`` groups can be stacked (1..:data:`MAX_TOP_GROUPS`)."""
    if not 1 <= top <= MAX_TOP_GROUPS:
        raise ValueError(f"top must be 1..{MAX_TOP_GROUPS}, not {top}")


def check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")


def top_groups(groups: Mapping[str, Totals], top: int, *, missing: str) -> list[str]:
    """The ``top`` keys of ``groups`` that cost most, then by the name shown (``missing`` for
    ``''``, the calls without one)."""
    check_top(top)
    return sorted(groups, key=lambda key: (-groups[key].cost_pico, key or missing))[:top]


def stacked_over_time(
    kept: Sequence[str],
    cells: Mapping[tuple[date, str], Totals],
    days: Mapping[date, Totals],
    granularity: Granularity,
    *,
    missing: str,
    first: date | None = None,
    last: date | None = None,
) -> list[StackedBucket]:
    """Spend per bucket for each of the ``kept`` groups (ranked: :func:`top_groups`) from
    ``cells`` (``{(day, group): Totals}``; ``''`` is shown as ``missing``), and as
    :data:`OTHER_GROUP` what they leave of ``days`` (``{day: Totals}``, every call), over the
    days from ``first`` to ``last``. Rows come by bucket, then in the order of ``kept``,
    :data:`OTHER_GROUP` last; a group without calls in a bucket has no row there. Each bucket's
    rows sum to its ``days``: :func:`spend_over_time` of the same days gives the same spend.

    Calls and picodollars are summed as plain integers: a 90-day chart by user folds
    thousands of cells."""
    check_granularity(granularity)
    rank = {key: n for n, key in enumerate(kept)}
    other = len(kept)
    folded: dict[tuple[date, int], list[int]] = {}  # [calls, picodollars]

    def add(day: date, n: int, calls: int, pico: int) -> None:
        if (first is None or first <= day) and (last is None or day <= last):
            sums = folded.setdefault((bucket_start(day, granularity), n), [0, 0])
            sums[0] += calls
            sums[1] += pico

    for (day, key), t in cells.items():
        if key in rank:
            add(day, rank[key], t.calls, t.cost_pico)
            add(day, other, -t.calls, -t.cost_pico)
    for day, t in days.items():
        add(day, other, t.calls, t.cost_pico)
    names = [*(key or missing for key in kept), OTHER_GROUP]
    return [
        StackedBucket(start=start, group=names[n], calls=calls, cost_usd=usd(pico))
        for (start, n), (calls, pico) in sorted(folded.items())
        if calls > 0
    ]


def _cache_row(feature: str | None, t: Totals) -> CacheSavings:
    return CacheSavings(
        feature=feature,
        answered=t.answered,
        cache_hits=t.cache_hits,
        hit_rate=rate(t.cache_hits, t.answered),
        cost_usd=usd(t.cost_pico),
        saved_usd=usd(t.saved_pico),
        saved_pct=pct(t.saved_pico, t.cost_pico + t.saved_pico),
    )


def cache_savings(groups: Groups) -> list[CacheSavings]:
    """Per feature, the features that saved most first."""
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].saved_pico, -kv[1].calls, kv[0]))
    return [_cache_row(_name(key), t) for key, t in ordered]


def cache_total(rows: Iterable[CacheSavings]) -> CacheSavings:
    """Every row together (``feature`` is None)."""
    answered = hits = 0
    cost = saved = Decimal(0)
    for row in rows:
        answered, hits = answered + row.answered, hits + row.cache_hits
        cost, saved = cost + row.cost_usd, saved + row.saved_usd
    return CacheSavings(
        feature=None,
        answered=answered,
        cache_hits=hits,
        hit_rate=rate(hits, answered),
        cost_usd=cost,
        saved_usd=saved,
        saved_pct=pct(saved, cost + saved),
    )


def refusal_category(reason: str) -> str:
    """``budget``, ``rate limit``, ``policy``, ``store`` or ``other``, from the ``refused_by``
    texts the Guard writes (``budget <id>``, ``rate limit <id>``, ``policy: …``, ``store …``)."""
    for prefix in ("budget", "rate limit", "policy", "store"):
        if reason.startswith(prefix):
            return prefix
    return "other"
