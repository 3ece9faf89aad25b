"""What only the memory store does: its lease heap stays bounded."""

from __future__ import annotations

from costcap.stores import Charge
from costcap.stores.memory import _LEASE_SLACK, MemoryStore


def charge(amount: int = 1) -> Charge:
    return Charge(key="b", window=("b",), limit=10**12, amount=amount)


def test_settled_calls_do_not_pile_up_in_the_lease_heap() -> None:
    """Every settled call leaves a stale lease entry; the heap is rebuilt before they outnumber
    the open reservations by more than the slack, so memory tracks open calls, not traffic."""
    store = MemoryStore()
    for i in range(20_000):
        store.admit(f"r{i}", [charge()], lease_s=600)
        store.settle(f"r{i}", [1])
    assert len(store._leases) <= _LEASE_SLACK + 1


def test_rebuilding_the_heap_keeps_open_leases() -> None:
    """Open reservations survive a rebuild: they still expire (and are charged) on time."""
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    store.admit("open", [charge(5)], lease_s=10)
    for i in range(5_000):
        store.admit(f"r{i}", [charge()], lease_s=600)
        store.settle(f"r{i}", [1])
    now[0] += 11
    assert store.expire() == 1
    assert store.read([("b",)])[0].spent == 5_000 + 5
