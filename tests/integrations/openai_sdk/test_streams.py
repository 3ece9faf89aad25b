"""Streamed calls: metered as they flow, cut, abandoned, cancelled — and never recorded as $0.

Each scenario compares what the fake provider billed (its record of every request, including
the partial output of a stream whose client went away) with what costcap recorded. Streams that
end early use paced chunks (``x-fake-chunk-delay-ms``): the provider notices the disconnect
before its next chunk, so the chunks it billed are exactly the chunks that reached costcap and
the two figures are equal to the picodollar. (Unpaced, a provider may have generated and billed
chunks still in flight in socket buffers when the client closed; costcap cannot see those.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import FunctionToolParam

from costcap import AsyncGuard, Guard, Policy, StoreUnavailable
from costcap.integrations._meter import StreamCut
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from costcap.tokens import count_text
from tests.integrations.openai_sdk.conftest import (
    MESSAGES,
    MODEL,
    SLOW,
    Recorder,
    Wire,
    async_sdk_client,
    billed_pico,
    make_async_guard,
    make_guard,
    reserved_usd,
    sdk_client,
    served,
)
from tests.waiting import until


def content(chunk: ChatCompletionChunk) -> str:
    return "".join(choice.delta.content or "" for choice in chunk.choices)


# -- streams that finish ---------------------------------------------------------------------------


def test_chat_stream_is_an_sdk_stream_and_records_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """A streamed chat completion is an openai.Stream with its response; the usage chunk costcap
    asked for is not shown to a caller who did not; the provider's usage is recorded."""
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    assert isinstance(stream.response, httpx2.Response)
    chunks = list(stream)
    assert all(chunk.choices for chunk in chunks)
    assert "".join(content(c) for c in chunks) == fp.last.output_text
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].stream is True
    assert recorder.events[0].output_tokens == 20
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0


def test_callers_include_usage_is_kept_and_merged(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A caller's stream_options are merged with include_usage; a caller who asked for the
    usage chunk gets it."""
    wire = Wire()
    guard = make_guard(recorder)
    with wrap(sdk_client(fp, wire=wire), guard=guard) as client:
        with client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True,
            stream_options={"include_obfuscation": False},
        ) as stream:  # fmt: skip
            assert all(chunk.choices for chunk in stream)
        with client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ) as stream:
            last = list(stream)[-1]
    assert wire.bodies[0]["stream_options"] == {"include_obfuscation": False,
                                                "include_usage": True}  # fmt: skip
    assert last.usage is not None
    assert last.choices == []
    assert recorder.statuses() == ["ok", "ok"]
    assert recorder.cost_pico == billed_pico(fp)
    guard.close()


async def test_async_chat_stream_records_what_was_billed(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """An async streamed chat completion is an openai.AsyncStream and records what was billed."""
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    async with stream:
        text = "".join([content(chunk) async for chunk in stream])
    assert text == fp.last.output_text
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_responses_stream_records_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A streamed Response is settled from its response.completed usage."""
    with client.responses.create(model=MODEL, input="Say hello.", stream=True) as stream:
        assert isinstance(stream, openai.Stream)
        kinds = [event.type for event in stream]
    assert kinds[-1] == "response.completed"
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 20
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_responses_stream_records_what_was_billed(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async streamed Response is settled from its response.completed usage."""
    stream = await aclient.responses.create(
        model=MODEL, input="Say hello.", stream=True, max_output_tokens=16
    )
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.incomplete"  # the cap of 16 cut the 20 tokens asked for
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 16
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_long_stream_renews_its_lease(
    fp: FakeProviderServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that outlives half its lease renews it (guard.extend) while it flows."""
    guard = make_guard(recorder, lease_s=0.2)  # 10 chunks 60 ms apart: renewed every 0.1 s
    renewals: list[bool] = []
    extend = guard.extend

    def counting(ticket: Any) -> bool:
        renewals.append(extend(ticket))
        return renewals[-1]

    monkeypatch.setattr(guard, "extend", counting)
    with wrap(sdk_client(fp), guard=guard) as client:
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "10"},
        )  # fmt: skip
        for _ in stream:
            pass
    assert len(renewals) >= 2
    assert all(renewals)
    assert recorder.statuses() == ["ok"]
    guard.close()


# -- the consumer stops early ---------------------------------------------------------------------


def test_break_closes_upstream_and_records_the_partial_cost(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """Breaking out of the loop closes the connection at once; the provider bills the partial
    output it sent, and costcap records exactly that (status cut)."""
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "50"},
    )  # fmt: skip
    words = 0
    for chunk in stream:
        words += bool(content(chunk))
        if words == 5:
            break
    assert recorder.statuses() == ["cut"]  # settled before the loop's next statement
    served(fp)
    assert fp.last.disconnect == "client"
    assert fp.last.output_tokens == 5
    assert recorder.events[0].output_tokens == 5
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0


def test_responses_break_records_the_partial_cost(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A Responses stream left early is settled from costcap's count, equal to the bill."""
    stream = client.responses.create(
        model=MODEL, input="Say hello.", stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "40"},
    )  # fmt: skip
    deltas = 0
    for event in stream:
        deltas += event.type == "response.output_text.delta"
        if deltas == 3:
            break
    served(fp)
    assert fp.last.disconnect == "client"
    assert recorder.statuses() == ["cut"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 3
    assert recorder.cost_pico == billed_pico(fp) > 0


WEATHER: FunctionToolParam = {
    "type": "function", "name": "get_weather", "strict": False,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}  # fmt: skip


def test_responses_left_in_a_tool_call_records_its_name_and_the_arguments_sent(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A Responses stream left at the second piece of a tool call's arguments: the provider
    billed the tool's name (sent in ``response.output_item.added``) and the two pieces;
    costcap recorded exactly that."""
    stream = client.responses.create(
        model=MODEL, input="Weather in Paris?", tools=[WEATHER], stream=True,
        extra_headers={**SLOW, "x-fake-tool-call": "auto"},
    )  # fmt: skip
    pieces: list[str] = []
    for event in stream:
        if event.type == "response.function_call_arguments.delta":
            pieces.append(event.delta)
            if len(pieces) == 2:
                break
    served(fp)
    sent = "".join(pieces)
    assert (fp.last.disconnect, fp.last.tool_calls) == ("client", ("get_weather",))
    assert fp.last.output_text == sent != '{"city":"hello"}'
    assert fp.last.output_tokens == count_text("get_weather", MODEL) + count_text(sent, MODEL)
    assert recorder.statuses() == ["cut"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_close_and_leaving_with_settle_once(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """close() mid-stream and leaving a with block each settle the partial cost exactly once,
    however often the stream is closed afterwards."""
    headers = {**SLOW, "x-fake-output-tokens": "50"}
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers=headers
    )
    next(stream)
    next(stream)
    stream.close()
    stream.close()
    assert list(stream) == []
    with client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers=headers
    ) as stream:
        for _, _chunk in zip(range(4), stream, strict=False):
            pass
    stream.close()
    served(fp, 2)
    assert [r.disconnect for r in fp.requests] == ["client", "client"]
    assert recorder.statuses() == ["cut", "cut"]
    assert [e.output_tokens for e in recorder.events] == [1, 3]  # the first chunk has no text
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_garbage_collected_stream_is_settled(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A stream dropped half-read (never closed) is closed and settled when collected."""
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "50"},
    )  # fmt: skip
    for _ in range(3):
        next(stream)
    del stream  # its last reference: collected (and settled) on the spot
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert fp.last.disconnect == "client"
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_break_closes_upstream_and_records_the_partial_cost(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Breaking out of an async for (no with block) closes upstream as soon as the event loop
    finalizes the iterator, and records the partial cost."""
    stream = await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "50"},
    )  # fmt: skip
    words = 0
    async for chunk in stream:
        words += bool(content(chunk))
        if words == 4:
            break
    await until(lambda: bool(recorder.events))
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    assert fp.last.output_tokens == recorder.events[0].output_tokens == 4
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(await aguard.status()) == 0


async def test_async_with_block_settles_on_exit(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Leaving an async with block mid-stream settles before the next statement runs."""
    stream = await aclient.responses.create(
        model=MODEL, input="Hi", stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "50"},
    )  # fmt: skip
    async with stream:
        async for event in stream:
            if event.type == "response.output_text.delta":
                break
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_cancelled_consumer_task_records_the_partial_cost(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Cancelling the task that consumes a stream closes upstream and records the partial
    cost; the task ends cancelled."""
    seen = asyncio.Event()
    words = 0

    async def consume() -> None:
        nonlocal words
        stream = await aclient.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "50"},
        )  # fmt: skip
        async for chunk in stream:
            words += bool(content(chunk))
            if words == 3:
                seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    assert fp.last.output_tokens == recorder.events[0].output_tokens == words
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(await aguard.status()) == 0


def test_stopping_after_the_final_usage_is_complete(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A consumer that stops once the provider's final usage arrived settled a complete call."""
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        if chunk.usage is not None:
            break
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


# -- costcap cuts the stream ----------------------------------------------------------------------


def test_stream_past_its_reservation_is_cut(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A provider that ignores max_tokens streams past the reservation: costcap closes the
    connection, settles the partial cost (status cut) and raises StreamCut to the consumer."""
    wire = Wire(ignore_caps=True)
    guard = make_guard(recorder, Policy(default_max_tokens=10))
    with wrap(sdk_client(fp, wire=wire), guard=guard) as client:
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "40"},
        )  # fmt: skip
        received: list[str] = []
        with pytest.raises(StreamCut) as cut:
            received.extend(content(chunk) for chunk in stream)
    assert wire.bodies[0]["max_completion_tokens"] == 10  # sent; the "provider" dropped it
    assert sum(map(bool, received)) == 10
    assert (cut.value.tokens, cut.value.limit) == (11, 10)
    served(fp)
    assert fp.last.disconnect == "client"
    assert fp.last.output_tokens == 11  # the chunk that crossed the line was generated too
    assert recorder.statuses() == ["cut"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0
    guard.close()


async def test_async_stream_past_its_reservation_is_cut(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async stream is cut the same way, for a Responses stream."""
    wire = Wire(ignore_caps=True)
    guard = make_async_guard(recorder, Policy(default_max_tokens=16))
    async with wrap(async_sdk_client(fp, wire=wire), guard=guard) as client:
        stream = await client.responses.create(
            model=MODEL, input="Hi", stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "40"},
        )  # fmt: skip
        with pytest.raises(StreamCut):
            async for _ in stream:
                pass
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    assert fp.last.output_tokens == recorder.events[0].output_tokens == 17
    assert recorder.statuses() == ["cut"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    await guard.close()


# -- the provider fails mid-stream ----------------------------------------------------------------


def _broken_stream_error(client: openai.OpenAI) -> BaseException:
    """What a stream whose connection the provider drops after four chunks raises to its reader
    (the SDK's own choice: a transport error in some releases, ``APIConnectionError`` in others)."""
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True,
        extra_headers={"x-fake-disconnect-after": "4"},
    )  # fmt: skip
    try:
        for _ in stream:
            pass
    except Exception as exc:  # noqa: BLE001 - the test compares whatever the SDK raised
        return exc
    raise AssertionError("the broken stream ended without an error")


def test_connection_lost_mid_stream_records_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """The provider drops the connection after 4 chunks: the caller gets the same error the bare
    SDK raises, and costcap records the 4 chunks the provider billed (status error, never $0)."""
    with sdk_client(fp) as bare:
        expected = _broken_stream_error(bare)
    served(fp)
    fp.reset()
    raised = _broken_stream_error(client)
    assert type(raised) is type(expected)
    assert isinstance(expected, (httpx2.TransportError, openai.APIConnectionError))
    served(fp)
    assert fp.last.disconnect == "server"
    assert recorder.statuses() == ["error"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 4
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0


def test_stream_refused_by_the_provider_releases(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """A stream the provider refuses (429, no retries) raises the SDK's error and releases."""
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, extra_headers={"x-fake-error": "429"}
        )
    assert recorder.statuses() == ["error"]
    assert recorder.cost_pico == billed_pico(fp) == 0
    assert reserved_usd(guard.status()) == 0


def test_consumer_error_inside_the_loop_stops_the_stream(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """An exception raised by the consumer's loop body closes upstream and settles."""
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "50"},
    )  # fmt: skip

    def consume() -> None:
        for chunk in stream:
            if content(chunk):
                raise ValueError("consumer failed")

    with pytest.raises(ValueError, match="consumer failed"):
        consume()
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert fp.last.disconnect == "client"
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_stream_dropped_unread_is_settled(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """An async stream dropped before it was ever iterated is closed and settled (its prompt
    was billed) by a task the collector schedules on the running loop."""
    stream = await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "50"},
    )  # fmt: skip
    del stream  # the last reference: collected now, its settlement scheduled on this loop
    await until(lambda: bool(recorder.events))
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_failed_lease_renewal_does_not_break_the_stream(
    fp: FakeProviderServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot renew the lease is logged; the stream goes on and is settled."""
    guard = make_guard(recorder, lease_s=0.1)

    def unavailable(ticket: Any) -> bool:
        raise StoreUnavailable("the store is down for the test")

    monkeypatch.setattr(guard, "extend", unavailable)
    with wrap(sdk_client(fp), guard=guard) as client:
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "4"},
        )  # fmt: skip
        assert sum(bool(content(chunk)) for chunk in stream) == 4
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    guard.close()


# -- strict: a stream left early is charged its whole output reservation ------------------------

GPT_4O_MINI_IN_PICO, GPT_4O_MINI_OUT_PICO = 150_000, 600_000  # $0.15 / $0.60 per million


def test_strict_stream_left_early_is_charged_its_reservation(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Under strict, a stream abandoned after its first chunk, with the provider running ahead
    (no pacing), is charged input + max_tokens and flagged: never less than the provider billed."""
    guard = make_guard(recorder, strict=True)
    with sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, max_tokens=40,
            extra_headers={"x-fake-output-tokens": "40"},
        )  # fmt: skip
        next(stream)
        stream.close()
    served(fp)
    event = recorder.events[0]
    assert (event.status, event.output_tokens, event.flag) == ("cut", 40, "unread_output_charged")
    expected = fp.last.input_tokens * GPT_4O_MINI_IN_PICO + 40 * GPT_4O_MINI_OUT_PICO
    assert event.cost_pico == expected
    assert event.cost_pico >= billed_pico(fp)
    guard.close()


def test_strict_stream_read_to_the_end_is_charged_the_provider_usage(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Strict changes nothing for a stream whose final usage arrived: the provider's figure,
    no flag."""
    guard = make_guard(recorder, strict=True)
    with sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, max_tokens=40,
            extra_headers={"x-fake-output-tokens": "12"},
        )  # fmt: skip
        list(stream)
    event = recorder.events[0]
    assert (event.status, event.output_tokens, event.flag) == ("ok", 12, None)
    assert event.cost_pico == billed_pico(fp)
    guard.close()


def test_default_stream_left_early_is_charged_what_was_read(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Without strict the abandoned stream is charged the chunks read, unflagged."""
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, max_tokens=40,
        extra_headers={**SLOW, "x-fake-output-tokens": "40"},
    )  # fmt: skip
    for _ in range(3):
        next(stream)
    stream.close()
    event = recorder.events[0]
    assert (event.output_tokens, event.flag) == (2, None)  # the first chunk has no text


async def test_async_strict_stream_left_early_is_charged_its_reservation(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_async_guard(recorder, strict=True)
    async with async_sdk_client(fp) as bare:
        client = wrap(bare, guard=guard)
        stream = await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, max_tokens=40,
            extra_headers={"x-fake-output-tokens": "40"},
        )  # fmt: skip
        async for _ in stream:
            break
        await stream.close()
    await guard.close()
    await asyncio.to_thread(served, fp)
    event = recorder.events[0]
    assert (event.status, event.output_tokens, event.flag) == ("cut", 40, "unread_output_charged")
    assert event.cost_pico == fp.last.input_tokens * GPT_4O_MINI_IN_PICO + 40 * GPT_4O_MINI_OUT_PICO
