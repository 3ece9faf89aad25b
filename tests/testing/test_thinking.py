"""Thinking and reasoning: Anthropic thinking blocks, Responses reasoning items, Chat reasoning
tokens; their tokens within the output, a stream cut while thinking, bad knobs."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from anthropic.types import Message

from costcap.testing import FakeProviderConfig, FakeProviderServer, run_fake_provider
from costcap.tokens import count_text
from tests.testing.helpers import (
    ANTHROPIC_MODEL,
    ANTHROPIC_USER,
    CALL,
    OPENAI_MODEL,
    USER,
    anthropic_tool,
    sse_events,
    wait_for,
)

THINK = {"x-fake-thinking-tokens": "6"}
ENABLED: Any = {"type": "enabled", "budget_tokens": 1024}
# a connection the provider drops mid-stream: the SDK's error (older releases of the Anthropic
# SDK let httpx2's own error through)
BROKEN = (anthropic.APIConnectionError, openai.APIConnectionError, httpx2.TransportError)


def _claude(client: anthropic.Anthropic, **options: Any) -> Message:
    options.setdefault("extra_headers", THINK)
    message: Message = client.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=2000, messages=ANTHROPIC_USER, **options
    )
    return message


# -- Anthropic ------------------------------------------------------------------------------


def test_anthropic_thinking_block_comes_first(
    fp: FakeProviderServer, ant: anthropic.Anthropic
) -> None:
    """With thinking enabled the answer starts with a signed thinking block; its tokens are
    within output_tokens, and the record counts them apart too."""
    message = _claude(ant, thinking=ENABLED)
    thinking, text = message.content
    assert thinking.type == "thinking"
    assert text.type == "text"
    assert thinking.signature
    assert set(thinking.thinking.split()) == {"hello"}
    thought = count_text(thinking.thinking, ANTHROPIC_MODEL)
    assert 0 < thought <= 6
    assert message.usage.output_tokens == thought + count_text(text.text, ANTHROPIC_MODEL)
    assert fp.last.thinking_tokens == thought
    assert fp.last.output_tokens == message.usage.output_tokens


def test_anthropic_adaptive_thinking_before_a_tool_call(ant: anthropic.Anthropic) -> None:
    """Adaptive thinking comes before a tool_use block too."""
    message = _claude(
        ant,
        thinking={"type": "adaptive"},
        tools=[anthropic_tool()],
        extra_headers={**THINK, **CALL},
    )
    assert [block.type for block in message.content] == ["thinking", "tool_use"]
    assert message.stop_reason == "tool_use"


def test_anthropic_omitted_thinking_bills_its_tokens(ant: anthropic.Anthropic) -> None:
    """display omitted: the thinking block has no text, but its 6 tokens are billed."""
    message = _claude(ant, thinking={**ENABLED, "display": "omitted"})
    thinking, text = message.content
    assert thinking.type == "thinking"
    assert text.type == "text"
    assert (thinking.thinking, bool(thinking.signature)) == ("", True)
    assert message.usage.output_tokens == 6 + count_text(text.text, ANTHROPIC_MODEL)


def test_anthropic_without_thinking_enabled_has_no_thinking(ant: anthropic.Anthropic) -> None:
    """The knob alone does not think: the request must enable thinking."""
    message = _claude(ant)
    assert [block.type for block in message.content] == ["text"]


def test_anthropic_thinking_stream(fp: FakeProviderServer, ant: anthropic.Anthropic) -> None:
    """thinking_delta events, then a signature_delta, then the text; get_final_message has
    the signed block and the whole output in its usage."""
    with ant.messages.stream(
        model=ANTHROPIC_MODEL,
        max_tokens=2000,
        messages=ANTHROPIC_USER,
        thinking=ENABLED,
        extra_headers=THINK,
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    thought = deltas.index("signature_delta")
    assert set(deltas[:thought]) == {"thinking_delta"}
    assert set(deltas[thought + 1 :]) == {"text_delta"}
    thinking, text = final.content
    assert thinking.type == "thinking"
    assert text.type == "text"
    assert thinking.signature
    assert final.usage.output_tokens == count_text(thinking.thinking, ANTHROPIC_MODEL) + count_text(
        text.text, ANTHROPIC_MODEL
    )
    assert fp.last.output_tokens == final.usage.output_tokens


def test_anthropic_stream_cut_while_thinking_bills_the_thinking_sent(
    fp: FakeProviderServer, ant: anthropic.Anthropic
) -> None:
    """Dropped after 2 thinking deltas: the provider bills the thinking sent, nothing more."""
    thought = ""
    stream = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=2000,
        messages=ANTHROPIC_USER,
        thinking=ENABLED,
        stream=True,
        extra_headers={**THINK, "x-fake-disconnect-after": "2"},
    )
    with stream, pytest.raises(BROKEN):  # noqa: PT012 - raised mid-iteration
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "thinking_delta":
                thought += event.delta.thinking
    wait_for(lambda: len(fp.requests) == 1)
    assert thought == " hello hello"
    assert fp.last.output_tokens == fp.last.thinking_tokens
    assert fp.last.thinking_tokens == count_text(" hello hello", ANTHROPIC_MODEL)
    assert fp.last.output_text == ""


def test_anthropic_thinking_counts_toward_max_tokens(ant: anthropic.Anthropic) -> None:
    """max_tokens caps thinking and text together."""
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=1030,
        messages=ANTHROPIC_USER,
        thinking={"type": "adaptive"},
        extra_headers={"x-fake-thinking-tokens": "1026", "x-fake-output-tokens": "50"},
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens <= 1030


@pytest.mark.parametrize(
    "thinking",
    [{"type": "enabled", "budget_tokens": 100}, {"type": "enabled"}, {"type": "sometimes"}],
)
def test_anthropic_bad_thinking_is_bad_request(
    ant: anthropic.Anthropic, thinking: dict[str, Any]
) -> None:
    """A thinking configuration the real API refuses is a 400 invalid_request_error."""
    with pytest.raises(anthropic.BadRequestError, match="thinking"):
        _claude(ant, thinking=thinking)


def test_anthropic_budget_not_below_max_tokens_is_bad_request(ant: anthropic.Anthropic) -> None:
    """budget_tokens must be below max_tokens, as upstream."""
    with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
        ant.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=1024, messages=ANTHROPIC_USER, thinking=ENABLED
        )


# -- OpenAI Responses -----------------------------------------------------------------------


def test_responses_reasoning_item_with_summary(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """reasoning.summary asked: a reasoning item with a summary comes first; its 6 tokens are
    reasoning_tokens, within output_tokens."""
    response = oai.responses.create(
        model=OPENAI_MODEL,
        input="Hi",
        reasoning={"effort": "low", "summary": "auto"},
        extra_headers=THINK,
    )
    reasoning, message = response.output
    assert reasoning.type == "reasoning"
    assert message.type == "message"
    assert [part.text for part in reasoning.summary] == [" hello" * 6]
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 6
    assert response.usage.output_tokens == 6 + 20
    assert response.reasoning is not None
    assert (response.reasoning.effort, response.reasoning.summary) == ("low", "auto")
    assert (fp.last.output_tokens, fp.last.thinking_tokens) == (26, 6)


def test_responses_reasoning_without_summary_shows_no_text(oai: openai.OpenAI) -> None:
    """Without a summary asked, the reasoning item's summary is empty; its tokens are billed."""
    response = oai.responses.create(
        model=OPENAI_MODEL, input="Hi", reasoning={"effort": "low"}, extra_headers=THINK
    )
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary == []
    assert response.usage is not None
    assert response.usage.output_tokens == 26


def test_responses_without_reasoning_has_no_reasoning(oai: openai.OpenAI) -> None:
    """The knob alone does not reason: the request must ask for reasoning."""
    response = oai.responses.create(model=OPENAI_MODEL, input="Hi", extra_headers=THINK)
    assert [item.type for item in response.output] == ["message"]
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 0


def test_responses_reasoning_summary_stream(http: httpx.Client) -> None:
    """The summary streams as part added, text deltas, text done, part done, inside the
    reasoning item's added / done events, before the message."""
    body = {
        "model": OPENAI_MODEL,
        "input": "Hi",
        "stream": True,
        "reasoning": {"summary": "auto"},
    }
    headers = {"x-fake-thinking-tokens": "2", "x-fake-output-tokens": "1"}
    raw = http.post("/v1/responses", json=body, headers=headers).text
    kinds = [event for event, _ in sse_events(raw)]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_responses_stream_helper_has_the_reasoning(oai: openai.OpenAI) -> None:
    """responses.stream's final response holds the summary and the reasoning tokens."""
    with oai.responses.stream(
        model=OPENAI_MODEL,
        input="Hi",
        reasoning={"effort": "low", "summary": "detailed"},
        extra_headers=THINK,
    ) as stream:
        final = stream.get_final_response()
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text for part in reasoning.summary] == [" hello" * 6]
    assert final.usage is not None
    assert final.usage.output_tokens_details.reasoning_tokens == 6


def test_responses_stream_cut_in_the_summary_bills_what_was_sent(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """Dropped after 3 summary deltas: the provider bills those 3 tokens of reasoning."""
    stream = oai.responses.create(
        model=OPENAI_MODEL,
        input="Hi",
        reasoning={"summary": "auto"},
        stream=True,
        extra_headers={**THINK, "x-fake-disconnect-after": "3"},
    )
    summary = ""
    with stream, pytest.raises(BROKEN):  # noqa: PT012 - raised mid-iteration
        for event in stream:
            if event.type == "response.reasoning_summary_text.delta":
                summary += event.delta
    wait_for(lambda: len(fp.requests) == 1)
    assert summary == " hello hello hello"
    assert (fp.last.output_tokens, fp.last.thinking_tokens) == (3, 3)


# -- OpenAI Chat Completions ----------------------------------------------------------------


def test_chat_reasoning_tokens_within_completion_tokens(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """Chat shows no reasoning text, only its 6 tokens within completion_tokens."""
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, extra_headers=THINK)
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 6
    assert usage.completion_tokens == 6 + 20
    assert completion.choices[0].message.content == " hello" * 20
    assert (fp.last.output_tokens, fp.last.thinking_tokens) == (26, 6)


def test_chat_reasoning_counts_toward_the_cap(oai: openai.OpenAI) -> None:
    """max_completion_tokens caps reasoning and text together: 6 + 4 of 10."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL, messages=USER, max_completion_tokens=10, extra_headers=THINK
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == " hello" * 4
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 10


def test_chat_stream_usage_has_the_reasoning(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """A streamed answer's usage chunk reports the reasoning tokens too."""
    with oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-fake-thinking-tokens": "3", "x-fake-output-tokens": "2"},
    ) as stream:
        usage = list(stream)[-1].usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert (usage.completion_tokens, usage.completion_tokens_details.reasoning_tokens) == (5, 3)
    assert fp.last.output_tokens == 5


def test_chat_reasoning_effort_none_does_not_reason(oai: openai.OpenAI) -> None:
    """reasoning_effort none: no reasoning tokens."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL, messages=USER, reasoning_effort="none", extra_headers=THINK
    )
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 20


def test_thinking_marker_and_config(oai: openai.OpenAI) -> None:
    """[[fake:thinking_tokens=N]] in the prompt, else FakeProviderConfig.thinking_tokens."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "Hi [[fake:thinking_tokens=4]]"}]
    )
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 24
    with (
        run_fake_provider(FakeProviderConfig(thinking_tokens=2)) as fp,
        openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=0) as client,
    ):
        completion = client.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 22


def test_bad_thinking_knob_is_bad_request(fp: FakeProviderServer, http: httpx.Client) -> None:
    """x-fake-thinking-tokens that is not an integer >= 0 is a 400 naming the header."""
    body = {"model": OPENAI_MODEL, "messages": USER}
    response = http.post(
        "/v1/chat/completions", json=body, headers={"x-fake-thinking-tokens": "-1"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "x-fake-thinking-tokens"
