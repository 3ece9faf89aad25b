"""Building and serving the fake provider: factory, runners, configuration."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx
import openai
import pytest

from costcap.errors import ConfigError
from costcap.testing import (
    FakeProviderConfig,
    create_fake_provider,
    run_fake_provider,
    run_fake_provider_async,
)
from tests.testing.helpers import OPENAI_MODEL, USER


def test_runner_serves_on_a_free_loopback_port_and_stops() -> None:
    """run_fake_provider serves on 127.0.0.1:<free port>; the port is closed after the block."""
    with run_fake_provider() as fp, httpx.Client() as client:
        assert fp.base_url == f"http://127.0.0.1:{fp.port}"
        assert fp.port > 0
        assert client.get(f"{fp.base_url}/v1/models").status_code == 200
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.get(f"{fp.base_url}/v1/models")


def test_keep_alive_answers_are_not_held_by_nagle(http: httpx.Client) -> None:
    """20 keep-alive requests take far less than 20 x 40 ms (TCP_NODELAY is on)."""
    body = {"model": OPENAI_MODEL, "messages": USER}
    http.post("/v1/chat/completions", json=body)  # warm-up
    started = time.perf_counter()
    for _ in range(20):
        http.post("/v1/chat/completions", json=body).raise_for_status()
    assert time.perf_counter() - started < 0.6


async def test_async_runner_serves_async_clients() -> None:
    """run_fake_provider_async serves an async SDK client and stops cleanly."""
    async with run_fake_provider_async() as fp:
        async with openai.AsyncOpenAI(
            base_url=fp.openai_base_url, api_key="sk-test", max_retries=0
        ) as client:
            completion = await client.chat.completions.create(model=OPENAI_MODEL, messages=USER)
        assert completion.usage is not None
        assert fp.billed_output_tokens() == completion.usage.completion_tokens


def test_runner_serves_a_given_provider() -> None:
    """A provider built beforehand is served as is; its record outlives the server."""
    provider = create_fake_provider()
    with run_fake_provider(provider=provider) as fp, httpx.Client() as client:
        client.get(f"{fp.base_url}/v1/models")
    assert len(provider.requests) == 1


async def test_providers_share_no_state() -> None:
    """Two providers have separate apps and records (no module-level state)."""
    first, second = create_fake_provider(), create_fake_provider()
    transport = httpx.ASGITransport(app=first.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        await client.get("/v1/models")
    assert len(first.requests) == 1
    assert second.requests == ()
    assert first.app is not second.app


async def test_app_works_in_process_over_asgi() -> None:
    """The Starlette app answers in-process through httpx.ASGITransport (no socket)."""
    provider = create_fake_provider(FakeProviderConfig(output_tokens=2))
    transport = httpx.ASGITransport(app=provider.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        response = await client.post(
            "/v1/chat/completions", json={"model": OPENAI_MODEL, "messages": USER}
        )
    assert response.json()["usage"]["completion_tokens"] == 2
    assert provider.last.output_tokens == 2


@pytest.mark.parametrize(
    "options",
    [
        {"output_tokens": -1},
        {"error": 418},
        {"word": ""},
        {"disconnect_after": -2},
        {"thinking_tokens": -1},
        {"tool_call": "get weather"},
    ],
)
def test_bad_config_is_config_error(options: dict[str, Any]) -> None:
    """Unusable configuration values raise ConfigError naming the field."""
    with pytest.raises(ConfigError, match="FakeProviderConfig"):
        FakeProviderConfig(**options)


def test_import_does_no_work() -> None:
    """Importing costcap.testing loads no tokenizer, no price data and neither SDK."""
    heavy = ("bpe_openai._bindings", "genai_prices", "openai", "anthropic")
    code = f"import sys, costcap.testing; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
