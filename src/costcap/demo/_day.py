"""Run a day of traffic through a Guard on the embedded SQLite store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import anthropic
import openai

from costcap.alerts import Alert
from costcap.budgets import Budget
from costcap.demo._providers import Clients, send
from costcap.demo._traffic import Request, day_of_requests
from costcap.errors import BudgetExceeded
from costcap.guard import Guard
from costcap.limits import RateLimit, RateLimited
from costcap.policy import Policy, PolicyViolation, Rule
from costcap.pricing import default_catalog, usage_from
from costcap.testing import run_fake_provider

__all__ = ["DayResult", "Outcome", "simulate_day"]


@dataclass(frozen=True, slots=True)
class Outcome:
    request: Request
    status: Literal["ok", "refused", "error"]
    cost_usd: Decimal = Decimal(0)
    reserved_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    max_tokens: int = 0
    clamped: bool = False
    injected: bool = False
    refused_by: str = ""


@dataclass
class DayResult:
    outcomes: list[Outcome]
    alerts: list[Alert]
    budgets: list[dict[str, object]]
    provider_billed_usd: Decimal
    store_url: str
    policy: Policy
    config: list[Budget] = field(default_factory=list)


def demo_budgets() -> list[Budget]:
    return [
        Budget(scope="global", period="day", limit_usd=4),
        Budget(scope="user:*", period="day", limit_usd="0.12"),
        Budget(scope="feature:code", period="month", limit_usd="0.30", mode="soft"),
    ]


def demo_limits() -> list[RateLimit]:
    return [
        RateLimit("30/minute", per="user"),
        RateLimit("20000 tokens/hour", per="user"),
        RateLimit("3 concurrent", per="user"),
    ]


def demo_policy() -> Policy:
    return Policy(
        default_max_tokens=512,
        max_tokens_cap=4096,
        features={
            "code": Rule(max_tokens_cap=2000),
            "summarize": Rule(default_max_tokens=300, allowed_models=["gpt-4o-mini"]),
        },
    )


def _run_one(guard: Guard, clients: Clients, request: Request) -> Outcome:
    feature = request.feature
    try:
        ticket = guard.admit(
            model=feature.model,
            messages=request.messages,
            max_tokens=feature.max_tokens,
            user_id=request.user,
            feature=feature.name,
        )
    except BudgetExceeded as exc:
        return Outcome(request, "refused", refused_by=f"budget {exc.budget}")
    except RateLimited as exc:
        return Outcome(request, "refused", refused_by=f"rate limit {exc.rule}")
    except PolicyViolation as exc:
        return Outcome(request, "refused", refused_by=f"policy: {exc}")
    try:
        usage = send(clients, request, ticket.max_tokens)
    except (openai.APIError, anthropic.APIError):
        guard.release(ticket)
        return Outcome(request, "error", reserved_usd=ticket.reserved_usd)
    cost = guard.settle(ticket, usage)
    counted = usage_from(usage)
    return Outcome(
        request,
        "ok",
        cost_usd=cost.total_usd,
        reserved_usd=ticket.reserved_usd,
        input_tokens=counted.input_tokens,
        output_tokens=counted.output_tokens,
        max_tokens=ticket.max_tokens,
        clamped=ticket.clamped,
        injected=ticket.injected,
    )


def simulate_day(
    workdir: Path,
    *,
    calls: int = 1000,
    users: int = 60,
    workers: int = 8,
    on_progress: Callable[[Outcome], None] | None = None,
) -> DayResult:
    """Send ``calls`` requests through a Guard on ``workdir/costcap.db`` and the fake provider."""
    store_url = f"sqlite:///{workdir / 'costcap.db'}"
    alerts: list[Alert] = []
    policy = demo_policy()
    guard = Guard(
        store_url,
        budgets=demo_budgets(),
        limits=demo_limits(),
        policy=policy,
        notifiers=[alerts.append],
    )
    requests = day_of_requests(calls, users)
    with run_fake_provider() as fp:
        clients = Clients(fp.openai_base_url, fp.anthropic_base_url)
        outcomes: list[Outcome] = []
        with ThreadPoolExecutor(workers) as pool:
            for outcome in pool.map(lambda r: _run_one(guard, clients, r), requests):
                outcomes.append(outcome)
                if on_progress is not None:
                    on_progress(outcome)
        clients.close()
        catalog = default_catalog()
        billed = sum(
            (
                catalog.cost(
                    served.model or "",
                    {
                        "input_tokens": served.input_tokens,
                        "output_tokens": served.output_tokens,
                        "cache_read_tokens": served.cached_tokens,
                        "cache_write_tokens": served.cache_write_tokens,
                    },
                ).total_usd
                for served in fp.requests
                if served.billed
            ),
            Decimal(0),
        )
    status: list[dict[str, object]] = [dict(row) for row in guard.status()]
    heavy = Counter(o.request.user for o in outcomes).most_common(3)
    for user, _ in heavy:
        status += [dict(r) for r in guard.status(user_id=user) if r["scope"] == "user:*"]
    guard.close()
    return DayResult(outcomes, alerts, status, billed, store_url, policy, demo_budgets())
