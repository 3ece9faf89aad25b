"""A cancelled admission takes nothing with it: no reservation without a ticket, no connection.

``AsyncGuard.admit`` runs its store step in a task the caller's cancellation does not reach; a
cancelled caller waits for that step to end and releases what it reserved before its
``CancelledError`` goes on (cancelled again meanwhile, it leaves at once and ``close()``
finishes the release). Most tests hold a store step at a gate to cancel at an exact point; the
first one cancels hundreds of admissions at random points on every backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from decimal import Decimal

import anyio
import pytest

from costcap import AsyncGuard, Budget, RateLimit, RateLimited
from costcap.ledger import CostEvent
from costcap.stores import Admission, AsyncAdapter, Charge, CounterState
from costcap.stores.memory import MemoryStore
from costcap.ticket import Ticket

MODEL = "gpt-4o-mini"
CENT = Decimal("0.01")


def budget(thresholds: list[int] | None = None) -> Budget:
    return Budget(scope="global", period="day", limit_usd=1000, thresholds=thresholds)


async def reserved(guard: AsyncGuard) -> Decimal:
    return sum((s["reserved_usd"] for s in await guard.status()), Decimal(0))


async def spent(guard: AsyncGuard) -> Decimal:
    return sum((s["spent_usd"] for s in await guard.status()), Decimal(0))


# -- random cancellation points, every backend ------------------------------------------------


async def test_cancelled_admissions_leave_nothing_reserved(store_url: str) -> None:
    """300 admissions cancelled at random points (wait_for with a 0-4 ms timeout or none, or
    cancel() after 0-8 event-loop iterations), ten at a time: once every task is done, the store
    holds exactly the reservations of the tickets returned, and 20 more admissions at once all
    pass (no pooled connection was lost)."""
    guard = AsyncGuard(store_url, budgets=[budget()], notifiers=[])
    await guard.status()  # opened (PostgreSQL migrates on first use)
    rng = random.Random(20_260_501)
    tickets: list[Ticket] = []

    async def admit() -> None:
        tickets.append(await guard.admit(model=MODEL, reserve_usd=CENT))

    async def timed_out() -> None:
        # a quarter run to their end, so tickets are returned however slow the store is
        timeout = None if rng.random() < 0.25 else rng.uniform(0, 0.004)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(admit(), timeout)

    async def cancelled() -> None:
        task = asyncio.ensure_future(admit())
        for _ in range(rng.randrange(9)):
            await asyncio.sleep(0)  # one event-loop iteration: a point to cancel at
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    for _ in range(30):
        await asyncio.gather(*(rng.choice([timed_out, cancelled])() for _ in range(10)))
    assert 0 < len(tickets) < 300
    assert await reserved(guard) == CENT * len(tickets)

    more = await asyncio.gather(*(guard.admit(model=MODEL, reserve_usd=CENT) for _ in range(20)))
    assert await reserved(guard) == CENT * (len(tickets) + len(more))
    await guard.close()


# -- exact cancellation points: a store whose steps wait at a gate -----------------------------


class GatedStore:
    """The memory store behind a gate: the step named ``gated`` waits until ``gate`` is set
    (``entered`` tells the test it is there). ``steps`` lists the steps that ran to their end.
    ``close()`` leaves the memory store readable, for a second guard to look at."""

    def __init__(self, gated: str) -> None:
        self.inner = AsyncAdapter(MemoryStore(), offload=False)
        self.gated = gated
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.steps: list[str] = []

    async def _pass(self, step: str) -> None:
        if step == self.gated:
            self.entered.set()
            await self.gate.wait()

    async def admit(
        self, reservation_id: str, charges: Sequence[Charge], lease_s: float
    ) -> Admission:
        await self._pass("admit")
        result = await self.inner.admit(reservation_id, charges, lease_s)
        self.steps.append("admit")
        return result

    async def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        await self._pass("settle")
        self.steps.append("settle")
        return await self.inner.settle(reservation_id, actuals)

    async def release(self, reservation_id: str) -> bool:
        await self._pass("release")
        self.steps.append("release")
        return await self.inner.release(reservation_id)

    async def extend(self, reservation_id: str, lease_s: float) -> bool:
        return await self.inner.extend(reservation_id, lease_s)

    async def expire(self) -> int:
        return await self.inner.expire()

    async def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        return await self.inner.read(windows)

    async def mark_once(self, marker: str, ttl_s: int) -> bool:
        await self._pass("mark_once")
        return await self.inner.mark_once(marker, ttl_s)

    async def close(self) -> None:
        self.steps.append("close")


async def test_cancelled_caller_lets_the_store_step_end_then_releases() -> None:
    """Cancelled while its store step is under way, admit() lets the step run to its end, releases
    what it reserved, and only then raises CancelledError: nothing stays reserved."""
    store = GatedStore("admit")
    guard = AsyncGuard(store, budgets=[budget()], notifiers=[])
    task = asyncio.ensure_future(guard.admit(model=MODEL, reserve_usd=CENT))
    await store.entered.wait()
    task.cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.steps == ["admit", "release"]
    assert await reserved(guard) == 0


async def test_caller_cancelled_again_leaves_at_once_and_close_finishes_the_release() -> None:
    """A caller cancelled again while it waits for its store step (an anyio cancel scope, as
    under Starlette, cancels on every loop iteration until the scope is left) stops waiting at
    once; the release then runs in the background, and close() waits for it before closing
    the store."""
    store = GatedStore("admit")
    guard = AsyncGuard(store, budgets=[budget()], notifiers=[])
    with anyio.move_on_after(0) as scope:
        await guard.admit(model=MODEL, reserve_usd=CENT)
    assert scope.cancelled_caught
    assert store.steps == []  # the step is still held at the gate
    store.gate.set()
    await guard.close()
    assert store.steps == ["admit", "release", "close"]
    assert await reserved(AsyncGuard(store, budgets=[budget()], notifiers=[])) == 0


async def test_cancelled_during_the_alert_step_releases_the_reservation() -> None:
    """Cancelled after its reservation, while admit() records an alert marker, the caller gets
    no ticket: the reservation is released."""
    store = GatedStore("mark_once")
    guard = AsyncGuard(store, budgets=[budget(thresholds=[0])], notifiers=[])
    task = asyncio.ensure_future(guard.admit(model=MODEL, reserve_usd=CENT))
    await store.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.steps == ["admit", "release"]
    assert await reserved(guard) == 0


async def test_cancelled_hit_frees_its_concurrency_slot() -> None:
    """A hit() cancelled while its store step runs gives its slot of a "1 concurrent" limit
    back: the next hit passes."""
    store = GatedStore("admit")
    guard = AsyncGuard(store, notifiers=[])
    rule = RateLimit("1 concurrent")
    task = asyncio.ensure_future(guard.hit([rule]))
    await store.entered.wait()
    task.cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.steps == ["admit", "release"]
    hit = await guard.hit([rule])  # would raise RateLimited had the slot stayed taken
    with pytest.raises(RateLimited):
        await guard.hit([rule])
    await guard.finish(hit)


# -- store steps that must land: settle, release, finish ----------------------------------------


async def test_cancelled_settle_still_lands_in_the_store() -> None:
    """A settle cancelled while its store step runs lets the step end: the reservation becomes
    the call's actual cost (not left for its lease to charge in full); the cancellation goes
    on."""
    store = GatedStore("settle")
    guard = AsyncGuard(store, budgets=[budget()], notifiers=[])
    ticket = await guard.admit(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    usage = {"input_tokens": 1000, "output_tokens": 1000}
    task = asyncio.ensure_future(guard.settle(ticket, usage))
    await store.entered.wait()
    task.cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.steps == ["admit", "settle"]
    assert await reserved(guard) == 0
    # gpt-4o-mini, $0.15 / $0.60 per million tokens: 1000 x 0.15 + 1000 x 0.6 = 750 micro-$
    assert await spent(guard) == Decimal("0.00075")


async def test_cancelled_settle_still_records_its_event() -> None:
    """A settle cancelled while its store step runs still tells the observers (the ledger):
    the call was billed, its event is written before the cancellation goes on."""
    events: list[CostEvent] = []
    recorder = type("Recorder", (), {"on_event": staticmethod(events.append)})()
    store = GatedStore("settle")
    guard = AsyncGuard(store, budgets=[budget()], notifiers=[], observers=[recorder])
    ticket = await guard.admit(model=MODEL, reserve_usd=CENT)
    task = asyncio.ensure_future(guard.settle_cost(ticket, CENT))
    await store.entered.wait()
    task.cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(e.status, e.cost_pico) for e in events] == [("ok", 10_000_000_000)]


async def test_cancelled_release_still_gives_the_reservation_back() -> None:
    """A release cancelled while its store step runs lets the step end: nothing stays
    reserved."""
    store = GatedStore("release")
    guard = AsyncGuard(store, budgets=[budget()], notifiers=[])
    ticket = await guard.admit(model=MODEL, reserve_usd=CENT)
    task = asyncio.ensure_future(guard.release(ticket))
    await store.entered.wait()
    task.cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.steps == ["admit", "release"]
    assert await reserved(guard) == 0


async def test_finish_under_an_ever_cancelling_scope_frees_the_slot_in_the_background() -> None:
    """``finish()`` in the ``finally`` of a request an anyio scope cancels (Starlette, on a
    client disconnect) leaves at once; its store step ends in the background, close() waits
    for it, and the "1 concurrent" slot is free again."""
    store = GatedStore("settle")
    guard = AsyncGuard(store, notifiers=[])
    rule = RateLimit("1 concurrent")
    hit = await guard.hit([rule])
    with anyio.move_on_after(0) as scope:
        await guard.finish(hit)
    assert scope.cancelled_caught
    assert store.steps == ["admit"]  # the settle is still held at the gate
    store.gate.set()
    await guard.close()
    assert store.steps == ["admit", "settle", "close"]
    again = AsyncGuard(store, notifiers=[])
    await again.finish(await again.hit([rule]))  # would raise RateLimited had the slot stayed
