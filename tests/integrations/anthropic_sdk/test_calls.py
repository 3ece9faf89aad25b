"""``costcap.wrap(anthropic.Anthropic())``: the wrapped client, non-streamed calls, the request
carried, errors and retries, attribution.

Every scenario ends by pricing what the fake provider billed (its own record) and comparing it
with what costcap recorded (the CostEvents): they are equal to the picodollar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anthropic
import pytest
from anthropic.types import Message, TextBlockParam

from costcap import AsyncGuard, Budget, BudgetExceeded, Guard, Policy, Rule
from costcap.integrations._attribution import Attribution, attribute
from costcap.integrations.anthropic import guarded_anthropic
from costcap.integrations.wrap import wrap
from costcap.pricing import default_catalog
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    MESSAGES,
    MODEL,
    Recorder,
    Wire,
    async_sdk_client,
    billed_pico,
    make_async_guard,
    make_guard,
    reserved_usd,
    sdk_client,
)


def costcap(**attribution: str) -> dict[str, Any]:
    """``costcap_user_id=…``-style keyword arguments (not in the SDK's signatures)."""
    return {f"costcap_{key}": value for key, value in attribution.items()}


# -- the wrapped client -------------------------------------------------------------------------


def test_wrapped_client_is_an_anthropic_client(client: anthropic.Anthropic) -> None:
    """The wrapped client passes isinstance checks and delegates every other attribute."""
    assert isinstance(client, anthropic.Anthropic)
    assert client.max_retries == 0
    assert str(client.base_url).startswith("http://127.0.0.1")
    assert client.models.list().data[0].type == "model"
    assert "costcap guarded" in repr(client)


async def test_wrapped_async_client_is_an_async_anthropic_client(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """The wrapped async client passes isinstance checks and delegates other attributes."""
    assert isinstance(aclient, anthropic.AsyncAnthropic)
    page = await aclient.models.list()
    assert page.data[0].type == "model"


def test_with_options_returns_a_guarded_client(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``with_options(...)`` / ``copy(...)`` give a client still guarded by the same guard."""
    other = client.with_options(timeout=30)
    assert "costcap guarded" in repr(other)
    assert "costcap guarded" in repr(client.copy())
    other.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_client_and_guard_must_match(fp: FakeProviderServer) -> None:
    """A sync client needs a Guard and an async one an AsyncGuard: a mismatch is a TypeError."""
    with sdk_client(fp) as plain:
        with pytest.raises(TypeError, match=r"needs a costcap\.Guard"):
            wrap(plain, guard=AsyncGuard("memory://"))
        with pytest.raises(TypeError, match=r"needs a costcap\.Guard"):
            guarded_anthropic(plain, AsyncGuard("memory://"), Attribution())
    with pytest.raises(TypeError, match="not an anthropic"):
        guarded_anthropic(object(), Guard("memory://"), Attribution())


def test_unmetered_paths_refuse_to_spend(client: anthropic.Anthropic) -> None:
    """Paths that would reach the model without a reservation raise NotImplementedError;
    free ones (token counting) still work."""
    with pytest.raises(NotImplementedError, match="with_streaming_response"):
        _ = client.with_streaming_response
    with pytest.raises(NotImplementedError, match=r"messages\.batches\.create"):
        client.messages.batches.create(requests=[])
    with pytest.raises(NotImplementedError, match=r"with_raw_response\.batches\.create"):
        client.messages.with_raw_response.batches.create(requests=[])
    with pytest.raises(NotImplementedError, match=r"beta\.messages\.batches\.create"):
        client.beta.messages.batches.create(requests=[])
    with pytest.raises(NotImplementedError, match=r"beta\.messages\.tool_runner"):
        client.beta.messages.tool_runner(model=MODEL, max_tokens=5, messages=[], tools=[])
    with pytest.raises(NotImplementedError, match=r"post\(\)"):
        _ = client.post
    assert callable(client.messages.batches.list)  # reading batches spends nothing: delegated
    assert callable(client.beta.messages.batches.list)
    assert callable(client.messages.count_tokens)


# -- non-streamed calls: billed == recorded -----------------------------------------------------


def test_create_records_what_was_billed(
    client: anthropic.Anthropic, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """``messages.create`` returns the SDK's Message and records exactly what was billed;
    the reservation is replaced by the cost."""
    message = client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert isinstance(message, Message)
    assert message.usage.output_tokens == 20
    [event] = recorder.events
    assert (event.status, event.stream, event.output_tokens) == ("ok", False, 20)
    assert event.input_tokens == message.usage.input_tokens
    assert event.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard) == 0


async def test_async_create_records_what_was_billed(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async client does the same."""
    message = await aclient.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert isinstance(message, Message)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_prompt_cache_reads_and_writes_are_priced_at_their_rates(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Anthropic's ``input_tokens`` excludes the cache: reads and writes are added back and
    priced at their own rates, so the recorded cost is the billed one, not the plain-input one."""
    system: list[TextBlockParam] = [
        {"type": "text", "text": "You are terse. " * 40, "cache_control": {"type": "ephemeral"}}
    ]
    headers = {"x-fake-cached-tokens": "60", "x-fake-cache-write-tokens": "40"}
    message = client.messages.create(
        model=MODEL, max_tokens=50, system=system, messages=MESSAGES, extra_headers=headers
    )
    assert message.usage.cache_read_input_tokens == 60
    assert message.usage.cache_creation_input_tokens == 40
    [event] = recorder.events
    assert (event.cache_read_tokens, event.cache_write_tokens) == (60, 40)
    assert event.input_tokens == message.usage.input_tokens + 100  # the total input
    assert event.cost_pico == billed_pico(fp)
    plain = default_catalog().cost(MODEL, {"input_tokens": event.input_tokens, "output_tokens": 20})
    assert event.cost_pico != plain.total_pico


async def test_async_create_prices_the_prompt_cache(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Cache reads and writes are priced right on the async client too."""
    headers = {"x-fake-cached-tokens": "4", "x-fake-cache-write-tokens": "3"}
    await aclient.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=headers
    )
    [event] = recorder.events
    assert (event.cache_read_tokens, event.cache_write_tokens) == (4, 3)
    assert event.cost_pico == billed_pico(fp)


def test_parse_is_guarded(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``messages.parse`` (structured output) is admitted and settled like ``create``."""
    parsed = client.messages.parse(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert parsed.usage.output_tokens == 20
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp)


# -- what the request carries -------------------------------------------------------------------


def test_missing_max_tokens_is_injected_by_the_policy(fp: FakeProviderServer) -> None:
    """A call without ``max_tokens`` (which Anthropic requires) leaves with the policy's
    default: the wrapped client never sends a call without it."""
    recorder, wire = Recorder(), Wire()
    guard = make_guard(recorder, Policy(default_max_tokens=77))
    with wrap(sdk_client(fp, wire=wire), guard=guard) as client:
        no_max_tokens: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}
        message = client.messages.create(**no_max_tokens)
    assert message.usage.output_tokens == 20
    assert wire.bodies[0]["max_tokens"] == 77
    assert recorder.cost_pico == billed_pico(fp)


def test_max_tokens_above_the_cap_is_clamped(fp: FakeProviderServer) -> None:
    """The request carries the ticket's ``max_tokens``: clamped to the feature's cap, also when
    the caller tried to pass it through ``extra_body``."""
    recorder, wire = Recorder(), Wire()
    policy = Policy(features={"chat": Rule(max_tokens_cap=8)})
    guard = make_guard(recorder, policy)
    with wrap(sdk_client(fp, wire=wire), guard=guard, feature="chat") as client:
        message = client.messages.create(model=MODEL, max_tokens=4096, messages=MESSAGES)
        client.messages.create(
            model=MODEL, max_tokens=5, messages=MESSAGES, extra_body={"max_tokens": 4096}
        )
    assert [body["max_tokens"] for body in wire.bodies] == [8, 8]
    assert message.stop_reason == "max_tokens"
    assert recorder.cost_pico == billed_pico(fp)


def test_one_shot_messages_iterable_is_counted_and_sent(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A generator of messages is counted at admission and still sent whole."""
    wire = Wire()
    with wrap(sdk_client(fp, wire=wire), guard=make_guard(recorder)) as client:
        client.messages.create(model=MODEL, max_tokens=50, messages=(m for m in MESSAGES))
    assert wire.bodies[0]["messages"] == MESSAGES
    assert recorder.cost_pico == billed_pico(fp)


def test_budget_refusal_sends_nothing(fp: FakeProviderServer) -> None:
    """A call over budget raises BudgetExceeded before any request leaves."""
    recorder = Recorder()
    guard = Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd="0.0001")],
                  notifiers=[], observers=[recorder])  # fmt: skip
    with wrap(sdk_client(fp), guard=guard) as client, pytest.raises(BudgetExceeded):
        client.messages.create(model=MODEL, max_tokens=4000, messages=MESSAGES)
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]


# -- errors and the SDK's retries ---------------------------------------------------------------


def test_overloaded_then_success_is_one_ok_event(fp: FakeProviderServer) -> None:
    """529 (overloaded) then success: the SDK retries inside one guarded call — one ticket,
    one ok event, and what was billed (the failures bill nothing) is what was recorded."""
    recorder = Recorder()
    headers = {"x-fake-error": "529", "x-fake-fail-times": "1", "x-fake-request-key": "ovl"}
    with wrap(sdk_client(fp, max_retries=2), guard=make_guard(recorder)) as client:
        client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES,
                               extra_headers=headers)  # fmt: skip
    assert [r.status_code for r in fp.requests] == [529, 200]
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_rate_limited_then_success_is_one_ok_event(fp: FakeProviderServer) -> None:
    """Two 429s then success on the async client: one ok event, billed == recorded."""
    recorder = Recorder()
    headers = {"x-fake-fail-times": "2", "x-fake-request-key": "rl"}
    guard = make_async_guard(recorder)
    async with wrap(async_sdk_client(fp, max_retries=2), guard=guard) as client:
        await client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES,
                                     extra_headers=headers)  # fmt: skip
    assert [r.status_code for r in fp.requests] == [429, 429, 200]
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_persistent_server_error_releases_the_reservation(fp: FakeProviderServer) -> None:
    """A 500 that outlasts the SDK's retries raises the SDK's own InternalServerError; the
    reservation is released and one error event is recorded at $0 (nothing was billed)."""
    recorder = Recorder()
    guard = make_guard(recorder)
    with (
        wrap(sdk_client(fp, max_retries=1), guard=guard) as client,
        pytest.raises(anthropic.InternalServerError),
    ):
        client.messages.create(
            model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers={"x-fake-error": "500"}
        )
    assert [r.status_code for r in fp.requests] == [500, 500]
    assert reserved_usd(guard) == 0
    assert [(e.status, e.cost_pico) for e in recorder.events] == [("error", 0)]
    assert billed_pico(fp) == 0


async def test_async_stream_request_error_releases_the_reservation(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A streamed call refused by the provider (before any event) releases its reservation."""
    with pytest.raises(anthropic.RateLimitError):
        await aclient.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, stream=True,
                                      extra_headers={"x-fake-error": "429"})  # fmt: skip
    assert [(e.status, e.cost_pico) for e in recorder.events] == [("error", 0)]


# -- attribution ----------------------------------------------------------------------------------


def test_call_arguments_attribute_and_are_not_sent(fp: FakeProviderServer) -> None:
    """``costcap_user_id=`` / ``costcap_feature=`` win over the block and the client's defaults,
    and never reach the provider."""
    recorder, wire = Recorder(), Wire()
    with wrap(sdk_client(fp, wire=wire), guard=make_guard(recorder), user_id="default") as client:
        with attribute(user_id="block", feature="search"):
            alice = costcap(user_id="alice", feature="chat")
            client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, **alice)
            client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
        client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    who = [(e.user_id, e.feature) for e in recorder.events]
    assert who == [("alice", "chat"), ("block", "search"), ("default", None)]
    assert not any(key.startswith("costcap") for body in wire.bodies for key in body)


def test_metadata_user_id_attributes_when_nothing_else_does(
    client: anthropic.Anthropic, recorder: Recorder
) -> None:
    """The request's own ``metadata.user_id`` names the user when costcap is told nothing."""
    client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES,
                           metadata={"user_id": "meta-bob"})  # fmt: skip
    with attribute(user_id="carol"):
        client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES,
                               metadata={"user_id": "meta-bob"})  # fmt: skip
    assert [e.user_id for e in recorder.events] == ["meta-bob", "carol"]


async def test_user_budget_applies_to_the_attributed_user(fp: FakeProviderServer) -> None:
    """Attribution reaches admission: a per-user budget refuses the user who spent it, not
    another one."""
    recorder = Recorder()
    budget = Budget(scope="user:*", period="day", limit_usd=Decimal("0.0003"))
    guard = AsyncGuard("memory://", budgets=[budget], notifiers=[], observers=[recorder])
    async with wrap(async_sdk_client(fp), guard=guard) as client:
        alice, bob = costcap(user_id="alice"), costcap(user_id="bob")
        await client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, **alice)
        with pytest.raises(BudgetExceeded):
            await client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, **alice)
        await client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, **bob)
    assert recorder.statuses() == ["ok", "refused", "ok"]
    assert recorder.cost_pico == billed_pico(fp)
