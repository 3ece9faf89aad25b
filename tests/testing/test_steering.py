"""Steering the output length by header, by prompt marker and by configuration."""

from __future__ import annotations

import httpx
import openai
import pytest

from costcap.testing import FakeProviderConfig, FakeProviderServer, run_fake_provider
from tests.testing.helpers import OPENAI_MODEL, USER


def _completion_tokens(
    client: openai.OpenAI,
    content: str,
    *,
    headers: dict[str, str] | None = None,
    max_tokens: int | None = None,
) -> int:
    completion = client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": content}],
        max_tokens=max_tokens,
        extra_headers=headers,
    )
    assert completion.usage is not None
    return completion.usage.completion_tokens


def test_header_sets_output_length(oai: openai.OpenAI) -> None:
    """x-fake-output-tokens: N makes the reply exactly N tokens."""
    assert _completion_tokens(oai, "Hi", headers={"x-fake-output-tokens": "13"}) == 13


def test_marker_sets_output_length(oai: openai.OpenAI) -> None:
    """A [[fake:output_tokens=N]] marker in the prompt makes the reply exactly N tokens."""
    assert _completion_tokens(oai, "Hi [[fake:output_tokens=9]]") == 9


def test_header_wins_over_marker(oai: openai.OpenAI) -> None:
    """When both are sent, the header decides."""
    tokens = _completion_tokens(
        oai, "Hi [[fake:output_tokens=9]]", headers={"x-fake-output-tokens": "4"}
    )
    assert tokens == 4


def test_marker_is_capped_by_max_tokens(oai: openai.OpenAI) -> None:
    """A steered length above max_tokens is cut to max_tokens."""
    assert _completion_tokens(oai, "Hi [[fake:output_tokens=50]]", max_tokens=8) == 8


def test_zero_output_tokens(oai: openai.OpenAI) -> None:
    """N = 0 gives an empty reply and zero completion tokens."""
    assert _completion_tokens(oai, "Hi", headers={"x-fake-output-tokens": "0"}) == 0


def test_config_default_output_length() -> None:
    """FakeProviderConfig.output_tokens sets the length of unsteered replies."""
    with (
        run_fake_provider(FakeProviderConfig(output_tokens=3)) as fp,
        openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=0) as client,
    ):
        assert _completion_tokens(client, "Hi") == 3


def test_invalid_knob_header_is_bad_request(fp: FakeProviderServer, http: httpx.Client) -> None:
    """A knob header that is not a non-negative integer is a 400 naming the header."""
    body = {"model": OPENAI_MODEL, "messages": USER}
    response = http.post(
        "/v1/chat/completions", json=body, headers={"x-fake-output-tokens": "lots"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "x-fake-output-tokens"
    assert fp.last.status_code == 400


@pytest.mark.parametrize("latency_ms", [150])
def test_latency_header_delays_the_answer(http: httpx.Client, latency_ms: int) -> None:
    """x-fake-latency-ms delays the first byte by at least that long."""
    body = {"model": OPENAI_MODEL, "messages": USER}
    response = http.post(
        "/v1/chat/completions", json=body, headers={"x-fake-latency-ms": str(latency_ms)}
    )
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= latency_ms / 1000
