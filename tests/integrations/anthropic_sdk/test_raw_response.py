"""``messages.with_raw_response``: the SDK's own raw response, admitted before sending and settled
from its body whether or not the caller parses it; a streamed one parses into a metered stream.

Every scenario compares what the fake provider billed with what costcap recorded, to the
picodollar.
"""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from anthropic._response import APIResponse, AsyncAPIResponse
from anthropic.types import Message

from costcap import BudgetExceeded, Guard
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    MESSAGES,
    MODEL,
    SLOW,
    Recorder,
    assert_complete,
    assert_partial,
    async_sdk_client,
    billed_pico,
    poor_async_guard,
    poor_guard,
    reserved_usd,
    sdk_client,
    served,
)


def test_raw_message_is_settled_before_it_is_parsed(
    client: anthropic.Anthropic, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """The raw response is the SDK's, with the provider's headers; the call is settled with the
    provider's usage before the caller parses anything."""
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert isinstance(raw, APIResponse)
    assert raw.headers["request-id"] == fp.last.request_id
    [event] = recorder.events
    assert (event.status, event.stream, event.output_tokens) == ("ok", False, 20)
    assert event.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard) == 0


def test_raw_parse_gives_the_plain_calls_message_once(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``parse()`` gives the Message the plain call returns, the same object each time."""
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    message = raw.parse()
    assert isinstance(message, Message)
    assert message is raw.parse()
    assert message.usage.output_tokens == fp.last.output_tokens
    assert recorder.statuses() == ["ok"]


def test_raw_call_over_budget_sends_nothing(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A raw call the budget cannot cover raises BudgetExceeded before any request leaves."""
    guard = poor_guard(recorder)
    with wrap(sdk_client(fp), guard=guard) as client, pytest.raises(BudgetExceeded):
        client.messages.with_raw_response.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    guard.close()


def test_raw_stream_parses_into_a_metered_stream(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A streamed raw response's ``parse()`` is an anthropic.Stream metered like the plain one,
    settled at its end with the provider's usage."""
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True
    )
    stream = raw.parse()
    assert isinstance(stream, anthropic.Stream)
    assert stream is raw.parse()
    assert recorder.events == []  # nothing read yet
    assert [event.type for event in stream][-1] == "message_stop"
    assert_complete(fp, recorder)


def test_raw_stream_left_early_records_the_partial_cost(
    client: anthropic.Anthropic, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """Breaking out of the parsed stream closes the connection and records what was billed."""
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    deltas = 0
    for event in raw.parse():
        deltas += event.type == "content_block_delta"
        if deltas == 3:
            break
    assert_partial(fp, recorder)
    assert reserved_usd(guard) == 0


def test_raw_stream_never_parsed_is_settled_when_dropped(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A streamed raw response dropped unparsed is closed and settled when collected."""
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    del raw
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert fp.last.disconnect == "client"
    assert recorder.cost_pico == billed_pico(fp) > 0


# -- async ----------------------------------------------------------------------------------------


async def test_async_raw_message_is_settled(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async raw response is settled before it is parsed; ``await parse()`` gives the
    Message, the same object each time."""
    raw = await aclient.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES
    )
    assert isinstance(raw, AsyncAPIResponse)
    assert recorder.statuses() == ["ok"]
    message = await raw.parse()
    assert isinstance(message, Message)
    assert message is await raw.parse()
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_raw_stream_read_to_the_end(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    raw = await aclient.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True
    )
    stream = await raw.parse()
    assert isinstance(stream, anthropic.AsyncStream)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "message_stop"
    assert_complete(fp, recorder)


async def test_async_raw_stream_left_early_records_the_partial_cost(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Leaving ``async with`` over the parsed stream mid-way settles the partial cost before
    the next statement."""
    raw = await aclient.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    deltas = 0
    async with await raw.parse() as stream:
        async for event in stream:
            deltas += event.type == "content_block_delta"
            if deltas == 3:
                break
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(assert_partial, fp, recorder)


async def test_async_raw_call_over_budget_sends_nothing(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = poor_async_guard(recorder)
    async with wrap(async_sdk_client(fp), guard=guard) as client:
        with pytest.raises(BudgetExceeded):
            await client.messages.with_raw_response.create(
                model=MODEL, max_tokens=50, messages=MESSAGES
            )
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    await guard.close()
