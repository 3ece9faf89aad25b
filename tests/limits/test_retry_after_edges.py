"""``RateLimited.retry_after_s`` at the edges of a window, on every store, with the Guard's clock
set by hand: just inside the window the call is refused and told to wait for what is left of it,
just outside it passes. A window W has 20 buckets of W/20; a call's bucket stops counting W
after the bucket ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from costcap import Guard, RateLimited
from costcap.limits import RateLimit
from tests.clocks import Clock

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
# Thursday 2026-03-05 12:00:00 UTC, 1,772,712,000 s since the epoch: the start of a bucket of
# each window below (3 s, 0.5 s and 50 ms)
NOON = datetime(2026, 3, 5, 12, tzinfo=UTC)
MINUTE = RateLimit("2/minute")  # buckets of 3 s
TEN_SECONDS = RateLimit("2/10 seconds")  # buckets of 0.5 s
SECOND = RateLimit("2/second")  # buckets of 50 ms


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def guard(store_url: str, clock: Clock) -> Iterator[Guard]:
    g = Guard(store_url, notifiers=[], clock=clock)
    yield g
    g.close()


def two_calls_at_noon(guard: Guard, rule: RateLimit) -> None:
    for _ in range(2):
        guard.hit([rule], user_id="u")


def retry_after(guard: Guard, rule: RateLimit) -> float | None:
    with pytest.raises(RateLimited) as refused:
        guard.hit([rule], user_id="u")
    return refused.value.retry_after_s


# (rule, seconds after noon the third call is asked, the wait it is told): two calls at noon
# fill each rule; their bucket starts at noon and counts until it ends plus the window
REFUSED = [
    # "2/minute": the 12:00:00-12:00:03 bucket counts until 12:01:03
    (MINUTE, 10, 53.0),  # 63 - 10
    (MINUTE, 62.999, 0.001),  # just inside: 63 - 62.999
    # "2/10 seconds": the 12:00:00-12:00:00.5 bucket counts until 12:00:10.5
    (TEN_SECONDS, 4, 6.5),  # 10.5 - 4
    (TEN_SECONDS, 10.25, 0.25),  # 10.5 - 10.25
    # "2/second": the 50 ms bucket counts until 12:00:01.05
    (SECOND, 0.5, 0.55),  # 1.05 - 0.5
    (SECOND, 1.046875, 0.003125),  # just inside, exact in binary: 1.05 - 1.046875
]

# (rule, seconds after noon when the noon bucket has left: the third call passes)
PASSES = [(MINUTE, 63), (TEN_SECONDS, 10.5), (SECOND, 1.0625)]


@pytest.mark.parametrize(("rule", "after_s", "wait_s"), REFUSED)
def test_refusal_inside_the_window_waits_what_is_left(
    guard: Guard, clock: Clock, rule: RateLimit, after_s: float, wait_s: float
) -> None:
    """While the calls' bucket counts, a third call is refused and told to wait until the
    bucket leaves the window."""
    two_calls_at_noon(guard, rule)
    clock.advance(after_s)
    assert retry_after(guard, rule) == pytest.approx(wait_s, abs=1e-6)


@pytest.mark.parametrize(("rule", "after_s"), PASSES)
def test_call_passes_once_the_bucket_leaves(
    guard: Guard, clock: Clock, rule: RateLimit, after_s: float
) -> None:
    """Once the calls' bucket has left the window, a third call passes."""
    two_calls_at_noon(guard, rule)
    clock.advance(after_s)
    guard.hit([rule], user_id="u")


def test_call_over_the_whole_limit_is_never_retried(store_url: str, clock: Clock) -> None:
    """A call holding 101 tokens against "100 tokens/minute" never fits: retry_after_s None."""
    guard = Guard(store_url, limits=[RateLimit("100 tokens/minute")], notifiers=[], clock=clock)
    try:
        with pytest.raises(RateLimited) as refused:
            guard.admit(model=MODEL, reserve_usd="0.01", max_tokens=101, user_id="u")
        assert refused.value.retry_after_s is None
    finally:
        guard.close()


def test_full_concurrency_limit_hints_one_second(guard: Guard) -> None:
    """A slot frees whenever a call ends: "1 concurrent" full says retry in 1 s."""
    rule = RateLimit("1 concurrent")
    guard.hit([rule], user_id="u")
    assert retry_after(guard, rule) == 1.0
