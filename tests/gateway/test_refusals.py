"""What the gateway refuses, and how: in the provider's own error format, with the status and
headers its SDK acts on — keys (401), budgets (402, or 429 by config), rate limits (429 with
Retry-After and RateLimit headers), policy (400), a store that is down (503)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.gateway.conftest import GatewayFactory, RunningGateway

CHAT = {"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
CLAUDE = {"model": "claude-3-5-haiku-latest", "max_tokens": 20,
          "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
ANTHROPIC = {"anthropic-version": "2023-06-01"}


def chat(gw: RunningGateway, secret: str | None, **headers: str) -> httpx.Response:
    sent = {"authorization": f"Bearer {secret}"} if secret is not None else {}
    return httpx.post(f"{gw.openai_base}/chat/completions", json=CHAT, headers={**sent, **headers})


def claude(gw: RunningGateway, secret: str) -> httpx.Response:
    headers = {"x-api-key": secret, **ANTHROPIC}
    return httpx.post(f"{gw.base}/v1/messages", json=CLAUDE, headers=headers)


def test_no_key_is_a_401_in_openai_format(gateway: RunningGateway) -> None:
    answer = chat(gateway, None)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"
    assert "virtual key" in answer.json()["error"]["message"]
    assert gateway.fp.requests == ()


def test_an_unknown_key_is_a_401_in_anthropic_format(gateway: RunningGateway) -> None:
    answer = claude(gateway, "sk-cc-not-a-key")
    assert answer.status_code == 401
    body = answer.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "authentication_error", "message": "costcap: unknown API key"}


def test_a_revoked_key_is_refused(gateway: RunningGateway) -> None:
    secret = gateway.key()
    gateway.keys.revoke(gateway.made[-1].id)
    answer = chat(gateway, secret)
    assert answer.status_code == 401
    assert "revoked" in answer.json()["error"]["message"]


def test_a_key_revoked_after_use_stops_working_once_the_lookup_cache_lapses(
    gateway_factory: GatewayFactory,
) -> None:
    gw = gateway_factory(gateway="key_cache_seconds = 0")
    secret = gw.key()
    assert chat(gw, secret).status_code == 200
    gw.keys.revoke(gw.made[-1].id)
    assert chat(gw, secret).status_code == 401


def test_an_expired_key_is_refused(gateway: RunningGateway) -> None:
    secret = gateway.key(expires="1h")
    gateway.keys.set_expiry(gateway.made[-1].id, datetime.now(UTC) - timedelta(seconds=1))
    answer = chat(gateway, secret)
    assert answer.status_code == 401
    assert "expired" in answer.json()["error"]["message"]


def test_a_rotated_key_refuses_its_old_secret_and_takes_the_new(
    gateway_factory: GatewayFactory,
) -> None:
    gw = gateway_factory(gateway="key_cache_seconds = 0")
    old = gw.key()
    _, new = gw.keys.rotate(gw.made[-1].id)
    assert chat(gw, old).status_code == 401
    assert chat(gw, new).status_code == 200


def test_a_key_budget_refuses_with_402_naming_the_budget_and_its_reset(
    gateway: RunningGateway,
) -> None:
    # each call reserves 8 input + 20 output tokens of gpt-4o-mini: 13.2 µ$ (14 µ$ rounded up)
    secret = gateway.key(budgets=("$0.00003/day",))
    statuses = [chat(gateway, secret).status_code for _ in range(2)]
    refused = chat(gateway, secret)
    assert statuses == [200, 200]
    assert refused.status_code == 402
    details = refused.json()["error"]["costcap"]
    assert details["budget"] == f"key:{gateway.made[-1].id}:day"
    assert details["limit_usd"] == "0.00003"
    assert datetime.fromisoformat(details["resets_at"]) > datetime.now(UTC)
    assert refused.headers["x-costcap-cost-usd"] == "0"
    assert len(gateway.fp.requests) == 2


def test_budget_status_429_by_config(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(gateway="budget_status = 429")
    secret = gw.key(budgets=("$0.00001/day",))
    refused = chat(gw, secret)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "budget_exceeded"


def test_a_key_rate_limit_answers_429_with_retry_after_and_ratelimit_headers(
    gateway: RunningGateway,
) -> None:
    secret = gateway.key(limits=("2/minute",))
    assert [chat(gateway, secret).status_code for _ in range(2)] == [200, 200]
    refused = chat(gateway, secret)
    assert refused.status_code == 429
    # the window and at most one of its 20 buckets (3 s): a sliding window errs on the safe side
    assert 1 <= int(refused.headers["retry-after"]) <= 63
    assert refused.headers["ratelimit-policy"].endswith(';q=2;w=60;qu="requests"')
    assert ";r=0;t=" in refused.headers["ratelimit"]
    assert refused.json()["error"]["type"] == "rate_limit_error"


def test_two_keys_have_separate_rate_limits(gateway: RunningGateway) -> None:
    first, second = gateway.key(limits=("1/minute",)), gateway.key(limits=("1/minute",))
    assert chat(gateway, first).status_code == 200
    assert chat(gateway, second).status_code == 200
    assert chat(gateway, first).status_code == 429


def test_a_model_the_key_does_not_allow_is_a_400_and_is_not_sent(
    gateway: RunningGateway,
) -> None:
    secret = gateway.key(models="gpt-4o")
    answer = chat(gateway, secret)
    assert answer.status_code == 400
    assert "may not use model 'gpt-4o-mini'" in answer.json()["error"]["message"]
    assert gateway.fp.requests == ()


def test_a_global_budget_and_a_key_budget_both_hold(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(
        budgets='[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = 0.00003\n'
    )
    secret = gw.key(budgets=("$5/day",))
    assert [chat(gw, secret).status_code for _ in range(3)] == [200, 200, 402]
    assert chat(gw, secret).json()["error"]["costcap"]["budget"] == "global/day"


def test_a_store_that_is_down_is_a_503(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(store="redis://127.0.0.1:1/0")  # nothing listens on port 1
    answer = chat(gw, gw.key(budgets=("$5/day",)))  # a budget: the store must be asked
    assert answer.status_code == 503
    assert "costcap" in answer.json()["error"]["message"]
    assert gw.fp.requests == ()


def test_neither_the_provider_key_nor_a_virtual_key_reaches_the_logs(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    secret = gateway.key()
    with caplog.at_level(logging.DEBUG):
        chat(gateway, secret)
        chat(gateway, secret, **{"x-fake-error": "500"})
        chat(gateway, "sk-cc-wrong")
    assert caplog.records  # something was logged at DEBUG
    assert "sk-upstream-secret-never-leaves" not in caplog.text
    assert secret not in caplog.text
