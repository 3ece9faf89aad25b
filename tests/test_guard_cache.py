"""The Guard's side of the response cache: the output cap a request is keyed with, and a hit
counted on request-count rate limits alone and recorded at $0 with what it saved."""

from __future__ import annotations

import asyncio

import pytest

from costcap import AsyncGuard, Budget, Guard, Policy, RateLimit, RateLimited
from costcap.cache import CachedAnswer
from costcap.ledger import CostEvent
from costcap.policy import PolicyViolation, Rule

ANSWER = CachedAnswer(
    shape="json", body=b"{}", model="gpt-4o-mini", cost_pico=4_500_000, provider="openai"
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)


def make(store_url: str, *limits: RateLimit, **kwargs: object) -> tuple[Guard, Recorder]:
    recorder = Recorder()
    guard = Guard(store_url, limits=list(limits), notifiers=[], observers=[recorder], **kwargs)  # type: ignore[arg-type]
    return guard, recorder


def test_a_hit_is_recorded_at_zero_saving_what_the_stored_call_cost(store_url: str) -> None:
    guard, recorder = make(store_url)
    guard.answer_cached(ANSWER, requested_model="gpt-4o-mini", user_id="alice", feature="faq",
                        stream=True)  # fmt: skip
    [event] = recorder.events
    assert (event.status, event.cost_pico, event.saved_pico) == ("ok", 0, 4_500_000)
    assert (event.cache_hit, event.cache_miss, event.stream) == (True, False, True)
    assert (event.model, event.provider, event.user_id, event.feature) == (
        "gpt-4o-mini", "openai", "alice", "faq",
    )  # fmt: skip
    guard.close()


def test_hits_count_on_request_rate_limits(store_url: str) -> None:
    guard, recorder = make(store_url, RateLimit("2/minute", per="user"))
    for _ in range(2):
        guard.answer_cached(ANSWER, requested_model="gpt-4o-mini", user_id="alice")
    with pytest.raises(RateLimited):
        guard.answer_cached(ANSWER, requested_model="gpt-4o-mini", user_id="alice")
    assert [e.status for e in recorder.events] == ["ok", "ok", "refused"]
    assert recorder.events[-1].refused_by is not None
    assert recorder.events[-1].refused_by.startswith("rate limit")
    guard.answer_cached(ANSWER, requested_model="gpt-4o-mini", user_id="bob")  # another user
    guard.close()


def test_a_hit_counts_on_a_per_model_limit_for_the_model_that_answered(store_url: str) -> None:
    guard, _ = make(store_url, RateLimit("1/minute", per="model"))
    guard.answer_cached(ANSWER, requested_model="gpt-4o-mini")
    other = CachedAnswer(shape="json", body=b"{}", model="gpt-4o", cost_pico=1)
    guard.answer_cached(other, requested_model="gpt-4o")  # another model's own window
    with pytest.raises(RateLimited):
        guard.answer_cached(ANSWER, requested_model="gpt-4o-mini")
    guard.close()


def test_a_hit_takes_no_tokens_from_a_token_limit(store_url: str) -> None:
    guard, _ = make(store_url, RateLimit("10 tokens/minute"))
    for _ in range(5):
        guard.answer_cached(ANSWER, requested_model="gpt-4o-mini")
    guard.close()


def test_a_hit_needs_no_budget(store_url: str) -> None:
    """A budget with nothing left does not stop an answer that costs nothing."""
    recorder = Recorder()
    guard = Guard(store_url, budgets=[Budget(scope="global", period="day", limit_usd="0.000001")],
                  notifiers=[], observers=[recorder])  # fmt: skip
    guard.answer_cached(ANSWER, requested_model="gpt-4o-mini")
    assert [e.status for e in recorder.events] == ["ok"]
    guard.close()


def test_an_async_hit_counts_and_records_the_same(store_url: str) -> None:
    recorder = Recorder()

    async def run() -> None:
        guard = AsyncGuard(store_url, limits=[RateLimit("1/minute")], notifiers=[],
                           observers=[recorder])  # fmt: skip
        await guard.answer_cached(ANSWER, requested_model="gpt-4o-mini", feature="faq")
        with pytest.raises(RateLimited):
            await guard.answer_cached(ANSWER, requested_model="gpt-4o-mini", feature="faq")
        await guard.close()

    asyncio.run(run())
    assert [(e.status, e.cache_hit, e.saved_pico) for e in recorder.events] == [
        ("ok", True, 4_500_000), ("refused", False, 0),
    ]  # fmt: skip


def test_the_cache_cap_is_the_policy_bound() -> None:
    guard = Guard("memory://", policy=Policy(default_max_tokens=300, max_tokens_cap=1000),
                  notifiers=[])  # fmt: skip
    assert guard.cache_cap(model="gpt-4o-mini", max_tokens=None) == 300
    assert guard.cache_cap(model="gpt-4o-mini", max_tokens=5000) == 1000
    assert guard.cache_cap(model="gpt-4o-mini", max_tokens=20) == 20


def test_a_model_the_policy_refuses_is_refused_before_the_cache_and_recorded() -> None:
    guard, recorder = make(
        "memory://", policy=Policy(features={"faq": Rule(allowed_models=["gpt-4o-mini"])})
    )
    with pytest.raises(PolicyViolation):
        guard.cache_cap(model="gpt-4o", max_tokens=None, feature="faq")
    [event] = recorder.events
    assert (event.status, event.feature) == ("refused", "faq")
