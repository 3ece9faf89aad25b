"""``messages.with_streaming_response``: the SDK's streaming response, its body metered as the
caller reads it, settled when the block is left — including before the end.

Every scenario compares what the fake provider billed with what costcap recorded, to the
picodollar. Bodies left early use paced chunks (the provider bills what reached costcap).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import anthropic
import pytest
from anthropic._response import APIResponse, AsyncAPIResponse
from anthropic.types import Message

from costcap import AsyncGuard, BudgetExceeded, Guard
from costcap.integrations._meter import UNREAD_CHARGED, StreamCut
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    FULL,
    HAIKU_IN_PICO,
    HAIKU_OUT_PICO,
    MESSAGES,
    MODEL,
    SLOW,
    Recorder,
    Wire,
    assert_complete,
    assert_partial,
    async_sdk_client,
    billed_pico,
    make_guard,
    poor_async_guard,
    poor_guard,
    reserved_usd,
    sdk_client,
    served,
)


def _until_deltas(lines: Iterator[str], deltas: int) -> None:
    seen = 0
    for line in lines:
        seen += line.startswith("event: content_block_delta")
        if seen == deltas:
            return


# -- JSON bodies ----------------------------------------------------------------------------------


def test_streaming_response_is_the_sdks_and_parses_into_the_message(
    client: anthropic.Anthropic, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """The block gives the SDK's streaming APIResponse; ``parse()`` gives the Message; the call
    is settled with the provider's usage."""
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES
    ) as response:
        assert isinstance(response, APIResponse)
        assert response.headers["request-id"] == fp.last.request_id
        message = response.parse()
    assert isinstance(message, Message)
    [event] = recorder.events
    assert (event.status, event.stream, event.output_tokens) == ("ok", False, FULL)
    assert event.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard) == 0


def test_json_body_left_unread_is_settled_at_its_usage(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A block left without reading: the answer was billed whole; its usage is read from the
    rest of the body at the exit."""
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES
    ):
        pass
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_streaming_response_over_budget_sends_nothing(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Entering the block admits the call: over budget, BudgetExceeded and nothing sent."""
    guard = poor_guard(recorder)
    with wrap(sdk_client(fp), guard=guard) as client:
        manager = client.messages.with_streaming_response.create(
            model=MODEL, max_tokens=50, messages=MESSAGES, stream=True
        )
        with pytest.raises(BudgetExceeded), manager:
            pass
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    guard.close()


# -- SSE bodies -----------------------------------------------------------------------------------


def test_sse_body_read_to_the_end_records_what_was_billed(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A streamed body read line by line is settled with the provider's final usage."""
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True
    ) as response:
        lines = list(response.iter_lines())
    delta = next(json.loads(line[6:]) for line in lines if '"message_delta"' in line)
    assert delta["usage"]["output_tokens"] == FULL
    assert_complete(fp, recorder)


def test_sse_body_parsed_into_the_sdks_stream(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``parse()`` of a streamed body is the SDK's own Stream of raw events, read through the
    meter."""
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True
    ) as response:
        stream = response.parse()
        assert isinstance(stream, anthropic.Stream)
        kinds = [event.type for event in stream]
    assert kinds[-1] == "message_stop"
    assert_complete(fp, recorder)


def test_sse_body_left_early_records_the_partial_cost(
    client: anthropic.Anthropic, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """Leaving the block mid-body closes the connection and records what was read."""
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    ) as response:
        _until_deltas(response.iter_lines(), 3)
    assert_partial(fp, recorder)
    assert reserved_usd(guard) == 0


def test_sse_body_past_its_reservation_is_cut(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A provider generating past max_tokens: the reader gets StreamCut, the connection is
    closed and the partial cost recorded."""
    guard = make_guard(recorder)
    with (
        wrap(sdk_client(fp, wire=Wire(max_tokens=4096)), guard=guard) as client,
        client.messages.with_streaming_response.create(
            model=MODEL, max_tokens=8, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "60"},
        ) as response,
        pytest.raises(StreamCut) as cut,
    ):  # fmt: skip
        response.read()
    served(fp)
    assert fp.last.disconnect == "client"
    assert fp.last.output_text.count("hello") == 9
    [event] = recorder.events
    assert (event.status, event.output_tokens) == ("cut", fp.last.output_tokens)
    assert cut.value.limit == 8
    assert event.cost_pico == billed_pico(fp) > 0
    guard.close()


def test_strict_sse_body_left_early_is_charged_its_reservation(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Under strict, a body left after its first line is charged message_start's input +
    max_tokens, flagged."""
    guard = make_guard(recorder, strict=True)
    with (
        wrap(sdk_client(fp), guard=guard) as client,
        client.messages.with_streaming_response.create(
            model=MODEL, max_tokens=40, messages=MESSAGES, stream=True,
            extra_headers={"x-fake-output-tokens": "40"},
        ) as response,
    ):  # fmt: skip
        _until_deltas(response.iter_lines(), 1)
    served(fp)
    [event] = recorder.events
    assert (event.status, event.output_tokens, event.flag) == ("cut", 40, UNREAD_CHARGED)
    assert event.cost_pico == fp.last.input_tokens * HAIKU_IN_PICO + 40 * HAIKU_OUT_PICO
    assert event.cost_pico >= billed_pico(fp)
    guard.close()


# -- async ----------------------------------------------------------------------------------------


async def test_async_json_body_parses_into_the_message(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async with aclient.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES
    ) as response:
        assert isinstance(response, AsyncAPIResponse)
        message = await response.parse()
    assert isinstance(message, Message)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_sse_body_read_to_the_end(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async with aclient.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True
    ) as response:
        chunks = [chunk async for chunk in response.iter_bytes()]
    assert b"message_stop" in b"".join(chunks)
    await asyncio.to_thread(assert_complete, fp, recorder)


async def test_async_sse_body_left_early_records_the_partial_cost(
    aclient: anthropic.AsyncAnthropic,
    fp: FakeProviderServer,
    aguard: AsyncGuard,
    recorder: Recorder,
) -> None:
    """Leaving ``async with`` mid-body settles the partial cost before the next statement."""
    async with aclient.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    ) as response:
        deltas = 0
        async for line in response.iter_lines():
            deltas += line.startswith("event: content_block_delta")
            if deltas == 3:
                break
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(assert_partial, fp, recorder)
    assert sum(s["reserved_usd"] for s in await aguard.status()) == 0


async def test_async_streaming_response_over_budget_sends_nothing(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = poor_async_guard(recorder)
    async with wrap(async_sdk_client(fp), guard=guard) as client:
        manager = client.messages.with_streaming_response.create(
            model=MODEL, max_tokens=50, messages=MESSAGES
        )
        with pytest.raises(BudgetExceeded):
            async with manager:
                pass
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    await guard.close()
