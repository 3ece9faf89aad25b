"""The response cache and model routing through the gateway: the same steps as the wrapped
clients', seen in the answer headers and the ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from tests.gateway.conftest import GatewayFactory

BODY = {"model": "gpt-4o-mini", "max_tokens": 20, "temperature": 0,
        "messages": [{"role": "user", "content": "What are your opening hours?"}]}  # fmt: skip


def cached(tmp_path: Path) -> str:
    return f'[cache]\nurl = "sqlite:///{tmp_path / "cache.db"}"\n'


def test_a_repeated_request_is_a_cache_hit_at_no_cost(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    gw = gateway_factory(extra=cached(tmp_path))
    headers = {"authorization": f"Bearer {gw.key()}"}
    first = httpx.post(f"{gw.openai_base}/chat/completions", json=BODY, headers=headers)
    again = httpx.post(f"{gw.openai_base}/chat/completions", json=BODY, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.headers["x-costcap-cache"] == "miss"
    assert again.headers["x-costcap-cache"] == "hit"
    assert again.headers["x-costcap-cost-usd"] == "0"
    assert again.json()["choices"] == first.json()["choices"]
    assert len(gw.fp.requests) == 1  # the provider answered once


def test_a_cache_hit_counts_on_the_keys_request_limit(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    gw = gateway_factory(extra=cached(tmp_path))
    headers = {"authorization": f"Bearer {gw.key(limits=('2/minute',))}"}
    statuses = [
        httpx.post(f"{gw.openai_base}/chat/completions", json=BODY, headers=headers).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]  # the second, a hit, used the key's second request


def test_a_route_name_is_sent_to_its_tiers_model_and_said_so(
    gateway_factory: GatewayFactory,
) -> None:
    router = '[router.features.chat]\nsimple = "gpt-4o-mini"\ncomplex = "gpt-4o"\n'
    gw = gateway_factory(extra=router)
    answer = httpx.post(
        f"{gw.openai_base}/chat/completions",
        json={**BODY, "model": "costcap:complex"},
        headers={"authorization": f"Bearer {gw.key(feature='chat')}"},
    )
    assert answer.status_code == 200
    assert answer.headers["x-costcap-model"] == "gpt-4o"
    assert gw.fp.last.model == "gpt-4o"
    gw.flush_ledger()
    with sqlite3.connect(gw.ledger_url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT model, requested_model, tier FROM costcap_events").fetchall()
    assert rows == [("gpt-4o", "costcap:complex", "complex")]
