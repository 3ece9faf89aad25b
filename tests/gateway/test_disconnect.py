"""A client that goes away mid-stream, over real HTTP: the gateway closes the upstream at once
(the fake provider records the disconnect) and the ledger holds the partial cost — never $0,
never the whole reservation."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import httpx

from tests.gateway.conftest import RunningGateway
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
