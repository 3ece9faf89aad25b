"""The example FastAPI app, over real HTTP, against the fake provider."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from costcap.ledger import open_sink
from costcap.testing import FakeProviderConfig, run_fake_provider, serve_asgi
from examples.fastapi_app import Settings, create_app

URL = "/api/v1/ai/generate"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    """Start the app (and a fake provider) with the given settings; yields a factory."""
    started: list[object] = []

    def start(config: FakeProviderConfig | None = None, **overrides: str) -> str:
        fp = run_fake_provider(config)
        provider = fp.__enter__()
        settings = Settings(
            store=f"sqlite:///{tmp_path / f'app{len(started)}.db'}",
            ledger=f"sqlite:///{tmp_path / f'ledger{len(started)}.db'}",
            openai_base_url=provider.openai_base_url,
            openai_api_key="test",
            **overrides,
        )
        app = serve_asgi(create_app(settings), lifespan="on")
        port = app.__enter__()
        started.extend([app, fp])
        return f"http://127.0.0.1:{port}"

    yield start
    for manager in reversed(started):
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]


def post(base: str, user: str = "alice", **body: object) -> httpx.Response:
    payload = {"prompt": "Summarise our refund policy", **body}
    return httpx.post(base + URL, json=payload, headers={"x-user-id": user}, timeout=10)


def test_generate_answers_with_its_exact_cost(serve) -> None:  # type: ignore[no-untyped-def]
    """A guarded call answers 200 with its cost and RateLimit headers for what is left."""
    base = serve()
    response = post(base)
    assert response.status_code == 200
    data = response.json()
    assert data["output_tokens"] == 20
    price_in, price_out = Decimal("0.15") / 10**6, Decimal("0.60") / 10**6  # gpt-4o-mini
    assert Decimal(data["cost_usd"]) == data["input_tokens"] * price_in + 20 * price_out
    assert response.headers["RateLimit"].endswith(";r=19;t=60")
    assert '"20-minute-per-user-endpoint";q=20;w=60' in response.headers["RateLimit-Policy"]


def test_twenty_first_call_in_a_minute_is_429(serve) -> None:  # type: ignore[no-untyped-def]
    """The 21st request of a minute answers 429 with Retry-After and a body naming the limit."""
    base = serve()
    for _ in range(20):
        assert post(base).status_code == 200
    refused = post(base)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 63  # a minute plus one 3-second bucket
    assert refused.headers["RateLimit"].startswith('"20-minute-per-user-endpoint";r=0;t=')
    error = refused.json()["error"]
    assert error["type"] == "rate_limited"
    assert error["limit"] == "20/minute per user,endpoint"
    assert error["identity"] == f"alice|{URL}"
    assert post(base, user="bob").status_code == 200  # per-identity


def test_budget_refusal_is_402(serve) -> None:  # type: ignore[no-untyped-def]
    """A user past their daily budget gets 402 with the budget's figures."""
    # each call reserves 310 micro-dollars (13 in + 512 out, worst case) and spends 14:
    # the 8th call finds 98 spent and no room for 310 more under 400
    base = serve(user_daily_usd="0.0004")
    for _ in range(7):
        assert post(base).status_code == 200
    refused = post(base)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert (error["type"], error["budget"], error["member"]) == (
        "budget_exceeded",
        "user:*/day",
        "alice",
    )
    assert int(refused.headers["Retry-After"]) >= 1


def test_concurrency_limit_refuses_a_third_call_in_flight(serve) -> None:  # type: ignore[no-untyped-def]
    """With the provider slow, a third simultaneous request from one user gets 429."""
    base = serve(FakeProviderConfig(latency_ms=600))

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            calls = [
                client.post(base + URL, json={"prompt": "hi"}, headers={"x-user-id": "carol"})
                for _ in range(3)
            ]
            return sorted(r.status_code for r in await asyncio.gather(*calls))

    assert asyncio.run(burst()) == [200, 200, 429]


def test_bad_body_is_422(serve) -> None:  # type: ignore[no-untyped-def]
    """A malformed request is FastAPI's own 422, never a traceback."""
    base = serve()
    response = httpx.post(base + URL, json={"prompt": ""}, headers={"x-user-id": "alice"})
    assert response.status_code == 422


@pytest.mark.parametrize(
    "body", [b'{"prompt": "\\ud800"}', b'{"prompt": "hi", "feature": "\\ud800"}']
)
def test_lone_surrogate_is_a_422_json_error(serve, body: bytes) -> None:  # type: ignore[no-untyped-def]
    """A JSON string holding a lone surrogate is refused with a 422 JSON body, not a 500."""
    base = serve()
    headers = {"x-user-id": "alice", "content-type": "application/json"}
    response = httpx.post(base + URL, content=body, headers=headers, timeout=10)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "string_unicode"


def test_a_call_lands_in_the_ledger(tmp_path: Path) -> None:
    """A call through the app is recorded in its ledger (drained when the app shuts down), with
    who made it and its exact cost: what ``costcap report`` reads."""
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    with run_fake_provider() as provider:
        settings = Settings(
            store=f"sqlite:///{tmp_path / 'app.db'}",
            ledger=ledger,
            openai_base_url=provider.openai_base_url,
            openai_api_key="test",
        )
        with serve_asgi(create_app(settings), lifespan="on") as port:
            answer = post(f"http://127.0.0.1:{port}").json()
    sink = open_sink(ledger)
    try:
        rows = sink.query(
            "SELECT model, user_id, feature, endpoint, input_tokens, output_tokens, cost_pico "
            "FROM costcap_events"
        )
    finally:
        sink.close()
    # gpt-4o-mini: $0.15 and $0.60 per million tokens = 150,000 and 600,000 picodollars a token
    cost = answer["input_tokens"] * 150_000 + 20 * 600_000
    assert rows == [("gpt-4o-mini", "alice", "chat", URL, answer["input_tokens"], 20, cost)]
