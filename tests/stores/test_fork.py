"""A store opened (and used) before ``os.fork()`` works in every child: each child talks to the
server over connections of its own, the parent keeps its own, and the totals are exact."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable

import pytest

from costcap.stores import (
    AsyncStore,
    Charge,
    CounterState,
    Store,
    open_async_store,
    open_store,
)
from tests.stores.helpers import rid

CHILDREN, CALLS = 3, 25
ACTUAL = 7
DEADLINE_S = 60.0  # a child stuck on its parent's connection hangs forever: fail instead
CHARGE = [Charge("b", ("b",), 10**9, 1_000)]

# Python 3.12+ warns about fork() in a process with threads (the PostgreSQL pool has some); the
# point of these tests is that a store survives exactly that, as under gunicorn --preload.
pytestmark = pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")


def one_call(store: Store) -> None:
    r = rid()
    assert store.admit(r, CHARGE, 60.0).admitted
    assert store.settle(r, [ACTUAL])


async def one_async_call(store: AsyncStore) -> None:
    r = rid()
    assert (await store.admit(r, CHARGE, 60.0)).admitted
    assert await store.settle(r, [ACTUAL])


def run_children(work: Callable[[], None]) -> list[int | None]:
    """Fork CHILDREN processes running ``work``; their exit codes (None: still running at the
    deadline, then killed)."""
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=work) for _ in range(CHILDREN)]
    for child in children:
        child.start()
    deadline = time.monotonic() + DEADLINE_S
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    codes = [child.exitcode for child in children]
    for child in children:
        if child.is_alive():
            child.kill()
            child.join()
    return codes


def test_forked_children_admit_and_settle_exactly(shared_store_url: str) -> None:
    """Parent admits once, CHILDREN forked children admit and settle CALLS calls each; no child
    hangs, every call is counted once, and the parent's store still works afterwards."""
    store = open_store(shared_store_url)
    try:
        one_call(store)

        def work() -> None:
            for _ in range(CALLS):
                one_call(store)

        assert run_children(work) == [0] * CHILDREN
        one_call(store)
        calls = CHILDREN * CALLS + 2
        assert store.read([("b",)]) == [CounterState(ACTUAL * calls, 0)]
    finally:
        store.close()


def test_forked_children_use_the_async_store_exactly(shared_store_url: str) -> None:
    """The same with the asyncio store: opened and used in the parent's event loop, then used in
    each child's own event loop."""
    store = open_async_store(shared_store_url)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(one_async_call(store))

        async def calls() -> None:
            for _ in range(CALLS):
                await one_async_call(store)

        assert run_children(lambda: asyncio.run(calls())) == [0] * CHILDREN
        loop.run_until_complete(one_async_call(store))
        total = CHILDREN * CALLS + 2
        assert loop.run_until_complete(store.read([("b",)])) == [CounterState(ACTUAL * total, 0)]
    finally:
        loop.run_until_complete(store.close())
        loop.close()
