"""The Guard's side of routing: its router (given, or from ``[router]``), budget pressure read in
one store read, and the route a Ticket and its events carry (sync and async)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from costcap import AsyncGuard, Budget, BudgetExceeded, ConfigError, Guard, PolicyViolation
from costcap.ledger import CostEvent
from costcap.router import FeatureRoutes, Pressure, Router, RouterConfig
from costcap.ticket import Routing

MESSAGES = [{"role": "user", "content": "Hi"}]
TOML = """
[guard]
store = "memory://"

[router.features.chat]
simple = "gpt-4o-mini"
complex = "gpt-4o"
pressure = 0.8
"""


class Events:
    def __init__(self) -> None:
        self.events: list[CostEvent] = []

    def on_event(self, event: CostEvent) -> None:
        self.events.append(event)


def test_from_config_builds_the_router_of_router_table(tmp_path: Path) -> None:
    """``Guard.from_config`` routes with ``[router]``; without it, the Guard has no router."""
    path = tmp_path / "costcap.toml"
    path.write_text(TOML)
    guard = Guard.from_config(path)
    assert guard.router is not None
    routes = guard.router.routes("chat")
    assert routes is not None
    assert routes.names == ("simple", "complex")
    assert routes.pressure == Decimal("0.8")
    path.write_text('[guard]\nstore = "memory://"\n')
    assert Guard.from_config(path).router is None
    assert AsyncGuard.from_config(path).router is None


def test_a_router_that_is_not_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"router: a costcap\.router\.Router"):
        Guard("memory://", router=RouterConfig())  # type: ignore[arg-type]


def test_costcap_loads_no_router_for_a_guard_without_routes() -> None:
    """``import costcap``, a Guard and a wrapped client without routes leave costcap.router
    unloaded (its classifier and validators cost nothing to whoever does not route)."""
    code = (
        "import sys, costcap, openai\n"
        "g = costcap.Guard('memory://', notifiers=[])\n"
        "costcap.wrap(openai.OpenAI(api_key='x'), guard=g)\n"
        "print('costcap.router' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def pressured(*budgets: Budget) -> Guard:
    routes = FeatureRoutes(tiers={"simple": "gpt-4o-mini", "complex": "gpt-4o"})
    return Guard("memory://", budgets=budgets, notifiers=[],
                 router=Router(RouterConfig(features={"chat": routes})))  # fmt: skip


def test_pressure_is_the_largest_share_spent_reservations_counted() -> None:
    """The feature's and the user's largest share spent, exact, reservations included; a
    model's hard budget with nothing left lists it; a soft one never does."""
    guard = pressured(
        Budget(scope="feature:chat", period="day", limit_usd=4),
        Budget(scope="feature:*", period="day", limit_usd=2),
        Budget(scope="user:*", period="day", limit_usd=10),
        Budget(scope="model:gpt-4o", period="day", limit_usd="0.5"),
        Budget(scope="model:gpt-4o-mini", period="day", limit_usd="0.5", mode="soft"),
    )
    assert guard.pressure(feature="chat", user_id="ann", models=["gpt-4o"]) == Pressure(0, 0)
    spent = guard.admit(model="gpt-4o", messages=MESSAGES, max_tokens=1, feature="chat",
                        user_id="ann")  # fmt: skip
    guard.settle_cost(spent, "0.5")
    held = guard.admit(model="gpt-4o-mini", messages=MESSAGES, max_tokens=10, feature="chat",
                       user_id="ann")  # fmt: skip
    reserved = Fraction(held.reserved_micros, 1_000_000)
    pressure = guard.pressure(feature="chat", user_id="ann", models=["gpt-4o", "gpt-4o-mini"])
    assert pressure.feature_share == (Fraction(1, 2) + reserved) / 2  # feature:* is the tighter
    assert pressure.user_share == (Fraction(1, 2) + reserved) / 10
    assert pressure.exhausted == {"gpt-4o"}
    assert guard.pressure(feature="other", user_id="bob").feature_share == 0  # feature:* 's own
    assert guard.pressure(feature=None, user_id=None, models=["gpt-4o-mini"]) == Pressure(0, 0)


async def test_async_pressure_reads_the_same() -> None:
    guard = AsyncGuard("memory://", budgets=[Budget(scope="feature:chat", period="day",
                                                    limit_usd=1)], notifiers=[])  # fmt: skip
    ticket = await guard.admit(model="gpt-4o", messages=MESSAGES, max_tokens=1, feature="chat")
    await guard.settle_cost(ticket, "0.8")
    assert (await guard.pressure(feature="chat")).feature_share == Fraction(4, 5)
    await guard.close()


def test_a_routed_ticket_and_its_events_carry_the_route() -> None:
    """``admit(routing=…)``: the Ticket's requested model is the route name, its tier, reason
    and cascade id set before any event — a settled call's, a refusal's (budget, policy)."""
    events = Events()
    guard = Guard("memory://", budgets=[Budget(scope="model:gpt-4o", period="day",
                                               limit_usd="0.000001")], notifiers=[],
                  observers=[events])  # fmt: skip
    route = Routing("costcap:auto", "simple", "auto", "c1")
    ticket = guard.admit(model="gpt-4o-mini", messages=MESSAGES, routing=route)
    assert (ticket.requested_model, ticket.tier, ticket.route_reason, ticket.cascade_id) == (
        "costcap:auto", "simple", "auto", "c1",
    )  # fmt: skip
    guard.settle(ticket, {"input_tokens": 8, "output_tokens": 2}, service_tier="flex")
    with pytest.raises(BudgetExceeded):
        guard.admit(model="gpt-4o", messages=MESSAGES, routing=route)
    with pytest.raises(PolicyViolation):
        guard.admit(model="gpt-4o", messages=MESSAGES, max_tokens=-1, routing=route)
    assert [(e.status, e.requested_model, e.model, e.tier, e.route_reason, e.cascade_id)
            for e in events.events] == [
        ("ok", "costcap:auto", "gpt-4o-mini", "simple", "auto", "c1"),
        ("refused", "costcap:auto", "gpt-4o", "simple", "auto", "c1"),
        ("refused", "costcap:auto", "gpt-4o", "simple", "auto", "c1"),
    ]  # fmt: skip
    assert events.events[0].cost_pico > 0
