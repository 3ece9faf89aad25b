"""``AsyncOpenAI(http_client=costcap.async_http_client(guard))``: the async SDK's calls admitted,
bounded and settled at what the fake provider billed."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import openai
import pytest

import costcap
from costcap import AsyncGuard, BudgetExceeded
from costcap.testing import FakeProviderServer
from costcap.wire import refusal
from tests.wire.conftest import (
    GC_PACED,
    GPT,
    HELLO,
    SLOW,
    Recorder,
    Sent,
    billed_pico,
    guarded,
    make_async_guard,
    served,
    settled_cut,
)


@pytest.fixture
async def client(fp: FakeProviderServer, aguard: AsyncGuard) -> AsyncIterator[openai.AsyncOpenAI]:
    async with guarded(openai.AsyncOpenAI, fp, aguard) as sdk:
        yield sdk


async def test_a_completion_is_settled_at_what_the_provider_billed(
    client: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """One call, one ``ok`` event priced exactly as billed."""
    await client.chat.completions.create(model=GPT, messages=HELLO)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_a_stream_read_to_the_end_is_settled_ok(
    client: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Streamed to the end: no usage chunk shown (not asked for), settled ``ok`` as billed."""
    stream = await client.chat.completions.create(model=GPT, messages=HELLO, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.choices for chunk in chunks)
    served(fp)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_a_stream_left_early_is_settled_cut_at_what_was_billed(
    client: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder, aguard: AsyncGuard
) -> None:
    """Leaving ``async with`` after the first word closes the upstream and settles ``cut``
    before the block is left."""
    stream = await client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True, extra_headers={**SLOW, "x-fake-output-tokens": "30"}
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
    settled_cut(fp, recorder, under=30)
    assert sum(s["reserved_usd"] for s in await aguard.status()) == 0


async def test_a_stream_dropped_unread_is_settled_in_the_background(
    client: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder, aguard: AsyncGuard
) -> None:
    """Dropped without closing, a stream is closed and settled in a task the guard holds:
    ``guard.close()`` waits for it."""
    stream = await client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True, extra_headers=GC_PACED
    )
    await stream.__anext__()
    del stream
    gc.collect()
    await aguard._finish_background()
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_cancelled_reader_closes_and_settles_the_stream(
    client: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A task cancelled while it waits for the next chunk: upstream closed, settled ``cut``."""
    stream = await client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True, extra_headers={"x-fake-chunk-delay-ms": "2000"}
    )
    first = asyncio.Event()

    async def read() -> None:
        async with stream:
            async for _ in stream:
                first.set()

    task = asyncio.create_task(read())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert fp.last.disconnect == "client"
    assert recorder.cost_pico == billed_pico(fp)


async def test_a_streamed_response_is_settled_at_what_was_billed(
    client: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Responses API, streamed: settled ``ok`` at the billed price."""
    stream = await client.responses.create(model=GPT, input="Say hello.", stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.completed"
    served(fp)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_a_streamed_response_past_its_reservation_ends_cleanly(
    fp: FakeProviderServer, recorder: Recorder, aguard: AsyncGuard
) -> None:
    """A provider ignoring ``max_output_tokens``: the stream is cut at the reservation (the
    SDK's iteration ends), settled ``cut`` at what was billed."""
    slow = {**SLOW, "x-fake-output-tokens": "40"}
    async with guarded(openai.AsyncOpenAI, fp, aguard, sent=Sent(caps_to=1000)) as client:
        stream = await client.responses.create(
            model=GPT, input="Say hello.", stream=True, max_output_tokens=5, extra_headers=slow
        )
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
    assert 0 < len(deltas) < 40
    settled_cut(fp, recorder, under=40)


async def test_a_budget_refusal_sends_nothing(fp: FakeProviderServer, recorder: Recorder) -> None:
    """No room: the SDK's 402 error carrying costcap's BudgetExceeded; nothing sent."""
    guard = make_async_guard(recorder, limit_usd=0)
    async with guarded(openai.AsyncOpenAI, fp, guard, max_retries=2) as client:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(model=GPT, messages=HELLO)
    await guard.close()
    assert raised.value.status_code == 402
    assert isinstance(refusal(raised.value), BudgetExceeded)
    assert fp.requests == ()


async def test_a_provider_error_releases_the_reservation(
    client: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder, aguard: AsyncGuard
) -> None:
    """A 503 from the provider: the SDK's error, an ``error`` event at $0, nothing reserved."""
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model=GPT, messages=HELLO,
                                             extra_headers={"x-fake-error": "503"})  # fmt: skip
    assert recorder.statuses() == ["error"]
    assert sum(s["reserved_usd"] for s in await aguard.status()) == 0


async def test_an_attribute_block_reaches_the_transport_per_task(
    fp: FakeProviderServer, recorder: Recorder, aguard: AsyncGuard
) -> None:
    """Each task's ``costcap.attribute`` block attributes the calls it makes, concurrently."""
    latency = {"x-fake-latency-ms": "20"}  # the three calls are in flight together

    async with guarded(openai.AsyncOpenAI, fp, aguard) as sdk:

        async def call_as(user: str) -> None:
            with costcap.attribute(user_id=user, feature="chat"):
                await sdk.chat.completions.create(model=GPT, messages=HELLO, extra_headers=latency)

        await asyncio.gather(*(call_as(user) for user in ("ann", "ben", "cat")))
    assert sorted((e.user_id, e.feature) for e in recorder.events) == [
        ("ann", "chat"), ("ben", "chat"), ("cat", "chat"),
    ]  # fmt: skip


async def test_an_unknown_endpoint_passes_through(
    client: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``GET /v1/models`` is sent as it is; nothing admitted."""
    assert (await client.models.list()).data
    assert recorder.events == []
