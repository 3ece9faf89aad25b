"""Unit tests of the pure steps: reading a call, shaping the request, metering stream items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from costcap import Guard, Policy
from costcap.integrations._attribution import Attribution
from costcap.integrations._meter import StreamCut
from costcap.integrations._openai_request import (
    apply_chat,
    apply_responses,
    chat_call,
    responses_call,
)
from costcap.integrations._openai_stream import Tap
from costcap.ticket import Ticket
from tests.integrations.openai_sdk.conftest import MODEL


@pytest.fixture
def guard() -> Iterator[Guard]:
    guard = Guard("memory://", policy=Policy(default_max_tokens=8), notifiers=[])
    yield guard
    guard.close()


def admit(guard: Guard, kwargs: dict[str, Any], *, responses: bool = False) -> Ticket:
    call = (responses_call if responses else chat_call)(kwargs, Attribution())
    return guard.admit(**call.admission)


def chunk(delta: dict[str, Any] | None = None, usage: dict[str, int] | None = None) -> Any:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}]
    return ChatCompletionChunk.model_validate({
        "id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
        "choices": choices, "usage": usage,
    })  # fmt: skip


def test_one_shot_iterables_are_kept_for_the_sdk() -> None:
    """Messages given as a generator are read for admission and still sent in full."""
    kwargs: dict[str, Any] = {
        "model": MODEL, "messages": ({"role": "user", "content": w} for w in ("a", "b")),
    }  # fmt: skip
    call = chat_call(kwargs, Attribution())
    assert kwargs["messages"] == call.admission["messages"]
    assert len(kwargs["messages"]) == 2


def test_omitted_caps_count_as_absent(guard: Guard) -> None:
    """max_tokens=openai.omit / None leave the cap to the policy; it is injected."""
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [], "max_tokens": openai.omit,
                              "max_completion_tokens": None}  # fmt: skip
    call = chat_call(kwargs, Attribution())
    ticket = guard.admit(**call.admission)
    apply_chat(kwargs, call, ticket)
    assert kwargs["extra_body"] == {"max_completion_tokens": 8}
    assert kwargs["max_tokens"] is openai.omit


def test_both_chat_caps_are_set_when_both_given(guard: Guard) -> None:
    """A caller sending both fields gets both set to the admitted cap."""
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [], "max_tokens": 5,
                              "max_completion_tokens": 6}  # fmt: skip
    call = chat_call(kwargs, Attribution())
    ticket = guard.admit(**call.admission)
    apply_chat(kwargs, call, ticket)
    assert (kwargs["max_tokens"], kwargs["max_completion_tokens"]) == (6, 6)


def test_responses_cap_written_as_max_output_tokens(guard: Guard) -> None:
    """A Responses call carries max_output_tokens; instructions and input are admitted."""
    kwargs: dict[str, Any] = {"model": MODEL, "input": "Hi", "instructions": "Be brief."}
    call = responses_call(kwargs, Attribution())
    assert call.admission["instructions"] == "Be brief."
    apply_responses(kwargs, call, guard.admit(**call.admission))
    assert kwargs["extra_body"] == {"max_output_tokens": 8}


def test_injected_fields_keep_the_callers_extra_body(guard: Guard) -> None:
    """The cap and the usage request go into the body next to what the caller sends there."""
    kwargs: dict[str, Any] = {
        "model": MODEL, "messages": [], "stream": True,
        "extra_body": {"store": False, "stream_options": {"include_obfuscation": False}},
    }  # fmt: skip
    call = chat_call(kwargs, Attribution())
    apply_chat(kwargs, call, guard.admit(**call.admission))
    assert kwargs["extra_body"] == {
        "store": False, "max_completion_tokens": 8,
        "stream_options": {"include_obfuscation": False, "include_usage": True},
    }  # fmt: skip
    assert call.usage_injected


def test_a_callers_own_cap_argument_is_rewritten_in_place() -> None:
    """A cap the caller passed as an argument is clamped there (nothing added to the body)."""
    guard = Guard("memory://", policy=Policy(max_tokens_cap=20), notifiers=[])
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [], "max_tokens": 50}
    call = chat_call(kwargs, Attribution())
    apply_chat(kwargs, call, guard.admit(**call.admission))
    assert kwargs["max_tokens"] == 20
    assert "extra_body" not in kwargs
    guard.close()


def test_background_responses_are_refused() -> None:
    """A background response (usage known only later) cannot be metered: refused."""
    with pytest.raises(NotImplementedError, match="background"):
        responses_call({"model": MODEL, "input": "Hi", "background": True}, Attribution())


def test_tool_call_arguments_are_metered(guard: Guard) -> None:
    """Streamed tool-call arguments count as output and can cut the stream."""
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [], "stream": True, "max_tokens": 3}
    call = chat_call(kwargs, Attribution())
    tap = Tap(guard.admit(**call.admission), 600, call)
    tool = {"index": 0, "id": "t", "type": "function",
            "function": {"name": "f", "arguments": '{"a": 1'}}  # fmt: skip
    with pytest.raises(StreamCut):
        tap.see(chunk({"tool_calls": [tool]}))
    assert tap.meter.cut


def test_injected_usage_chunk_is_swallowed_only_when_injected(guard: Guard) -> None:
    """The usage-only chunk is hidden from a caller who did not ask for it, and is the final
    figure either way."""
    for asked in (False, True):
        kwargs: dict[str, Any] = {"model": MODEL, "messages": [], "stream": True}
        if asked:
            kwargs["stream_options"] = {"include_usage": True}
        call = chat_call(kwargs, Attribution())
        ticket = guard.admit(**call.admission)
        apply_chat(kwargs, call, ticket)
        tap = Tap(ticket, 600, call)
        assert tap.see(chunk({"content": " hello"})) is True
        usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
        assert tap.see(chunk(usage=usage)) is asked
        assert tap.meter.final
        guard.release(ticket)


def test_settlement_is_given_once(guard: Guard) -> None:
    """However a stream ends, and however often, its settlement status is given once."""
    call = chat_call({"model": MODEL, "messages": [], "stream": True}, Attribution())
    ticket = guard.admit(**call.admission)
    tap = Tap(ticket, 600, call)
    assert tap.settlement("stopped") == "cut"
    assert tap.settlement("completed") is None
    guard.release(ticket)
