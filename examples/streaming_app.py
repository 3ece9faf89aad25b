"""A FastAPI app streaming a Claude answer to the browser (SSE) that stops paying when the
browser goes away.

``POST /api/v1/ai/stream`` with ``{"prompt": "…"}`` answers ``text/event-stream``::

    event: text
    data: {"text": " Once"}
    …
    event: done
    data: {"output_tokens": 212, "stop_reason": "end_turn", "cost_usd": "0.001072"}

The call goes through a wrapped ``anthropic.AsyncAnthropic`` (``costcap.wrap``): bounded by
policy, reserved in the budgets in one atomic step BEFORE the response starts — so a refusal
is a clean 402/429 JSON answer, not a broken stream — metered as it flows and settled with its
exact cost. When the browser disconnects, Starlette cancels the response; the cancellation
runs through the wrapped stream, which closes the upstream connection at once (the provider
stops generating) and settles what was streamed so far (a ``cut`` event, never $0).

Run it against costcap's fake provider::

    costcap fake-provider --port 8099 &
    ANTHROPIC_BASE_URL=http://127.0.0.1:8099 uvicorn --factory examples.streaming_app:create_app
    curl -N -X POST localhost:8000/api/v1/ai/stream -H 'x-user-id: alice' \\
         -H 'content-type: application/json' -d '{"prompt": "Tell me a long story"}'

Every call is recorded in the cost ledger (``COSTCAP_LEDGER``, default
``sqlite:///costcap-ledger.db``, where ``costcap report`` looks), drained when the app shuts
down.

Identity here is the ``X-User-Id`` header, standing in for your real authentication.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anthropic
from anthropic.lib.streaming import AsyncMessageStream
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from costcap import AsyncGuard, Budget, Policy, Rule
from costcap.integrations.anthropic import AsyncMeteredMessageStream
from costcap.integrations.fastapi import Identity, Limiter, default_identity
from costcap.integrations.wrap import wrap
from costcap.ledger import Ledger

URL = "/api/v1/ai/stream"


@dataclass(frozen=True)
class Settings:
    store: str = field(
        default_factory=lambda: os.environ.get("COSTCAP_STORE", "sqlite:///costcap.db")
    )
    ledger: str = field(
        default_factory=lambda: os.environ.get("COSTCAP_LEDGER", "sqlite:///costcap-ledger.db")
    )
    anthropic_base_url: str = field(
        default_factory=lambda: os.environ.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
    )
    anthropic_api_key: str = field(
        default_factory=lambda: os.environ.get("ANTHROPIC_API_KEY", "unset")
    )
    model: str = "claude-haiku-4-5"
    user_daily_usd: str = "5"


class StreamRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)
    max_tokens: int | None = Field(default=None, gt=0)


def user_identity(request: Request) -> Identity:
    base = default_identity(request)
    return Identity(user_id=request.headers.get("x-user-id"), api_key=base.api_key, ip=base.ip)


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def relay(stream: AsyncMessageStream[Any], exits: AsyncExitStack) -> AsyncIterator[str]:
    """The SSE body. ``exits`` holds the open stream: however this generator ends — completed,
    cancelled by a disconnect, closed — leaving ``async with exits`` closes it."""
    async with exits:
        async for text in stream.text_stream:
            yield sse("text", {"text": text})
        message = await stream.get_final_message()
        cost = stream.ticket.cost if isinstance(stream, AsyncMeteredMessageStream) else None
        yield sse("done", {
            "output_tokens": message.usage.output_tokens,
            "stop_reason": message.stop_reason,
            "cost_usd": str(cost.total_usd) if cost is not None else None,
        })  # fmt: skip


def create_app(settings: Settings | None = None, *, observers: Iterable[object] = ()) -> FastAPI:
    """The app; its ledger and ``observers`` receive costcap's CostEvents (metrics, a test)."""
    settings = settings or Settings()
    ledger = Ledger(settings.ledger)
    guard = AsyncGuard(
        settings.store,
        budgets=[
            Budget(scope="global", period="day", limit_usd=100),
            Budget(scope="user:*", period="day", limit_usd=settings.user_daily_usd),
        ],
        policy=Policy(default_max_tokens=1024, max_tokens_cap=4096,
                      features={"chat": Rule(allowed_models=[settings.model])}),
        observers=[ledger, *observers],
    )  # fmt: skip
    sdk = anthropic.AsyncAnthropic(
        base_url=settings.anthropic_base_url, api_key=settings.anthropic_api_key
    )
    client = wrap(sdk, guard=guard, feature="chat")
    limiter = Limiter(guard, identity=user_identity)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.close()
        await guard.close()
        ledger.close()  # drains what is spooled into the ledger database

    app = FastAPI(title="costcap streaming example", lifespan=lifespan)
    limiter.install(app)  # BudgetExceeded → 402, RateLimited → 429, before any byte streams

    @app.post(URL)
    @limiter.limit("20/minute")
    async def stream(body: StreamRequest, request: Request) -> StreamingResponse:
        options: dict[str, Any] = {
            "max_tokens": body.max_tokens,  # None: the policy's default is injected
            "costcap_user_id": user_identity(request).user,  # who pays (not sent upstream)
            "costcap_endpoint": URL,
        }
        exits = AsyncExitStack()
        # Entering admits the call (a refusal raises here, answered by the Limiter's handlers)
        # and opens the upstream stream; ``relay`` owns it from then on.
        opened = await exits.enter_async_context(
            client.messages.stream(
                model=settings.model,
                messages=[{"role": "user", "content": body.prompt}],
                **options,
            )
        )
        return StreamingResponse(
            relay(opened, exits),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    return app
