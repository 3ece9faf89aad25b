"""A client that goes away mid-stream, over real HTTP: the gateway closes the upstream at once
(the fake provider records the disconnect) and the ledger holds the partial cost — never $0,
never the whole reservation."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import httpx
import httpx2

from tests.gateway.conftest import GatewayFactory, RunningGateway
from tests.waiting import wait_for

# gpt-4o-mini list prices, picodollars per token
MINI_IN, MINI_OUT = 150_000, 600_000


def _cut_rows(gw: RunningGateway) -> list[tuple[str, int, int, int]]:
    gw.flush_ledger()
    with sqlite3.connect(gw.ledger_url.removeprefix("sqlite:///")) as conn:
        return conn.execute(
            "SELECT status, input_tokens, output_tokens, cost_pico FROM costcap_events"
        ).fetchall()


def test_a_client_gone_mid_stream_closes_the_upstream_and_settles_the_partial_cost(
    gateway: RunningGateway,
) -> None:
    body = {"model": "gpt-4o-mini", "stream": True, "max_tokens": 400,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    headers = {
        "authorization": f"Bearer {gateway.key()}",
        "x-fake-output-tokens": "400",
        "x-fake-chunk-delay-ms": "20",
    }
    received = 0
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", f"{gateway.openai_base}/chat/completions", json=body, headers=headers
        ) as answer,
    ):
        assert answer.status_code == 200
        reserved = Decimal(answer.headers["x-costcap-reserved-usd"])
        for line in answer.iter_lines():
            received += line.count('"content":" hello"')
            if received >= 5:
                break  # leaving the block closes the connection mid-stream
    wait_for(lambda: bool(gateway.fp.requests) and gateway.fp.last.disconnect == "client")
    served = gateway.fp.last
    assert 5 <= served.output_tokens < 400  # generation stopped early
    wait_for(lambda: bool(_cut_rows(gateway)))
    [(status, input_tokens, output_tokens, cost_pico)] = _cut_rows(gateway)
    assert status == "cut"
    assert input_tokens == served.input_tokens
    # what the gateway read from the provider before it closed: at least what the client got,
    # at most what the provider sent
    assert received <= output_tokens <= served.output_tokens
    assert cost_pico == input_tokens * MINI_IN + output_tokens * MINI_OUT
    assert 0 < Decimal(cost_pico) / 10**12 < reserved


class _IgnoresTheCap(httpx2.AsyncBaseTransport):
    """Plays a provider that does not honour the cap it was sent: every request's
    ``max_tokens`` is raised to 1,000 on its way out of the gateway."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            body = {**json.loads(await request.aread()), "max_tokens": 1000}
            headers = [(k, v) for k, v in request.headers.items() if k != "content-length"]
            request = httpx2.Request(
                request.method, request.url, headers=headers, json=body,
                extensions=request.extensions,
            )  # fmt: skip
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_stream_past_its_reservation_is_cut_with_an_error_event(
    gateway_factory: GatewayFactory,
) -> None:
    """The output reaches what was reserved (5 tokens): the gateway closes the upstream, ends
    the stream with an error event in the provider's format, and settles it cut."""
    gw = gateway_factory(inner=_IgnoresTheCap())
    body = {"model": "claude-3-5-haiku-latest", "max_tokens": 5, "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    headers = {"x-api-key": gw.key(), "anthropic-version": "2023-06-01",
               "x-fake-output-tokens": "200", "x-fake-chunk-delay-ms": "5"}  # fmt: skip
    answer = httpx.post(f"{gw.base}/v1/messages", json=body, headers=headers, timeout=30)
    events = [e for e in answer.text.split("\n\n") if e.strip() and not e.startswith(":")]
    assert answer.text.count('"text_delta"') == 5
    assert events[-1].startswith("event: error\ndata: ")
    error = json.loads(events[-1].split("data: ", 1)[1])
    assert error["type"] == "error"
    assert "costcap" in error["error"]["message"]
    wait_for(lambda: bool(gw.fp.requests) and gw.fp.last.disconnect == "client")
    wait_for(lambda: bool(_cut_rows(gw)))
    [(status, _, output_tokens, _)] = _cut_rows(gw)
    assert status == "cut"
    # charged what the provider had generated when the gateway closed it (a chunk may carry
    # the output past the reservation: that chunk is billed, not passed on)
    assert 5 <= output_tokens <= gw.fp.last.output_tokens
