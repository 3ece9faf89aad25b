"""``OpenAI(http_client=costcap.http_client(guard))``: every chat and Responses call through the
SDK's own client admitted, bounded and settled at what the fake provider billed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import openai
import pytest
from openai.types.responses import FunctionToolParam

import costcap
from costcap import BudgetExceeded, Guard, Policy, RateLimit
from costcap.testing import FakeProviderServer
from costcap.tokens import count_text
from costcap.wire import refusal
from tests.wire.conftest import (
    GC_PACED,
    GPT,
    HELLO,
    SLOW,
    Recorder,
    Sent,
    billed_pico,
    guarded,
    make_guard,
    reserved_usd,
    served,
    settled_cut,
)


@pytest.fixture
def client(fp: FakeProviderServer, guard: Guard) -> Iterator[openai.OpenAI]:
    with guarded(openai.OpenAI, fp, guard) as sdk:
        yield sdk


def test_a_completion_is_settled_at_what_the_provider_billed(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """One call, one ``ok`` event priced exactly as billed; nothing left reserved."""
    completion = client.chat.completions.create(model=GPT, messages=HELLO)
    assert completion.usage is not None
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].output_tokens == completion.usage.completion_tokens
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard) == 0


def test_the_request_carries_the_admitted_cap(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A call without a cap is sent with the policy's default as ``max_completion_tokens``,
    which bounds what the provider generates."""
    guard = make_guard(recorder, policy=Policy(default_max_tokens=7))
    sent = Sent()
    with guarded(openai.OpenAI, fp, guard, sent=sent) as client:
        completion = client.chat.completions.create(
            model=GPT, messages=HELLO, extra_headers={"x-fake-output-tokens": "50"}
        )
    assert sent.bodies[0]["max_completion_tokens"] == 7
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 7
    assert recorder.cost_pico == billed_pico(fp)


def test_a_cap_in_max_tokens_stays_in_max_tokens(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The field the caller used is the one that carries the clamped cap."""
    guard = make_guard(recorder, policy=Policy(max_tokens_cap=9))
    sent = Sent()
    with guarded(openai.OpenAI, fp, guard, sent=sent) as client:
        client.chat.completions.create(model=GPT, messages=HELLO, max_tokens=500)
    assert sent.bodies[0]["max_tokens"] == 9
    assert "max_completion_tokens" not in sent.bodies[0]


def test_a_stream_read_to_the_end_hides_the_usage_chunk_it_asked_for(
    fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """A stream is sent with ``include_usage``; the usage chunk the caller did not ask for is
    not passed on; the call settles ``ok`` at what was billed."""
    sent = Sent()
    with guarded(openai.OpenAI, fp, guard, sent=sent) as client:
        chunks = list(client.chat.completions.create(model=GPT, messages=HELLO, stream=True))
    assert sent.bodies[0]["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in chunks)
    served(fp)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_a_stream_asking_for_usage_shows_the_usage_chunk(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``include_usage`` asked by the caller: its usage chunk is passed on."""
    chunks = list(
        client.chat.completions.create(
            model=GPT, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None
    assert not chunks[-1].choices
    assert recorder.cost_pico == billed_pico(fp)


def test_a_stream_left_early_is_settled_cut_at_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """Leaving the ``with`` block after the first word closes the upstream (the provider stops)
    and settles ``cut``, priced as the provider billed up to the disconnect."""
    stream = client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True, extra_headers={**SLOW, "x-fake-output-tokens": "30"}
    )
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
    settled_cut(fp, recorder, under=30)
    assert reserved_usd(guard) == 0


WEATHER: FunctionToolParam = {
    "type": "function", "name": "get_weather", "strict": False,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}  # fmt: skip


def test_a_responses_stream_left_in_a_tool_call_is_settled_at_its_name_and_arguments_sent(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A Responses stream left at the second piece of a tool call's arguments: the provider
    billed the tool's name (sent in ``response.output_item.added``) and the two pieces;
    costcap settled ``cut`` at exactly that."""
    stream = client.responses.create(
        model=GPT, input="Weather in Paris?", tools=[WEATHER], stream=True,
        extra_headers={**SLOW, "x-fake-tool-call": "auto"},
    )  # fmt: skip
    pieces: list[str] = []
    with stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                pieces.append(event.delta)
                if len(pieces) == 2:
                    break
    served(fp)
    sent = "".join(pieces)
    assert (fp.last.disconnect, fp.last.tool_calls) == ("client", ("get_weather",))
    assert fp.last.output_text == sent != '{"city":"hello"}'
    assert fp.last.output_tokens == count_text("get_weather", GPT) + count_text(sent, GPT)
    assert recorder.statuses() == ["cut"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_a_stream_dropped_unread_is_settled_when_collected(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A stream the caller drops without closing is closed and settled when collected (the
    chunks are paced far apart: a full collection takes a while here)."""
    stream = client.chat.completions.create(model=GPT, messages=HELLO, stream=True,
                                            extra_headers=GC_PACED)  # fmt: skip
    next(iter(stream))
    del stream
    gc.collect()
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert recorder.cost_pico == billed_pico(fp)


def test_a_strict_guard_charges_a_stream_left_early_its_whole_reservation(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Under ``strict`` a stream closed before the provider's usage is charged ``max_tokens``."""
    guard = make_guard(recorder, strict=True)
    with guarded(openai.OpenAI, fp, guard) as client:
        stream = client.chat.completions.create(
            model=GPT, messages=HELLO, stream=True, max_completion_tokens=40, extra_headers=SLOW
        )
        with stream:
            next(iter(stream))
    event = recorder.events[0]
    assert (event.status, event.output_tokens, event.flag) == ("cut", 40, "unread_output_charged")
    served(fp)  # the provider's record of the stream, before the next test


def test_a_stream_past_its_reservation_ends_cleanly_and_is_settled_cut(
    fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """A provider that ignores the cap is cut when the output passes the reservation: the
    upstream closes, the SDK's iteration simply ends, the call is settled ``cut``."""
    slow = {**SLOW, "x-fake-output-tokens": "40"}
    with guarded(openai.OpenAI, fp, guard, sent=Sent(caps_to=1000)) as client:
        stream = client.chat.completions.create(
            model=GPT, messages=HELLO, stream=True, max_completion_tokens=5, extra_headers=slow
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.count("hello") == 5
    settled_cut(fp, recorder, under=40)


def test_a_response_is_settled_at_what_was_billed(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Responses API, plain and streamed: each settled ``ok`` at the billed price."""
    response = client.responses.create(model=GPT, input="Say hello.", max_output_tokens=30)
    events = list(client.responses.create(model=GPT, input="Say hello.", stream=True))
    assert response.usage is not None
    assert events[-1].type == "response.completed"
    served(fp, 2)
    assert recorder.statuses() == ["ok", "ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_a_budget_refusal_sends_nothing(fp: FakeProviderServer, recorder: Recorder) -> None:
    """No room in the budget: the SDK raises its own 402 error with costcap's message, not
    retried, and the provider sees nothing; the BudgetExceeded is on the error's response."""
    guard = make_guard(recorder, limit_usd=0)
    with (
        guarded(openai.OpenAI, fp, guard, max_retries=2) as client,
        pytest.raises(openai.APIStatusError) as raised,
    ):
        client.chat.completions.create(model=GPT, messages=HELLO)
    assert raised.value.status_code == 402
    assert "budget 'global/day' has no room" in raised.value.message
    assert isinstance(refusal(raised.value), BudgetExceeded)
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]


def test_a_rate_limited_call_is_retried_by_the_sdk_when_it_can_fit(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A costcap rate limit answers 429 with ``retry-after``: the SDK waits and retries, and
    the retry is admitted once the window has room."""
    guard = Guard("memory://", limits=[RateLimit("1/second")], notifiers=[],
                  observers=[recorder])  # fmt: skip
    with guarded(openai.OpenAI, fp, guard, max_retries=1) as client:
        client.chat.completions.create(model=GPT, messages=HELLO)
        client.chat.completions.create(model=GPT, messages=HELLO)
    assert recorder.statuses() == ["ok", "refused", "ok"]
    assert len(fp.requests) == 2


def test_a_provider_error_releases_the_reservation(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """A 500 from the provider: the SDK's error, an ``error`` event at $0, nothing reserved."""
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=GPT, messages=HELLO,
                                       extra_headers={"x-fake-error": "500"})  # fmt: skip
    assert recorder.statuses() == ["error"]
    assert recorder.cost_pico == 0
    assert reserved_usd(guard) == 0


def test_each_sdk_retry_is_admitted_and_a_failed_attempt_released(
    fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """A 429 then a success: the failed attempt is released, the retry settled at the bill."""
    with guarded(openai.OpenAI, fp, guard, max_retries=2) as client:
        client.chat.completions.create(model=GPT, messages=HELLO,
                                       extra_headers={"x-fake-fail-times": "1"})  # fmt: skip
    assert recorder.statuses() == ["error", "ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard) == 0


def test_an_attribute_block_and_headers_attribute_the_call(
    fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """``costcap.attribute`` reaches the transport; ``x-costcap-*`` headers override it and are
    not forwarded; the client's defaults fill the rest."""
    sent = Sent()
    with guarded(openai.OpenAI, fp, guard, sent=sent, feature="default") as client:
        with costcap.attribute(user_id="alice", feature="chat"):
            client.chat.completions.create(model=GPT, messages=HELLO)
            client.chat.completions.create(
                model=GPT, messages=HELLO, extra_headers={"x-costcap-user": "bob"}
            )
        client.chat.completions.create(model=GPT, messages=HELLO, user="carol")
    who = [(e.user_id, e.feature) for e in recorder.events]
    assert who == [("alice", "chat"), ("bob", "chat"), ("carol", "default")]
    assert not any(name.startswith("x-costcap") for h in sent.headers for name in h)


def test_an_unknown_endpoint_passes_through(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``GET /v1/models`` is not an LLM call: sent as it is, nothing admitted."""
    models = client.models.list()
    assert models.data
    assert fp.last.endpoint == "models"
    assert recorder.events == []


def test_an_endpoint_that_spends_unmetered_is_refused(
    client: openai.OpenAI, fp: FakeProviderServer
) -> None:
    """Embeddings spend without a usage costcap settles: refused (403), nothing sent."""
    with pytest.raises(openai.PermissionDeniedError, match="embeddings"):
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert fp.requests == ()


def test_every_sdk_path_to_the_endpoint_is_guarded(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``with_raw_response`` and the ``.stream()`` helper reach the same endpoint, so the
    transport guards them like ``create``."""
    raw = client.chat.completions.with_raw_response.create(model=GPT, messages=HELLO)
    assert raw.parse().usage is not None
    with client.chat.completions.stream(model=GPT, messages=HELLO) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content
    served(fp, 2)
    assert recorder.statuses() == ["ok", "ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0
