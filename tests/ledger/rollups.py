"""What the rollups must hold, computed in plain Python from the events, and what they do hold,
read back from a ledger in the same shape (days as ``date``, instants as UTC ``datetime``) on
either backend."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from costcap.ledger import CostEvent, LedgerSink, Status
from costcap.ledger._schema import (
    DAILY_ROUTE,
    DAILY_TIER,
    MINUTE_FEATURE,
    REFUSED,
    REFUSED_SPAN,
    REFUSED_USER,
    SPEND_ROLLUPS,
)

Contents = dict[tuple[object, ...], tuple[object, ...]]

NEW_ROLLUPS = [
    MINUTE_FEATURE.table, REFUSED.table, REFUSED_USER.table, REFUSED_SPAN.table, DAILY_TIER.table,
    DAILY_ROUTE.table,
]  # fmt: skip
# The spend rollups: every measure, per day and user, feature, model, service tier or routing
# tier and reason.
SPEND_TABLES = [r.table for r in SPEND_ROLLUPS]
ALL_TABLES = list(dict.fromkeys([*SPEND_TABLES, *NEW_ROLLUPS]))
_SPEND_KEYS = {r.table: r.keys for r in SPEND_ROLLUPS}
# Every spend measure, as the rollups define it (costcap.ledger._schema.MEASURES), per event.
SPEND: dict[str, Callable[[CostEvent], int | float]] = {
    "calls": lambda e: 1,
    "ok": lambda e: e.status == "ok",
    "errors": lambda e: e.status == "error",
    "refused": lambda e: e.status == "refused",
    "cut": lambda e: e.status == "cut",
    "cache_hits": lambda e: e.cache_hit,
    "streams": lambda e: e.stream,
    "input_tokens": lambda e: e.input_tokens,
    "output_tokens": lambda e: e.output_tokens,
    "cache_read_tokens": lambda e: e.cache_read_tokens,
    "cache_write_tokens": lambda e: e.cache_write_tokens,
    "cost_pico": lambda e: e.cost_pico,
    "saved_pico": lambda e: e.saved_pico,
    "latency_ms_sum": lambda e: e.latency_ms or 0,
    "latency_count": lambda e: e.latency_ms is not None,
    "cache_misses": lambda e: e.cache_miss,
    "cache_miss_cost_pico": lambda e: e.cost_pico if e.cache_miss else 0,
}


# The route rollup's sums of the calls a what-if prices again (answered by the provider: ok,
# not a cache hit), and the most input tokens one of them had.
def _priced(e: CostEvent) -> bool:
    return e.status == "ok" and not e.cache_hit


PRICED: dict[str, Callable[[CostEvent], int]] = {
    "priced_calls": _priced,
    "priced_input_tokens": lambda e: e.input_tokens if _priced(e) else 0,
    "priced_output_tokens": lambda e: e.output_tokens if _priced(e) else 0,
    "priced_cache_read_tokens": lambda e: e.cache_read_tokens if _priced(e) else 0,
    "priced_cache_write_tokens": lambda e: e.cache_write_tokens if _priced(e) else 0,
    "priced_cost_pico": lambda e: e.cost_pico if _priced(e) else 0,
}
_ROUTE_MEASURES = f"{', '.join(SPEND)}, {', '.join(PRICED)}, priced_max_input_tokens"
_COLUMNS = {
    MINUTE_FEATURE.table: "minute, feature, calls, cost_pico",
    REFUSED.table: "day, refused_by, feature, model, calls, last_ts",
    REFUSED_USER.table: "user_id, refused_by, feature, model, day, calls, last_ts",
    REFUSED_SPAN.table: "refused_by, user_id, first_day, last_day",
    **{t: f"{', '.join(keys)}, {', '.join(SPEND)}" for t, keys in _SPEND_KEYS.items()},
    DAILY_ROUTE.table: f"{', '.join(DAILY_ROUTE.keys)}, {_ROUTE_MEASURES}",
}
_KEYS = {
    MINUTE_FEATURE.table: 2, REFUSED.table: 4, REFUSED_USER.table: 5, REFUSED_SPAN.table: 2,
    **{t: len(keys) for t, keys in _SPEND_KEYS.items()},
}  # fmt: skip
_DAYS = {"day", "first_day", "last_day"}
_INSTANTS = {"minute", "last_ts"}
START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
REASONS = [None, "budget user:*/day", "rate limit 20/minute per user", "policy: model"]
STATUSES: list[Status] = ["ok", "ok", "ok", "error", "refused", "cut"]
TIERS = [None, "flex", "priority", "default"]  # None: none recorded (the standard price)
# Routing: (tier, reason) in turn; None: a call the router did not route.
ROUTES = [(None, None), ("simple", "auto"), ("complex", "fallback"), ("simple", "cascade"),
          ("critical", None), (None, "explicit")]  # fmt: skip
INDIA = timezone(timedelta(hours=5, minutes=30))  # an offset that is not whole hours


def make_events(n: int = 300, seed: int = 7, prefix: str = "r") -> list[CostEvent]:
    """``n`` events over three UTC days (from 22:00 on March 1st), a few per minute: every
    status, refusals with and without a user or a reason, anonymous calls, calls without a
    feature, one in five stamped in UTC+05:30 (stored in UTC all the same), service tiers in
    turn (one in four with none), routing tiers and reasons in turn (with either missing, and
    cascades of two calls), tokens, cache hits and misses, streams and latencies."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = START + timedelta(seconds=rng.randrange(3 * 3600), microseconds=rng.randrange(10**6))
        if i % 5 == 0:
            ts = ts.astimezone(INDIA)
        status = rng.choice(STATUSES)
        out.append(
            CostEvent(
                request_id=f"{prefix}{i}",
                ts=ts,
                status=status,
                model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
                user_id=rng.choice(["ann", "ben", "cat", None]),
                feature=rng.choice(["chat", "search", None]),
                cost_pico=0 if status == "refused" else rng.randrange(1, 10**9),
                refused_by=rng.choice(REASONS) if status == "refused" else None,
                service_tier=TIERS[i % len(TIERS)],
                tier=ROUTES[i % len(ROUTES)][0],
                route_reason=ROUTES[i % len(ROUTES)][1],
                cascade_id=f"{prefix}c{i // len(ROUTES)}" if i % len(ROUTES) in (3, 4) else None,
                # drawn from the index, not from rng: the fields above stay as they were
                input_tokens=i % 97,
                output_tokens=i % 31,
                cache_read_tokens=i % 13,
                cache_write_tokens=i % 7,
                saved_pico=i % 11 * 1000,
                cache_hit=status == "ok" and i % 11 == 0,
                cache_miss=status != "refused" and i % 11 != 0 and i % 5 == 2,
                stream=i % 3 == 0,
                latency_ms=None if i % 6 == 0 else i % 50 * 8.0,  # whole: float sums exact
            )
        )
    return out


def untiered(events: Iterable[CostEvent]) -> list[CostEvent]:
    """``events`` as a ledger from before service tiers (version 4) stores them: with no tier,
    no cache miss (version 5) and no routing (version 6)."""
    return [replace(e, service_tier=None) for e in unmissed(events)]


def unmissed(events: Iterable[CostEvent]) -> list[CostEvent]:
    """``events`` as a ledger from before cache misses (version 5) stores them: no miss, and no
    routing (version 6)."""
    return [replace(e, cache_miss=False) for e in unrouted(events)]


def unrouted(events: Iterable[CostEvent]) -> list[CostEvent]:
    """``events`` as a ledger from before routing (version 6) stores them: no routing tier,
    reason or cascade."""
    return [replace(e, tier=None, route_reason=None, cascade_id=None) for e in events]


def _utc(e: CostEvent) -> datetime:
    return e.ts.astimezone(UTC)


def _add(out: dict[Any, list[Any]], key: tuple[object, ...], e: CostEvent) -> None:
    out.setdefault(key, []).append(e)


def expected(table: str, events: Iterable[CostEvent]) -> Contents:
    """The rows ``table`` must hold for ``events`` (each request_id once: the first kept)."""
    unique = list({e.request_id: e for e in reversed(list(events))}.values())
    groups: dict[Any, list[CostEvent]] = {}
    for e in unique:
        reason, feature, day = e.refused_by or "", e.feature or "", _utc(e).date()
        if table == MINUTE_FEATURE.table:
            _add(groups, (_utc(e).replace(second=0, microsecond=0), feature), e)
        elif table in _SPEND_KEYS:
            values = {"day": day, "user_id": e.user_id or "", "feature": feature,
                      "model": e.model, "service_tier": e.service_tier or "",
                      "tier": e.tier or "", "route_reason": e.route_reason or ""}  # fmt: skip
            _add(groups, tuple(values[k] for k in _SPEND_KEYS[table]), e)
        elif e.status != "refused":
            continue
        elif table == REFUSED.table:
            _add(groups, (day, reason, feature, e.model), e)
        elif e.user_id:
            key = (e.user_id, reason, feature, e.model, day)
            _add(groups, key if table == REFUSED_USER.table else (reason, e.user_id), e)
    out: Contents = {}
    for key, es in groups.items():
        if table == MINUTE_FEATURE.table:
            out[key] = (len(es), sum(e.cost_pico for e in es))
        elif table == DAILY_ROUTE.table:
            sums = [sum(measure(e) for e in es) for measure in (*SPEND.values(), *PRICED.values())]
            most = max(e.input_tokens if _priced(e) else 0 for e in es)
            out[key] = (*sums, most)
        elif table in _SPEND_KEYS:
            out[key] = tuple(sum(measure(e) for e in es) for measure in SPEND.values())
        elif table == REFUSED_SPAN.table:
            out[key] = (min(_utc(e).date() for e in es), max(_utc(e).date() for e in es))
        else:
            out[key] = (len(es), max(_utc(e) for e in es))
    return out


def _value(column: str, value: object) -> object:
    if column in _DAYS:
        return date.fromisoformat(value) if isinstance(value, str) else value
    if column in _INSTANTS:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, datetime)
        return moment.astimezone(UTC)
    return value


def contents(sink: LedgerSink, table: str) -> Contents:
    """The rows of ``table``, keyed like :func:`expected`."""
    columns = [c.strip() for c in _COLUMNS[table].split(",")]
    keys = _KEYS[table]
    out: Contents = {}
    for row in sink.query(f"SELECT {_COLUMNS[table]} FROM {table}"):
        values = tuple(_value(c, v) for c, v in zip(columns, row, strict=True))
        out[values[:keys]] = values[keys:]
    return out
