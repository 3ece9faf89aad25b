"""OpenAI Chat Completions through the real ``openai`` SDK, over HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from costcap.testing import FakeProviderServer
from costcap.tokens import count_messages, count_text
from tests.testing.helpers import OPENAI_MODEL, USER, sse_events


def test_completion_reports_costcap_counts(oai: openai.OpenAI) -> None:
    """prompt_tokens is count_messages of the request; completion_tokens counts the text sent."""
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == count_messages(USER, OPENAI_MODEL).tokens
    text = completion.choices[0].message.content or ""
    assert usage.completion_tokens == count_text(text, OPENAI_MODEL) == 20
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert completion.choices[0].finish_reason == "stop"


def test_completion_body_validates_strictly(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """The raw JSON body passes strict validation as the SDK's ChatCompletion model."""
    raw = oai.chat.completions.with_raw_response.create(model=OPENAI_MODEL, messages=USER)
    completion = ChatCompletion.model_validate(raw.http_response.json())
    assert completion.usage is not None
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion.usage.completion_tokens_details is not None
    assert raw.headers["x-request-id"] == fp.last.request_id
    assert completion.id == fp.last.id


def test_cached_tokens_header_is_reported_within_prompt_tokens(oai: openai.OpenAI) -> None:
    """x-fake-cached-tokens shows as prompt_tokens_details.cached_tokens, inside prompt_tokens."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        extra_headers={"x-fake-cached-tokens": "4"},
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == count_messages(USER, OPENAI_MODEL).tokens
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 4


@pytest.mark.parametrize("parameter", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_output_with_finish_reason_length(
    oai: openai.OpenAI, parameter: str
) -> None:
    """A cap below the output length cuts it to the cap and says finish_reason="length"."""
    if parameter == "max_tokens":
        completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, max_tokens=7)
    else:
        completion = oai.chat.completions.create(
            model=OPENAI_MODEL, messages=USER, max_completion_tokens=7
        )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 7
    assert count_text(completion.choices[0].message.content or "", OPENAI_MODEL) == 7


def test_stream_without_include_usage_has_no_usage_chunk(oai: openai.OpenAI) -> None:
    """Without stream_options.include_usage no chunk carries usage (as the real API)."""
    with oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, stream=True) as stream:
        chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks)
    assert all(len(chunk.choices) == 1 for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert count_text(text, OPENAI_MODEL) == 20


def test_stream_with_include_usage_ends_with_usage_chunk(oai: openai.OpenAI) -> None:
    """include_usage adds one last chunk with empty choices and the usage of the whole stream."""
    with oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
        max_completion_tokens=5,
    ) as stream:
        chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == count_messages(USER, OPENAI_MODEL).tokens
    assert last.usage.completion_tokens == 5
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "length"


def test_stream_chunks_validate_strictly_and_end_with_done(
    fp: FakeProviderServer, http: httpx.Client
) -> None:
    """Every data line but the final [DONE] validates strictly as a ChatCompletionChunk."""
    body = {
        "model": OPENAI_MODEL,
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = http.post("/v1/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [ChatCompletionChunk.model_validate_json(data) for _, data in events[:-1]]
    assert {chunk.id for chunk in chunks} == {fp.last.id}
    assert chunks[0].choices[0].delta.role == "assistant"


async def test_async_client_stream(aoai: openai.AsyncOpenAI) -> None:
    """The async SDK client streams the same chunks and usage."""
    stream = await aoai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-fake-output-tokens": "3"},
    )
    async with stream:
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


def test_n_is_ignored_one_choice(oai: openai.OpenAI) -> None:
    """``n`` is accepted and ignored: exactly one choice is returned (documented)."""
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, n=3)
    assert len(completion.choices) == 1


def test_stream_options_without_stream_is_rejected(oai: openai.OpenAI) -> None:
    """stream_options without stream=true is a 400, as the real API answers."""
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model=OPENAI_MODEL,
            messages=USER,
            stream_options={"include_usage": True},
        )
    assert caught.value.param == "stream_options"
