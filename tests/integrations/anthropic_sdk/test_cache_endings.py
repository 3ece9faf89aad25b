"""What the response cache keeps of a call that did not end whole: nothing. A stream cut by
costcap at its reservation, one the caller leaves early, closes, drops or cancels, one the
provider breaks, an SDK error, a refusal at admission: none is stored, and each gives its lead up
at once (the next identical call reaches the provider without waiting on it). A refusal by the
policy is recorded and raised before the cache is asked.
"""

from __future__ import annotations

import asyncio
import gc

import anthropic
import httpx2
import pytest

from costcap import AsyncGuard, BudgetExceeded, Guard, Policy
from costcap.cache import AsyncResponseCache, CachePolicy, ResponseCache
from costcap.integrations.anthropic import StreamCut
from costcap.integrations.wrap import wrap
from costcap.policy import PolicyViolation
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    Recorder,
    Wire,
    asked,
    async_sdk_client,
    make_async_guard,
    make_guard,
    poor_async_guard,
    poor_guard,
    sdk_client,
    served,
)
from tests.waiting import until

RESERVED = 8
RUNAWAY = {"x-fake-output-tokens": "60"}  # past the reservation of a provider ignoring it


def assert_nothing_kept(cache: ResponseCache | AsyncResponseCache) -> None:
    stats = cache.stats
    assert (stats.stored, stats.waits, stats.hits) == (0, 0, 0)


def test_a_stream_cut_by_costcap_is_not_stored(
    fp: FakeProviderServer, guard: Guard, cache: ResponseCache
) -> None:
    """A provider that runs past ``max_tokens`` is cut at the reservation: the partial stream
    is not an answer; the same call again reaches the provider."""
    wire = Wire(max_tokens=4096)
    with wrap(sdk_client(fp, wire=wire), guard=guard, cache=cache) as client:
        for attempt in (1, 2):
            stream = client.messages.create(
                **asked(max_tokens=RESERVED, stream=True, extra_headers=RUNAWAY)
            )
            with pytest.raises(StreamCut):
                for _ in stream:
                    pass
            served(fp, attempt)
    assert len(fp.requests) == 2
    assert_nothing_kept(cache)


async def test_async_message_stream_cut_by_costcap_is_not_stored(
    fp: FakeProviderServer, aguard: AsyncGuard, acache: AsyncResponseCache
) -> None:
    wire = Wire(max_tokens=4096)
    async with wrap(async_sdk_client(fp, wire=wire), guard=aguard, cache=acache) as client:
        for _ in (1, 2):
            kwargs = asked(max_tokens=RESERVED, extra_headers=RUNAWAY)
            with pytest.raises(StreamCut):
                async with client.messages.stream(**kwargs) as stream:
                    await stream.until_done()
    assert len(wire.bodies) == 2
    assert_nothing_kept(acache)


def test_a_stream_left_early_is_not_stored(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    for attempt in (1, 2):
        stream = cached.messages.create(**asked(stream=True))
        for _ in stream:
            break
        stream.close()
        served(fp, attempt)
    assert len(fp.requests) == 2
    assert_nothing_kept(cache)


def test_a_message_stream_left_before_its_end_is_not_stored(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    """Left after ``message_delta`` (the usage is final) but before ``message_stop``: still
    not a whole answer."""
    for attempt in (1, 2):
        with cached.messages.stream(**asked()) as stream:
            for event in stream:
                if event.type == "message_delta":
                    break
        served(fp, attempt)
    assert len(fp.requests) == 2
    assert_nothing_kept(cache)


async def test_async_stream_left_early_is_not_stored(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, acache: AsyncResponseCache
) -> None:
    for attempt in (1, 2):
        async with acached.messages.stream(**asked()) as stream:
            async for _ in stream:
                break
        await until(lambda n=attempt: len(fp.requests) >= n)  # type: ignore[misc]
    assert len(fp.requests) == 2
    assert_nothing_kept(acache)


def test_a_dropped_stream_is_not_stored(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    """A stream dropped unclosed is closed and settled when collected: not stored."""
    stream = cached.messages.create(**asked(stream=True))
    next(iter(stream))
    del stream
    gc.collect()
    served(fp)
    list(cached.messages.create(**asked(stream=True)))
    assert len(fp.requests) == 2
    assert cache.stats.stored == 1  # the second, read to its end
    assert cache.stats.waits == 0


async def test_a_dropped_async_stream_is_not_stored(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, acache: AsyncResponseCache
) -> None:
    stream = await acached.messages.create(**asked(stream=True))
    await stream.__anext__()
    del stream
    gc.collect()
    await until(lambda: len(fp.requests) == 1)
    [e async for e in await acached.messages.create(**asked(stream=True))]
    assert len(fp.requests) == 2
    assert (acache.stats.stored, acache.stats.hits) == (1, 0)


def test_an_answer_larger_than_an_entry_is_not_stored(fp: FakeProviderServer, guard: Guard) -> None:
    """``max_entry_bytes`` bounds what is kept: a larger answer, plain or streamed, is
    answered and not stored (a stream stops being recorded past the bound)."""
    cache = ResponseCache(policy=CachePolicy(max_entry_bytes=300))
    with wrap(sdk_client(fp), guard=guard, cache=cache) as client:
        for _ in (1, 2):
            client.messages.create(**asked())
            list(client.messages.create(**asked(stream=True)))
    assert len(fp.requests) == 4
    assert (cache.stats.stored, cache.stats.waits) == (0, 0)
    assert cache.stats.too_large == 2  # the plain ones: a stream is dropped while it is read


def test_a_streaming_response_left_early_is_not_stored(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    for attempt in (1, 2):
        with cached.messages.with_streaming_response.create(**asked(stream=True)) as response:
            next(response.iter_lines())
        served(fp, attempt)
    assert len(fp.requests) == 2
    assert_nothing_kept(cache)


def test_a_stream_the_provider_breaks_is_not_stored(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    broken = {"x-fake-disconnect-after": "3"}
    for _ in (1, 2):
        stream = cached.messages.create(**asked(stream=True, extra_headers=broken))
        # the SDK's error; older releases of the SDK let httpx2's own error through
        with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
            list(stream)
    assert len(fp.requests) == 2
    assert_nothing_kept(cache)


def test_an_sdk_error_is_not_stored(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache, recorder: Recorder
) -> None:
    """A 500 is raised as the SDK's error and not stored: the same call (headers are not part
    of the request's key) is asked of the provider again, and that answer is stored."""
    with pytest.raises(anthropic.InternalServerError):
        cached.messages.create(**asked(extra_headers={"x-fake-error": "500"}))
    first = cached.messages.create(**asked())
    assert cached.messages.create(**asked()) == first
    assert len(fp.requests) == 2
    assert recorder.statuses() == ["error", "ok", "ok"]
    assert (cache.stats.stored, cache.stats.hits, cache.stats.waits) == (1, 1, 0)


async def test_async_sdk_error_is_not_stored(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, acache: AsyncResponseCache
) -> None:
    for _ in (1, 2):
        with pytest.raises(anthropic.InternalServerError):
            await acached.messages.create(**asked(extra_headers={"x-fake-error": "500"}))
    assert len(fp.requests) == 2
    assert_nothing_kept(acache)


def test_a_refusal_at_admission_gives_the_lead_up(
    fp: FakeProviderServer, recorder: Recorder, cache: ResponseCache
) -> None:
    """A call the budget refuses was a miss that sends nothing: its lead is given up, so the
    same call through a guard with money reaches the provider at once."""
    poor = poor_guard(recorder)
    with wrap(sdk_client(fp), guard=poor, cache=cache) as client, pytest.raises(BudgetExceeded):
        client.messages.create(**asked())
    assert not fp.requests
    rich = make_guard(recorder)
    with wrap(sdk_client(fp), guard=rich, cache=cache) as client:
        client.messages.create(**asked())
    assert len(fp.requests) == 1
    assert (cache.stats.misses, cache.stats.waits, cache.stats.stored) == (2, 0, 1)
    poor.close()
    rich.close()


async def test_async_refusal_at_admission_gives_the_lead_up(
    fp: FakeProviderServer, recorder: Recorder, acache: AsyncResponseCache
) -> None:
    poor = poor_async_guard(recorder)
    async with wrap(async_sdk_client(fp), guard=poor, cache=acache) as client:
        with pytest.raises(BudgetExceeded):
            async with client.messages.stream(**asked()) as stream:
                await stream.until_done()
    rich = make_async_guard(recorder)
    async with (
        wrap(async_sdk_client(fp), guard=rich, cache=acache) as client,
        client.messages.stream(**asked()) as stream,
    ):
        await stream.until_done()
    assert len(fp.requests) == 1
    assert (acache.stats.misses, acache.stats.waits, acache.stats.stored) == (2, 0, 1)
    await poor.close()
    await rich.close()


def test_a_policy_refusal_is_raised_before_the_cache_is_asked(
    fp: FakeProviderServer, recorder: Recorder, cache: ResponseCache
) -> None:
    guard = make_guard(recorder, Policy(allowed_models=["claude-sonnet-4-5"]))
    with (
        wrap(sdk_client(fp), guard=guard, cache=cache) as client,
        pytest.raises(PolicyViolation),
    ):
        client.messages.create(**asked())
    assert recorder.statuses() == ["refused"]
    assert (cache.stats.misses, cache.stats.hits, cache.stats.bypasses) == (0, 0, 0)
    assert not fp.requests
    guard.close()


async def test_a_cancelled_call_gives_the_lead_up(
    fp: FakeProviderServer, aguard: AsyncGuard, acache: AsyncResponseCache
) -> None:
    """A call cancelled in flight is not stored; the same call next reaches the provider
    without waiting on it."""
    wire = Wire()
    async with wrap(async_sdk_client(fp, wire=wire), guard=aguard, cache=acache) as client:
        slow = {"x-fake-latency-ms": "300"}
        task = asyncio.ensure_future(client.messages.create(**asked(extra_headers=slow)))
        await until(lambda: len(wire.bodies) == 1)  # sent
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.messages.create(**asked())
    assert (acache.stats.misses, acache.stats.waits, acache.stats.stored) == (2, 0, 1)
    await until(lambda: len(fp.requests) == 2)  # the provider answered both
