"""The response cache on non-streamed calls: ``messages.create``, ``parse``, their raw and
streaming responses, and ``beta.messages``, sync and async. An identical second call is
answered from the cache (the fake provider sees ONE request) with the SDK's own object, equal to
the first; the ledger holds the miss (billed) and the hit ($0, saving what was billed).
"""

from __future__ import annotations

import json

import anthropic
from anthropic._response import APIResponse
from anthropic.types import Message
from anthropic.types.beta import BetaMessage
from anthropic.types.beta.parsed_beta_message import ParsedBetaMessage
from anthropic.types.parsed_message import ParsedMessage

from costcap import Guard
from costcap.cache import CacheRequest, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    FULL,
    MESSAGES,
    MODEL,
    Recorder,
    Wire,
    asked,
    assert_hit_recorded,
    sdk_client,
)

BETAS = ["context-management-2025-06-27"]


def test_create_twice_is_answered_once(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = cached.messages.create(**asked())
    second = cached.messages.create(**asked())
    assert isinstance(second, Message)
    assert second == first
    assert_hit_recorded(fp, recorder, stream=False)


async def test_async_create_twice_is_answered_once(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = await acached.messages.create(**asked())
    second = await acached.messages.create(**asked())
    assert isinstance(second, Message)
    assert second == first
    assert_hit_recorded(fp, recorder, stream=False)


def test_the_stored_answer_is_the_providers_json(
    cached: anthropic.Anthropic, bare: anthropic.Anthropic, fp: FakeProviderServer,
    cache: ResponseCache,
) -> None:  # fmt: skip
    """A plain answer is stored as the JSON the provider sent (the SDK's ``to_dict`` of the
    Message): the document a plain HTTP read of the same call gives, but for the message id."""
    sent = json.loads(bare.messages.with_raw_response.create(**asked()).http_response.content)
    cached.messages.create(**asked())
    body = {"model": MODEL, "max_tokens": 50, "messages": MESSAGES, "temperature": 0}
    lookup = cache.lookup(CacheRequest(provider="anthropic", endpoint="messages", body=body))
    assert lookup.answer is not None
    stored = json.loads(lookup.answer.body)
    assert stored["id"] != sent["id"]
    assert {**stored, "id": None} == {**sent, "id": None}
    assert (lookup.answer.shape, lookup.answer.model, lookup.answer.provider) == (
        "json", MODEL, "anthropic",
    )  # fmt: skip
    assert lookup.answer.output_tokens == FULL


def test_parse_is_answered_from_the_cache(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``messages.parse``: the hit is the SDK's ``ParsedMessage``, built again from the stored
    answer."""
    first = cached.messages.parse(**asked())
    second = cached.messages.parse(**asked())
    assert isinstance(second, ParsedMessage)
    assert second == first
    assert_hit_recorded(fp, recorder, stream=False)


async def test_async_parse_is_answered_from_the_cache(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = await acached.messages.parse(**asked())
    second = await acached.messages.parse(**asked())
    assert isinstance(second, ParsedMessage)
    assert second == first
    assert_hit_recorded(fp, recorder, stream=False)


def test_create_and_parse_share_an_answer(
    cached: anthropic.Anthropic, fp: FakeProviderServer
) -> None:
    """The same request through ``parse`` and ``create`` is one entry: each gets its own type,
    and the stored answer holds nothing of ``parse``'s (no ``parsed_output``)."""
    parsed = cached.messages.parse(**asked())
    plain = cached.messages.create(**asked())
    assert len(fp.requests) == 1
    assert type(plain) is Message
    expected = parsed.to_dict(mode="json")
    for block in expected["content"]:  # type: ignore[attr-defined]
        block.pop("parsed_output", None)
    assert plain.to_dict(mode="json") == expected


def test_raw_response_is_answered_from_the_cache(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``with_raw_response.create``: the hit is the SDK's raw response, its body the bytes the
    provider sent, its ``parse()`` equal to the first's; it says it came from the cache."""
    first = cached.messages.with_raw_response.create(**asked())
    second = cached.messages.with_raw_response.create(**asked())
    assert isinstance(second, APIResponse)
    assert second.http_response.content == first.http_response.content
    assert second.parse() == first.parse()
    assert second.headers["x-costcap-cache"] == "hit"
    assert "x-costcap-cache" not in first.headers
    assert_hit_recorded(fp, recorder, stream=False)


async def test_async_raw_response_is_answered_from_the_cache(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = await acached.messages.with_raw_response.create(**asked())
    second = await acached.messages.with_raw_response.create(**asked())
    assert second.http_response.content == first.http_response.content
    assert await second.parse() == await first.parse()
    assert_hit_recorded(fp, recorder, stream=False)


def test_plain_create_hits_what_a_raw_response_stored(
    cached: anthropic.Anthropic, fp: FakeProviderServer
) -> None:
    """A raw response stores the exact bytes; a plain call then gets the SDK's Message of
    them."""
    raw = cached.messages.with_raw_response.create(**asked())
    message = cached.messages.create(**asked())
    assert len(fp.requests) == 1
    assert message == raw.parse()


def test_streaming_response_is_answered_from_the_cache(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``with_streaming_response.create``: the body read the second time is the first's,
    byte for byte, and ``parse()`` gives the SDK's Message."""
    with cached.messages.with_streaming_response.create(**asked()) as response:
        body = response.read()
    with cached.messages.with_streaming_response.create(**asked()) as response:
        assert response.headers["x-costcap-cache"] == "hit"
        assert response.read() == body
        assert response.parse() == Message.model_validate_json(body)
    assert_hit_recorded(fp, recorder, stream=False)


async def test_async_streaming_response_is_answered_from_the_cache(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async with acached.messages.with_streaming_response.create(**asked()) as response:
        body = await response.read()
    async with acached.messages.with_streaming_response.create(**asked()) as response:
        assert await response.read() == body
    assert_hit_recorded(fp, recorder, stream=False)


def test_beta_create_is_answered_from_the_cache(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = cached.beta.messages.create(**asked(betas=BETAS))
    second = cached.beta.messages.create(**asked(betas=BETAS))
    assert isinstance(second, BetaMessage)
    assert second == first
    assert_hit_recorded(fp, recorder, stream=False)


async def test_async_beta_parse_is_answered_from_the_cache(
    acached: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = await acached.beta.messages.parse(**asked(betas=BETAS))
    second = await acached.beta.messages.parse(**asked(betas=BETAS))
    assert isinstance(second, ParsedBetaMessage)
    assert second == first
    assert_hit_recorded(fp, recorder, stream=False)


def test_betas_are_part_of_the_request(cached: anthropic.Anthropic, fp: FakeProviderServer) -> None:
    """The same body with other ``betas`` (or none) is another request: each reaches the
    provider once."""
    cached.beta.messages.create(**asked(betas=BETAS))
    cached.beta.messages.create(**asked())
    cached.beta.messages.create(**asked(betas=BETAS))
    cached.beta.messages.create(**asked())
    assert len(fp.requests) == 2


def test_beta_raw_response_is_answered_from_the_cache(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    first = cached.beta.messages.with_raw_response.create(**asked(betas=BETAS))
    second = cached.beta.messages.with_raw_response.create(**asked(betas=BETAS))
    assert isinstance(second.parse(), BetaMessage)
    assert second.parse() == first.parse()
    assert_hit_recorded(fp, recorder, stream=False)


def test_with_options_keeps_the_cache(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A copy made with ``with_options`` answers from the same cache."""
    first = cached.messages.create(**asked())
    second = cached.with_options(timeout=30).messages.create(**asked())
    assert second == first
    assert_hit_recorded(fp, recorder, stream=False)


def test_the_policys_cap_is_the_key(
    fp: FakeProviderServer, guard: Guard, cache: ResponseCache
) -> None:
    """A call without ``max_tokens`` is keyed with the cap the policy gives it: the same call
    naming that cap is the same request."""
    wire = Wire()
    with wrap(sdk_client(fp, wire=wire), guard=guard, cache=cache) as client:
        kwargs = asked()
        del kwargs["max_tokens"]
        first = client.messages.create(**kwargs)
        [sent] = wire.bodies
        second = client.messages.create(**asked(max_tokens=sent["max_tokens"]))
    assert second == first
    assert len(fp.requests) == 1
