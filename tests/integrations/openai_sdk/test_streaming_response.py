"""``with_streaming_response``: the SDK's streaming response, its body metered as the caller reads
it (lines, bytes, text, ``parse()``, ``read()``), settled when the block is left — including
when the caller leaves before the end.

Every scenario compares what the fake provider billed (its own record, priced) with what costcap
recorded, to the picodollar. Bodies left early use paced chunks, so the provider bills exactly
the chunks that reached costcap.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest
from openai._response import APIResponse, AsyncAPIResponse
from openai.types.chat import ChatCompletion

from costcap import AsyncGuard, BudgetExceeded, Guard, Policy
from costcap.integrations._meter import UNREAD_CHARGED, StreamCut
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import (
    MESSAGES,
    MODEL,
    SLOW,
    Recorder,
    Wire,
    async_sdk_client,
    billed_pico,
    make_guard,
    poor_async_guard,
    poor_guard,
    reserved_usd,
    sdk_client,
    served,
)

GPT_4O_MINI_IN_PICO, GPT_4O_MINI_OUT_PICO = 150_000, 600_000  # $0.15 / $0.60 per million

#: Every way a caller reads the body, each giving the SSE lines it read.
READERS: dict[str, Callable[[Any], list[str]]] = {
    "iter_lines": lambda r: list(r.iter_lines()),
    "iter_bytes": lambda r: b"".join(r.iter_bytes()).decode().splitlines(),
    "iter_text": lambda r: "".join(r.iter_text()).splitlines(),
    "read": lambda r: r.read().decode().splitlines(),
}


def usage_line(lines: list[str]) -> dict[str, Any]:
    """The usage of the last chunk (the include_usage chunk costcap asked for)."""
    chunks = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    usage: dict[str, Any] = chunks[-1]["usage"]
    return usage


# -- JSON bodies ----------------------------------------------------------------------------------


def test_streaming_response_is_the_sdks_and_parses_into_the_plain_object(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """The block gives the SDK's streaming APIResponse with the provider's headers; ``parse()``
    gives the ChatCompletion; the call is settled with the provider's usage."""
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES
    ) as response:
        assert isinstance(response, APIResponse)
        assert response.headers["x-request-id"] == fp.last.request_id
        completion = response.parse()
    assert isinstance(completion, ChatCompletion)
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].stream is False
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0


def test_json_body_left_unread_is_settled_at_its_usage(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A block left without reading the body: the answer was generated (and billed) whole, so its
    usage is read from the rest of the body at the exit, not guessed."""
    with client.responses.with_streaming_response.create(model=MODEL, input="Say hello."):
        pass
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 20
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_json_body_read_with_json(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``json()`` reads the body through the meter: settled once, at the provider's usage."""
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES
    ) as response:
        body: Any = response.json()
    assert body["usage"]["completion_tokens"] == 20
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_streaming_response_over_budget_sends_nothing(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Entering the block admits the call: over budget, BudgetExceeded and nothing sent."""
    guard = poor_guard(recorder)
    with wrap(sdk_client(fp), guard=guard) as client:
        manager = client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES
        )
        with pytest.raises(BudgetExceeded), manager:
            pass
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    guard.close()


def test_body_asked_without_content_encoding(fp: FakeProviderServer, recorder: Recorder) -> None:
    """The request asks for an identity body (the bytes read are the bytes metered)."""
    sent: list[httpx2.Request] = []

    def record(request: httpx2.Request) -> None:
        sent.append(request)

    guard = make_guard(recorder)
    http = httpx2.Client(event_hooks={"request": [record]})
    bare = openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", http_client=http)
    with (
        wrap(bare, guard=guard) as client,
        client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES
        ) as response,
    ):
        response.read()
    assert sent[0].headers["accept-encoding"] == "identity"
    guard.close()


# -- SSE bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_sse_body_read_to_the_end_records_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder, read: Callable[[Any], Any]
) -> None:
    """However the caller reads a streamed body to its end, the call is settled with the
    provider's final usage (the usage chunk costcap asked for is in the body)."""
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as response:
        lines = read(response)
    assert usage_line(lines)["completion_tokens"] == 20
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].stream is True
    assert recorder.events[0].output_tokens == 20
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_sse_body_parsed_into_the_sdks_stream(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``parse()`` of a streamed body is the SDK's own Stream of events, read through the meter."""
    with client.responses.with_streaming_response.create(
        model=MODEL, input="Say hello.", stream=True
    ) as response:
        kinds = [event.type for event in response.parse()]
    assert kinds[-1] == "response.completed"
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def _lines_until(lines: Iterator[str], deltas: int) -> None:
    seen = 0
    for line in lines:
        seen += '"delta"' in line and "output_text" in line
        if seen == deltas:
            return


def test_sse_body_left_early_records_the_partial_cost(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """Leaving the block mid-body closes the connection and records what was read, which is
    what the provider billed (status cut)."""
    with client.responses.with_streaming_response.create(
        model=MODEL, input="Say hello.", stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "40"},
    ) as response:  # fmt: skip
        _lines_until(response.iter_lines(), 3)
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert fp.last.disconnect == "client"
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 3
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0


def test_sse_body_past_its_reservation_is_cut(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A provider that ignores max_tokens: the reader gets StreamCut, the connection is closed
    and the partial cost recorded."""
    wire = Wire(ignore_caps=True)
    guard = make_guard(recorder, Policy(default_max_tokens=10))
    with (
        wrap(sdk_client(fp, wire=wire), guard=guard) as client,
        client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "40"},
        ) as response,
        pytest.raises(StreamCut) as cut,
    ):  # fmt: skip
        for _ in response.iter_lines():
            pass
    assert (cut.value.tokens, cut.value.limit) == (11, 10)
    served(fp)
    assert fp.last.disconnect == "client"
    assert fp.last.output_tokens == recorder.events[0].output_tokens == 11
    assert recorder.statuses() == ["cut"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    guard.close()


def test_strict_sse_body_left_early_is_charged_its_reservation(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Under strict, a body left after its first line is charged input + max_tokens, flagged."""
    guard = make_guard(recorder, strict=True)
    with (
        wrap(sdk_client(fp), guard=guard) as client,
        client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True, max_tokens=40,
            extra_headers={"x-fake-output-tokens": "40"},
        ) as response,
    ):  # fmt: skip
        next(response.iter_lines())
    served(fp)
    event = recorder.events[0]
    assert (event.status, event.output_tokens, event.flag) == ("cut", 40, UNREAD_CHARGED)
    assert event.cost_pico == fp.last.input_tokens * GPT_4O_MINI_IN_PICO + 40 * GPT_4O_MINI_OUT_PICO
    assert event.cost_pico >= billed_pico(fp)
    guard.close()


def test_connection_lost_mid_body_records_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The provider drops the connection after 4 chunks: the reader gets the transport error,
    costcap records the 4 chunks billed (status error)."""
    with (
        client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-disconnect-after": "4"},
        ) as response,
        pytest.raises(httpx2.TransportError),
    ):  # fmt: skip
        for _ in response.iter_lines():
            pass
    served(fp)
    assert fp.last.disconnect == "server"
    assert recorder.statuses() == ["error"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 4
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_long_body_renews_its_lease(
    fp: FakeProviderServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body read for longer than half the lease renews it while it flows."""
    guard = make_guard(recorder, lease_s=0.2)
    renewals: list[bool] = []
    extend = guard.extend
    monkeypatch.setattr(guard, "extend", lambda ticket: renewals.append(extend(ticket)))
    with (
        wrap(sdk_client(fp), guard=guard) as client,
        client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "10"},
        ) as response,
    ):  # fmt: skip
        response.read()
    assert len(renewals) >= 2
    assert all(renewals)
    assert recorder.statuses() == ["ok"]
    guard.close()


# -- async ----------------------------------------------------------------------------------------


async def test_async_json_body_parses_into_the_plain_object(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """The async block gives the SDK's AsyncAPIResponse; ``await parse()`` the ChatCompletion."""
    async with aclient.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES
    ) as response:
        assert isinstance(response, AsyncAPIResponse)
        completion = await response.parse()
    assert isinstance(completion, ChatCompletion)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(await aguard.status()) == 0


async def test_async_json_body_left_unread_is_settled_at_its_usage(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async with aclient.responses.with_streaming_response.create(model=MODEL, input="Hi"):
        pass
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_sse_body_read_to_the_end(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """An async streamed body read line by line is settled with the provider's usage."""
    async with aclient.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as response:
        lines = [line async for line in response.iter_lines()]
    assert usage_line(lines)["completion_tokens"] == 20
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_sse_body_left_early_records_the_partial_cost(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """Leaving ``async with`` mid-body settles the partial cost before the next statement."""
    async with aclient.responses.with_streaming_response.create(
        model=MODEL, input="Say hello.", stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "40"},
    ) as response:  # fmt: skip
        deltas = 0
        async for event in await response.parse():
            deltas += event.type == "response.output_text.delta"
            if deltas == 3:
                break
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 3
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(await aguard.status()) == 0


async def test_async_cancelled_reader_records_the_partial_cost(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Cancelling the task reading the body closes the connection and records what was read."""
    seen = asyncio.Event()

    async def read() -> None:
        async with aclient.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True,
            extra_headers={**SLOW, "x-fake-output-tokens": "50"},
        ) as response:  # fmt: skip
            async for line in response.iter_lines():
                if '"content":" hello"' in line:
                    seen.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(seen.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    assert recorder.events[0].output_tokens == fp.last.output_tokens
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_streaming_response_over_budget_sends_nothing(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Entering ``async with`` admits the call: over budget, nothing sent."""
    poor = poor_async_guard(recorder)
    async with wrap(async_sdk_client(fp), guard=poor) as client:
        manager = client.responses.with_streaming_response.create(
            model=MODEL, input="Hi", stream=True
        )
        with pytest.raises(BudgetExceeded):
            async with manager:
                pass
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    await poor.close()
