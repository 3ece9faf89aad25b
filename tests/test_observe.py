"""The Guard tells its observers about every call."""

from __future__ import annotations

from typing import Any

import pytest

from costcap import Budget, Guard, Policy, Rule
from costcap.errors import BudgetExceeded
from costcap.ledger import CostEvent
from costcap.limits import RateLimit, RateLimited
from costcap.policy import ModelNotAllowed

HELLO = [{"role": "user", "content": "Hello"}]


class Recorder:
    def __init__(self) -> None:
        self.events: list[CostEvent] = []
        self.admissions: list[tuple[float, str]] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)

    def on_admission(self, seconds: float, outcome: str) -> None:
        self.admissions.append((seconds, outcome))


def guard_with(recorder: Recorder, **kw: Any) -> Guard:
    return Guard("memory://", notifiers=[], observers=[recorder], **kw)


def test_settled_call_is_an_ok_event_with_its_exact_cost() -> None:
    """A settled call emits one ok event with tokens, exact cost, scope and latency."""
    rec = Recorder()
    guard = guard_with(rec)
    ticket = guard.admit(
        model="gpt-4o-mini-2024-07-18", messages=HELLO, max_tokens=50, user_id="u1", feature="chat"
    )
    cost = guard.settle(ticket, {"input_tokens": 8, "output_tokens": 20})
    (event,) = rec.events
    assert (event.status, event.model, event.requested_model) == (
        "ok",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
    assert (event.user_id, event.feature, event.input_tokens, event.output_tokens) == (
        "u1",
        "chat",
        8,
        20,
    )
    assert event.cost_pico == cost.total_pico
    assert event.latency_ms is not None
    assert event.latency_ms >= 0
    assert rec.admissions[0][1] == "admitted"


def test_budget_refusal_is_a_refused_event() -> None:
    """A budget refusal emits a refused event naming the budget, at $0."""
    rec = Recorder()
    guard = guard_with(rec, budgets=[Budget(scope="global", period="day", limit_usd="0.000001")])
    with pytest.raises(BudgetExceeded):
        guard.admit(model="gpt-4o", messages=HELLO, max_tokens=50)
    (event,) = rec.events
    assert (event.status, event.refused_by, event.cost_pico) == ("refused", "budget global/day", 0)
    assert rec.admissions[0][1] == "budget"


def test_rate_limit_and_policy_refusals_are_events() -> None:
    """Rate-limit and policy refusals are recorded too, each with its reason."""
    rec = Recorder()
    policy = Policy(features={"chat": Rule(allowed_models=["gpt-4o-mini"])})
    guard = guard_with(rec, limits=[RateLimit("1/minute")], policy=policy)
    guard.admit(model="gpt-4o-mini", messages=HELLO, max_tokens=5, feature="chat")
    with pytest.raises(RateLimited):
        guard.admit(model="gpt-4o-mini", messages=HELLO, max_tokens=5, feature="chat")
    with pytest.raises(ModelNotAllowed):
        guard.admit(model="gpt-4o", messages=HELLO, max_tokens=5, feature="chat")
    reasons = [e.refused_by for e in rec.events]
    assert reasons[0] == "rate limit 1/minute per user"
    assert reasons[1] is not None
    assert reasons[1].startswith("policy: model 'gpt-4o' is not allowed")


def test_released_call_is_an_error_event_at_zero() -> None:
    """A call released after a provider failure is an error event costing nothing."""
    rec = Recorder()
    guard = guard_with(rec)
    guard.release(guard.admit(model="gpt-4o", messages=HELLO, max_tokens=5))
    assert [(e.status, e.cost_pico) for e in rec.events] == [("error", 0)]


def test_same_request_has_the_same_prompt_hash() -> None:
    """Identical requests share a prompt hash (runaway-loop detection); different ones do not."""
    rec = Recorder()
    guard = guard_with(rec)
    for content in ("Hello", "Hello", "Bye"):
        t = guard.admit(
            model="gpt-4o", messages=[{"role": "user", "content": content}], max_tokens=5
        )
        guard.release(t)
    first, second, third = (e.prompt_hash for e in rec.events)
    assert first == second != third


def test_a_failing_observer_does_not_break_the_call(caplog: pytest.LogCaptureFixture) -> None:
    """An observer that raises is logged; the call is still settled."""

    class Broken:
        def on_event(self, event: CostEvent) -> None:
            raise RuntimeError("exporter down")

    guard = Guard("memory://", notifiers=[], observers=[Broken()])
    ticket = guard.admit(model="gpt-4o", messages=HELLO, max_tokens=5)
    guard.settle(ticket, {"input_tokens": 8, "output_tokens": 5})
    assert "exporter down" in caplog.text


def test_prompt_hash_is_the_same_in_another_process() -> None:
    """Two replicas digest the same request alike (hash randomisation plays no part)."""
    import os
    import subprocess
    import sys

    code = (
        "from costcap import Guard\n"
        "class R:\n"
        "    def on_event(self, e): print(e.prompt_hash)\n"
        "g = Guard('memory://', notifiers=[], observers=[R()])\n"
        "g.release(g.admit(model='gpt-4o', messages=[{'role': 'user', 'content': 'Hi'}],"
        " max_tokens=5))\n"
    )
    hashes = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }  # fmt: skip
    assert len(hashes) == 1
    assert len(hashes.pop()) == 32
