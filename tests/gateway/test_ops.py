"""The gateway's operations endpoints: /healthz, /readyz (the store, the ledger and the keys
reachable), /metrics (Prometheus, fed by the same observer the library offers)."""

from __future__ import annotations

import httpx

from tests.gateway.conftest import GatewayFactory, RunningGateway

CHAT = {"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def test_healthz_answers_while_the_process_runs(gateway: RunningGateway) -> None:
    answer = httpx.get(f"{gateway.base}/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_readyz_checks_the_store_the_ledger_and_the_keys(gateway: RunningGateway) -> None:
    answer = httpx.get(f"{gateway.base}/readyz")
    assert answer.status_code == 200
    assert answer.json()["checks"] == {"store": "ok", "ledger": "ok", "keys": "ok"}


def test_readyz_is_503_when_the_store_is_down(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(store="redis://127.0.0.1:1/0")  # nothing listens on port 1
    answer = httpx.get(f"{gw.base}/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["store"].startswith("unavailable")


def test_metrics_count_the_calls_and_their_spend(gateway: RunningGateway) -> None:
    headers = {"authorization": f"Bearer {gateway.key()}"}
    for _ in range(3):
        httpx.post(f"{gateway.openai_base}/chat/completions", json=CHAT, headers=headers)
    text = httpx.get(f"{gateway.base}/metrics").text
    calls = [line for line in text.splitlines() if line.startswith("costcap_calls_total{")]
    assert any('status="ok"' in line and line.endswith(" 3.0") for line in calls), calls
    assert "costcap_spend_usd_total" in text
