"""The async PostgreSQL store, cancelled while it opens, leaves no pool behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from costcap.stores import Charge
from costcap.stores.postgres import AsyncPostgresStore
from tests.services import drop_postgres_schema, postgres_url


@pytest.fixture
def url() -> Iterator[str]:
    fresh = postgres_url()
    yield fresh
    drop_postgres_schema(fresh)


async def test_first_call_cancelled_while_the_pool_fills_closes_that_pool(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first call cancelled while its pool waits for its first connections closes that pool
    (it would keep its connections and worker tasks for good); the next call opens a new one
    and is answered."""
    filling: list[AsyncConnectionPool[Any]] = []
    entered = asyncio.Event()

    async def wait_forever(pool: AsyncConnectionPool[Any], timeout: float = 30.0) -> None:
        filling.append(pool)
        entered.set()
        await asyncio.Event().wait()

    store = AsyncPostgresStore.from_url(url)
    with monkeypatch.context() as patched:
        patched.setattr(AsyncConnectionPool, "wait", wait_forever)
        task = asyncio.ensure_future(store.read([("k",)]))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [pool] = filling
    closed = pool.closed
    await pool.close()  # (a no-op when the store closed it)
    assert closed
    charge = Charge(key="k", window=("k",), limit=10, amount=1)
    assert (await store.admit("r1", [charge], 60)).admitted
    await store.close()
