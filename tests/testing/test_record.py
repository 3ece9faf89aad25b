"""The record of served requests: what was billed, matching what the clients saw."""

from __future__ import annotations

import anthropic
import httpx
import httpx2
import openai
import pytest

from costcap.testing import FakeProviderServer
from costcap.tokens import count_messages, count_text
from tests.testing.helpers import ANTHROPIC_MODEL, ANTHROPIC_USER, OPENAI_MODEL, USER, wait_for


def test_record_matches_openai_completion(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """The record's id, model, tokens, text and finish reason are those the client received."""
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    served = fp.last
    assert completion.usage is not None
    assert served.id == completion.id
    assert (served.endpoint, served.model, served.stream) == (
        "chat.completions",
        OPENAI_MODEL,
        False,
    )
    assert served.input_tokens == completion.usage.prompt_tokens
    assert served.output_tokens == completion.usage.completion_tokens
    assert served.output_text == completion.choices[0].message.content
    assert served.finish_reason == completion.choices[0].finish_reason
    assert served.usage == completion.usage.model_dump(exclude_none=True)
    assert served.started_at <= served.finished_at


def test_record_bills_anthropic_input_including_cache(
    fp: FakeProviderServer, ant: anthropic.Anthropic
) -> None:
    """input_tokens in the record is the whole prompt: uncached + cache reads + cache writes."""
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=50,
        messages=ANTHROPIC_USER,
        extra_headers={"x-fake-cached-tokens": "2", "x-fake-cache-write-tokens": "1"},
    )
    served = fp.last
    usage = message.usage
    assert (
        served.input_tokens
        == usage.input_tokens + 3
        == count_messages(USER, ANTHROPIC_MODEL).tokens
    )
    assert (served.cached_tokens, served.cache_write_tokens) == (2, 1)
    assert served.output_tokens == usage.output_tokens


def test_stream_record_without_usage_still_bills(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """A stream without include_usage still bills its tokens in the record (usage unseen)."""
    with oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    wait_for(lambda: len(fp.requests) == 1)
    assert fp.last.usage is None
    assert fp.last.output_tokens == count_text(text, OPENAI_MODEL) == 20
    assert fp.last.disconnect is None


def test_billed_helpers_sum_per_model(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """billed_*_tokens sum over requests, optionally for one model; reset empties the record."""
    for model, tokens in (("gpt-4o", "3"), ("gpt-4o-mini", "5"), ("gpt-4o-mini", "7")):
        oai.chat.completions.create(
            model=model,
            messages=USER,
            extra_headers={"x-fake-output-tokens": tokens, "x-fake-cached-tokens": "1"},
        )
    assert fp.billed_output_tokens() == 15
    assert fp.billed_output_tokens(model="gpt-4o-mini") == 12
    assert fp.billed_input_tokens() == 3 * count_messages(USER, "gpt-4o").tokens
    assert fp.billed_cached_tokens() == 3
    fp.reset()
    assert fp.requests == ()
    assert fp.billed_output_tokens() == 0


def test_record_keeps_no_credentials(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """Recorded headers are a fixed subset: the API key is never kept."""
    oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    assert "authorization" not in fp.last.headers
    assert "user-agent" in fp.last.headers


def test_client_disconnect_mid_stream_bills_partial_output(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """A client that stops reading mid-stream stops the generation; the partial is billed."""
    stream = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        stream=True,
        extra_headers={"x-fake-output-tokens": "200", "x-fake-chunk-delay-ms": "20"},
    )
    received = ""
    for chunk in stream:
        received += chunk.choices[0].delta.content or ""
        if count_text(received, OPENAI_MODEL) >= 3:
            break
    stream.close()
    wait_for(lambda: len(fp.requests) == 1)
    served = fp.last
    assert served.disconnect == "client"
    assert served.finish_reason is None
    assert served.usage is None
    assert served.output_text.startswith(received)
    assert 3 <= served.output_tokens < 50
    assert served.output_tokens == count_text(served.output_text, OPENAI_MODEL)


async def test_async_client_disconnect_is_recorded(
    fp: FakeProviderServer, aant: anthropic.AsyncAnthropic
) -> None:
    """An async Anthropic stream closed early is recorded as a client disconnect."""
    stream = await aant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=1000,
        messages=ANTHROPIC_USER,
        stream=True,
        extra_headers={"x-fake-output-tokens": "300", "x-fake-chunk-delay-ms": "20"},
    )
    deltas = 0
    async for event in stream:
        deltas += event.type == "content_block_delta"
        if deltas == 2:
            break
    await stream.close()
    wait_for(lambda: len(fp.requests) == 1)
    assert fp.last.disconnect == "client"
    assert 2 <= fp.last.output_tokens < 100


def test_server_disconnect_breaks_the_stream(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """x-fake-disconnect-after: N drops the connection after N chunks; N chunks are billed."""
    received = ""
    stream = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        stream=True,
        extra_headers={"x-fake-disconnect-after": "4"},
    )
    # Releases of the SDK differ in what they raise for a broken stream: its own error or httpx2's.
    broken = (openai.APIConnectionError, httpx2.TransportError)
    with stream, pytest.raises(broken):  # noqa: PT012 - raised mid-iteration
        for chunk in stream:
            received += chunk.choices[0].delta.content or ""
    wait_for(lambda: len(fp.requests) == 1)
    assert fp.last.disconnect == "server"
    assert fp.last.output_text == received
    assert fp.last.output_tokens == 4


def test_models_lists_openai_shape(oai: openai.OpenAI) -> None:
    """GET /v1/models answers the OpenAI list shape the SDK pages through."""
    ids = [model.id for model in oai.models.list()]
    assert OPENAI_MODEL in ids
    assert ANTHROPIC_MODEL in ids


def test_models_lists_anthropic_shape(ant: anthropic.Anthropic) -> None:
    """With anthropic-version sent, GET /v1/models answers Anthropic's shape."""
    models = list(ant.models.list())
    assert ANTHROPIC_MODEL in [model.id for model in models]
    assert all(model.type == "model" for model in models)


def test_models_request_is_recorded(fp: FakeProviderServer, http: httpx.Client) -> None:
    """Model listings are recorded and bill nothing."""
    assert http.get("/v1/models").json()["object"] == "list"
    assert fp.last.endpoint == "models"
    assert not fp.last.billed
