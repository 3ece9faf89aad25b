"""Identical calls at the same time make ONE provider call: threads on a sync client, tasks on
an async one; every caller gets the answer (the leader from the provider, the others from the
cache). A leader whose call fails lets the others go on. A cache backend that is down never
fails a call: every call is answered by the provider and the failures are counted.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest

from costcap import AsyncGuard, Guard
from costcap.cache import AsyncResponseCache, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    Recorder,
    Wire,
    asked,
    assert_hit_recorded,
    async_sdk_client,
    sdk_client,
)
from tests.waiting import until

CALLERS = 100
SLOW = {"x-fake-latency-ms": "300"}  # the leader's call is in flight while the others ask
DOWN = "redis://127.0.0.1:1/0"  # nothing listens there


def in_threads(call: Any, count: int = CALLERS) -> list[Any]:
    """``call()`` in ``count`` threads released at once; their results (or exceptions)."""
    barrier = threading.Barrier(count)

    def run(_: int) -> Any:
        barrier.wait()
        try:
            return call()
        except anthropic.APIError as exc:  # the test looks at what each caller got
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_identical_concurrent_calls_make_one_provider_call(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache, recorder: Recorder
) -> None:
    results = in_threads(lambda: cached.messages.create(**asked(extra_headers=SLOW)))
    assert len(fp.requests) == 1
    assert all(isinstance(r, anthropic.types.Message) for r in results)
    assert all(r == results[0] for r in results)
    assert (cache.stats.misses, cache.stats.hits, cache.stats.stored) == (1, CALLERS - 1, 1)
    assert cache.stats.waits > 0
    assert_hit_recorded(fp, recorder, stream=False, hits=CALLERS - 1)


def test_identical_concurrent_streams_make_one_provider_call(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache, recorder: Recorder
) -> None:
    """The others wait for the leader's stream to end, then replay it."""
    slow = {"x-fake-chunk-delay-ms": "10"}
    results = in_threads(
        lambda: list(cached.messages.create(**asked(stream=True, extra_headers=slow)))
    )
    assert len(fp.requests) == 1
    assert all(r == results[0] for r in results)
    assert cache.stats.waits > 0
    assert_hit_recorded(fp, recorder, stream=True, hits=CALLERS - 1)


async def test_identical_concurrent_tasks_make_one_provider_call(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, acache: AsyncResponseCache,
    recorder: Recorder,
) -> None:  # fmt: skip
    results = await asyncio.gather(
        *(acached.messages.create(**asked(extra_headers=SLOW)) for _ in range(CALLERS))
    )
    assert len(fp.requests) == 1
    assert all(r == results[0] for r in results)
    assert (acache.stats.misses, acache.stats.hits, acache.stats.waits) == (1, 99, 99)
    assert_hit_recorded(fp, recorder, stream=False, hits=CALLERS - 1)


async def test_identical_concurrent_message_streams_make_one_provider_call(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async def read() -> Any:
        async with acached.messages.stream(**asked(extra_headers=SLOW)) as stream:
            return await stream.get_final_message()

    results = await asyncio.gather(*(read() for _ in range(CALLERS)))
    assert len(fp.requests) == 1
    assert all(r == results[0] for r in results)
    assert_hit_recorded(fp, recorder, stream=True, hits=CALLERS - 1)


def test_a_failing_leader_lets_the_others_go_on(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    """The first attempt fails (a 500 for the caller who led); the next leader's call is
    answered and stored; everyone else gets it from the cache."""
    failing = {**SLOW, "x-fake-fail-times": "1", "x-fake-error": "500",
               "x-fake-request-key": uuid.uuid4().hex}  # fmt: skip
    results = in_threads(lambda: cached.messages.create(**asked(extra_headers=failing)), 20)
    errors = [r for r in results if isinstance(r, Exception)]
    answers = [r for r in results if not isinstance(r, Exception)]
    assert [type(e) for e in errors] == [anthropic.InternalServerError]
    assert len(answers) == 19
    assert all(a == answers[0] for a in answers)
    assert len(fp.requests) == 2
    assert (cache.stats.stored, cache.stats.hits) == (1, 18)


async def test_a_cancelled_leader_lets_the_others_go_on(
    fp: FakeProviderServer, aguard: AsyncGuard, acache: AsyncResponseCache
) -> None:
    wire = Wire()
    async with wrap(async_sdk_client(fp, wire=wire), guard=aguard, cache=acache) as client:
        leader = asyncio.ensure_future(client.messages.create(**asked(extra_headers=SLOW)))
        await until(lambda: len(wire.bodies) == 1)  # sent
        others = [asyncio.ensure_future(client.messages.create(**asked())) for _ in range(10)]
        await until(lambda: acache.stats.waits == 10)
        leader.cancel()
        results = await asyncio.gather(*others)
        with pytest.raises(asyncio.CancelledError):
            await leader
    assert all(r == results[0] for r in results)
    assert (acache.stats.stored, acache.stats.hits) == (1, 9)
    await until(lambda: len(fp.requests) == 2)  # the provider answered the leader too


def test_a_cache_that_is_down_never_fails_a_call(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    cache = ResponseCache(DOWN)
    with wrap(sdk_client(fp), guard=guard, cache=cache) as client:
        first = client.messages.create(**asked())
        second = client.messages.create(**asked())
        streamed = list(client.messages.create(**asked(stream=True)))
    assert second.id != first.id
    assert streamed[-1].type == "message_stop"
    assert len(fp.requests) == 3
    assert cache.stats.errors > 0
    assert cache.stats.hits == 0
    assert recorder.statuses() == ["ok", "ok", "ok"]


async def test_an_async_cache_that_is_down_never_fails_a_call(
    fp: FakeProviderServer, aguard: AsyncGuard
) -> None:
    cache = AsyncResponseCache(DOWN)
    async with wrap(async_sdk_client(fp), guard=aguard, cache=cache) as client:
        await client.messages.create(**asked())
        await client.messages.create(**asked())
        async with client.messages.stream(**asked()) as stream:
            await stream.until_done()
    assert len(fp.requests) == 3
    assert cache.stats.errors > 0
