"""The response cache on streamed calls: ``create(stream=True)``, ``messages.stream(...)``, their
raw and streaming responses and ``beta.messages``, sync and async. A stream read to its end is
stored as the provider's events; an identical second call replays them event for event — text,
a tool call (``input_json_delta``) and thinking (``thinking_delta``, ``signature_delta``) —
through the SDK's own stream classes, ``get_final_message()`` equal to the first's.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic.lib.streaming import (
    AsyncMessageStream,
    BetaAsyncMessageStream,
    BetaMessageStream,
    MessageStream,
)

from costcap.cache import CachePolicy, CacheRequest, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    MESSAGES,
    MODEL,
    THINK,
    THINKING,
    TOOL_CALL,
    TOOLS,
    Recorder,
    asked,
    assert_hit_recorded,
    make_guard,
    sdk_client,
)

BETAS = ["context-management-2025-06-27"]
RAW = {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
       "message_delta", "message_stop"}  # fmt: skip


def deltas(events: list[Any]) -> set[str]:
    return {e.delta.type for e in events if e.type == "content_block_delta"}


def test_create_stream_replays_event_for_event(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = list(cached.messages.create(**asked(stream=True)))
    replayed = cached.messages.create(**asked(stream=True))
    assert isinstance(replayed, anthropic.Stream)
    second = list(replayed)
    assert second == first
    assert [e.type for e in second][-1] == "message_stop"
    assert_hit_recorded(fp, recorder, stream=True)


async def test_async_create_stream_replays_event_for_event(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = [e async for e in await acached.messages.create(**asked(stream=True))]
    replayed = await acached.messages.create(**asked(stream=True))
    assert isinstance(replayed, anthropic.AsyncStream)
    second = [e async for e in replayed]
    assert second == first
    assert_hit_recorded(fp, recorder, stream=True)


def test_a_tool_call_replays_event_for_event(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A streamed tool call: its ``input_json_delta`` pieces come back as they were sent."""
    kwargs = asked(stream=True, tools=TOOLS, extra_headers=TOOL_CALL)
    first = list(cached.messages.create(**kwargs))
    second = list(cached.messages.create(**kwargs))
    assert second == first
    assert "input_json_delta" in deltas(first)
    assert fp.requests[0].tool_calls == ("get_weather",)
    assert_hit_recorded(fp, recorder, stream=True)


async def test_async_message_stream_replays_a_tool_call(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``messages.stream`` with a tool call: the same events (the SDK's ``input_json`` ones
    too) and the same final message, its ``tool_use`` input whole."""
    kwargs = asked(tools=TOOLS, extra_headers=TOOL_CALL)
    async with acached.messages.stream(**kwargs) as stream:
        first = [e async for e in stream]
        original = await stream.get_final_message()
    async with acached.messages.stream(**kwargs) as stream:
        assert isinstance(stream, AsyncMessageStream)
        second = [e async for e in stream]
        replayed = await stream.get_final_message()
    assert second == first
    assert replayed == original
    assert replayed.content[-1].type == "tool_use"
    assert replayed.content[-1].input == {"city": "hello", "days": 1}
    assert_hit_recorded(fp, recorder, stream=True)


def test_message_stream_replays_thinking(fp: FakeProviderServer, recorder: Recorder) -> None:
    """Thinking (enabled thinking is not at temperature 0: a policy caching every request):
    ``thinking_delta`` and ``signature_delta`` replay as sent, and the final message's signed
    thinking block is the original's."""
    guard = make_guard(recorder)
    cache = ResponseCache(policy=CachePolicy(mode="always"))
    kwargs: dict[str, Any] = {
        "model": MODEL, "max_tokens": 2048, "messages": MESSAGES, "thinking": THINKING,
        "extra_headers": THINK,
    }  # fmt: skip
    with wrap(sdk_client(fp), guard=guard, cache=cache) as client:
        with client.messages.stream(**kwargs) as stream:
            first = list(stream)
            original = stream.get_final_message()
        with client.messages.stream(**kwargs) as stream:
            assert isinstance(stream, MessageStream)
            second = list(stream)
            replayed = stream.get_final_message()
    assert second == first
    assert {"thinking_delta", "signature_delta", "text_delta"} <= deltas(first)
    assert replayed == original
    assert replayed.content[0].type == "thinking"
    assert replayed.content[0].signature
    assert fp.requests[0].thinking_tokens == 12
    assert_hit_recorded(fp, recorder, stream=True)
    guard.close()


async def test_async_create_stream_replays_thinking(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    from costcap.cache import AsyncResponseCache
    from tests.integrations.anthropic_sdk.conftest import async_sdk_client, make_async_guard

    guard = make_async_guard(recorder)
    cache = AsyncResponseCache(policy=CachePolicy(mode="always"))
    kwargs: dict[str, Any] = {
        "model": MODEL, "max_tokens": 2048, "messages": MESSAGES, "thinking": THINKING,
        "extra_headers": THINK, "stream": True,
    }  # fmt: skip
    async with wrap(async_sdk_client(fp), guard=guard, cache=cache) as client:
        first = [e async for e in await client.messages.create(**kwargs)]
        second = [e async for e in await client.messages.create(**kwargs)]
    assert second == first
    assert {"thinking_delta", "signature_delta"} <= deltas(first)
    assert_hit_recorded(fp, recorder, stream=True)
    await guard.close()


def test_message_stream_text_and_final_message(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A hit's ``MessageStream`` is the SDK's: ``text_stream`` gives the same text and
    ``get_final_message()`` the same Message."""
    with cached.messages.stream(**asked()) as stream:
        text = "".join(stream.text_stream)
        original = stream.get_final_message()
    with cached.messages.stream(**asked()) as stream:
        assert type(stream) is MessageStream
        assert "".join(stream.text_stream) == text
        assert stream.get_final_message() == original
    assert_hit_recorded(fp, recorder, stream=True)


def test_stream_and_create_stream_share_an_answer(
    cached: anthropic.Anthropic, fp: FakeProviderServer
) -> None:
    """``create(stream=True)`` and ``stream(...)`` send the same request: one entry serves
    both, each through its own SDK class."""
    events = list(cached.messages.create(**asked(stream=True)))
    with cached.messages.stream(**asked()) as stream:
        replayed = [e.type for e in stream if e.type in RAW]  # without the SDK's own events
        final = stream.get_final_message()
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert final.content[0].text == text  # type: ignore[union-attr]
    assert replayed == [e.type for e in events]
    assert len(fp.requests) == 1


def test_a_stream_and_a_plain_answer_are_two_entries(
    cached: anthropic.Anthropic, fp: FakeProviderServer
) -> None:
    """The same request streamed and not streamed: two answers of different shapes."""
    cached.messages.create(**asked())
    list(cached.messages.create(**asked(stream=True)))
    cached.messages.create(**asked())
    list(cached.messages.create(**asked(stream=True)))
    assert len(fp.requests) == 2


def test_the_stored_stream_is_the_providers_events(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    """A stream is stored as ``event: <type>`` / ``data: <json>`` per event, each event's data
    the SDK's ``to_dict`` of it, from ``message_start`` to ``message_stop``."""
    events = list(cached.messages.create(**asked(stream=True)))
    body = {"model": MODEL, "max_tokens": 50, "messages": MESSAGES, "temperature": 0}
    request = CacheRequest(provider="anthropic", endpoint="messages", body=body, shape="sse")
    answer = cache.lookup(request).answer
    assert answer is not None
    blocks = answer.body.decode().split("\n\n")
    assert blocks[-1] == ""
    stored = [block.split("\n") for block in blocks[:-1]]
    assert [kind for kind, _ in stored] == [f"event: {e.type}" for e in events]
    assert [json.loads(data.removeprefix("data: ")) for _, data in stored] == [
        e.to_dict(mode="json") for e in events
    ]
    assert (answer.shape, answer.model, answer.output_tokens) == ("sse", MODEL, 20)


async def test_async_message_stream_text_and_final_message(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async with acached.messages.stream(**asked()) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        original = await stream.get_final_message()
    async with acached.messages.stream(**asked()) as stream:
        assert type(stream) is AsyncMessageStream
        assert "".join([piece async for piece in stream.text_stream]) == text
        assert await stream.get_final_message() == original
    assert_hit_recorded(fp, recorder, stream=True)


def test_beta_stream_replays(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    with cached.beta.messages.stream(**asked(betas=BETAS)) as stream:
        first = list(stream)
        original = stream.get_final_message()
    with cached.beta.messages.stream(**asked(betas=BETAS)) as stream:
        assert isinstance(stream, BetaMessageStream)
        assert list(stream) == first
        assert stream.get_final_message() == original
    assert_hit_recorded(fp, recorder, stream=True)


async def test_async_beta_stream_replays(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async with acached.beta.messages.stream(**asked(betas=BETAS)) as stream:
        first = [e async for e in stream]
    async with acached.beta.messages.stream(**asked(betas=BETAS)) as stream:
        assert isinstance(stream, BetaAsyncMessageStream)
        assert [e async for e in stream] == first
    assert_hit_recorded(fp, recorder, stream=True)


def test_raw_stream_replays(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``with_raw_response.create(stream=True)``: ``parse()`` gives a stream of the same
    events."""
    first = list(cached.messages.with_raw_response.create(**asked(stream=True)).parse())
    raw = cached.messages.with_raw_response.create(**asked(stream=True))
    assert raw.headers["x-costcap-cache"] == "hit"
    assert list(raw.parse()) == first
    assert_hit_recorded(fp, recorder, stream=True)


async def test_async_raw_stream_replays(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    raw = await acached.messages.with_raw_response.create(**asked(stream=True))
    first = [e async for e in await raw.parse()]
    raw = await acached.messages.with_raw_response.create(**asked(stream=True))
    assert [e async for e in await raw.parse()] == first
    assert_hit_recorded(fp, recorder, stream=True)


def test_streaming_response_stream_replays_its_bytes(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``with_streaming_response.create(stream=True)``: the body is kept as read; the hit's
    body is the same bytes, and a ``create(stream=True)`` gets its events."""
    with cached.messages.with_streaming_response.create(**asked(stream=True)) as response:
        body = b"".join(response.iter_bytes())
    with cached.messages.with_streaming_response.create(**asked(stream=True)) as response:
        assert b"".join(response.iter_bytes()) == body
    events = list(cached.messages.create(**asked(stream=True)))
    assert [e.type for e in events][-1] == "message_stop"
    assert_hit_recorded(fp, recorder, stream=True, hits=2)


async def test_async_streaming_response_stream_replays_its_bytes(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    kwargs = asked(stream=True)
    async with acached.messages.with_streaming_response.create(**kwargs) as response:
        lines = [line async for line in response.iter_lines()]
    async with acached.messages.with_streaming_response.create(**kwargs) as response:
        assert [line async for line in response.iter_lines()] == lines
    assert_hit_recorded(fp, recorder, stream=True)
