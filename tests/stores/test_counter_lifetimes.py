"""Counters outlive the time they count, on every store.

A store drops a counter once the TTL it was written with has passed (Redis expires the key, the
memory, SQLite and PostgreSQL stores sweep it). A budget counter dropped before its calendar
period ends forgets that period's spend; a rolling or sliding-window counter dropped before it
leaves its window lets that window be overspent. Each test admits and settles one call at a
fixed instant (the Guard's clock), then reads back from the store how long it keeps the counter
the call charged, and compares that with when the counter stops counting, worked out by hand.

The store measures its TTL from its own clock and the reading is taken a moment later, so a
counter's lifetime as read plus the time the test took is at least the TTL it was written with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costcap import Budget, Guard
from costcap.limits import RateLimit
from costcap.stores import Charge, Store
from costcap.ticket import Ticket
from tests.stores.helpers import counter_lifetime_s, rid

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
# Thursday 2026-03-05 12:00:00 UTC = 1,772,712,000 s since the epoch: a multiple of 4,320 (so of
# 180, 60 and 3), the start of a bucket of every window below.
NOW = datetime(2026, 3, 5, 12, tzinfo=UTC)
LEASE_S = 600.0


def fixed() -> datetime:
    return NOW


def settled_lifetime(guard: Guard, counter: Callable[[Ticket], str]) -> float:
    """Admit and settle one call; how long the store keeps the ``counter`` it charged, plus the
    time this took (the store's TTL ran from a moment after the test started)."""
    started = time.monotonic()
    ticket = guard.admit(model=MODEL, reserve_usd="0.02", max_tokens=100, user_id="u")
    guard.settle_cost(ticket, "0.01")
    lifetime = counter_lifetime_s(guard.store, counter(ticket))
    return lifetime + (time.monotonic() - started)


# (period, seconds from NOW until the counter charged at NOW stops counting)
BUDGETS = [
    ("day", 12 * 3600),  # until Friday 2026-03-06 00:00 UTC
    ("week", 3 * 86400 + 12 * 3600),  # until Monday 2026-03-09 00:00 UTC
    ("month", 26 * 86400 + 12 * 3600),  # until 2026-04-01 00:00 UTC: 26 days and 12 hours
    # rolling: 60 buckets of W/60; the bucket charged at NOW, [NOW, NOW + W/60), counts until it
    # ends plus W
    ("rolling:1h", 60 + 3600),
    ("rolling:30s", 1 + 30),  # buckets are at least 1 s
    # rolling:366d: buckets of 31,622,400 / 60 = 527,040 s; NOW // 527,040 = 3,363, so the bucket
    # ends at 3,364 × 527,040 = 1,772,962,560 and counts until + 31,622,400 = 1,804,584,960,
    # which is 31,872,960 s after NOW
    ("rolling:366d", 31_872_960),
]

# (rule, seconds from NOW until the counter charged at NOW stops counting): a window W is cut
# into 20 buckets of W/20; the bucket charged at NOW counts until it ends plus W
LIMITS = [
    ("10/minute", 3 + 60),
    ("100000 tokens/hour", 180 + 3600),
    ("$5/day", 4320 + 86400),
    ("10/second", 0.05 + 1),
    ("10/12 months", 1_555_200 + 31_104_000),  # 360 days, buckets of 18 days
]


@pytest.mark.parametrize(("period", "counts_for_s"), BUDGETS)
def test_budget_counter_outlives_its_period(store_url: str, period: str, counts_for_s: int) -> None:
    """The counter a settled call charged is kept at least until it stops counting."""
    budget = Budget(scope="global", period=period, limit_usd=10)
    guard = Guard(store_url, budgets=[budget], notifiers=[], clock=fixed)
    try:
        assert settled_lifetime(guard, lambda ticket: ticket.applied[0].key) >= counts_for_s
    finally:
        guard.close()


@pytest.mark.parametrize(("rate", "counts_for_s"), LIMITS)
def test_limit_counter_outlives_its_window(store_url: str, rate: str, counts_for_s: float) -> None:
    """The counter a settled call charged is kept at least until it leaves the window."""
    guard = Guard(store_url, limits=[RateLimit(rate)], notifiers=[], clock=fixed)
    try:
        assert settled_lifetime(guard, lambda ticket: ticket.limits[0].key) >= counts_for_s
    finally:
        guard.close()


def test_held_concurrency_slot_outlives_its_lease(store_url: str) -> None:
    """A slot in flight counts until its lease ends: its counter is kept at least that long."""
    guard = Guard(
        store_url, limits=[RateLimit("1 concurrent")], notifiers=[], lease_s=LEASE_S, clock=fixed
    )
    try:
        started = time.monotonic()
        ticket = guard.admit(model=MODEL, reserve_usd=Decimal("0.01"), user_id="u")
        lifetime = counter_lifetime_s(guard.store, ticket.limits[0].key)
        assert lifetime + (time.monotonic() - started) >= LEASE_S
    finally:
        guard.close()


def test_extended_lease_keeps_its_counters(store: Store) -> None:
    """A reservation whose lease is renewed past its counters' TTL keeps them until the new
    lease ends: a concurrency slot has no window to leave, and a counter dropped while a slot
    is held forgets the slot (one call too many admitted, and a negative count once it ends)."""
    slot = Charge(key="slot", window=("slot",), limit=1, amount=1, ttl_s=60, on_expiry="release")
    reservation = rid()
    assert store.admit(reservation, [slot], lease_s=30).admitted
    started = time.monotonic()
    assert store.extend(reservation, 7200)
    lifetime = counter_lifetime_s(store, "slot")
    assert lifetime + (time.monotonic() - started) >= 7200
