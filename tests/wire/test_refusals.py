"""A refusal answered in the provider's error format: status, headers, body."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from costcap import BudgetExceeded, ModelNotAllowed, RateLimited, StoreUnavailable
from costcap.wire import UnmeteredEndpoint, refusal, refusal_answer
from costcap.wire._refusals import REFUSAL_EXTENSION

BUDGET = BudgetExceeded(
    budget="user:*/day", member="alice", limit_usd=Decimal("5"), spent_usd=Decimal("4.5"),
    reserved_usd=Decimal("0.25"), requested_usd=Decimal("0.5"),
    resets_at=datetime(2030, 1, 2, tzinfo=UTC),
)  # fmt: skip


def limited(retry_after_s: float | None) -> RateLimited:
    return RateLimited(
        rule="2/minute", per="user", identity="user:alice", kind="requests", limit=2, used=2,
        requested=1, window_s=60, retry_after_s=retry_after_s, policy='"2-minute";q=2;w=60',
    )  # fmt: skip


def body_of(error: Exception, flavor: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(refusal_answer(error, flavor).body)
    return parsed


def test_a_budget_refusal_is_a_402_in_openais_format() -> None:
    """OpenAI's error object with costcap's message and figures; not to be retried."""
    answer = refusal_answer(BUDGET, "openai")
    assert answer.status == 402
    assert answer.headers["x-should-retry"] == "false"
    error = body_of(BUDGET, "openai")["error"]
    assert error["type"] == "budget_exceeded"
    assert error["code"] == "costcap_budget_exceeded"
    assert error["message"] == f"costcap: {BUDGET}"
    assert error["costcap"]["budget"] == "user:*/day"
    assert error["costcap"]["spent_usd"] == "4.5"
    assert error["costcap"]["resets_at"] == "2030-01-02T00:00:00+00:00"


def test_a_budget_refusal_in_anthropics_format() -> None:
    """``{"type": "error", "error": {"type", "message"}}``."""
    answer = body_of(BUDGET, "anthropic")
    assert answer["type"] == "error"
    assert answer["error"]["type"] == "budget_exceeded"
    assert answer["error"]["message"].startswith("costcap: budget 'user:*/day'")


def test_a_rate_limit_that_frees_up_soon_asks_the_sdk_to_retry() -> None:
    """429 with ``retry-after`` (seconds, rounded up) and ``retry-after-ms``."""
    answer = refusal_answer(limited(2.5), "openai")
    assert answer.status == 429
    assert (answer.headers["retry-after"], answer.headers["retry-after-ms"]) == ("3", "2500")
    assert answer.headers["x-should-retry"] == "true"
    assert body_of(limited(2.5), "openai")["error"]["costcap"]["retry_after_s"] == 2.5


@pytest.mark.parametrize("retry_after_s", [None, 3600.0])
def test_a_rate_limit_that_never_fits_or_frees_up_late_is_not_retried(
    retry_after_s: float | None,
) -> None:
    """Past the minute an SDK would wait (or never): 429, not to be retried."""
    answer = refusal_answer(limited(retry_after_s), "anthropic")
    assert answer.status == 429
    assert answer.headers["x-should-retry"] == "false"
    assert "retry-after" not in answer.headers


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ModelNotAllowed("gpt-4o", "chat", ["gpt-4o-mini"]), 400),
        (UnmeteredEndpoint("/v1/embeddings", "embeddings"), 403),
        (StoreUnavailable("redis down"), 503),
        (ValueError("odd"), 400),
    ],
)
def test_each_refusal_has_its_status(error: Exception, status: int) -> None:
    assert refusal_answer(error, "openai").status == status


def test_a_store_outage_is_left_to_the_sdks_retries() -> None:
    """503 without ``x-should-retry``: the SDK retries it like a provider outage."""
    assert "x-should-retry" not in refusal_answer(StoreUnavailable("down"), "openai").headers


def test_the_body_is_ascii_json_even_with_a_lone_surrogate() -> None:
    """A message quoting request text with ``\\ud800`` still encodes."""
    answer = refusal_answer(ValueError("content a\ud800"), "openai")
    assert answer.body.isascii()
    assert "a\ud800" in json.loads(answer.body)["error"]["message"]


def test_refusal_finds_the_exception_on_a_response_or_an_sdk_error() -> None:
    response = httpx2.Response(402, extensions={REFUSAL_EXTENSION: BUDGET})

    class SDKError(Exception):
        def __init__(self, response: httpx2.Response) -> None:
            self.response = response

    assert refusal(response) is BUDGET
    assert refusal(SDKError(response)) is BUDGET
    assert refusal(httpx2.Response(402)) is None
    assert refusal(ValueError()) is None
