"""The real SDKs (sync, async, streamed) and curl through the gateway, with only the base URL and
the key changed: one test per endpoint and shape; every answer's cost equals what the fake
provider billed, by hand arithmetic at the model's list price."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
import subprocess
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from costcap.testing._record import CREDENTIAL_DIGEST
from tests.gateway.conftest import RunningGateway

# list prices, dollars per million tokens (input, output)
MINI = (Decimal("0.15"), Decimal("0.60"))  # gpt-4o-mini
HAIKU = (Decimal("0.80"), Decimal("4"))  # claude-3-5-haiku
HAIKU_MODEL = "claude-3-5-haiku-latest"
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
HI_CLAUDE: list[MessageParam] = [{"role": "user", "content": "hi"}]


def billed_usd(gw: RunningGateway, price: tuple[Decimal, Decimal]) -> Decimal:
    """What the fake provider's last request billed, at ``price``."""
    last = gw.fp.last
    return (last.input_tokens * price[0] + last.output_tokens * price[1]) / 1_000_000


def ledger_cost_usd(gw: RunningGateway) -> Decimal:
    gw.flush_ledger()
    path = gw.ledger_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'costcap_events'").fetchall():
            return Decimal(0)  # nothing was ever recorded
        (pico,) = conn.execute("SELECT COALESCE(SUM(cost_pico), 0) FROM costcap_events").fetchone()
    return Decimal(pico) / 10**12


def openai_client(gw: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base, api_key=gw.key(), max_retries=0)


def test_openai_chat_sync_answers_with_its_exact_cost_in_the_headers(
    gateway: RunningGateway,
) -> None:
    raw = openai_client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HI
    )
    completion = raw.parse()
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 20
    assert Decimal(raw.headers["x-costcap-cost-usd"]) == billed_usd(gateway, MINI)
    assert raw.headers["x-costcap-model"] == "gpt-4o-mini"
    assert raw.headers["x-costcap-cache"] == "bypass"
    assert len(raw.headers["x-costcap-request-id"]) == 32


def test_openai_chat_stream_async_is_metered_and_recorded(gateway: RunningGateway) -> None:
    key = gateway.key()

    async def main() -> str:
        client = openai.AsyncOpenAI(base_url=gateway.openai_base, api_key=key, max_retries=0)
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.close()
        return text

    text = asyncio.run(main())
    assert text == " hello" * 20
    assert ledger_cost_usd(gateway) == billed_usd(gateway, MINI)


def test_openai_responses_sync(gateway: RunningGateway) -> None:
    response = openai_client(gateway).responses.create(model="gpt-4o-mini", input="hi")
    assert response.usage is not None
    assert response.usage.output_tokens == 20
    assert ledger_cost_usd(gateway) == billed_usd(gateway, MINI)


def test_openai_responses_stream_sync(gateway: RunningGateway) -> None:
    with openai_client(gateway).responses.stream(model="gpt-4o-mini", input="hi") as stream:
        final = stream.get_final_response()
    assert final.usage is not None
    assert final.usage.output_tokens == 20
    assert ledger_cost_usd(gateway) == billed_usd(gateway, MINI)


def test_openai_models_list_passes_through(gateway: RunningGateway) -> None:
    models = openai_client(gateway).models.list()
    assert "gpt-4o-mini" in [m.id for m in models.data]


def test_anthropic_messages_sync_with_x_api_key(gateway: RunningGateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.base, api_key=gateway.key(), max_retries=0)
    raw = client.messages.with_raw_response.create(
        model=HAIKU_MODEL, max_tokens=50, messages=HI_CLAUDE
    )
    message = raw.parse()
    assert message.usage.output_tokens == 20
    assert Decimal(raw.headers["x-costcap-cost-usd"]) == billed_usd(gateway, HAIKU)


def test_anthropic_messages_stream_async(gateway: RunningGateway) -> None:
    key = gateway.key()

    async def main() -> int:
        client = anthropic.AsyncAnthropic(base_url=gateway.base, api_key=key, max_retries=0)
        async with client.messages.stream(
            model=HAIKU_MODEL, max_tokens=50, messages=HI_CLAUDE
        ) as stream:
            final = await stream.get_final_message()
        await client.close()
        return final.usage.output_tokens

    assert asyncio.run(main()) == 20
    assert ledger_cost_usd(gateway) == billed_usd(gateway, HAIKU)


def test_anthropic_count_tokens_passes_through_unbilled(gateway: RunningGateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.base, api_key=gateway.key(), max_retries=0)
    counted = client.messages.count_tokens(model=HAIKU_MODEL, messages=HI_CLAUDE)
    assert counted.input_tokens > 0
    assert ledger_cost_usd(gateway) == 0


def test_the_bearer_scheme_works_for_anthropic_too(gateway: RunningGateway) -> None:
    answer = httpx.post(
        f"{gateway.base}/v1/messages",
        headers={"authorization": f"Bearer {gateway.key()}", "anthropic-version": "2023-06-01"},
        json={"model": HAIKU_MODEL, "max_tokens": 30, "messages": HI_CLAUDE},
    )
    assert answer.status_code == 200
    assert answer.json()["usage"]["output_tokens"] == 20


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_reads_an_sse_stream_ending_with_done(gateway: RunningGateway) -> None:
    body = (
        '{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    )
    done = subprocess.run(
        ["curl", "-sS", "-N", "--max-time", "20", f"{gateway.openai_base}/chat/completions",
         "-H", f"Authorization: Bearer {gateway.key()}", "-H", "content-type: application/json",
         "-d", body],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    events = [line for line in done.stdout.splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert sum('"content":" hello"' in e for e in events) == 20
    # the exact cost closes the stream as an SSE comment, which SSE readers skip
    comment = [line for line in done.stdout.splitlines() if line.startswith(": x-costcap-cost-usd")]
    assert Decimal(comment[0].split()[-1]) == billed_usd(gateway, MINI)


def test_the_upstream_gets_the_provider_key_never_the_virtual_key(
    gateway: RunningGateway,
) -> None:
    key = gateway.key()
    client = openai.OpenAI(base_url=gateway.openai_base, api_key=key, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    sent = gateway.fp.last.headers[CREDENTIAL_DIGEST]
    assert sent == hashlib.sha256(b"sk-upstream-secret-never-leaves").hexdigest()


def test_the_key_charges_its_user_and_feature_whatever_the_request_says(
    gateway: RunningGateway,
) -> None:
    key = gateway.key(user="bob", feature="search")
    client = openai.OpenAI(base_url=gateway.openai_base, api_key=key, max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=HI,
        extra_headers={"x-costcap-user": "mallory", "x-costcap-feature": "free"},
    )  # fmt: skip
    gateway.flush_ledger()
    with sqlite3.connect(gateway.ledger_url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT user_id, feature, api_key_id FROM costcap_events").fetchall()
    assert rows == [("bob", "search", gateway.made[-1].id)]


def test_a_key_limited_to_some_models_lists_only_those(gateway: RunningGateway) -> None:
    key = gateway.key(models="gpt-4o-mini,o4-mini,gpt-5")  # gpt-5 is not served: not listed
    client = openai.OpenAI(base_url=gateway.openai_base, api_key=key, max_retries=0)
    assert sorted(m.id for m in client.models.list().data) == ["gpt-4o-mini", "o4-mini"]


def test_chat_completions_go_to_the_openai_upstream_whichever_header_holds_the_key(
    gateway: RunningGateway,
) -> None:
    answer = httpx.post(
        f"{gateway.openai_base}/chat/completions",
        headers={"x-api-key": gateway.key()},
        json={"model": "gpt-4o-mini", "messages": HI},
    )
    assert answer.status_code == 200
    assert answer.json()["object"] == "chat.completion"
    assert gateway.fp.last.endpoint == "chat.completions"
