"""The Guard on every store: hard budgets hold exactly under concurrency and never block falsely."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from costcap.alerts import Alert
from costcap.budgets import Budget
from costcap.errors import BudgetExceeded, ConfigError, StoreUnavailable
from costcap.guard import AsyncGuard, Guard
from costcap.guard_core import new_id
from costcap.policy import CostCapExceeded, Policy
from costcap.stores import MemoryStore

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Summarise the quarterly report in three bullet points."}]
MAX_TOKENS = 400
# gpt-4o-mini costs $0.15 / $0.60 per million input / output tokens: 0.15 and 0.6 micro-dollars
# a token. MESSAGES is 18 input tokens: its text is 11 on o200k_base (Summ|ar|ise| the|
# quarterly| report| in| three| bullet| points|., counted with tiktoken), plus 1 for the role,
# 3 framing the message and 3 priming the reply (the OpenAI cookbook's count). Its worst case:
# 18 x 0.15 + 400 x 0.6 = 2.7 + 240 = 242.7 micro-dollars (genai-prices' calc_price agrees),
# reserved rounded up to whole micro-dollars: 243.
WORST_MICROS = 243


def budget_for(calls: int) -> Budget:
    """A daily budget with room for exactly ``calls`` worst-case calls."""
    return Budget(scope="global", period="day", limit_usd=Decimal(WORST_MICROS * calls) / 10**6)


def admit(guard: Guard, **extra: Any) -> Any:
    return guard.admit(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, **extra)


def test_admission_reserves_the_worst_case(store_url: str) -> None:
    """A ticket reserves input (counted) + max_tokens x output price, in micro-dollars (ceil)."""
    guard = Guard(store_url, budgets=[budget_for(10)], notifiers=[])
    ticket = admit(guard)
    assert ticket.reserved_micros == 243
    assert guard.status()[0]["reserved_usd"] == Decimal("0.000243")
    guard.close()


def test_settle_records_the_actual_cost(store_url: str) -> None:
    """After settling, spent is the usage's exact cost (rounded up to a micro-dollar)."""
    guard = Guard(store_url, budgets=[budget_for(10)], notifiers=[])
    ticket = admit(guard)
    cost = guard.settle(ticket, {"input_tokens": 21, "output_tokens": 100})
    assert cost.total_usd == Decimal("0.00006315")  # 21 x 0.15 + 100 x 0.6 = 63.15 micro-$
    status = guard.status()[0]
    assert status["spent_usd"] == Decimal("0.000064")
    assert status["reserved_usd"] == 0
    guard.close()


def test_refusal_names_the_budget_and_reserves_nothing(store_url: str) -> None:
    """A call that does not fit raises BudgetExceeded with the budget's figures; no budget moves."""
    guard = Guard(
        store_url,
        budgets=[budget_for(100), Budget(scope="user:*", period="day", limit_usd="0.0001")],
        notifiers=[],
    )
    with pytest.raises(BudgetExceeded) as caught:
        admit(guard, user_id="alice")
    assert caught.value.budget == "user:*/day"
    assert caught.value.member == "alice"
    assert caught.value.limit_usd == Decimal("0.0001")
    assert guard.status()[0]["reserved_usd"] == 0
    guard.close()


def test_release_gives_the_reservation_back(store_url: str) -> None:
    """A failed call spends nothing."""
    guard = Guard(store_url, budgets=[budget_for(1)], notifiers=[])
    guard.release(admit(guard))
    admit(guard)  # the room is free again
    guard.close()


def test_context_manager_releases_on_error(store_url: str) -> None:
    """An exception inside ``guard.call`` releases the reservation."""
    guard = Guard(store_url, budgets=[budget_for(1)], notifiers=[])
    with (
        pytest.raises(RuntimeError),
        guard.call(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS),
    ):
        raise RuntimeError("provider down")
    assert guard.status()[0]["reserved_usd"] == 0
    assert guard.status()[0]["spent_usd"] == 0
    guard.close()


def test_context_manager_charges_an_unsettled_call_in_full(store_url: str) -> None:
    """Leaving ``guard.call`` without settling charges the full reservation (never lose spend)."""
    guard = Guard(store_url, budgets=[budget_for(2)], notifiers=[])
    with guard.call(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS) as ticket:
        pass
    assert ticket.reserved_usd == guard.status()[0]["spent_usd"] == Decimal("0.000243")
    guard.close()


def _thread_worker(
    guard: Guard, attempts: int, admitted: list[Any], barrier: threading.Barrier
) -> None:
    barrier.wait()
    for _ in range(attempts):
        with contextlib.suppress(BudgetExceeded):
            admitted.append(admit(guard))


def test_threads_admit_exactly_the_budget(store_url: str) -> None:
    """1,000 admissions from 20 threads, room for exactly 100 worst-case calls: exactly 100."""
    guard = Guard(store_url, budgets=[budget_for(100)], notifiers=[])
    admitted: list[Any] = []
    barrier = threading.Barrier(20)
    threads = [
        threading.Thread(target=_thread_worker, args=(guard, 50, admitted, barrier))
        for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 100
    for ticket in admitted:  # 15 x 0.15 + 400 x 0.6 = 242.25 micro-$: 243 charged each
        guard.settle(ticket, {"input_tokens": 15, "output_tokens": MAX_TOKENS})
    status = guard.status()[0]
    assert status["spent_usd"] == status["limit_usd"] == Decimal("0.0243")
    guard.close()


async def test_asyncio_admits_exactly_the_budget(store_url: str) -> None:
    """1,000 concurrent asyncio admissions, room for exactly 100: exactly 100."""
    guard = AsyncGuard(store_url, budgets=[budget_for(100)], notifiers=[])

    async def one() -> bool:
        try:
            await guard.admit(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        except BudgetExceeded:
            return False
        return True

    results = await asyncio.gather(*(one() for _ in range(1000)))
    assert sum(results) == 100
    await guard.close()


def _process_worker(url: str, limit_usd: str, attempts: int, queue: Any) -> None:
    guard = Guard(
        url, budgets=[Budget(scope="global", period="day", limit_usd=limit_usd)], notifiers=[]
    )
    admitted = 0
    for _ in range(attempts):
        try:
            admit(guard)
            admitted += 1
        except BudgetExceeded:
            pass
    guard.close()
    queue.put(admitted)


def test_processes_admit_exactly_the_budget(shared_store_url: str) -> None:
    """1,000 admissions from 4 processes sharing one store, room for exactly 100: exactly 100."""
    limit = "0.0243"  # 100 x 243 micro-dollars
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(shared_store_url, limit, 250, queue))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    total = sum(queue.get(timeout=180) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert total == 100


def _spend_until_refused(guard: Guard, rng: random.Random, lock: threading.Lock) -> None:
    refusals = 0
    while refusals < 3:
        try:
            ticket = admit(guard)
        except BudgetExceeded:
            refusals += 1
            continue
        refusals = 0
        with lock:
            out = rng.randint(1, MAX_TOKENS)
        guard.settle(ticket, {"input_tokens": 15, "output_tokens": out})


def test_no_false_blocking_under_concurrency(store_url: str) -> None:
    """With actual costs below the reservation and demand above the limit, 8 threads end with
    spend between 98% and 100% of the limit: settling frees what was not used."""
    guard = Guard(store_url, budgets=[budget_for(100)], notifiers=[])
    rng, lock = random.Random(7), threading.Lock()
    threads = [
        threading.Thread(target=_spend_until_refused, args=(guard, rng, lock)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    status = guard.status()[0]
    assert status["reserved_usd"] == 0
    assert status["limit_usd"] * Decimal("0.98") <= status["spent_usd"] <= status["limit_usd"]
    guard.close()


def test_thresholds_fire_once_each(store_url: str) -> None:
    """Crossing 50%, 80% and 100% of a hard budget fires each alert once, exhaustion once."""
    alerts: list[Alert] = []
    guard = Guard(store_url, budgets=[budget_for(10)], notifiers=[alerts.append])
    for _ in range(14):
        try:
            ticket = admit(guard)
        except BudgetExceeded:
            continue
        guard.settle_cost(ticket, ticket.reserved_usd)
    fired = [(a.kind, a.threshold_pct) for a in alerts]
    assert fired == [
        ("threshold", Decimal(50)),
        ("threshold", Decimal(80)),
        ("threshold", Decimal(100)),
        ("exhausted", Decimal(100)),
    ]
    guard.close()


def test_a_call_larger_than_the_budget_is_not_its_exhaustion(store_url: str) -> None:
    """A $0.02 call refused by an untouched $0.01 budget fires ``oversized`` (the call is 200%
    of the limit), not ``exhausted``; when the budget really runs out later, ``exhausted``
    fires then, once."""
    alerts: list[Alert] = []
    budget = Budget(scope="global", period="day", limit_usd="0.01", thresholds=())
    guard = Guard(store_url, budgets=[budget], notifiers=[alerts.append])
    with pytest.raises(BudgetExceeded):
        guard.admit(model="gpt-4o", reserve_usd="0.02")
    [oversized] = alerts
    assert (oversized.kind, oversized.threshold_pct) == ("oversized", Decimal("200.00"))
    assert (oversized.requested_usd, oversized.spent_usd) == (Decimal("0.02"), Decimal(0))
    for _ in range(2):  # $0.005 + $0.005: the whole $0.01
        guard.settle_cost(guard.admit(model="gpt-4o", reserve_usd="0.005"), "0.005")
    for _ in range(2):
        with pytest.raises(BudgetExceeded):
            guard.admit(model="gpt-4o", reserve_usd="0.005")
    assert [(a.kind, a.spent_usd) for a in alerts[1:]] == [("exhausted", Decimal("0.01"))]
    guard.close()


def test_a_zero_budget_refuses_without_alerting(store_url: str) -> None:
    """A $0 budget (a switch that turns spend off) refuses every call and alerts nothing."""
    alerts: list[Alert] = []
    guard = Guard(
        store_url, budgets=[Budget(scope="global", period="day", limit_usd=0)],
        notifiers=[alerts.append],
    )  # fmt: skip
    with pytest.raises(BudgetExceeded):
        guard.admit(model="gpt-4o", reserve_usd="0.001")
    assert alerts == []
    guard.close()


def test_thresholds_fire_once_across_guards(shared_store_url: str) -> None:
    """Two guards (two replicas) on one store fire each threshold once between them."""
    alerts: list[Alert] = []
    budgets = [budget_for(4)]
    a = Guard(shared_store_url, budgets=budgets, notifiers=[alerts.append])
    b = Guard(shared_store_url, budgets=budgets, notifiers=[alerts.append])
    for guard in (a, b, a, b):
        ticket = admit(guard)
        guard.settle_cost(ticket, ticket.reserved_usd)
    assert sorted(a.threshold_pct for a in alerts) == [50, 80, 100]
    a.close()
    b.close()


def test_soft_budget_allows_and_alerts_over_the_limit(store_url: str) -> None:
    """A soft budget never refuses; it fires 100% and 120% alerts as spend passes them."""
    alerts: list[Alert] = []
    limit = Decimal("0.000486")  # 2 x 243 micro-dollars
    guard = Guard(
        store_url,
        budgets=[Budget(scope="feature:chat", period="month", limit_usd=limit, mode="soft")],
        notifiers=[alerts.append],
    )
    for _ in range(4):
        ticket = admit(guard, feature="chat")
        guard.settle_cost(ticket, ticket.reserved_usd)
    assert [a.threshold_pct for a in alerts] == [50, 80, 100, 120]
    guard.close()


def test_dollar_cap_refuses_before_reserving(store_url: str) -> None:
    """A call whose worst case passes the per-request cap is refused and reserves nothing."""
    guard = Guard(store_url, budgets=[budget_for(10)], policy=Policy(max_cost_usd="0.0000001"))
    with pytest.raises(CostCapExceeded):
        admit(guard)
    assert guard.status()[0]["reserved_usd"] == 0
    guard.close()


@pytest.mark.parametrize(
    ("reserve", "message"),
    [("abc", "not a dollar amount"), (True, "must be a dollar amount"),
     (10**9 + 1, "at most \\$1,000,000,000")],
)  # fmt: skip
def test_a_bad_reserve_usd_is_a_config_error(reserve: object, message: str) -> None:
    """``reserve_usd`` that is not a dollar amount, or above what a store counts, is refused
    before anything is reserved."""
    guard = Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=1)])
    with pytest.raises(ConfigError, match=message):
        guard.admit(model="gpt-4o", reserve_usd=reserve)  # type: ignore[arg-type]
    assert guard.status()[0]["reserved_usd"] == 0


def test_unreachable_store_fails_closed() -> None:
    """With the store down the call is refused with StoreUnavailable (never silently admitted)."""
    guard = Guard("redis://127.0.0.1:1/0", budgets=[budget_for(10)], notifiers=[])
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1"):
        admit(guard)


def test_fail_open_admits_without_a_reservation(caplog: pytest.LogCaptureFixture) -> None:
    """fail_open=True lets the call through unreserved and logs an error saying so."""
    guard = Guard("redis://127.0.0.1:1/0", budgets=[budget_for(10)], notifiers=[], fail_open=True)
    ticket = admit(guard)
    assert ticket.applied == []
    assert "fail_open" in caplog.text


def test_ticket_ids_are_unique_hex() -> None:
    """Request ids are 32 hex digits and do not repeat."""
    guard = Guard("memory://", notifiers=[])
    ids = {admit(guard).id for _ in range(2_000)}
    assert len(ids) == 2_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    guard.close()


def test_ticket_ids_sort_by_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id starts with the time in milliseconds (12 hex digits), so one made a millisecond
    later sorts after an earlier one (the ledger's index on them grows at its end)."""
    now_ns = [1_767_225_600_000_000_000]  # 2026-01-01T00:00:00Z
    monkeypatch.setattr(time, "time_ns", lambda: now_ns[0])
    first = new_id()
    now_ns[0] += 1_000_000
    second = new_id()
    assert first < second
    assert (first[:12], second[:12]) == (f"{1_767_225_600_000:012x}", f"{1_767_225_600_001:012x}")
    assert len(first) == 32
    assert set(first) <= set("0123456789abcdef")


def _child_id(queue: Any) -> None:
    queue.put(new_id())


def test_a_forked_child_draws_other_ids() -> None:
    """After a fork the child's ids differ from the parent's next ones (re-seeded)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_id, args=(queue,))
    child.start()
    theirs = queue.get(timeout=10)
    child.join(10)
    assert theirs != new_id()


def test_a_replaced_policy_takes_effect_at_once() -> None:
    """Assigning ``guard.policy`` applies to the next call (decisions are not kept stale)."""
    guard = Guard("memory://", notifiers=[], policy=Policy(default_max_tokens=100))
    assert guard.admit(model=MODEL, messages=MESSAGES).max_tokens == 100
    guard.policy = Policy(default_max_tokens=50)
    assert guard.admit(model=MODEL, messages=MESSAGES).max_tokens == 50
    guard.close()


def test_a_refused_max_tokens_is_refused_every_time() -> None:
    """A policy violation raises on every call, not only on the first."""
    from costcap.policy import MaxTokensExceeded

    guard = Guard("memory://", notifiers=[],
                  policy=Policy(max_tokens_cap=100, on_over_cap="refuse"))  # fmt: skip
    for _ in range(3):
        with pytest.raises(MaxTokensExceeded):
            guard.admit(model=MODEL, messages=MESSAGES, max_tokens=500)
    guard.close()


class MarkerOutage(MemoryStore):
    """A memory store whose alert-marker step fails, as a store going down right after the
    reservation step would."""

    def mark_once(self, marker: str, ttl_s: int) -> bool:
        raise StoreUnavailable("the store went away at the alert marker")


def test_a_store_failing_at_the_alert_marker_fails_no_settle() -> None:
    """Settle crosses a threshold and the store fails to record its marker: settle returns
    (the store did settle), the alert is still sent, nothing stays reserved."""
    alerts: list[Alert] = []
    store = MarkerOutage()
    budget = Budget(scope="global", period="day", limit_usd=1, thresholds=(50,))
    guard = Guard(store, budgets=[budget], notifiers=[alerts.append])
    guard.settle_cost(guard.admit(model="gpt-4o", reserve_usd="0.6"), "0.6")
    assert [a.threshold_pct for a in alerts] == [50]
    [status] = guard.status()
    assert (status["spent_usd"], status["reserved_usd"]) == (Decimal("0.6"), Decimal(0))


def test_a_store_failing_at_the_alert_marker_fails_no_admission() -> None:
    """Admission reserves, then the store fails at the marker of a threshold already passed:
    the caller gets its ticket (it holds the reservation that was made), never an error."""
    store = MarkerOutage()
    budget = Budget(scope="global", period="day", limit_usd=1, thresholds=(50,))
    first = Guard(store, budgets=[budget], notifiers=[])
    first.settle_cost(first.admit(model="gpt-4o", reserve_usd="0.6"), "0.6")
    second = Guard(store, budgets=[budget], notifiers=[])  # a replica: 50% not yet seen here
    ticket = second.admit(model="gpt-4o", reserve_usd="0.1")
    assert ticket.reserved_micros == 100_000
    [status] = second.status()
    assert status["reserved_usd"] == Decimal("0.1")


@pytest.mark.parametrize("lease", [0, -1, float("nan"), 367 * 86400, True])
def test_a_bad_lease_is_a_config_error(lease: object) -> None:
    """A lease that is not a number of seconds above 0 and at most 366 days is refused."""
    with pytest.raises(ConfigError, match="lease_s"):
        Guard("memory://", lease_s=lease)  # type: ignore[arg-type]
