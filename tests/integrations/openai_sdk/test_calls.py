"""``costcap.wrap(openai.OpenAI())``: non-streamed calls, the request carried, errors, identity.

Every scenario ends by pricing what the fake provider billed (its own record) and comparing it
with what costcap recorded (the CostEvents): they are equal to the picodollar.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ParsedChatCompletion
from openai.types.responses import Response

from costcap import AsyncGuard, Budget, BudgetExceeded, Guard, Policy
from costcap.integrations._attribution import Attribution, attribute
from costcap.integrations.openai import guarded_openai
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer, create_fake_provider, serve_asgi
from costcap.ticket import Ticket
from tests.integrations.openai_sdk.conftest import (
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
    served,
)

# -- the wrapped client ---------------------------------------------------------------------------


def test_wrapped_client_is_an_openai_client(client: openai.OpenAI) -> None:
    """The wrapped client passes isinstance checks and delegates every other attribute."""
    assert isinstance(client, openai.OpenAI)
    assert str(client.base_url).endswith("/v1/")
    assert client.max_retries == 0
    assert [m.id for m in client.models.list()][:1] == ["gpt-4o"]
    assert "costcap guarded" in repr(client)


async def test_wrapped_async_client_is_an_async_openai_client(
    aclient: openai.AsyncOpenAI,
) -> None:
    """The wrapped async client passes isinstance checks and delegates other attributes."""
    assert isinstance(aclient, openai.AsyncOpenAI)
    page = await aclient.models.list()
    assert page.data[0].id == "gpt-4o"


def test_sync_client_with_async_guard_is_a_type_error(fp: FakeProviderServer) -> None:
    """A sync client needs a Guard and an async one an AsyncGuard: a mismatch is a TypeError."""
    recorder = Recorder()
    with sdk_client(fp) as bare:
        with pytest.raises(TypeError, match=r"needs a costcap\.Guard"):
            wrap(bare, guard=AsyncGuard("memory://", observers=[recorder]))
        with pytest.raises(TypeError, match=r"needs a costcap\.Guard"):
            guarded_openai(bare, AsyncGuard("memory://"), Attribution())


async def test_async_client_with_sync_guard_is_a_type_error(fp: FakeProviderServer) -> None:
    """An AsyncOpenAI wrapped with a sync Guard is refused."""
    async with async_sdk_client(fp) as bare:
        with pytest.raises(TypeError, match=r"needs a costcap\.AsyncGuard"):
            wrap(bare, guard=Guard("memory://"))


# -- non-streamed calls: billed == recorded ------------------------------------------------------


def test_chat_completion_records_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """A chat completion returns the SDK's ChatCompletion and records exactly what was billed."""
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert type(completion) is ChatCompletion
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 20
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].stream is False
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0


async def test_async_chat_completion_records_what_was_billed(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async client records exactly what was billed too."""
    completion = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert type(completion) is ChatCompletion
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_response_records_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """responses.create returns the SDK's Response and records exactly what was billed."""
    response = client.responses.create(
        model=MODEL, input="Say hello.", instructions="Be brief.", max_output_tokens=30
    )
    assert type(response) is Response
    assert response.output_text.strip().startswith("hello")
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].input_tokens == fp.last.input_tokens
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_response_records_what_was_billed(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async responses.create records exactly what was billed."""
    response = await aclient.responses.create(
        model=MODEL, input=[{"role": "user", "content": "Hi"}]
    )
    assert type(response) is Response
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_cached_prompt_tokens_are_priced_as_billed(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Prompt-cache reads the provider reports are priced as the provider billed them."""
    client.chat.completions.create(
        model=MODEL, messages=MESSAGES, extra_headers={"x-fake-cached-tokens": "4"}
    )
    assert recorder.events[0].cache_read_tokens == 4
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_parse_is_guarded(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """chat.completions.parse (structured outputs) is admitted and settled like create."""
    parsed = client.chat.completions.parse(model=MODEL, messages=MESSAGES)
    assert isinstance(parsed, ParsedChatCompletion)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_an_answer_parse_cannot_read_is_charged_what_was_billed(
    endpoint: str, client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``parse()`` whose answer does not validate (or is cut at the cap): the caller gets the
    SDK's error, and the call the provider answered and billed is settled at its usage — not
    released at $0."""
    import pydantic

    class Answer(pydantic.BaseModel):
        value: int

    resource: Any = client.chat.completions if endpoint == "chat" else client.responses
    ask: dict[str, Any] = (
        {"messages": MESSAGES, "response_format": Answer} if endpoint == "chat"
        else {"input": "Hi", "text_format": Answer}
    )  # fmt: skip
    with pytest.raises(pydantic.ValidationError):
        resource.parse(model=MODEL, **ask)
    with pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(
            model=MODEL, messages=MESSAGES, response_format=Answer, max_tokens=3
        )
    assert recorder.statuses() == ["ok", "ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_an_async_answer_parse_cannot_read_is_charged_what_was_billed(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    import pydantic

    class Answer(pydantic.BaseModel):
        value: int

    with pytest.raises(pydantic.ValidationError):
        await aclient.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Answer)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


# -- what the request carries ---------------------------------------------------------------------


def test_max_completion_tokens_injected_when_absent(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A request without a cap leaves carrying max_completion_tokens = the policy's default."""
    wire = Wire()
    guard = make_guard(recorder, Policy(default_max_tokens=7))
    with wrap(sdk_client(fp, wire=wire), guard=guard) as client:
        completion = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers={"x-fake-output-tokens": "50"}
        )
    assert wire.bodies[0]["max_completion_tokens"] == 7
    assert "max_tokens" not in wire.bodies[0]
    assert fp.last.output_tokens == 7
    assert completion.choices[0].finish_reason == "length"
    assert recorder.cost_pico == billed_pico(fp)
    guard.close()


def test_callers_max_tokens_field_kept_and_clamped(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A caller's max_tokens stays the field sent, clamped to the policy's cap."""
    wire = Wire()
    guard = make_guard(recorder, Policy(max_tokens_cap=5))
    with wrap(sdk_client(fp, wire=wire), guard=guard) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=100)
    assert wire.bodies[0]["max_tokens"] == 5
    assert "max_completion_tokens" not in wire.bodies[0]
    assert fp.last.output_tokens == 5
    assert recorder.cost_pico == billed_pico(fp)
    guard.close()


def test_extra_body_cap_is_clamped_too(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A cap smuggled in extra_body (it wins on the wire) is clamped as well."""
    wire = Wire()
    guard = make_guard(recorder, Policy(max_tokens_cap=6))
    with wrap(sdk_client(fp, wire=wire), guard=guard) as client:
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_body={"max_completion_tokens": 500}
        )
    assert wire.bodies[0]["max_completion_tokens"] == 6
    assert fp.last.output_tokens == 6
    guard.close()


def test_responses_carry_max_output_tokens(fp: FakeProviderServer, recorder: Recorder) -> None:
    """responses.create leaves carrying max_output_tokens = the admitted cap."""
    wire = Wire()
    guard = make_guard(recorder, Policy(max_tokens_cap=20))
    with wrap(sdk_client(fp, wire=wire), guard=guard) as client:
        response = client.responses.create(
            model=MODEL, input="Hi", max_output_tokens=400,
            extra_headers={"x-fake-output-tokens": "60"},
        )  # fmt: skip
    assert wire.bodies[0]["max_output_tokens"] == 20
    assert response.max_output_tokens == 20
    assert fp.last.output_tokens == 20
    assert recorder.cost_pico == billed_pico(fp)
    guard.close()


def test_n_choices_reserve_for_every_choice(
    fp: FakeProviderServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With n choices the reservation covers n × the cap; each choice carries the cap."""
    wire = Wire()
    guard = make_guard(recorder)
    tickets: list[Ticket] = []
    admit = guard.admit

    def spy(**kwargs: Any) -> Ticket:
        tickets.append(admit(**kwargs))
        return tickets[-1]

    monkeypatch.setattr(guard, "admit", spy)
    with wrap(sdk_client(fp, wire=wire), guard=guard) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, n=3, max_tokens=10)
    assert tickets[0].max_tokens == 30
    assert wire.bodies[0]["max_tokens"] == 10
    assert recorder.cost_pico == billed_pico(fp)
    guard.close()


# -- errors and retries ---------------------------------------------------------------------------


def test_sdk_retries_are_one_admission(fp: FakeProviderServer, recorder: Recorder) -> None:
    """Two 429s then success under the SDK's retries: one ok event, billed == recorded."""
    guard = make_guard(recorder)
    with wrap(sdk_client(fp, max_retries=2), guard=guard) as client:
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES,
            extra_headers={"x-fake-fail-times": "2", "x-fake-request-key": "retry-once"},
        )  # fmt: skip
    assert [r.status_code for r in fp.requests] == [429, 429, 200]
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0
    guard.close()


def test_persistent_500_releases_the_reservation(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A provider that keeps failing raises the SDK's InternalServerError; nothing stays
    reserved or spent, and one error event at $0 is recorded."""
    guard = make_guard(recorder)
    with (
        wrap(sdk_client(fp, max_retries=1), guard=guard) as client,
        pytest.raises(openai.InternalServerError),
    ):
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers={"x-fake-error": "500"}
        )
    assert len(fp.requests) == 2
    status = guard.status()
    assert reserved_usd(status) == 0
    assert sum(s["spent_usd"] for s in status) == 0
    assert recorder.statuses() == ["error"]
    assert recorder.cost_pico == billed_pico(fp) == 0
    guard.close()


async def test_async_provider_error_releases_the_reservation(
    aclient: openai.AsyncOpenAI, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """An async call answered 400 raises the SDK's BadRequestError and releases."""
    with pytest.raises(openai.BadRequestError):
        await aclient.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers={"x-fake-error": "400"}
        )
    assert reserved_usd(await aguard.status()) == 0
    assert recorder.statuses() == ["error"]


def test_budget_refusal_sends_nothing(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A call the budget cannot cover raises BudgetExceeded before any request leaves."""
    guard = Guard(
        "memory://", budgets=[Budget(scope="global", period="day", limit_usd="0.000001")],
        notifiers=[], observers=[recorder],
    )  # fmt: skip
    with wrap(sdk_client(fp), guard=guard) as client, pytest.raises(BudgetExceeded):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    guard.close()


async def test_cancelled_call_is_charged_its_worst_case(recorder: Recorder) -> None:
    """A non-streamed call cancelled in flight (the provider has it, and answers a second later)
    is still generated and billed by the provider: costcap charges its worst case (here the cap
    equals the output, so they agree exactly)."""
    provider = create_fake_provider()
    arrived = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            arrived.set()
        await provider.app(scope, receive, send)

    guard = make_async_guard(recorder)
    with serve_asgi(app) as port:
        fp = FakeProviderServer(provider, "127.0.0.1", port)
        async with wrap(async_sdk_client(fp), guard=guard) as client:
            task = asyncio.create_task(
                client.chat.completions.create(
                    model=MODEL,
                    messages=MESSAGES,
                    max_tokens=20,
                    extra_headers={"x-fake-latency-ms": "1000"},
                )
            )
            assert await asyncio.to_thread(arrived.wait, 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.to_thread(served, fp)
    assert fp.last.output_tokens == 20
    assert recorder.statuses() == ["cut"]
    # "Say hello." is 10 input tokens (3 of text, 7 of framing); gpt-4o-mini at $0.15 / $0.60
    # per million: 10 x 0.15 + 20 x 0.6 = 13.5 micro-dollars
    assert recorder.cost_pico == billed_pico(fp) == 13_500_000
    assert reserved_usd(await guard.status()) == 0
    await guard.close()


# -- who the call is for --------------------------------------------------------------------------


def test_attribution_call_block_client_and_request_user(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """costcap_user_id= beats an attribute() block, which beats the client's default; the
    request's own user= is used when nothing else names one; costcap_* never reach the SDK."""
    guard = make_guard(recorder)
    with wrap(sdk_client(fp), guard=guard, feature="support") as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, user="carol")
        with attribute(user_id="alice", feature="search"):
            client.chat.completions.create(model=MODEL, messages=MESSAGES, user="carol")
            # The wrapped client is typed as the SDK's: costcap_* arguments need an ignore.
            client.chat.completions.create(model=MODEL, messages=MESSAGES, costcap_user_id="bob")  # type: ignore[call-overload]
        client.responses.create(model=MODEL, input="Hi", costcap_feature="summaries")  # type: ignore[call-overload]
    who = [(e.user_id, e.feature) for e in recorder.events]
    assert who == [
        ("carol", "support"),
        ("alice", "search"),
        ("bob", "search"),
        (None, "summaries"),
    ]
    guard.close()


def test_with_options_stays_guarded(client: openai.OpenAI, recorder: Recorder) -> None:
    """with_options / copy return a guarded client of the SDK's class."""
    for derived in (client.with_options(timeout=5), client.copy(max_retries=1)):
        assert isinstance(derived, openai.OpenAI)
        derived.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert recorder.statuses() == ["ok", "ok"]


def test_unguarded_paths_refuse_rather_than_spend_unseen(client: openai.OpenAI) -> None:
    """The helpers that would reach the model without create() raise NotImplementedError."""
    with pytest.raises(NotImplementedError, match="does not guard"):
        _ = client.with_streaming_response
    with pytest.raises(NotImplementedError, match="does not guard"):
        client.responses.stream(model=MODEL, input="Hi")
    assert client.chat.completions.messages is not None  # the rest still delegates


def test_the_low_level_request_methods_refuse(
    client: openai.OpenAI, fp: FakeProviderServer
) -> None:
    """post() / request() send any body to any path (LiteLLM uses post()): refused, unsent."""
    with pytest.raises(NotImplementedError, match=r"post\(\).*http_client"):
        client.post("/chat/completions", body={"model": MODEL, "messages": MESSAGES},
                    cast_to=object)  # fmt: skip
    with pytest.raises(NotImplementedError, match=r"request\(\)"):
        _ = client.request
    assert fp.requests == ()


def test_missing_model_is_a_type_error(client: openai.OpenAI, fp: FakeProviderServer) -> None:
    """A call without model= cannot be priced: TypeError, nothing sent."""
    with pytest.raises(TypeError, match="model="):
        client.chat.completions.create(messages=MESSAGES)  # type: ignore[call-overload]
    assert fp.requests == ()
