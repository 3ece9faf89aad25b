"""One fake provider for the whole session, reset before each test; SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anthropic
import httpx
import openai
import pytest

from costcap.testing import FakeProviderConfig, FakeProviderServer, run_fake_provider


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviderServer]:
    """The fake provider on 127.0.0.1 (429s ask for a 50 ms wait so retry tests are quick)."""
    with run_fake_provider(FakeProviderConfig(retry_after_ms=50)) as server:
        yield server


@pytest.fixture
def fp(fake_server: FakeProviderServer) -> FakeProviderServer:
    """The session's fake provider with an empty record."""
    fake_server.reset()
    return fake_server


@pytest.fixture
def oai(fp: FakeProviderServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fp.openai_base_url, api_key="sk-test", max_retries=0) as client:
        yield client


@pytest.fixture
async def aoai(fp: FakeProviderServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=fp.openai_base_url, api_key="sk-test", max_retries=0
    ) as client:
        yield client


@pytest.fixture
def ant(fp: FakeProviderServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=fp.anthropic_base_url, api_key="sk-ant-test", max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def aant(fp: FakeProviderServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=fp.anthropic_base_url, api_key="sk-ant-test", max_retries=0
    ) as client:
        yield client


@pytest.fixture
def http(fp: FakeProviderServer) -> Iterator[httpx.Client]:
    """A plain HTTP client, to see the exact bytes on the wire."""
    with httpx.Client(base_url=fp.base_url, timeout=10) as client:
        yield client
