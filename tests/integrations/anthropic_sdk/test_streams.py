"""Streams through the wrapped Anthropic client: the SDK's own types and events, metered, and
settled once — read to the end, or stopped early (break, ``close()``, leaving the ``with``
block, cancellation, garbage collection, a broken connection).

Every scenario compares what the fake provider billed (partial output of an abandoned stream
included) with what costcap recorded, to the picodollar, and checks it is never $0.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import anthropic
import httpx2
import pytest
from anthropic.lib.streaming import (
    AsyncMessageStream,
    AsyncMessageStreamManager,
    MessageStream,
    MessageStreamManager,
)
from anthropic.types import Message, ToolParam

from costcap import AsyncGuard, Guard
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from costcap.ticket import Ticket
from costcap.tokens import count_text
from tests.integrations.anthropic_sdk.conftest import (
    FULL,
    HAIKU_IN_PICO,
    HAIKU_OUT_PICO,
    MESSAGES,
    MODEL,
    SLOW,
    TOOL_CALL,
    TOOLS,
    Recorder,
    assert_complete,
    assert_partial,
    async_sdk_client,
    billed_pico,
    make_async_guard,
    make_guard,
    reserved_usd,
    sdk_client,
    served,
)
from tests.waiting import until

# -- read to the end ------------------------------------------------------------------------------


def test_create_stream_is_an_sdk_stream_settled_ok(
    client: anthropic.Anthropic, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """``create(stream=True)`` returns an ``anthropic.Stream`` of the raw events; read to the
    end it is settled ``ok`` with the provider's final usage."""
    stream = client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, stream=True)
    assert isinstance(stream, anthropic.Stream)
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert_complete(fp, recorder)
    assert reserved_usd(guard) == 0


async def test_async_create_stream_is_an_sdk_async_stream_settled_ok(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async client returns an ``anthropic.AsyncStream``, settled ``ok`` at its end."""
    stream = await aclient.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True
    )
    assert isinstance(stream, anthropic.AsyncStream)
    async with stream:
        kinds = [event.type async for event in stream]
    assert kinds[-1] == "message_stop"
    assert_complete(fp, recorder)


def test_message_stream_yields_the_sdks_events(
    client: anthropic.Anthropic, bare: anthropic.Anthropic, fp: FakeProviderServer,
    recorder: Recorder,
) -> None:  # fmt: skip
    """``messages.stream`` returns a ``MessageStreamManager`` whose ``with`` yields a
    ``MessageStream`` with the same events as the plain SDK's (text events included)."""
    with bare.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as plain:
        expected = [event.type for event in plain]
    fp.reset()
    manager = client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert isinstance(manager, MessageStreamManager)
    with manager as stream:
        assert isinstance(stream, MessageStream)
        wrapped = [event.type for event in stream]
    assert wrapped == expected
    assert "text" in wrapped
    assert_complete(fp, recorder)


async def test_async_message_stream_yields_the_sdks_events(
    aclient: anthropic.AsyncAnthropic, abare: anthropic.AsyncAnthropic, fp: FakeProviderServer,
    recorder: Recorder,
) -> None:  # fmt: skip
    """The seed's pattern — ``async with client.messages.stream(...) as stream: async for
    event in stream`` — yields exactly the plain SDK's events."""
    async with abare.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as plain:
        expected = [(event.type, getattr(event, "text", None)) async for event in plain]
    fp.reset()
    manager = aclient.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert isinstance(manager, AsyncMessageStreamManager)
    async with manager as stream:
        assert isinstance(stream, AsyncMessageStream)
        wrapped = [(event.type, getattr(event, "text", None)) async for event in stream]
    assert wrapped == expected
    assert_complete(fp, recorder)


def test_text_stream_and_final_message(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``text_stream`` gives the text and ``get_final_message()`` the accumulated Message;
    the call is settled once, ``ok``."""
    with client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert isinstance(message, Message)
    assert message.content[0].text == text  # type: ignore[union-attr]
    assert message.usage.output_tokens == FULL
    assert_complete(fp, recorder)


async def test_async_text_stream_and_final_message(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async ``text_stream`` and ``get_final_message()`` behave as the SDK's."""
    async with aclient.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        message = await stream.get_final_message()
    assert message.content[0].text == text  # type: ignore[union-attr]
    assert_complete(fp, recorder)


async def test_get_final_message_alone_reads_the_whole_stream(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``get_final_message()`` / ``until_done()`` without iterating first read to the end."""
    async with aclient.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
        await stream.until_done()
        message = await stream.get_final_message()
    assert message.stop_reason == "end_turn"
    assert_complete(fp, recorder)


def test_stream_prices_the_prompt_cache(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A stream's cache reads and writes come from ``message_start`` and are priced right."""
    headers = {"x-fake-cached-tokens": "4", "x-fake-cache-write-tokens": "3"}
    with client.messages.stream(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=headers
    ) as stream:
        stream.until_done()
    [event] = recorder.events
    assert (event.cache_read_tokens, event.cache_write_tokens) == (4, 3)
    assert event.cost_pico == billed_pico(fp)


def test_iterating_the_manager_directly(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A costcap addition: ``for event in client.messages.stream(...)`` (the SDK's manager is
    only a context manager) enters, yields every event and closes."""
    manager: Any = client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES)
    kinds = [event.type for event in manager]
    assert kinds[-1] == "message_stop"
    assert_complete(fp, recorder)


async def test_async_iterating_the_manager_directly(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``async for event in client.messages.stream(...)`` works too (a costcap addition)."""
    manager = aclient.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES)
    kinds = [event.type async for event in manager]  # type: ignore[attr-defined]
    assert kinds[-1] == "message_stop"
    assert_complete(fp, recorder)


def test_missing_max_tokens_is_injected_into_streams(fp: FakeProviderServer) -> None:
    """``messages.stream`` without ``max_tokens`` leaves with the policy's default too."""
    recorder = Recorder()
    with (
        wrap(sdk_client(fp), guard=make_guard(recorder)) as client,
        client.messages.stream(model=MODEL, messages=MESSAGES) as stream,  # type: ignore[call-arg]
    ):
        stream.until_done()
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp)


def test_lease_is_renewed_while_a_stream_flows(
    fp: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long stream renews its reservation's lease (``guard.extend``) about every half lease,
    so it is not charged in full as if its holder had died."""
    recorder = Recorder()
    guard = make_guard(recorder, lease_s=0.3)
    renewed: list[bool] = []
    extend = guard.extend

    def spy(ticket: Ticket) -> bool:
        renewed.append(extend(ticket))
        return renewed[-1]

    monkeypatch.setattr(guard, "extend", spy)
    with (
        wrap(sdk_client(fp), guard=guard) as client,
        client.messages.stream(
            model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=SLOW
        ) as stream,
    ):
        stream.until_done()
    assert len(renewed) >= 3
    assert all(renewed)
    assert_complete(fp, recorder)


# -- stopped early: the upstream closed at once, the partial cost settled -----------------------


def test_break_closes_the_stream_and_settles_the_partial_cost(
    client: anthropic.Anthropic, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """Leaving a ``create(stream=True)`` loop early closes the upstream at once and settles
    ``message_start``'s input plus costcap's count of the text streamed."""
    stream = client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    deltas = 0
    for event in stream:
        deltas += event.type == "content_block_delta"
        if deltas == 3:
            break
    assert_partial(fp, recorder)
    assert reserved_usd(guard) == 0


def test_break_in_a_tool_call_settles_its_name_and_the_arguments_sent(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Leaving a stream at the second piece of a tool call's input: the provider billed the
    tool's name (sent in the ``tool_use`` block's ``content_block_start``) and the two pieces;
    costcap settled exactly that."""
    stream = client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, tools=cast(list[ToolParam], TOOLS),
        stream=True,
        extra_headers={**SLOW, **TOOL_CALL},
    )  # fmt: skip
    pieces: list[str] = []
    for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            pieces.extend([event.delta.partial_json] if event.delta.partial_json else [])
            if len(pieces) == 2:
                break
    served(fp)
    sent = "".join(pieces)
    assert (fp.last.disconnect, fp.last.tool_calls, fp.last.output_text) == (
        "client", ("get_weather",), sent,
    )  # fmt: skip
    assert fp.last.output_tokens == count_text("get_weather", MODEL) + count_text(sent, MODEL)
    assert recorder.statuses() == ["cut"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_break_from_text_stream_closes_inside_the_with_block(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Breaking out of ``text_stream`` stops paying at once — before the ``with`` block ends
    (the SDK alone would keep the connection open until then)."""
    with client.messages.stream(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=SLOW
    ) as stream:
        for i, _ in enumerate(stream.text_stream):
            if i == 2:
                break
        assert_partial(fp, recorder)  # still inside the block


async def test_async_break_closes_the_stream(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Breaking out of ``async for event in stream`` inside ``async with`` settles the
    partial cost."""
    async with aclient.messages.stream(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=SLOW
    ) as stream:
        async for event in stream:
            if event.type == "text" and event.snapshot.count("hello") == 3:
                break
    assert_partial(fp, recorder)
    assert fp.requests[0].output_text.count("hello") == 3


async def test_async_break_from_a_raw_stream_without_a_with_block(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """An ``async for`` over ``create(stream=True)`` left early, with no ``async with``, is
    closed and settled all the same."""
    stream = await aclient.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    async for event in stream:
        if event.type == "content_block_delta":
            break
    await until(lambda: bool(recorder.events))
    assert_partial(fp, recorder)


def test_close_settles_once(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``close()`` closes the upstream and settles; closing again, iterating again or leaving
    the block adds nothing: one call, one event."""
    with client.messages.stream(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=SLOW
    ) as stream:
        for event in stream:
            if event.type == "text":
                break
        stream.close()
        stream.close()
        assert list(stream) == []
    assert_partial(fp, recorder)


def test_leaving_the_with_block_settles(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Leaving the ``with`` block after reading part of the stream (no loop, ``next()``)
    closes and settles it."""
    with client.messages.stream(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=SLOW
    ) as stream:
        while next(stream).type != "text":
            pass
    assert_partial(fp, recorder)


async def test_cancellation_settles_the_partial_cost(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, aguard: AsyncGuard,
    recorder: Recorder,
) -> None:  # fmt: skip
    """Cancelling the task reading a stream closes the upstream and settles what was streamed
    (the settle is shielded from the cancellation it is reacting to)."""
    three = asyncio.Event()

    async def read() -> None:
        async with aclient.messages.stream(
            model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=SLOW
        ) as stream:
            async for text in stream.text_stream:
                if text and stream.current_message_snapshot.content[0].text.count("hello") == 3:  # type: ignore[union-attr]
                    three.set()

    task = asyncio.create_task(read())
    await three.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_partial(fp, recorder)
    assert sum(s["reserved_usd"] for s in await aguard.status()) == 0


async def test_cancellation_inside_a_timeout(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``asyncio.timeout`` around a slow stream: the timeout cancels it, costcap settles it."""
    loop = asyncio.get_running_loop()

    async def read_slowly() -> None:
        async with asyncio.timeout(5) as deadline:
            stream = await aclient.messages.create(
                model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
            )
            async for event in stream:
                if event.type == "content_block_delta":  # time out between two chunks
                    deadline.reschedule(loop.time() + 0.01)

    with pytest.raises(TimeoutError):
        await read_slowly()
    assert_partial(fp, recorder)


def test_dropped_stream_is_settled_when_collected(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The last resort: a stream dropped unclosed is closed and settled when collected (here
    on its last reference, as CPython does), and a warning says so."""
    stream = client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    while next(stream).type != "content_block_delta":
        pass
    with caplog.at_level(logging.WARNING, logger="costcap.integrations.anthropic"):
        del stream
    assert "dropped unclosed" in caplog.text
    assert_partial(fp, recorder)


async def test_async_dropped_stream_is_settled_when_collected(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A dropped async stream is closed and settled on its event loop (a task scheduled by
    the finalizer: the loop must run for it, so a slow full ``gc.collect()`` would delay it)."""
    stream: Any = await aclient.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=SLOW
    )
    while (await stream.__anext__()).type != "content_block_delta":
        pass
    del stream
    await until(lambda: bool(recorder.events))
    assert_partial(fp, recorder)


def _broken_stream_error(client: anthropic.Anthropic) -> BaseException:
    """What a stream whose connection the provider drops after four events raises to its reader
    (the SDK's own choice: a transport error in some releases, ``APIConnectionError`` in others)."""
    headers = {"x-fake-disconnect-after": "4"}
    stream = client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, stream=True, extra_headers=headers
    )
    try:
        for _ in stream:
            pass
    except Exception as exc:  # noqa: BLE001 - the test compares whatever the SDK raised
        return exc
    raise AssertionError("the broken stream ended without an error")


def test_broken_connection_settles_what_was_streamed(fp: FakeProviderServer) -> None:
    """The provider drops the connection mid-stream: the consumer gets the same error the bare
    SDK raises, and the partial output, billed by the provider, is recorded."""
    with sdk_client(fp) as bare:
        expected = _broken_stream_error(bare)
    served(fp)
    fp.reset()
    recorder = Recorder()
    with wrap(sdk_client(fp), guard=make_guard(recorder)) as client:
        raised = _broken_stream_error(client)
    assert type(raised) is type(expected)
    assert isinstance(expected, (httpx2.TransportError, anthropic.APIConnectionError))
    served(fp)
    assert fp.requests[0].disconnect == "server"
    [event] = recorder.events
    assert (event.status, event.output_tokens) == ("cut", fp.requests[0].output_tokens)
    assert event.cost_pico == billed_pico(fp) > 0


async def test_retried_stream_is_one_ok_event(fp: FakeProviderServer) -> None:
    """A stream whose request is overloaded once, then served, is one call: one ok event."""
    recorder = Recorder()
    headers = {"x-fake-error": "529", "x-fake-fail-times": "1", "x-fake-request-key": "s529"}
    guard = make_async_guard(recorder)
    async with (
        wrap(async_sdk_client(fp, max_retries=1), guard=guard) as client,
        client.messages.stream(
            model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=headers
        ) as stream,
    ):
        await stream.until_done()
    assert [r.status_code for r in fp.requests] == [529, 200]
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


# -- strict: a stream left early is charged its whole output reservation ------------------------


def test_strict_stream_left_early_is_charged_its_reservation(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Under strict, a stream abandoned after its first text, the provider running ahead, is
    charged message_start's input + max_tokens and flagged — never less than the bill."""
    guard = make_guard(recorder, strict=True)
    with sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        with client.messages.stream(
            model=MODEL, max_tokens=40, messages=MESSAGES,
            extra_headers={"x-fake-output-tokens": "40"},
        ) as stream:  # fmt: skip
            for _ in stream.text_stream:
                break
    served(fp)
    [event] = recorder.events
    assert (event.status, event.output_tokens, event.flag) == ("cut", 40, "unread_output_charged")
    assert event.cost_pico == fp.last.input_tokens * HAIKU_IN_PICO + 40 * HAIKU_OUT_PICO
    assert event.cost_pico >= billed_pico(fp)
    guard.close()


async def test_async_strict_stream_left_early_is_charged_its_reservation(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_async_guard(recorder, strict=True)
    async with async_sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        stream = await client.messages.create(
            model=MODEL, max_tokens=40, messages=MESSAGES, stream=True,
            extra_headers={"x-fake-output-tokens": "40"},
        )  # fmt: skip
        async for _ in stream:
            break
        await stream.close()
    await guard.close()
    await asyncio.to_thread(served, fp)
    [event] = recorder.events
    assert (event.status, event.output_tokens, event.flag) == ("cut", 40, "unread_output_charged")
    assert event.cost_pico == fp.last.input_tokens * HAIKU_IN_PICO + 40 * HAIKU_OUT_PICO


def test_strict_stream_read_to_the_end_is_unflagged(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder, strict=True)
    with sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        with client.messages.stream(model=MODEL, max_tokens=40, messages=MESSAGES) as stream:
            stream.until_done()
    [event] = recorder.events
    assert (event.status, event.output_tokens, event.flag) == ("ok", FULL, None)
    assert event.cost_pico == billed_pico(fp)
    guard.close()
