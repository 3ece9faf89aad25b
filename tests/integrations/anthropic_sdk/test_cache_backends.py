"""The wrapped Anthropic clients' core cache behaviours on the backends several processes share:
SQLite and Redis (the in-process ``memory://`` runs everywhere else). A hit of each shape, sync
and async; identical calls at once make one provider call; a stream left early is not kept.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from costcap import AsyncGuard, Guard
from costcap.cache import AsyncResponseCache, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    Recorder,
    asked,
    assert_hit_recorded,
    async_sdk_client,
    sdk_client,
    served,
)

SLOW = {"x-fake-latency-ms": "300"}


def test_create_is_answered_from_the_cache(
    shared_cache_url: str, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    cache = ResponseCache(shared_cache_url)
    with wrap(sdk_client(fp), guard=guard, cache=cache) as client:
        first = client.messages.create(**asked())
        assert client.messages.create(**asked()) == first
    assert_hit_recorded(fp, recorder, stream=False)
    cache.close()


def test_a_stream_is_replayed_event_for_event(
    shared_cache_url: str, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    cache = ResponseCache(shared_cache_url)
    with wrap(sdk_client(fp), guard=guard, cache=cache) as client:
        first = list(client.messages.create(**asked(stream=True)))
        assert list(client.messages.create(**asked(stream=True))) == first
    assert_hit_recorded(fp, recorder, stream=True)
    cache.close()


async def test_async_calls_are_answered_from_the_cache(
    shared_cache_url: str, fp: FakeProviderServer, aguard: AsyncGuard, recorder: Recorder
) -> None:
    cache = AsyncResponseCache(shared_cache_url)
    async with wrap(async_sdk_client(fp), guard=aguard, cache=cache) as client:
        first = await client.messages.create(**asked())
        assert await client.messages.create(**asked()) == first
        async with client.messages.stream(**asked()) as stream:
            original = await stream.get_final_message()
        async with client.messages.stream(**asked()) as stream:
            assert await stream.get_final_message() == original
    assert len(fp.requests) == 2
    assert [e.cache_hit for e in recorder.events] == [False, True, False, True]
    await cache.close()


def test_identical_concurrent_calls_make_one_provider_call(
    shared_cache_url: str, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    cache = ResponseCache(shared_cache_url)
    barrier = threading.Barrier(20)
    with wrap(sdk_client(fp), guard=guard, cache=cache) as client:

        def call(_: int) -> Any:
            barrier.wait()
            return client.messages.create(**asked(extra_headers=SLOW))

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(call, range(20)))
    assert all(r == results[0] for r in results)
    assert_hit_recorded(fp, recorder, stream=False, hits=19)
    cache.close()


async def test_identical_concurrent_tasks_make_one_provider_call(
    shared_cache_url: str, fp: FakeProviderServer, aguard: AsyncGuard, recorder: Recorder
) -> None:
    cache = AsyncResponseCache(shared_cache_url)
    async with wrap(async_sdk_client(fp), guard=aguard, cache=cache) as client:
        results = await asyncio.gather(
            *(client.messages.create(**asked(extra_headers=SLOW)) for _ in range(20))
        )
    assert all(r == results[0] for r in results)
    assert_hit_recorded(fp, recorder, stream=False, hits=19)
    await cache.close()


def test_a_stream_left_early_is_not_stored(
    shared_cache_url: str, fp: FakeProviderServer, guard: Guard
) -> None:
    cache = ResponseCache(shared_cache_url)
    with wrap(sdk_client(fp), guard=guard, cache=cache) as client:
        for attempt in (1, 2):
            with client.messages.stream(**asked()) as stream:
                next(iter(stream))
            served(fp, attempt)
    assert (cache.stats.stored, cache.stats.waits, cache.stats.hits) == (0, 0, 0)
    cache.close()
