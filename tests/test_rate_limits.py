"""Rate limits in the Guard's atomic admission, on every store."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from costcap.budgets import Budget
from costcap.errors import BudgetExceeded
from costcap.guard import AsyncGuard, Guard
from costcap.limits import RateLimit, RateLimited
from tests.clocks import Clock

MODEL = "gpt-4o-mini"
# 8 input tokens on o200k_base: 1 for "Hello", 1 for the role, 3 framing the message and 3
# priming the reply (the OpenAI cookbook's count)
HELLO = [{"role": "user", "content": "Hello"}]
# gpt-4o-mini costs $0.15 / $0.60 per million input / output tokens: a call's worst case is
# 8 x 0.15 + 100 x 0.6 = 1.2 + 60 = 61.2 micro-dollars, reserved rounded up: 62
WORST_USD = Decimal("0.000062")


def make(store_url: str, *rules: RateLimit, clock: Clock | None = None, **kw: Any) -> Guard:
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return Guard(store_url, limits=rules, notifiers=[], **extra, **kw)


def call(guard: Guard, user: str = "alice", **kw: Any) -> Any:
    return guard.admit(model=MODEL, messages=HELLO, max_tokens=100, user_id=user, **kw)


def test_threads_pass_exactly_the_limit(store_url: str) -> None:
    """1,000 concurrent calls from 20 threads against "100/minute": exactly 100 pass."""
    guard = make(store_url, RateLimit("100/minute", per="user"))
    passed: list[int] = []
    barrier = threading.Barrier(20)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            with contextlib.suppress(RateLimited):
                call(guard)
                passed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 100
    guard.close()


def test_a_call_timed_earlier_but_admitted_later_counts_the_later_bucket(store_url: str) -> None:
    """A call reads the clock before its atomic step: one that read it just before a bucket
    boundary may reach the store after calls that read it just past the boundary and charged
    the next bucket. Its check sees their charges (it used to pass: 101–108 of "100/minute"
    when 20 threads crossed a boundary)."""
    clock = Clock(datetime(2026, 1, 1, 0, 0, 59, 900000, tzinfo=UTC))  # buckets of 3 s: 19
    guard = make(store_url, RateLimit("2/minute"), clock=clock)
    late, charges = guard.prepare(
        model=MODEL, messages=HELLO, max_tokens=100, user_id="alice", feature=None, api_key=None,
        endpoint=None, system=None, tools=None, input=None, instructions=None, reserve_usd=None,
    )  # fmt: skip
    clock.advance(0.2)  # bucket 20: the other calls fill the limit there
    call(guard)
    call(guard)
    assert not guard.store.admit(late.id, charges, guard.lease_s).admitted
    guard.close()


async def test_asyncio_passes_exactly_the_limit(store_url: str) -> None:
    """1,000 concurrent asyncio calls against "100/minute": exactly 100 pass."""
    guard = AsyncGuard(store_url, limits=[RateLimit("100/minute")], notifiers=[])

    async def one() -> bool:
        try:
            await guard.admit(model=MODEL, messages=HELLO, max_tokens=100, user_id="alice")
        except RateLimited:
            return False
        return True

    assert sum(await asyncio.gather(*(one() for _ in range(1000)))) == 100
    await guard.close()


def test_refusal_names_rule_identity_and_retry_after(store_url: str) -> None:
    """The 21st call in a minute raises RateLimited with the rule, the user and Retry-After."""
    clock = Clock(datetime(2026, 11, 28, 12, 0, 0, 500_000, tzinfo=UTC))
    guard = make(store_url, RateLimit("20/minute", per="user"), clock=clock)
    for _ in range(20):
        call(guard)
    clock.advance(10)
    with pytest.raises(RateLimited) as caught:
        call(guard)
    error = caught.value
    assert (error.rule, error.identity, error.limit, error.used) == (
        "20/minute per user", "alice", 20, 20,
    )  # fmt: skip
    # the burst sits in the 3-second bucket [12:00:00, 12:00:03), which leaves the window at
    # 12:01:03: 52.5 s after 12:00:10.5
    assert error.retry_after_s == pytest.approx(52.5)
    guard.close()


def test_window_slides(store_url: str) -> None:
    """Calls refused now pass again once the burst has slid out of the window."""
    clock = Clock(datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC))
    guard = make(store_url, RateLimit("5/minute"), clock=clock)
    for _ in range(5):
        call(guard)
    clock.advance(30)
    with pytest.raises(RateLimited):
        call(guard)
    clock.advance(33)  # the burst's 3-second bucket has left the minute
    call(guard)
    guard.close()


def test_identities_are_isolated(store_url: str) -> None:
    """Alice using up her limit does not limit Bob."""
    guard = make(store_url, RateLimit("3/minute", per="user"))
    for _ in range(3):
        call(guard, "alice")
    with pytest.raises(RateLimited):
        call(guard, "alice")
    call(guard, "bob")
    guard.close()


def test_endpoint_and_user_combined(store_url: str) -> None:
    """A per-user-per-endpoint limit counts each endpoint separately."""
    guard = make(store_url, RateLimit("2/minute", per="user,endpoint"))
    for _ in range(2):
        call(guard, endpoint="/a")
    with pytest.raises(RateLimited) as caught:
        call(guard, endpoint="/a")
    assert caught.value.identity == "alice|/a"
    call(guard, endpoint="/b")
    guard.close()


def test_token_limit_reserves_then_corrects_at_settle(store_url: str) -> None:
    """A token limit reserves input + max_tokens, then keeps only the tokens actually used."""
    guard = make(store_url, RateLimit("300 tokens/minute"))
    first = call(guard)  # reserves 8 + 100
    second = call(guard)  # 216 reserved
    with pytest.raises(RateLimited):
        call(guard)  # 324 > 300
    guard.settle(first, {"input_tokens": 8, "output_tokens": 10})
    guard.settle(second, {"input_tokens": 8, "output_tokens": 10})
    call(guard)  # 36 used + 108 reserved fits
    guard.close()


def test_dollar_limit(store_url: str) -> None:
    """A "$/day" limit counts the worst case, then the actual cost: after one call settled at
    8 micro-dollars, three more worst cases fit in $0.0002 (8 + 3 x 62 = 194), a fourth not."""
    guard = make(store_url, RateLimit("$0.0002/day"))
    ticket = call(guard)  # reserves 62 micro-dollars
    guard.settle(ticket, {"input_tokens": 8, "output_tokens": 10})  # 1.2 + 6 = 7.2: 8 charged
    for _ in range(3):
        call(guard)
    with pytest.raises(RateLimited):
        call(guard)
    guard.close()


def test_concurrency_limit_frees_slots_on_settle(store_url: str) -> None:
    """With "2 concurrent", a third call in flight is refused until one finishes."""
    guard = make(store_url, RateLimit("2 concurrent"))
    first = call(guard)
    call(guard)
    with pytest.raises(RateLimited) as caught:
        call(guard)
    assert caught.value.retry_after_s == 1.0
    guard.settle(first, {"input_tokens": 8, "output_tokens": 5})
    call(guard)
    guard.close()


def test_refused_budget_charges_no_limit(store_url: str) -> None:
    """All or nothing: a call refused by a budget leaves the rate limit untouched."""
    guard = Guard(
        store_url,
        budgets=[Budget(scope="global", period="day", limit_usd="0.00001")],
        limits=[RateLimit("1/minute")],
        notifiers=[],
    )
    with pytest.raises(BudgetExceeded):
        call(guard)
    guard.budgets = ()
    call(guard)  # the one request of the minute is still available
    guard.close()


def test_refused_limit_charges_no_budget(store_url: str) -> None:
    """All or nothing: a call refused by a rate limit reserves nothing in the budgets."""
    guard = Guard(
        store_url,
        budgets=[Budget(scope="global", period="day", limit_usd=1)],
        limits=[RateLimit("1/minute")],
        notifiers=[],
    )
    call(guard)
    with pytest.raises(RateLimited):
        call(guard)
    status = guard.status()[0]
    assert status["reserved_usd"] == WORST_USD  # the first call's reservation alone
    guard.close()


def _process_worker(url: str, attempts: int, queue: Any) -> None:
    guard = make(url, RateLimit("100/minute"))
    passed = 0
    for _ in range(attempts):
        with contextlib.suppress(RateLimited):
            call(guard)
            passed += 1
    guard.close()
    queue.put(passed)


def test_processes_pass_exactly_the_limit(shared_store_url: str) -> None:
    """1,000 calls from 4 processes sharing one store against "100/minute": exactly 100 pass."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(shared_store_url, 250, queue)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    total = sum(queue.get(timeout=180) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert total == 100
