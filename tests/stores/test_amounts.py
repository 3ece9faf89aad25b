"""Amounts outside 0..MAX_AMOUNT: the same UsageError on every backend, and nothing changed."""

from __future__ import annotations

import pytest

from costcap.errors import UsageError
from costcap.stores import MAX_AMOUNT, Charge, CounterState, Store, open_async_store
from tests.stores.helpers import rid

LEASE = 60.0
# too large for Redis's exact sums, SQLite's and PostgreSQL's 64-bit integers; and below zero
OUT_OF_RANGE = [MAX_AMOUNT + 1, 10**19, -1]


def one(key: str = "b", amount: int = 10_000, limit: int = 1_000_000) -> Charge:
    return Charge(key=key, window=(key,), limit=limit, amount=amount)


@pytest.mark.parametrize("amount", OUT_OF_RANGE)
def test_a_charge_out_of_range_is_a_usage_error_that_reserves_nothing(
    store: Store, amount: int
) -> None:
    """admit with one charge out of range raises UsageError; no charge of the call is reserved."""
    store.admit(rid(), [one("a", amount=7)], LEASE)
    before = store.read([("a",), ("b",)])
    r = rid()
    with pytest.raises(UsageError, match=r"outside 0\.\.1000000000000000"):
        store.admit(r, [one("a", amount=5), one("b", amount=amount, limit=MAX_AMOUNT)], LEASE)
    assert store.read([("a",), ("b",)]) == before
    assert not store.release(r)  # no reservation was recorded under that id


@pytest.mark.parametrize("actual", OUT_OF_RANGE)
def test_an_actual_out_of_range_is_a_usage_error_that_keeps_the_reservation(
    store: Store, actual: int
) -> None:
    """settle with an actual out of range raises UsageError; the reservation is still held."""
    r = rid()
    store.admit(r, [one("a", amount=3), one("b")], LEASE)
    before = store.read([("a",), ("b",)])
    with pytest.raises(UsageError, match=r"outside 0\.\.1000000000000000"):
        store.settle(r, [1, actual])
    assert store.read([("a",), ("b",)]) == before == [CounterState(0, 3), CounterState(0, 10_000)]


def test_release_after_a_refused_settle_frees_exactly_the_reservation(store: Store) -> None:
    """After a settle refused for its amount, release gives back exactly what was reserved."""
    r = rid()
    store.admit(r, [one(amount=10_000, limit=990_000)], LEASE)
    with pytest.raises(UsageError):
        store.settle(r, [10**19])
    assert store.release(r)
    assert store.read([("b",)]) == [CounterState(0, 0)]
    admitted = sum(store.admit(rid(), [one(limit=990_000)], LEASE).admitted for _ in range(100))
    assert admitted == 99  # 99 worst cases of $0.01 fit under $0.99, not 100


def test_settle_after_a_refused_settle_counts_exactly_the_actual(store: Store) -> None:
    """After a settle refused for its amount, a settle in range spends exactly its actual."""
    r = rid()
    store.admit(r, [one()], LEASE)
    with pytest.raises(UsageError):
        store.settle(r, [-5])
    assert store.settle(r, [4_321])
    assert store.read([("b",)]) == [CounterState(4_321, 0)]


def test_max_amount_itself_is_taken_exactly(store: Store) -> None:
    """MAX_AMOUNT is in range: reserved, settled and summed without rounding."""
    r = rid()
    assert store.admit(r, [one(amount=MAX_AMOUNT, limit=MAX_AMOUNT)], LEASE).admitted
    assert store.settle(r, [MAX_AMOUNT])
    assert store.admit(rid(), [Charge("b", ("b",), 0, MAX_AMOUNT - 1, hard=False)], LEASE).admitted
    assert store.read([("b",)]) == [CounterState(MAX_AMOUNT, MAX_AMOUNT - 1)]


async def test_async_stores_refuse_the_same_amounts(store_url: str) -> None:
    """The asyncio stores raise the same UsageError for admit and settle, changing nothing."""
    store = open_async_store(store_url)
    r = rid()
    try:
        await store.admit(r, [one()], LEASE)
        with pytest.raises(UsageError):
            await store.admit(rid(), [one(amount=MAX_AMOUNT + 1)], LEASE)
        with pytest.raises(UsageError):
            await store.settle(r, [10**19])
        assert await store.read([("b",)]) == [CounterState(0, 10_000)]
        assert await store.settle(r, [9])
        assert await store.read([("b",)]) == [CounterState(9, 0)]
    finally:
        await store.close()
