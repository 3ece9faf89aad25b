"""Injected errors, SDK retries, and malformed requests, in each provider's error format."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from costcap.testing import FakeProviderServer
from tests.testing.helpers import ANTHROPIC_MODEL, ANTHROPIC_USER, OPENAI_MODEL, USER


def test_injected_429_carries_retry_after(http: httpx.Client) -> None:
    """x-fake-error: 429 answers 429 in OpenAI's format with retry-after and retry-after-ms."""
    body = {"model": OPENAI_MODEL, "messages": USER}
    response = http.post("/v1/chat/completions", json=body, headers={"x-fake-error": "429"})
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "50"
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "rate_limit_exceeded"


def test_openai_retry_succeeds_after_fail_times(fp: FakeProviderServer) -> None:
    """fail-times 2: the SDK's two retries of the 429 succeed on the third attempt."""
    with openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=2) as client:
        completion = client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=USER,
            extra_headers={"x-fake-fail-times": "2", "x-fake-request-key": "openai-retry"},
        )
    assert completion.usage is not None
    served = fp.requests
    assert [r.status_code for r in served] == [429, 429, 200]
    assert [r.attempt for r in served] == [1, 2, 3]
    assert [r.injected for r in served] == [True, True, False]
    assert [r.headers.get("x-stainless-retry-count") for r in served] == ["0", "1", "2"]
    assert fp.billed_output_tokens() == completion.usage.completion_tokens


def test_anthropic_retry_succeeds_after_fail_times(fp: FakeProviderServer) -> None:
    """fail-times 1 with x-fake-error 529: the Anthropic SDK retries and succeeds."""
    with anthropic.Anthropic(
        base_url=fp.anthropic_base_url, api_key="sk-ant-test", max_retries=1
    ) as client:
        message = client.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=50,
            messages=ANTHROPIC_USER,
            extra_headers={
                "x-fake-error": "529",
                "x-fake-fail-times": "1",
                "x-fake-request-key": "anthropic-retry",
            },
        )
    assert message.stop_reason == "end_turn"
    assert [r.status_code for r in fp.requests] == [529, 200]


def test_500_surfaces_as_sdk_error_after_retries(fp: FakeProviderServer) -> None:
    """A persistent 500 is retried max_retries times, then raised as InternalServerError."""
    with (
        openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=1) as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=USER,
            extra_headers={"x-fake-error": "500"},
        )
    assert caught.value.status_code == 500
    assert [r.status_code for r in fp.requests] == [500, 500]
    assert fp.billed_input_tokens() == fp.billed_output_tokens() == 0


def test_anthropic_overloaded_is_overloaded_error(ant: anthropic.Anthropic) -> None:
    """x-fake-error: 529 on Messages raises the SDK's OverloadedError (overloaded_error body)."""
    with pytest.raises(anthropic.OverloadedError) as caught:
        ant.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=50,
            messages=ANTHROPIC_USER,
            extra_headers={"x-fake-error": "529"},
        )
    assert caught.value.status_code == 529
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "overloaded_error"
    assert body["request_id"] == caught.value.request_id


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
def test_malformed_json_is_openai_400(http: httpx.Client, path: str) -> None:
    """A body that is not JSON is a 400 invalid_request_error in OpenAI's format."""
    response = http.post(
        path, content=b'{"model": "gpt-4o",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json"


def test_malformed_json_is_anthropic_400(fp: FakeProviderServer, http: httpx.Client) -> None:
    """A body that is not JSON is a 400 in Anthropic's format, recorded as such."""
    response = http.post(
        "/v1/messages", content=b"[1, 2", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert fp.last.status_code == 400
    assert fp.last.error is not None
    assert fp.last.error.startswith("invalid_request_error")


def test_json_that_is_not_an_object_is_400(http: httpx.Client) -> None:
    """Valid JSON that is not an object is a 400 too."""
    response = http.post("/v1/chat/completions", json=[1, 2, 3])
    assert response.status_code == 400


def test_missing_messages_is_openai_400(oai: openai.OpenAI) -> None:
    """A chat request without messages is a 400 naming the parameter."""
    with pytest.raises(openai.BadRequestError) as caught:
        oai.post("/chat/completions", body={"model": OPENAI_MODEL}, cast_to=object)
    assert caught.value.param == "messages"
