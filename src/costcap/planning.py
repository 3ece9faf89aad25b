"""Cost before you build: the planning formula, as pure functions.

    period cost = daily calls × (input tokens × input price + output tokens × output price) × days

Every figure is exact: a call's cost is integer picodollars from the price catalog (long-context
tiers included, since each call is priced as a whole), multiplied by integer call and day counts.
A model whose prices change with the time of day (off-peak windows) is priced over the windows of
a day, each weighted by the share of the day's calls a :class:`~costcap.traffic.TrafficProfile`
puts in it; that weighting is exact (``Fraction``) until the figures are given as ``Decimal``.
The cache-hit rate and a sample's mean are the other fractions, and those stay ``Decimal``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

from costcap.money import usd_from_pico
from costcap.pricing import ModelPrice, PriceCatalog, Usage
from costcap.traffic import UNIFORM, TrafficProfile

__all__ = [
    "CallShape",
    "Comparison",
    "Plan",
    "PriceWindow",
    "WindowCost",
    "compare_plans",
    "day_windows",
    "plan",
]

DEFAULT_DAYS = 30
DEFAULT_WARN_ABOVE_USD = Decimal(10_000)

_DAY = timedelta(days=1)
_MIDNIGHT = time(0)

#: A span of UTC times of day, ``end`` excluded: ``(16:30, 00:30)`` crosses midnight, and
#: ``(00:00, 00:00)`` is the whole day.
Hours = tuple[time, time]


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
class PriceWindow:
    """One set of prices of a model and the UTC hours of a day in which they are in force.

    ``price`` carries no validity bounds (the window is ``hours``); ``share`` is the part of the
    day's calls, by the traffic profile, that these prices pay for.
    """

    hours: tuple[Hours, ...]
    price: ModelPrice
    share: Fraction

    @property
    def all_day(self) -> bool:
        return self.hours == ((_MIDNIGHT, _MIDNIGHT),)


@dataclass(frozen=True, slots=True)
class WindowCost:
    """What one call (of the plan's shape, or a sample's mean) costs in one price window."""

    window: PriceWindow
    per_call_usd: Decimal


@dataclass(frozen=True, slots=True)
class Plan:
    """What a workload costs on one model. All ``*_usd`` fields are exact ``Decimal``.

    ``windows`` are the price windows the calls were priced in; ``at`` is the instant they were
    priced at when one was pinned (else ``None``: averaged over ``profile``'s day).
    """

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
    windows: tuple[WindowCost, ...] = ()
    profile: TrafficProfile = UNIFORM
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    plan: Plan
    saving_usd: Decimal  # against the baseline (negative: costs more)
    saving_pct: Decimal


def day_windows(
    catalog: PriceCatalog,
    model: str,
    *,
    day: date,
    profile: TrafficProfile = UNIFORM,
    context: Mapping[str, str] | None = None,
) -> tuple[PriceWindow, ...]:
    """The price windows of ``model`` on ``day`` (a day of ``profile``'s zone), in order of their
    first UTC hour, each with its share of the day's calls by ``profile``.

    A model with one price all day has one window, ``(00:00, 00:00)``, with share 1. Raises
    ``UnknownModel`` for an unpriced model.
    """
    start = profile.day_start(day)
    segments = _segments(catalog, model, start, start + _DAY, context)
    groups: list[tuple[ModelPrice, list[tuple[datetime, datetime]]]] = []
    for seg_start, seg_end, price in segments:
        spans = next((spans for known, spans in groups if known == price), None)
        if spans is None:
            groups.append((price, [(seg_start, seg_end)]))
        elif spans[-1][1] == seg_start:
            spans[-1] = (spans[-1][0], seg_end)
        else:
            spans.append((seg_start, seg_end))
    windows = [
        PriceWindow(
            hours=_utc_hours(spans, start),
            price=price,
            share=sum((profile.share(start, a, b) for a, b in spans), Fraction(0)),
        )
        for price, spans in groups
    ]
    return tuple(sorted(windows, key=lambda w: w.hours[0][0]))


def _segments(
    catalog: PriceCatalog,
    model: str,
    start: datetime,
    end: datetime,
    context: Mapping[str, str] | None,
) -> list[tuple[datetime, datetime, ModelPrice]]:
    """``[start, end)`` cut where the model's prices change, each piece with its prices."""
    out = []
    moment = start
    while moment < end:
        price = catalog.resolve(model, at=moment, context=context)
        until = price.valid_until
        stop = end if until is None or until <= moment else min(until, end)
        out.append((moment, stop, dataclasses.replace(price, valid_from=None, valid_until=None)))
        moment = stop
    return out


def _utc_hours(spans: list[tuple[datetime, datetime]], day_start: datetime) -> tuple[Hours, ...]:
    """Spans of one 24-hour day as UTC times of day; the day's last span joins its first when
    they meet across the day's edge."""
    if len(spans) > 1 and spans[0][0] == day_start and spans[-1][1] == day_start + _DAY:
        spans = [(spans[-1][0], spans[0][1] + _DAY), *spans[1:-1]]
    if len(spans) == 1 and spans[0][1] - spans[0][0] == _DAY:
        return ((_MIDNIGHT, _MIDNIGHT),)
    return tuple(sorted((a.astimezone(UTC).time(), b.astimezone(UTC).time()) for a, b in spans))


def _usd(pico: Fraction) -> Decimal:
    """USD of a (possibly fractional) number of picodollars; exact when it has ≤ 28 digits."""
    usd = usd_from_pico(pico.numerator)
    return usd if pico.denominator == 1 else usd / pico.denominator


def plan(
    catalog: PriceCatalog,
    model: str,
    *,
    daily_calls: int,
    calls: Sequence[CallShape],
    days: int = DEFAULT_DAYS,
    cache_hit_rate: Decimal = Decimal(0),
    profile: TrafficProfile = UNIFORM,
    day: date | None = None,
    at: datetime | None = None,
    context: Mapping[str, str] | None = None,
) -> Plan:
    """Plan ``daily_calls`` a day for ``days`` days of calls shaped like ``calls`` (their mean).

    Calls are priced over the price windows of ``day`` (a day of ``profile``'s zone; default
    today there), each window weighted by its share of ``profile``'s traffic; or, when ``at`` is
    given (naive means UTC), all at the prices in force at that instant. ``context`` selects
    price variants, as in :meth:`PriceCatalog.resolve`.

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
    windows: tuple[PriceWindow, ...]
    if at is not None:
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        windows = (_window_at(catalog, model, at, context),)
    else:
        day = datetime.now(profile.timezone).date() if day is None else day
        windows = day_windows(catalog, model, day=day, profile=profile, context=context)
    n = len(calls)
    usages = [call.usage() for call in calls]
    # Sums over the sample stay integer picodollars; weights and the mean are exact fractions.
    input_pico = output_pico = Fraction(0)
    costs = []
    for window in windows:
        priced = [window.price.cost(usage) for usage in usages]
        w_input = sum(c.total_pico - c.output_pico for c in priced)  # incl. cache, per-request
        w_output = sum(c.output_pico for c in priced)
        input_pico += window.share * w_input / n
        output_pico += window.share * w_output / n
        costs.append(WindowCost(window, _usd(Fraction(w_input + w_output, n))))
    volume = daily_calls * days
    input_usd = _usd(input_pico * volume)
    output_usd = _usd(output_pico * volume)
    per_call = _usd(input_pico + output_pico)
    daily = per_call * daily_calls
    miss = Decimal(1) - cache_hit_rate
    return Plan(
        model=windows[0].price.model,
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
        windows=tuple(costs),
        profile=profile,
        at=at,
    )


def _window_at(
    catalog: PriceCatalog, model: str, at: datetime, context: Mapping[str, str] | None
) -> PriceWindow:
    """The window in force at ``at``, carrying all of the calls."""
    price = catalog.resolve(model, at=at, context=context)
    price = dataclasses.replace(price, valid_from=None, valid_until=None)
    day = at.astimezone(UTC).date()
    found = next(
        (w for w in day_windows(catalog, model, day=day, context=context) if w.price == price),
        None,
    )
    return PriceWindow(hours=() if found is None else found.hours, price=price, share=Fraction(1))


def compare_plans(baseline: Plan, others: Sequence[Plan]) -> list[Comparison]:
    """Each other plan with its saving against ``baseline`` (period cost, after cache)."""
    out = []
    base = baseline.period_usd_with_cache
    for other in others:
        saving = base - other.period_usd_with_cache
        pct = (saving / base * 100) if base else Decimal(0)
        out.append(Comparison(plan=other, saving_usd=saving, saving_pct=pct))
    return out
