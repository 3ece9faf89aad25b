"""Routing through the wrapped clients, for the OpenAI and Anthropic SDK tests: routers, a
transport that turns a fake-provider knob on for one model only, and :class:`Side` — a wrapped
client, sync or async, whose calls a test awaits the same way either way.

Every scenario asks the fake provider's record which models it was sent, and compares what it
billed (priced independently, by the SDK test package's ``billed_pico``) with what costcap
recorded.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any

import httpx2

from costcap import AsyncGuard, Budget, Guard, Policy
from costcap.integrations.wrap import wrap
from costcap.ledger import CostEvent
from costcap.router import Cascade, FeatureRoutes, Router, RouterConfig

OPENAI_TIERS = {"simple": "gpt-4o-mini", "complex": "gpt-4.1-mini", "critical": "gpt-4.1"}
ANTHROPIC_TIERS = {"simple": "claude-haiku-4-5", "complex": "claude-sonnet-4-6",
                   "critical": "claude-opus-4-6"}  # fmt: skip
HARD = (
    "Prove that the square root of 2 is irrational. Give a rigorous step-by-step proof and "
    "analyze the edge cases."
)  # the heuristic's critical tier
EASY = "Say hello."  # its simple tier
GLOBAL = Budget(scope="global", period="day", limit_usd=100)


def router(
    tiers: Mapping[str, str],
    *,
    feature: str = "chat",
    cascade: bool = False,
    validators: Sequence[Any] = ("empty", "refusal", "truncated"),
    pressure: Any = None,
    chain: Sequence[str] | None = None,
) -> Router:
    """A router with routes for ``feature`` alone."""
    routes = FeatureRoutes(
        tiers=tiers, chain=chain, pressure=pressure,
        cascade=Cascade(enabled=cascade, validators=tuple(validators)),
    )  # fmt: skip
    return Router(RouterConfig(features={feature: routes}))


class PerModel:
    """Adds headers to the requests for one model (``{model: {header: value}}``): a fake-provider
    knob for the cheap tier alone, say. ``models`` lists the model of every request sent."""

    def __init__(self, headers: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.headers = dict(headers or {})
        self.models: list[str] = []

    def rewrite(self, request: httpx2.Request) -> httpx2.Request:
        model = json.loads(request.content).get("model")
        self.models.append(model)
        extra = self.headers.get(model)
        if extra:
            request.headers.update(extra)
        return request


class SyncPerModel(httpx2.BaseTransport):
    def __init__(self, per_model: PerModel) -> None:
        self.per_model = per_model
        self.inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.inner.handle_request(self.per_model.rewrite(request))

    def close(self) -> None:
        self.inner.close()


class AsyncPerModel(httpx2.AsyncBaseTransport):
    def __init__(self, per_model: PerModel) -> None:
        self.per_model = per_model
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.inner.handle_async_request(self.per_model.rewrite(request))

    async def aclose(self) -> None:
        await self.inner.aclose()


def http_client(is_async: bool, per_model: PerModel) -> httpx2.Client | httpx2.AsyncClient:
    if is_async:
        return httpx2.AsyncClient(transport=AsyncPerModel(per_model))
    return httpx2.Client(transport=SyncPerModel(per_model))


def make_guard(
    is_async: bool,
    observer: object,
    router: Router | None,
    *,
    budgets: Sequence[Budget] = (GLOBAL,),
    policy: Policy | None = None,
    store: Any = "memory://",
) -> Guard | AsyncGuard:
    kind = AsyncGuard if is_async else Guard
    return kind(store, budgets=budgets, policy=policy, notifiers=[], observers=[observer],
                router=router)  # fmt: skip


class Side:
    """A wrapped client and its guard, sync or async: ``await side.call("chat.completions.create",
    ...)`` either way (a sync call runs in the test's thread)."""

    def __init__(self, guard: Guard | AsyncGuard, client: Any) -> None:
        self.guard = guard
        self.client = client
        self.is_async = isinstance(guard, AsyncGuard)

    async def call(self, path: str, **kwargs: Any) -> Any:
        result = attrgetter(path)(self.client)(**kwargs)
        return await result if inspect.isawaitable(result) else result

    async def drain(self, stream: Any) -> list[Any]:
        """Every event of a stream (sync or async)."""
        if self.is_async:
            return [event async for event in stream]
        return list(stream)

    async def enter(self, manager: Any) -> tuple[Any, list[Any]]:
        """Enter a manager (``messages.stream(...)``, ``with_streaming_response``), read it to
        its end and leave it: what it opened, and its events or lines."""
        if self.is_async:
            async with manager as opened:
                read = opened.iter_lines() if hasattr(opened, "iter_lines") else opened
                return opened, [item async for item in read]
        with manager as opened:
            read = opened.iter_lines() if hasattr(opened, "iter_lines") else opened
            return opened, list(read)

    async def reserved(self) -> Decimal:
        """What the store holds reserved, over every budget."""
        status = self.guard.status()
        rows = await status if inspect.isawaitable(status) else status
        return sum((row["reserved_usd"] for row in rows), Decimal(0))

    async def seed(self, usd: str, *, feature: str | None = None, user_id: str | None = None,
                   model: str = "gpt-4o-mini") -> None:  # fmt: skip
        """Spend ``usd`` in the budgets of ``feature`` / ``user_id`` / ``model``: one call
        admitted and settled at that dollar amount."""
        guard: Any = self.guard
        ticket = guard.admit(model=model, messages=[{"role": "user", "content": "x"}],
                             max_tokens=1, feature=feature, user_id=user_id)  # fmt: skip
        ticket = await ticket if inspect.isawaitable(ticket) else ticket
        settled = guard.settle_cost(ticket, usd)
        if inspect.isawaitable(settled):
            await settled

    async def close(self) -> None:
        closing = self.client.close()
        if inspect.isawaitable(closing):
            await closing
        closed = self.guard.close()
        if inspect.isawaitable(closed):
            await closed


def routed_side(
    sdk: str,
    fp: Any,
    is_async: bool,
    observer: object,
    router: Router | None,
    *,
    per_model: PerModel | None = None,
    feature: str | None = "chat",
    cache: Any = None,
    max_retries: int = 0,
    **guard_options: Any,
) -> Side:
    """A wrapped ``openai`` / ``anthropic`` client (``sdk``) on the fake provider, its guard
    routed by ``router``."""
    import anthropic
    import openai

    guard = make_guard(is_async, observer, router, **guard_options)
    http = http_client(is_async, per_model or PerModel())
    client: Any
    if sdk == "openai":
        kind: Any = openai.AsyncOpenAI if is_async else openai.OpenAI
        client = kind(base_url=fp.openai_base_url, api_key="sk-test", max_retries=max_retries,
                      http_client=http)  # fmt: skip
    else:
        kind = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
        client = kind(base_url=fp.anthropic_base_url, api_key="sk-ant-test",
                      max_retries=max_retries, http_client=http)  # fmt: skip
    return Side(guard, wrap(client, guard=guard, feature=feature, cache=cache))


def route_of(event: CostEvent) -> tuple[Any, ...]:
    """What an event says of the routing: status, the model asked for and the one sent, the
    tier and the reason."""
    return (event.status, event.requested_model, event.model, event.tier, event.route_reason)


def fail_first(key: str, error: str = "500", times: int = 1) -> dict[str, str]:
    """The fake provider's knobs failing the first ``times`` attempts of request ``key``."""
    return {"x-fake-fail-times": str(times), "x-fake-request-key": key, "x-fake-error": error}
