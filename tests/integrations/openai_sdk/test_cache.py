"""The response cache in the wrapped OpenAI clients: identical requests answered once, on every
path the caller can take (``create`` / ``parse``, ``stream=True``, ``with_raw_response``,
``with_streaming_response``; Chat Completions and Responses; sync and async).

A hit is the SDK's own object built from the stored bytes (the same id as the answer stored),
recorded at $0 with what the stored call cost as its saving; the fake provider sees one request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest
from openai._response import APIResponse, AsyncAPIResponse
from openai._streaming import AsyncStream, Stream
from openai.types.chat import ChatCompletion

from costcap import AsyncGuard, Guard
from costcap.cache import AsyncResponseCache, CachePolicy, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import (
    MESSAGES,
    MODEL,
    Recorder,
    async_sdk_client,
    billed_pico,
    sdk_client,
    served,
)

ALWAYS = CachePolicy(mode="always")
Answer = tuple[str, str]  # (the answer's id, its text)


# -- every path, as the caller reads it ---------------------------------------------------------


def _sse(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


def _chat_sse(lines: list[str]) -> Answer:
    chunks = _sse(lines)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    return str(chunks[0]["id"]), text


def _responses_sse(lines: list[str]) -> Answer:
    events = _sse(lines)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    return str(events[0]["response"]["id"]), text


def _chat_stream(chunks: list[Any]) -> Answer:
    return chunks[0].id, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _responses_stream(events: list[Any]) -> Answer:
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    return events[0].response.id, text


def _chat(completion: Any) -> Answer:
    return completion.id, completion.choices[0].message.content


def _responses(response: Any) -> Answer:
    return response.id, response.output_text


CHAT: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}
RESPONSES: dict[str, Any] = {"model": MODEL, "input": "Say hello."}

SyncPath = Callable[[Any], Answer]
AsyncPath = Callable[[Any], Awaitable[Answer]]


def _sync_streaming(resource: Callable[[Any], Any], kw: dict[str, Any], read: Any) -> SyncPath:
    def run(c: Any) -> Answer:
        with resource(c).with_streaming_response.create(**kw) as response:
            assert isinstance(response, APIResponse)
            return read(response)  # type: ignore[no-any-return]

    return run


def _completions(c: Any) -> Any:
    return c.chat.completions


def _responses_of(c: Any) -> Any:
    return c.responses


def _sync_paths() -> dict[str, SyncPath]:
    chat, responses = _completions, _responses_of

    def chat_create(c: Any) -> Answer:
        return _chat(chat(c).create(**CHAT))

    def chat_parse(c: Any) -> Answer:
        return _chat(chat(c).parse(**CHAT))

    def chat_stream(c: Any) -> Answer:
        return _chat_stream(list(chat(c).create(**CHAT, stream=True)))

    def chat_raw(c: Any) -> Answer:
        return _chat(chat(c).with_raw_response.create(**CHAT).parse())

    def chat_raw_stream(c: Any) -> Answer:
        return _chat_stream(list(chat(c).with_raw_response.create(**CHAT, stream=True).parse()))

    def responses_create(c: Any) -> Answer:
        return _responses(responses(c).create(**RESPONSES))

    def responses_parse(c: Any) -> Answer:
        return _responses(responses(c).parse(**RESPONSES))

    def responses_stream(c: Any) -> Answer:
        return _responses_stream(list(responses(c).create(**RESPONSES, stream=True)))

    def responses_raw(c: Any) -> Answer:
        return _responses(responses(c).with_raw_response.create(**RESPONSES).parse())

    def responses_raw_stream(c: Any) -> Answer:
        raw = responses(c).with_raw_response.create(**RESPONSES, stream=True)
        return _responses_stream(list(raw.parse()))

    def chat_lines(r: Any) -> Answer:
        return _chat_sse(list(r.iter_lines()))

    def responses_lines(r: Any) -> Answer:
        return _responses_sse(list(r.iter_lines()))

    def chat_parsed(r: Any) -> Answer:
        return _chat(r.parse())

    def responses_parsed(r: Any) -> Answer:
        return _responses(r.parse())

    return {
        "chat create": chat_create,
        "chat parse": chat_parse,
        "chat stream": chat_stream,
        "chat raw": chat_raw,
        "chat raw stream": chat_raw_stream,
        "chat streaming": _sync_streaming(chat, CHAT, chat_parsed),
        "chat streaming sse": _sync_streaming(chat, {**CHAT, "stream": True}, chat_lines),
        "responses create": responses_create,
        "responses parse": responses_parse,
        "responses stream": responses_stream,
        "responses raw": responses_raw,
        "responses raw stream": responses_raw_stream,
        "responses streaming": _sync_streaming(responses, RESPONSES, responses_parsed),
        "responses streaming sse": _sync_streaming(
            responses, {**RESPONSES, "stream": True}, responses_lines
        ),
    }


async def _alist(stream: Any) -> list[Any]:
    return [item async for item in stream]


def _async_streaming(resource: Callable[[Any], Any], kw: dict[str, Any], read: Any) -> AsyncPath:
    async def run(c: Any) -> Answer:
        async with resource(c).with_streaming_response.create(**kw) as response:
            assert isinstance(response, AsyncAPIResponse)
            return await read(response)  # type: ignore[no-any-return]

    return run


def _async_paths() -> dict[str, AsyncPath]:

    async def lines(response: Any) -> list[str]:
        return [line async for line in response.iter_lines()]

    chat, responses = _completions, _responses_of

    async def chat_create(c: Any) -> Answer:
        return _chat(await chat(c).create(**CHAT))

    async def chat_parse(c: Any) -> Answer:
        return _chat(await chat(c).parse(**CHAT))

    async def chat_stream(c: Any) -> Answer:
        return _chat_stream(await _alist(await chat(c).create(**CHAT, stream=True)))

    async def chat_raw(c: Any) -> Answer:
        return _chat((await chat(c).with_raw_response.create(**CHAT)).parse())

    async def chat_raw_stream(c: Any) -> Answer:
        raw = await chat(c).with_raw_response.create(**CHAT, stream=True)
        return _chat_stream(await _alist(raw.parse()))

    async def responses_create(c: Any) -> Answer:
        return _responses(await responses(c).create(**RESPONSES))

    async def responses_parse(c: Any) -> Answer:
        return _responses(await responses(c).parse(**RESPONSES))

    async def responses_stream(c: Any) -> Answer:
        return _responses_stream(await _alist(await responses(c).create(**RESPONSES, stream=True)))

    async def responses_raw(c: Any) -> Answer:
        return _responses((await responses(c).with_raw_response.create(**RESPONSES)).parse())

    async def responses_raw_stream(c: Any) -> Answer:
        raw = await responses(c).with_raw_response.create(**RESPONSES, stream=True)
        return _responses_stream(await _alist(raw.parse()))

    async def chat_parsed(r: Any) -> Answer:
        return _chat(await r.parse())

    async def chat_lines(r: Any) -> Answer:
        return _chat_sse(await lines(r))

    async def responses_parsed(r: Any) -> Answer:
        return _responses(await r.parse())

    async def responses_lines(r: Any) -> Answer:
        return _responses_sse(await lines(r))

    return {
        "chat create": chat_create,
        "chat parse": chat_parse,
        "chat stream": chat_stream,
        "chat raw": chat_raw,
        "chat raw stream": chat_raw_stream,
        "chat streaming": _async_streaming(chat, CHAT, chat_parsed),
        "chat streaming sse": _async_streaming(chat, {**CHAT, "stream": True}, chat_lines),
        "responses create": responses_create,
        "responses parse": responses_parse,
        "responses stream": responses_stream,
        "responses raw": responses_raw,
        "responses raw stream": responses_raw_stream,
        "responses streaming": _async_streaming(responses, RESPONSES, responses_parsed),
        "responses streaming sse": _async_streaming(
            responses, {**RESPONSES, "stream": True}, responses_lines
        ),
    }


SYNC_PATHS = _sync_paths()
ASYNC_PATHS = _async_paths()


def cached_client(
    fp: FakeProviderServer, guard: Guard, cache: ResponseCache | None = None, **options: Any
) -> openai.OpenAI:
    return wrap(sdk_client(fp), guard=guard, cache=cache or ResponseCache(policy=ALWAYS), **options)


def async_cached_client(
    fp: FakeProviderServer,
    guard: AsyncGuard,
    cache: AsyncResponseCache | None = None,
    **options: Any,
) -> openai.AsyncOpenAI:
    cache = cache or AsyncResponseCache(policy=ALWAYS)
    return wrap(async_sdk_client(fp), guard=guard, cache=cache, **options)


def assert_one_miss_then_hits(recorder: Recorder, fp: FakeProviderServer, hits: int) -> None:
    """The first call was answered by the provider and recorded as a cache miss at what it
    billed; every other call was a hit at $0 that saved as much."""
    miss, *rest = recorder.events
    assert (miss.status, miss.cache_miss, miss.cache_hit) == ("ok", True, False)
    assert miss.cost_pico == billed_pico(fp) > 0
    assert len(rest) == hits
    for hit in rest:
        assert (hit.status, hit.cache_hit, hit.cache_miss, hit.cost_pico) == ("ok", True, False, 0)
        assert hit.saved_pico == miss.cost_pico
        assert (hit.model, hit.provider) == (miss.model, "openai")


@pytest.mark.parametrize("path", list(SYNC_PATHS))
def test_an_identical_request_is_answered_from_the_cache(
    path: str, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """Every path: the second and third identical calls are hits with the stored answer (same
    id, same text), the provider is asked once."""
    run = SYNC_PATHS[path]
    with cached_client(fp, guard) as client:
        first = run(client)
        served(fp)
        assert run(client) == first
        assert run(client) == first
    assert first[1].startswith(" hello")
    assert len(fp.requests) == 1
    assert_one_miss_then_hits(recorder, fp, hits=2)


@pytest.mark.parametrize("path", list(ASYNC_PATHS))
async def test_an_identical_async_request_is_answered_from_the_cache(
    path: str, fp: FakeProviderServer, aguard: AsyncGuard, recorder: Recorder
) -> None:
    run = ASYNC_PATHS[path]
    async with async_cached_client(fp, aguard) as client:
        first = await run(client)
        served(fp)
        assert await run(client) == first
        assert await run(client) == first
    assert first[1].startswith(" hello")
    assert len(fp.requests) == 1
    assert_one_miss_then_hits(recorder, fp, hits=2)


def test_a_hit_is_the_sdks_own_object_marked_as_a_hit(fp: FakeProviderServer, guard: Guard) -> None:
    """A plain hit is a ChatCompletion, a streamed one the SDK's Stream, a raw one carries
    ``x-costcap-cache: hit``."""
    with cached_client(fp, guard) as client:
        client.chat.completions.with_raw_response.create(**CHAT)
        raw = client.chat.completions.with_raw_response.create(**CHAT)
        assert raw.headers["x-costcap-cache"] == "hit"
        assert isinstance(raw.parse(), ChatCompletion)
        with client.chat.completions.create(**CHAT, stream=True) as stream:
            list(stream)
        served(fp, 2)
        with client.chat.completions.create(**CHAT, stream=True) as stream:
            assert isinstance(stream, Stream)
            assert not hasattr(stream, "costcap_ticket")  # not metered: nothing to meter
            list(stream)
    assert len(fp.requests) == 2


async def test_an_async_streamed_hit_is_the_sdks_async_stream(
    fp: FakeProviderServer, aguard: AsyncGuard
) -> None:
    async with async_cached_client(fp, aguard) as client:
        await _alist(await client.responses.create(**RESPONSES, stream=True))
        stream = await client.responses.create(**RESPONSES, stream=True)
        assert isinstance(stream, AsyncStream)
        await _alist(stream)
    assert len(fp.requests) == 1


# -- the key: the output cap --------------------------------------------------------------------


def test_the_chat_cap_is_one_key_whichever_field_carries_it(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """``max_tokens``, ``max_completion_tokens`` or either in ``extra_body``: one key."""
    with cached_client(fp, guard) as client:
        client.chat.completions.create(**CHAT, max_tokens=40)
        client.chat.completions.create(**CHAT, max_completion_tokens=40)
        client.chat.completions.create(**CHAT, extra_body={"max_tokens": 40})
        client.chat.completions.create(**CHAT, extra_body={"max_completion_tokens": 40})
        client.chat.completions.create(**CHAT, max_completion_tokens=41)  # another cap
    assert len(fp.requests) == 2
    assert [e.cache_hit for e in recorder.events] == [False, True, True, True, False]


def test_the_key_holds_the_cap_the_policy_gives(fp: FakeProviderServer, recorder: Recorder) -> None:
    """No cap and the policy's default are one key; caps above the policy's cap are clamped to
    it, so they are one key too."""
    from costcap import Policy
    from tests.integrations.openai_sdk.conftest import make_guard

    guard = make_guard(recorder, Policy(default_max_tokens=64, max_tokens_cap=100))
    with cached_client(fp, guard) as client:
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT, max_tokens=64)
        client.responses.create(**RESPONSES, max_output_tokens=500)
        client.responses.create(**RESPONSES, max_output_tokens=900)
        client.responses.create(**RESPONSES, max_output_tokens=100)
    assert len(fp.requests) == 2
    assert [r.usage and r.output_tokens for r in fp.requests] == [20, 20]
    guard.close()


def test_with_n_choices_the_key_holds_the_cap_per_choice(
    fp: FakeProviderServer, guard: Guard
) -> None:
    """``n`` > 1: the key's ``max_completion_tokens`` is the cap of each choice, as sent."""
    from costcap.cache import CacheRequest

    cache = ResponseCache(policy=ALWAYS)
    with cached_client(fp, guard, cache) as client:
        client.chat.completions.create(**CHAT, n=2, max_tokens=30)
        client.chat.completions.create(**CHAT, n=2, max_completion_tokens=30)
    assert len(fp.requests) == 1
    asked = cache.lookup(CacheRequest(
        provider="openai", endpoint="chat.completions",
        body={**CHAT, "n": 2, "max_completion_tokens": 30},
    ))  # fmt: skip
    assert asked.hit


@pytest.mark.parametrize(("endpoint", "stream"), [("chat", False), ("responses", True)])
def test_the_stored_answer_says_what_it_cost(
    endpoint: str, stream: bool, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """The entry holds the provider's bytes with the cost and tokens of the call that made
    them (what each hit saves)."""
    from costcap.cache import CacheRequest

    cache = ResponseCache(policy=ALWAYS)
    with cached_client(fp, guard, cache) as client:
        if endpoint == "chat":
            client.chat.completions.create(**CHAT, max_tokens=50)
            body = {**CHAT, "max_completion_tokens": 50}
        else:
            list(client.responses.create(**RESPONSES, stream=True, max_output_tokens=50))
            body = {**RESPONSES, "max_output_tokens": 50}
    served(fp)
    endpoint_name = "chat.completions" if endpoint == "chat" else "responses"
    asked = cache.lookup(CacheRequest(
        provider="openai", endpoint=endpoint_name, body=body, shape="sse" if stream else "json",
    ))  # fmt: skip
    answer = asked.answer
    assert answer is not None
    [served_request] = fp.requests
    assert (answer.input_tokens, answer.output_tokens) == (
        served_request.input_tokens, served_request.output_tokens,
    )  # fmt: skip
    assert (answer.model, answer.provider) == (MODEL, "openai")
    assert answer.cost_pico == recorder.events[0].cost_pico == billed_pico(fp)
    assert served_request.id.encode() in answer.body


def test_different_requests_are_different_keys(fp: FakeProviderServer, guard: Guard) -> None:
    with cached_client(fp, guard) as client:
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
        client.chat.completions.create(**CHAT, temperature=0.5)
        client.responses.create(**RESPONSES)
        client.chat.completions.create(**CHAT, stream=True).close()  # a stream is another entry
    served(fp, 5)
    assert len(fp.requests) == 5


# -- streams ------------------------------------------------------------------------------------


def test_a_streamed_hit_hides_the_usage_chunk_costcap_asked_for(
    fp: FakeProviderServer, guard: Guard
) -> None:
    """Stored with the usage chunk costcap asks for, a chat stream is replayed without it to a
    caller who did not ask for it, and with it to one who did."""
    with cached_client(fp, guard) as client:
        list(client.chat.completions.create(**CHAT, stream=True))
        served(fp)
        plain = list(client.chat.completions.create(**CHAT, stream=True))
        asked = list(client.chat.completions.create(
            **CHAT, stream=True, stream_options={"include_usage": True}
        ))  # fmt: skip
        with client.chat.completions.with_streaming_response.create(**CHAT, stream=True) as r:
            lines = list(r.iter_lines())
    assert all(chunk.choices and chunk.usage is None for chunk in plain)
    assert asked[-1].choices == []
    assert asked[-1].usage is not None
    assert asked[-1].usage.completion_tokens == fp.requests[0].output_tokens
    assert len(asked) == len(plain) + 1
    assert all(c["choices"] for c in _sse(lines))
    assert len(fp.requests) == 1


def test_a_stream_left_early_is_not_stored(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """A stream closed before its end gives its lead up: the next identical call goes to the
    provider (at once: nobody waits on the abandoned lead), and its whole answer is stored."""
    cache = ResponseCache(policy=ALWAYS)
    with cached_client(fp, guard, cache) as client:
        stream = client.chat.completions.create(**CHAT, stream=True)
        next(iter(stream))
        stream.close()
        with client.responses.with_streaming_response.create(**RESPONSES, stream=True) as r:
            next(r.iter_lines())
        list(client.chat.completions.create(**CHAT, stream=True))
        list(client.chat.completions.create(**CHAT, stream=True))
    served(fp, 3)
    assert len(fp.requests) == 3
    assert [e.cache_hit for e in recorder.events] == [False, False, False, True]
    assert cache.stats.waits == 0


def test_a_stream_costcap_cut_is_not_stored(fp: FakeProviderServer, guard: Guard) -> None:
    """A provider that streams past the cap is cut by costcap: that answer is not stored."""
    from costcap.integrations._meter import StreamCut
    from tests.integrations.openai_sdk.conftest import Wire

    wire = Wire(ignore_caps=True)
    client = wrap(sdk_client(fp, wire=wire), guard=guard, cache=ResponseCache(policy=ALWAYS))
    for _ in range(2):
        with pytest.raises(StreamCut):
            list(client.chat.completions.create(**CHAT, stream=True, max_tokens=5))
    served(fp, 2)
    assert len(fp.requests) == 2


def test_a_failed_call_is_not_stored(fp: FakeProviderServer, guard: Guard) -> None:
    """An error answer, and a stream broken mid-way, store nothing; the next call is sent."""
    with cached_client(fp, guard) as client:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**CHAT, extra_headers={"x-fake-error": "500"})
        broken = {"x-fake-disconnect-after": "2"}
        with pytest.raises(openai.APIConnectionError):
            list(client.responses.create(**RESPONSES, stream=True, extra_headers=broken))
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT)
        list(client.responses.create(**RESPONSES, stream=True))
        list(client.responses.create(**RESPONSES, stream=True))
    served(fp, 4)
    assert len(fp.requests) == 4


def test_an_incomplete_response_is_an_answer_and_stored(
    fp: FakeProviderServer, guard: Guard
) -> None:
    """A response cut at ``max_output_tokens`` is what that request gives: it is stored."""
    with cached_client(fp, guard) as client:
        first = client.responses.create(**RESPONSES, max_output_tokens=16)
        second = client.responses.create(**RESPONSES, max_output_tokens=16)
    assert first.status == second.status == "incomplete"
    assert first.id == second.id
    assert len(fp.requests) == 1


# -- structured outputs -------------------------------------------------------------------------


def test_parse_replays_the_parsed_tool_call(fp: FakeProviderServer, guard: Guard) -> None:
    """``parse()`` with a pydantic tool: a hit gives the parsed arguments again."""
    import pydantic

    class Weather(pydantic.BaseModel):
        city: str

    tool = openai.pydantic_function_tool(Weather)
    ask = {**CHAT, "tools": [tool], "extra_headers": {"x-fake-tool-call": "auto"}}
    with cached_client(fp, guard) as client:
        first = client.chat.completions.parse(**ask)
        second = client.chat.completions.parse(**ask)
    [call] = second.choices[0].message.tool_calls or []
    assert call.function.parsed_arguments == Weather(city="hello")
    assert first.id == second.id
    assert len(fp.requests) == 1


def test_an_answer_that_does_not_parse_is_charged_stored_and_raised_again(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """``parse()`` whose answer does not validate: the caller gets the SDK's error each time;
    the call the provider answered is charged what it billed, and the hit costs nothing."""
    import pydantic

    class Answer(pydantic.BaseModel):
        value: int

    with cached_client(fp, guard) as client:
        for _ in range(2):
            with pytest.raises(pydantic.ValidationError):
                client.chat.completions.parse(**CHAT, response_format=Answer)
    assert len(fp.requests) == 1
    assert_one_miss_then_hits(recorder, fp, hits=1)


# -- what the caller says -----------------------------------------------------------------------


def test_costcap_cache_false_and_no_store_neither_read_nor_store(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    with cached_client(fp, guard) as client:
        client.chat.completions.create(**CHAT, costcap_cache=False)  # type: ignore[call-overload]
        client.chat.completions.create(**CHAT, extra_headers={"Cache-Control": "no-store"})
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT, costcap_cache=False)  # type: ignore[call-overload]
    assert len(fp.requests) == 4
    assert [e.cache_miss for e in recorder.events] == [False, False, True, False]
    assert not any(e.cache_hit for e in recorder.events)


def test_no_cache_asks_the_provider_and_stores_its_answer(
    fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    with cached_client(fp, guard) as client:
        first = client.chat.completions.create(**CHAT)
        fresh = client.chat.completions.create(**CHAT, extra_headers={"cache-control": "no-cache"})
        again = client.chat.completions.create(**CHAT)
    assert first.id != fresh.id == again.id
    assert len(fp.requests) == 2
    assert [e.cache_hit for e in recorder.events] == [False, False, True]


def test_costcap_cache_on_a_client_without_a_cache_is_ignored(
    client: openai.OpenAI, fp: FakeProviderServer
) -> None:
    client.chat.completions.create(**CHAT, costcap_cache=False)  # type: ignore[call-overload]
    assert len(fp.requests) == 1


def test_the_default_policy_caches_deterministic_requests_only(
    fp: FakeProviderServer, guard: Guard
) -> None:
    with cached_client(fp, guard, ResponseCache()) as client:
        for _ in range(2):
            client.chat.completions.create(**CHAT)
            client.chat.completions.create(**CHAT, temperature=0)
            client.responses.create(**RESPONSES, temperature=0)
    assert len(fp.requests) == 4


def test_features_do_not_share_entries(fp: FakeProviderServer, guard: Guard) -> None:
    """The namespace is the feature: the same request for two features is two entries."""
    with cached_client(fp, guard) as client:
        for feature in ("faq", "faq", "chat"):
            client.chat.completions.create(**CHAT, costcap_feature=feature)  # type: ignore[call-overload]
    assert len(fp.requests) == 2


def test_with_options_keeps_the_cache(fp: FakeProviderServer, guard: Guard) -> None:
    with cached_client(fp, guard) as client:
        client.chat.completions.create(**CHAT)
        client.with_options(timeout=30).chat.completions.create(**CHAT)
    assert len(fp.requests) == 1


# -- the guard's side ---------------------------------------------------------------------------


def test_a_hit_needs_no_budget(fp: FakeProviderServer, guard: Guard) -> None:
    """A guard with nothing left to spend is answered from the cache another filled."""
    from costcap import BudgetExceeded
    from tests.integrations.openai_sdk.conftest import poor_guard

    cache = ResponseCache(policy=ALWAYS)
    poor_recorder = Recorder()
    poor = poor_guard(poor_recorder)
    with cached_client(fp, poor, cache) as broke:
        with pytest.raises(BudgetExceeded):
            broke.chat.completions.create(**CHAT)
        with cached_client(fp, guard, cache) as rich:
            stored = rich.chat.completions.create(**CHAT)
        assert broke.chat.completions.create(**CHAT).id == stored.id
    assert len(fp.requests) == 1
    assert [(e.status, e.cache_hit) for e in poor_recorder.events] == [
        ("refused", False), ("ok", True),
    ]  # fmt: skip
    assert cache.stats.waits == 0  # the refused lead was given up, not left to time out
    poor.close()


def test_a_hit_counts_on_request_rate_limits(fp: FakeProviderServer, recorder: Recorder) -> None:
    from costcap import RateLimit, RateLimited
    from tests.integrations.openai_sdk.conftest import make_guard

    guard = make_guard(recorder, limits=[RateLimit("2/minute")])
    with cached_client(fp, guard) as client:
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT)
        with pytest.raises(RateLimited):
            client.chat.completions.create(**CHAT)
    assert [(e.status, e.cache_hit) for e in recorder.events] == [
        ("ok", False), ("ok", True), ("refused", False),
    ]  # fmt: skip
    assert len(fp.requests) == 1
    guard.close()


def test_a_cache_that_is_down_never_fails_a_call(fp: FakeProviderServer, guard: Guard) -> None:
    """A Redis cache nobody answers on: every call goes to the provider and is answered."""
    cache = ResponseCache("redis://127.0.0.1:1/0", policy=ALWAYS)
    with cached_client(fp, guard, cache) as client:
        for _ in range(2):
            client.chat.completions.create(**CHAT)
            list(client.responses.create(**RESPONSES, stream=True))
    served(fp, 4)
    assert len(fp.requests) == 4
    assert cache.stats.errors >= 1


# -- at once ------------------------------------------------------------------------------------


def test_identical_calls_in_threads_make_one_provider_call(
    fp: FakeProviderServer, guard: Guard
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    slow = {"x-fake-latency-ms": "300"}
    with cached_client(fp, guard) as client, ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(
            lambda _: _chat(client.chat.completions.create(**CHAT, extra_headers=slow)),
            range(20),
        ))  # fmt: skip
    assert len(set(answers)) == 1
    assert len(fp.requests) == 1


async def test_identical_calls_in_tasks_make_one_provider_call(
    fp: FakeProviderServer, aguard: AsyncGuard
) -> None:
    slow = {"x-fake-chunk-delay-ms": "20"}

    async def one(client: Any) -> Answer:
        stream = await client.responses.create(**RESPONSES, stream=True, extra_headers=slow)
        return _responses_stream(await _alist(stream))

    async with async_cached_client(fp, aguard) as client:
        answers = await asyncio.gather(*(one(client) for _ in range(20)))
    assert len(set(answers)) == 1
    assert len(fp.requests) == 1


async def test_a_cancelled_stream_gives_its_lead_up(
    fp: FakeProviderServer, aguard: AsyncGuard
) -> None:
    """The leader's task is cancelled mid-stream: the identical call waiting on it goes on to
    the provider at once, and its answer is stored."""
    cache = AsyncResponseCache(policy=ALWAYS)
    slow = {"x-fake-chunk-delay-ms": "50"}
    async with async_cached_client(fp, aguard, cache) as client:
        started = asyncio.Event()

        async def leader() -> None:
            stream = await client.chat.completions.create(**CHAT, stream=True, extra_headers=slow)
            async for _ in stream:
                started.set()

        task = asyncio.create_task(leader())
        await started.wait()
        waiter = asyncio.create_task(client.chat.completions.create(**CHAT, stream=True))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _alist(await asyncio.wait_for(waiter, 5))
        await _alist(await client.chat.completions.create(**CHAT, stream=True))
    served(fp, 2)
    assert len(fp.requests) == 2
    assert (cache.stats.waits, cache.stats.hits) == (1, 1)
