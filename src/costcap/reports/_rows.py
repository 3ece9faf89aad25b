"""What reports return: frozen rows with exact money.

Counts of calls mean the same in every row: ``calls`` is every call recorded, refused ones
included; ``answered`` the calls that were not refused (sent to the provider or served from the
cache, whether they then succeeded, failed, were cut or were lost with their process: a ``lost``
event is charged its reservation); ``refused`` the calls a budget, rate limit or policy refused
before sending (they cost nothing). ``calls = answered + refused``.
Averages per call are per answered call, and their names say so (``cost_per_answered_usd``):
a refused call has no tokens and no cost to average.

Sums are exact (``Decimal`` built from integer picodollar sums). Averages and ratios cannot
always be exact; they are rounded half-even to the picodollar (money), to two places (tokens,
percentages) or to four (rates between 0 and 1). A missing user, feature or service tier is
``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from costcap.money import usd_from_pico

__all__ = [
    "MEASURE_NAMES",
    "OTHER_GROUP",
    "Anomaly",
    "CacheSavings",
    "CostPerUser",
    "FeatureCache",
    "FeatureSpend",
    "ModelEfficiency",
    "ModelTierEfficiency",
    "RefusedCalls",
    "SpendBucket",
    "StackedBucket",
    "Totals",
    "UserSpend",
    "pct",
    "rate",
    "usd",
    "usd_ratio",
]

_PICO = Decimal(1)
_HUNDREDTH = Decimal("0.01")
_RATE = Decimal("0.0001")


def usd(pico: int) -> Decimal:
    """Exact dollars of an integer picodollar sum."""
    return usd_from_pico(pico)


def usd_ratio(pico: int | Decimal, divisor: int | Decimal) -> Decimal:
    """``pico / divisor`` in dollars, rounded half-even to the picodollar (0 when divisor is 0)."""
    if not divisor:
        return Decimal(0)
    exact = Decimal(pico) / Decimal(divisor)
    return usd_from_pico(int(exact.quantize(_PICO, rounding=ROUND_HALF_EVEN)))


def pct(part: int | Decimal, whole: int | Decimal) -> Decimal:
    """``part`` as a percentage of ``whole``, two places (0 when whole is 0)."""
    if not whole:
        return Decimal(0).quantize(_HUNDREDTH)
    return (Decimal(part) * 100 / Decimal(whole)).quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN)


def rate(part: int, whole: int) -> Decimal:
    """``part / whole`` to four places (0 when whole is 0)."""
    if not whole:
        return Decimal(0).quantize(_RATE)
    return (Decimal(part) / Decimal(whole)).quantize(_RATE, rounding=ROUND_HALF_EVEN)


def mean(total: int, count: int) -> Decimal:
    """An average count (tokens) to two places."""
    if not count:
        return Decimal(0).quantize(_HUNDREDTH)
    return (Decimal(total) / Decimal(count)).quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN)


# The rollup measures every report reads (a subset of costcap.ledger._schema.MEASURES).
MEASURE_NAMES: tuple[str, ...] = (
    "calls", "ok", "errors", "refused", "cut", "cache_hits",
    "input_tokens", "output_tokens", "cost_pico", "saved_pico",
    "cache_misses", "cache_miss_cost_pico",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Totals:
    """Integer sums over a set of calls (the rollup measures). ``calls`` counts every call,
    refused ones included; ``answered`` are the calls that were not refused: they reached the
    cache or the provider."""

    calls: int = 0
    ok: int = 0
    errors: int = 0
    refused: int = 0
    cut: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_pico: int = 0
    saved_pico: int = 0
    cache_misses: int = 0  # 0 also when the ledger predates misses (schema 4 or older)
    cache_miss_cost_pico: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def answered(self) -> int:
        return self.calls - self.refused

    @classmethod
    def of(cls, names: Sequence[str], values: Sequence[object]) -> Totals:
        """From SQL sums of the measures ``names`` (the others stay 0; None is an empty sum;
        Postgres returns ``SUM(bigint)`` as numeric)."""
        return cls(**{n: 0 if v is None else int(v) for n, v in zip(names, values, strict=True)})  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class FeatureSpend:
    feature: str | None
    calls: int  # every call, refused ones included
    answered: int  # calls not refused
    refused: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    share_pct: Decimal  # of the spend in the report


@dataclass(frozen=True, slots=True)
class UserSpend:
    user: str
    calls: int  # every call, refused ones included
    answered: int  # calls not refused
    refused: int
    cost_usd: Decimal
    cost_per_answered_usd: Decimal  # cost_usd / answered
    share_pct: Decimal  # of the spend of every call in the range (attributed or not)


@dataclass(frozen=True, slots=True)
class CostPerUser:
    """The spend of each user with a ``user_id`` over the range, summarized. ``users`` counts
    every user with a call in the range, even if all were refused (they spent $0); mean,
    median, p90 and max are of the spend per user. ``p90`` is the nearest-rank 90th
    percentile; the median of an even count is the mean of the middle two."""

    users: int
    calls: int  # every call of those users, refused ones included
    cost_usd: Decimal
    mean_usd: Decimal
    median_usd: Decimal
    p90_usd: Decimal
    max_usd: Decimal
    unattributed_calls: int  # calls without a user_id, refused ones included
    unattributed_cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class ModelEfficiency:
    """Averages are per answered call (refused calls carry no tokens and no cost; cache hits
    count at the cost they had, usually $0)."""

    model: str
    calls: int  # every call, refused ones included
    answered: int  # calls not refused
    refused: int
    input_tokens: int
    output_tokens: int
    input_tokens_per_answered: Decimal
    output_tokens_per_answered: Decimal
    cost_usd: Decimal
    cost_per_answered_usd: Decimal
    cost_per_1k_output_usd: Decimal | None  # None when no output token was billed


@dataclass(frozen=True, slots=True)
class ModelTierEfficiency(ModelEfficiency):
    """A model's calls priced at one service tier (``priority``, ``flex``, ``fast``, …, as
    recorded); ``service_tier`` is None for calls recorded without one: at the standard price,
    or recorded before costcap kept the tier."""

    service_tier: str | None


@dataclass(frozen=True, slots=True)
class SpendBucket:
    start: date  # the day, the Monday of the ISO week, or the first of the month (UTC)
    calls: int  # every call, refused ones included
    answered: int  # calls not refused
    refused: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    saved_usd: Decimal
    cache_misses: int | None  # None: the ledger predates cache misses (schema 4 or older)


# The group of a StackedBucket that holds every group beyond the top N.
OTHER_GROUP = "(other)"


@dataclass(frozen=True, slots=True)
class StackedBucket:
    """One group's share of a :class:`SpendBucket`: the calls of one feature, model or user in
    the bucket. ``group`` is :data:`OTHER_GROUP` for the groups beyond the top N together, and
    ``(no feature)`` / ``(no user)`` for the calls recorded without one."""

    start: date  # the day, the Monday of the ISO week, or the first of the month (UTC)
    group: str
    calls: int  # every call, refused ones included
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class CacheSavings:
    """``hit_rate`` is cache hits per answered call; ``saved_pct`` is what the cache saved as a
    share of what the calls would have cost without it (cost + saved)."""

    feature: str | None
    answered: int
    cache_hits: int
    hit_rate: Decimal
    cost_usd: Decimal
    saved_usd: Decimal
    saved_pct: Decimal


@dataclass(frozen=True, slots=True)
class FeatureCache:
    """The response cache in one feature (:mod:`costcap.reports._cache`).

    ``cacheable`` calls are the ones the cache was asked about: ``cache_hits`` (answered from
    it) + ``cache_misses`` (answered by the provider); ``hit_rate`` is hits ÷ cacheable (None
    without a cacheable call). ``saved_usd`` is what the feature's calls recorded as saved (a
    hit records what the stored call cost); ``miss_cost_usd`` what the misses cost. On a ledger
    older than cache misses (schema 4 or older) the misses, cacheable calls, hit rate and miss
    cost are None: unknown.

    For a feature whose cache was never asked in the range (no hit, no miss), ``hashed`` is its
    answered calls with a prompt digest, ``repeats`` those whose digest an earlier one of them
    had, ``repeat_cost_usd`` what the repeats cost and ``repeat_share`` repeats ÷ hashed (None
    without a hashed call); for a feature with a cache, all four are None. ``advice`` is
    ``turn caching off``, ``turn caching on`` or None (:class:`costcap.reports.CacheRules`)."""

    feature: str | None
    cacheable: int | None
    cache_hits: int
    cache_misses: int | None
    hit_rate: Decimal | None
    saved_usd: Decimal
    miss_cost_usd: Decimal | None
    hashed: int | None
    repeats: int | None
    repeat_share: Decimal | None
    repeat_cost_usd: Decimal | None
    advice: str | None


@dataclass(frozen=True, slots=True)
class RefusedCalls:
    """Refused calls with one ``refused_by`` reason; ``category`` is ``budget``, ``rate limit``,
    ``policy``, ``store`` or ``other``."""

    reason: str
    category: str
    calls: int
    users: int  # distinct users refused (calls without a user_id are not counted)
    last_at: datetime


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A ``spike`` (spend in ``window`` far above the member's own baseline) or a ``loop`` (one
    identity sent the same ``prompt_hash`` at least N times in ``window``).

    ``scope`` is ``user`` or ``feature`` for a spike, ``user`` or ``key`` for a loop. For a spike
    ``baseline_usd`` is the median spend per window over the previous 7 days, ``threshold_usd``
    what the spend had to pass, ``score`` the robust z-score (None when the baseline has no
    spread at all)."""

    kind: Literal["spike", "loop"]
    scope: str
    member: str
    window: str  # "1h", "24h", or "10m" (loops: the loop window)
    at: datetime  # the end of the window
    spend_usd: Decimal
    calls: int | None = None  # loops
    prompt_hash: str | None = None  # loops
    baseline_usd: Decimal | None = None  # spikes
    threshold_usd: Decimal | None = None  # spikes
    score: Decimal | None = None  # spikes
