"""A streamed hit replays the stored stream event for event — text, tool-call arguments and
reasoning — as the SDK's own event objects, equal to the ones the first caller read, on Chat
Completions and Responses, sync and async."""

from __future__ import annotations

from typing import Any

import pytest

from costcap import AsyncGuard, Guard
from costcap.cache import AsyncResponseCache, CachePolicy, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import MESSAGES, MODEL, async_sdk_client, sdk_client

ALWAYS = CachePolicy(mode="always")
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
RESPONSES_TOOL = {"type": "function", "name": "get_weather", "parameters": WEATHER}
TOOL_CALL = {"x-fake-tool-call": "auto"}
THINKING = {"x-fake-thinking-tokens": "12"}

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat text": ("chat", {}),
    "chat tool call": ("chat", {"tools": [CHAT_TOOL], "extra_headers": TOOL_CALL}),
    "responses text": ("responses", {}),
    "responses tool call": ("responses", {"tools": [RESPONSES_TOOL], "extra_headers": TOOL_CALL}),
    "responses reasoning": (
        "responses",
        {"reasoning": {"effort": "low", "summary": "auto"}, "extra_headers": THINKING},
    ),
    "responses reasoning then a tool call": (
        "responses",
        {
            "reasoning": {"effort": "low", "summary": "auto"},
            "tools": [RESPONSES_TOOL],
            "extra_headers": {**THINKING, **TOOL_CALL},
        },
    ),
}


def stream_sync(client: Any, api: str, extra: dict[str, Any]) -> list[Any]:
    if api == "chat":
        chunks = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                **extra)  # fmt: skip
    else:
        chunks = client.responses.create(model=MODEL, input="Weather?", stream=True, **extra)
    with chunks:
        return list(chunks)


async def stream_async(client: Any, api: str, extra: dict[str, Any]) -> list[Any]:
    if api == "chat":
        chunks = await client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                      stream=True, **extra)  # fmt: skip
    else:
        chunks = await client.responses.create(model=MODEL, input="Weather?", stream=True,
                                               **extra)  # fmt: skip
    async with chunks:
        return [event async for event in chunks]


def kinds(events: list[Any]) -> set[str]:
    """What the stream carried: text, tool-call arguments, reasoning."""
    found = set()
    for event in events:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            found.add("text")
        elif kind == "response.function_call_arguments.delta":
            found.add("tool")
        elif kind == "response.reasoning_summary_text.delta":
            found.add("reasoning")
        for choice in getattr(event, "choices", None) or ():
            if choice.delta.content:
                found.add("text")
            if choice.delta.tool_calls:
                found.add("tool")
    return found


EXPECTED = {
    "chat text": {"text"},
    "chat tool call": {"tool"},
    "responses text": {"text"},
    "responses tool call": {"tool"},
    "responses reasoning": {"reasoning", "text"},
    "responses reasoning then a tool call": {"reasoning", "tool"},
}


@pytest.mark.parametrize("case", CASES)
def test_a_streamed_hit_replays_every_event(
    fp: FakeProviderServer, guard: Guard, case: str
) -> None:
    api, extra = CASES[case]
    with wrap(sdk_client(fp), guard=guard, cache=ResponseCache(policy=ALWAYS)) as client:
        first = stream_sync(client, api, extra)
        second = stream_sync(client, api, extra)
    assert len(fp.requests) == 1  # the second came from the cache
    assert kinds(first) == EXPECTED[case]  # the stream held what the case is about
    assert second == first  # the SDK's event objects, one for one


@pytest.mark.parametrize("case", CASES)
async def test_an_async_streamed_hit_replays_every_event(
    fp: FakeProviderServer, aguard: AsyncGuard, case: str
) -> None:
    api, extra = CASES[case]
    client = wrap(async_sdk_client(fp), guard=aguard, cache=AsyncResponseCache(policy=ALWAYS))
    async with client:
        first = await stream_async(client, api, extra)
        second = await stream_async(client, api, extra)
    assert len(fp.requests) == 1
    assert kinds(first) == EXPECTED[case]
    assert second == first
