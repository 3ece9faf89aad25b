"""The response cache at the wire: the real SDKs over ``costcap.http_client(guard)`` whose guard
holds a cache (``Guard(cache=ResponseCache(...))``, ``AsyncGuard(cache=AsyncResponseCache(...))``)
and a gateway's :class:`~costcap.wire.WireContext`.

A cacheable request (temperature 0) is looked up before admission: a hit is answered with the
stored bytes, recorded at $0 with what it saved; a miss is sent, marked ``cache_miss``, and its
answer stored once whole. What the fake provider served (``fp.requests``) says whether a request
reached it; money is compared with its bill.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import pytest

import costcap
from costcap import AsyncGuard, Guard, RateLimit, RateLimited
from costcap.cache import AsyncResponseCache, ResponseCache
from costcap.testing import FakeProviderServer
from costcap.wire import CONTEXT_EXTENSION, WireContext, refusal
from tests.integrations.routing import OPENAI_TIERS, Side, router
from tests.wire.conftest import (
    CLAUDE,
    GPT,
    HELLO,
    SLOW,
    Recorder,
    Sent,
    billed_pico,
    guarded,
    make_async_guard,
    make_guard,
    served,
)

CHAT = "chat.completions.create"
ASK: dict[str, Any] = {"model": GPT, "messages": HELLO, "temperature": 0}


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def is_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def side(
    fp: FakeProviderServer, is_async: bool, recorder: Recorder, *, sdk: str = "openai",
    sent: Sent | None = None, **guard_options: Any,
) -> Side:  # fmt: skip
    """An SDK client whose http_client is guarded by a guard holding a memory cache."""
    guard: Guard | AsyncGuard
    if is_async:
        guard = make_async_guard(recorder, cache=AsyncResponseCache("memory://"), **guard_options)
    else:
        guard = make_guard(recorder, cache=ResponseCache("memory://"), **guard_options)
    kind: Any = {
        ("openai", False): openai.OpenAI, ("openai", True): openai.AsyncOpenAI,
        ("anthropic", False): anthropic.Anthropic, ("anthropic", True): anthropic.AsyncAnthropic,
    }[sdk, is_async]  # fmt: skip
    return Side(guard, guarded(kind, fp, guard, sent=sent))


def hits(recorder: Recorder) -> list[bool]:
    return [e.cache_hit for e in recorder.events]


async def test_a_repeated_request_is_answered_from_the_cache(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """The second identical request never reaches the provider: the same answer, recorded at
    $0 saving what the first cost; the first was recorded as a miss at what was billed."""
    s = side(fp, is_async, recorder)
    first = await s.call(CHAT, **ASK)
    second = await s.call(CHAT, **ASK)
    await s.close()
    assert len(fp.requests) == 1
    assert (second.id, second.choices[0].message.content) == (
        first.id, first.choices[0].message.content,
    )  # fmt: skip
    miss, hit = recorder.events
    assert (miss.cache_miss, miss.cost_pico) == (True, billed_pico(fp))
    assert (hit.cache_hit, hit.cost_pico, hit.saved_pico) == (True, 0, billed_pico(fp))
    assert billed_pico(fp) > 0


@pytest.mark.parametrize(
    ("sdk", "path", "kwargs"),
    [("openai", "responses.create", {"model": GPT, "input": "Say hello.", "temperature": 0}),
     ("anthropic", "messages.create", {"model": CLAUDE, "messages": HELLO, "max_tokens": 30,
                                       "extra_body": {"temperature": 0}})],
    ids=["responses", "messages"],
)  # fmt: skip
async def test_responses_and_messages_are_answered_from_the_cache(
    fp: FakeProviderServer, recorder: Recorder, sdk: str, path: str, kwargs: dict[str, Any]
) -> None:
    """The Responses API and Anthropic Messages are cached as chat is."""
    s = side(fp, False, recorder, sdk=sdk)
    first = await s.call(path, **kwargs)
    second = await s.call(path, **kwargs)
    await s.close()
    assert len(fp.requests) == 1
    assert second.id == first.id
    assert hits(recorder) == [False, True]
    assert recorder.events[1].saved_pico == billed_pico(fp) > 0


async def test_a_streamed_request_is_replayed_from_the_stored_stream(
    fp: FakeProviderServer, recorder: Recorder, is_async: bool
) -> None:
    """A stream read to its end is stored; the same streamed request gets its events again."""
    s = side(fp, is_async, recorder)
    texts = []
    for _ in range(2):
        chunks = await s.drain(await s.call(CHAT, **ASK, stream=True))
        texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
    await s.close()
    assert len(fp.requests) == 1
    assert texts[0] == texts[1] == fp.requests[0].output_text
    hit = recorder.events[1]
    assert (hit.cache_hit, hit.stream, hit.cost_pico, hit.saved_pico) == (
        True, True, 0, billed_pico(fp),
    )  # fmt: skip


async def test_a_replayed_chat_stream_has_a_usage_chunk_only_when_asked(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The stored stream holds the usage chunk costcap asked for: replayed to a caller asking
    ``include_usage`` it is there, to one who did not it is not."""
    s = side(fp, False, recorder)
    await s.drain(await s.call(CHAT, **ASK, stream=True))
    asked = await s.drain(await s.call(CHAT, **ASK, stream=True,
                                       stream_options={"include_usage": True}))  # fmt: skip
    plain = await s.drain(await s.call(CHAT, **ASK, stream=True))
    await s.close()
    assert len(fp.requests) == 1
    assert asked[-1].usage is not None
    assert asked[-1].usage.completion_tokens == fp.requests[0].output_tokens
    assert all(chunk.usage is None for chunk in plain)


async def test_a_stream_cut_at_its_reservation_is_not_stored(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A provider that ignores the cap: the stream is cut (settled ``cut``) and not stored —
    the same request goes to the provider again."""
    s = side(fp, False, recorder, sent=Sent(caps_to=60))
    for _ in range(2):
        await s.drain(await s.call(CHAT, **ASK, stream=True, max_tokens=5))
    await s.close()
    served(fp, 2)
    assert recorder.statuses() == ["cut", "cut"]
    assert hits(recorder) == [False, False]


async def test_a_stream_closed_early_is_not_stored(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A stream whose reader leaves after its first chunk is settled ``cut`` and not stored:
    the same streamed request goes to the provider again."""
    s = side(fp, False, recorder)
    stream = await s.call(CHAT, **ASK, stream=True, extra_headers=SLOW)
    next(iter(stream))
    stream.close()
    await s.drain(await s.call(CHAT, **ASK, stream=True))
    await s.close()
    served(fp, 2)
    assert recorder.statuses() == ["cut", "ok"]
    assert hits(recorder) == [False, False]


async def test_an_error_answer_is_not_stored(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A 400 from the provider releases the call and leaves nothing in the cache."""
    s = side(fp, False, recorder)
    with pytest.raises(openai.BadRequestError):
        await s.call(CHAT, **ASK, extra_headers={"x-fake-error": "400"})
    await s.call(CHAT, **ASK)
    await s.close()
    assert [r.status_code for r in fp.requests] == [400, 200]
    assert recorder.statuses() == ["error", "ok"]


async def test_a_request_that_is_not_deterministic_bypasses_the_cache(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """No temperature 0 and no seed (the default ``deterministic`` mode): every request goes
    to the provider, none marked a miss."""
    s = side(fp, False, recorder)
    for _ in range(2):
        await s.call(CHAT, model=GPT, messages=HELLO)
    await s.close()
    assert len(fp.requests) == 2
    assert [e.cache_miss for e in recorder.events] == [False, False]


async def test_the_bypass_header_neither_reads_nor_stores(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``x-costcap-cache: bypass``: not stored (a plain repeat goes to the provider), not read
    (it goes there with an entry stored); the header does not go upstream."""
    sent = Sent()
    s = side(fp, False, recorder, sent=sent)
    bypass = {"x-costcap-cache": "bypass"}
    await s.call(CHAT, **ASK, extra_headers=bypass)
    await s.call(CHAT, **ASK)  # stored now
    await s.call(CHAT, **ASK, extra_headers=bypass)
    await s.call(CHAT, **ASK)  # a hit
    await s.close()
    assert len(fp.requests) == 3
    assert hits(recorder) == [False, False, False, True]
    assert all("x-costcap-cache" not in headers for headers in sent.headers)


async def test_cache_control_no_cache_asks_the_provider_and_stores_its_answer(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``Cache-Control: no-cache`` with an entry stored: the provider answers, and its answer
    replaces the entry (the next request is a hit with it)."""
    s = side(fp, False, recorder)
    await s.call(CHAT, **ASK)
    fresh = await s.call(CHAT, **ASK, extra_headers={"cache-control": "no-cache"})
    again = await s.call(CHAT, **ASK)
    await s.close()
    assert len(fp.requests) == 2
    assert again.id == fresh.id == fp.requests[1].id
    assert [e.cache_miss for e in recorder.events] == [True, False, False]


async def test_cache_control_no_store_neither_reads_nor_stores(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``Cache-Control: no-store``: the answer is not kept; the repeat goes to the provider."""
    s = side(fp, False, recorder)
    await s.call(CHAT, **ASK, extra_headers={"cache-control": "no-store"})
    await s.call(CHAT, **ASK)
    await s.close()
    assert len(fp.requests) == 2


async def test_a_hit_still_counts_on_request_rate_limits(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Two requests a minute: the miss and one hit pass; the next hit is refused with a 429
    (``RateLimited``), though nothing would be sent."""
    s = side(fp, False, recorder, limits=[RateLimit("2/minute")])
    await s.call(CHAT, **ASK)
    await s.call(CHAT, **ASK)
    with pytest.raises(openai.RateLimitError) as raised:
        await s.call(CHAT, **ASK)
    await s.close()
    assert isinstance(refusal(raised.value), RateLimited)
    assert len(fp.requests) == 1
    assert recorder.statuses() == ["ok", "ok", "refused"]


async def test_a_hit_says_so_in_a_header(fp: FakeProviderServer, recorder: Recorder) -> None:
    """Without a gateway, a hit's answer carries ``x-costcap-cache: hit``; a miss's does not."""
    s = side(fp, False, recorder)
    first = await s.call("chat.completions.with_raw_response.create", **ASK)
    second = await s.call("chat.completions.with_raw_response.create", **ASK)
    await s.close()
    assert "x-costcap-cache" not in first.headers
    assert second.headers["x-costcap-cache"] == "hit"


def test_the_context_says_how_the_cache_answered(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A gateway's context: ``miss`` (with the ticket), then ``hit`` (no ticket: nothing was
    admitted; the model the answer is for), and ``bypass`` for a request the cache may not
    answer."""
    guard = make_guard(recorder, cache=ResponseCache("memory://"))
    contexts = [WireContext(), WireContext(), WireContext()]
    bodies = [ASK, ASK, {"model": GPT, "messages": HELLO}]
    with costcap.http_client(guard) as client:
        for context, body in zip(contexts, bodies, strict=True):
            response = client.post(f"{fp.openai_base_url}/chat/completions", json=body,
                                   extensions={CONTEXT_EXTENSION: context})  # fmt: skip
            assert response.status_code == 200
    guard.close()
    assert [c.cache for c in contexts] == ["miss", "hit", "bypass"]
    assert [c.ticket is not None for c in contexts] == [True, False, True]
    assert contexts[1].model == GPT


def test_identical_requests_in_threads_make_one_provider_call(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Ten identical requests at once on a slow provider: the first fills the entry, the others
    wait for it and are hits."""
    s = side(fp, False, recorder)
    slow = {"x-fake-latency-ms": "300"}
    client: openai.OpenAI = s.client
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(
            lambda _: client.chat.completions.create(**ASK, extra_headers=slow), range(10)
        ))  # fmt: skip
    client.close()
    assert isinstance(s.guard, Guard)
    s.guard.close()
    assert len(fp.requests) == 1
    assert {a.id for a in answers} == {fp.requests[0].id}
    assert sorted(hits(recorder)) == [False] + [True] * 9


async def test_identical_requests_in_tasks_make_one_provider_call(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The same, with tasks of one event loop over an async guard."""
    s = side(fp, True, recorder)
    slow = {"x-fake-latency-ms": "300"}
    answers = await asyncio.gather(*(s.call(CHAT, **ASK, extra_headers=slow) for _ in range(10)))
    await s.close()
    assert len(fp.requests) == 1
    assert {a.id for a in answers} == {fp.requests[0].id}
    assert sorted(hits(recorder)) == [False] + [True] * 9


async def test_a_routed_request_is_cached_under_the_model_it_was_sent_to(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``costcap:simple`` is stored under its routed model's key: the same request naming that
    model is a hit, and so is the route again (recorded with its route)."""
    simple = OPENAI_TIERS["simple"]
    guard = make_guard(recorder, cache=ResponseCache("memory://"), router=router(OPENAI_TIERS))
    s = Side(guard, guarded(openai.OpenAI, fp, guard, feature="chat"))
    await s.call(CHAT, **{**ASK, "model": "costcap:simple"})
    await s.call(CHAT, **{**ASK, "model": simple})
    await s.call(CHAT, **{**ASK, "model": "costcap:simple"})
    await s.close()
    assert [(r.model, r.status_code) for r in fp.requests] == [(simple, 200)]
    assert [(e.cache_hit, e.requested_model, e.model, e.tier) for e in recorder.events] == [
        (False, "costcap:simple", simple, "simple"),
        (True, simple, simple, None),
        (True, "costcap:simple", simple, "simple"),
    ]


async def test_an_anthropic_beta_header_is_part_of_the_key(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The same Messages body with and without ``anthropic-beta`` are two requests (a beta can
    change the answer), as ``beta.messages`` calls with ``betas`` are in the wrapped client."""
    s = side(fp, False, recorder, sdk="anthropic")
    kwargs: dict[str, Any] = {"model": CLAUDE, "messages": HELLO, "max_tokens": 30,
                              "extra_body": {"temperature": 0}}  # fmt: skip
    await s.call("messages.create", **kwargs)
    await s.call("messages.create", **kwargs, extra_headers={"anthropic-beta": "beta-1"})
    await s.call("messages.create", **kwargs, extra_headers={"anthropic-beta": "beta-1"})
    await s.close()
    assert len(fp.requests) == 2
    assert hits(recorder) == [False, False, True]


async def test_a_plain_guard_without_a_cache_sends_every_request(
    fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """No cache on the guard: identical requests all go to the provider (``x-costcap-cache``
    on the answer is absent)."""
    with guarded(openai.OpenAI, fp, guard) as client:
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(**ASK)
            assert "x-costcap-cache" not in raw.headers
    assert len(fp.requests) == 2


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
async def test_an_answer_a_wrapped_client_stored_is_a_hit_at_the_wire(
    fp: FakeProviderServer, recorder: Recorder, sdk: str
) -> None:
    """The wrapped client and the guarded HTTP client key one request alike: an answer stored
    by ``costcap.wrap`` answers the same request sent through ``http_client``."""
    guard = make_guard(recorder, cache=ResponseCache("memory://"))
    kind: Any
    if sdk == "openai":
        kind, base, path, kwargs = openai.OpenAI, fp.openai_base_url, CHAT, ASK
    else:
        kind, base, path = anthropic.Anthropic, fp.anthropic_base_url, "messages.create"
        kwargs = {"model": CLAUDE, "messages": HELLO, "max_tokens": 30,
                  "extra_body": {"temperature": 0}}  # fmt: skip
    wrapped = Side(guard, costcap.wrap(kind(base_url=base, api_key="sk-test"), guard=guard))
    wire = Side(guard, guarded(kind, fp, guard))
    stored = await wrapped.call(path, **kwargs)
    again = await wire.call(path, **kwargs)
    wrapped.client.close()
    await wire.close()
    assert len(fp.requests) == 1
    assert again.id == stored.id
    assert hits(recorder) == [False, True]
