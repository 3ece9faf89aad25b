"""A FastAPI app with a guarded ``/api/v1/ai/generate`` endpoint (the seed's).

Every request is rate limited per user (20 a minute on this endpoint, 2 in flight) before the
handler runs; the LLM call inside is bounded by policy, reserved in the budgets and token limits
in one atomic step, and settled with its exact cost. Refusals answer 429 (rate limits) or 402
(budgets) with ``Retry-After`` and a JSON body naming what was hit; a malformed body answers
422 (also when it holds text that is not valid Unicode, such as a lone ``"\\ud800"``).

Every call, answered or refused, is recorded in the cost ledger (``COSTCAP_LEDGER``, default
``sqlite:///costcap-ledger.db``, where ``costcap report`` looks), which is drained when the app
shuts down: ``costcap report models`` shows what the app spent.

Run it against costcap's fake provider::

    costcap fake-provider --port 8099 &
    OPENAI_BASE_URL=http://127.0.0.1:8099/v1 uvicorn --factory examples.fastapi_app:create_app
    curl -X POST localhost:8000/api/v1/ai/generate -H 'x-user-id: alice' \\
         -H 'content-type: application/json' -d '{"prompt": "Summarise our refund policy"}'

Identity here is the ``X-User-Id`` header, standing in for your real authentication.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import openai
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from costcap import AsyncGuard, Budget, Policy, Rule
from costcap.integrations.fastapi import Identity, Limiter, default_identity
from costcap.ledger import Ledger
from costcap.limits import RateLimit


@dataclass(frozen=True)
class Settings:
    store: str = field(
        default_factory=lambda: os.environ.get("COSTCAP_STORE", "sqlite:///costcap.db")
    )
    ledger: str = field(
        default_factory=lambda: os.environ.get("COSTCAP_LEDGER", "sqlite:///costcap-ledger.db")
    )
    openai_base_url: str = field(
        default_factory=lambda: os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
    )
    openai_api_key: str = field(default_factory=lambda: os.environ.get("OPENAI_API_KEY", "unset"))
    model: str = "gpt-4o-mini"
    user_daily_usd: str = "5"


class GenerateRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)
    feature: str = Field(default="chat", min_length=1, max_length=64)
    max_tokens: int | None = Field(default=None, gt=0)


class GenerateResponse(BaseModel):
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: str
    max_tokens: int
    clamped: bool


def user_identity(request: Request) -> Identity:
    base = default_identity(request)
    return Identity(user_id=request.headers.get("x-user-id"), api_key=base.api_key, ip=base.ip)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    ledger = Ledger(settings.ledger)
    guard = AsyncGuard(
        settings.store,
        budgets=[
            Budget(scope="global", period="day", limit_usd=100),
            Budget(scope="user:*", period="day", limit_usd=settings.user_daily_usd),
        ],
        limits=[RateLimit("100000 tokens/hour", per="user")],
        policy=Policy(default_max_tokens=512, max_tokens_cap=2048,
                      features={"chat": Rule(allowed_models=[settings.model])}),
        observers=[ledger],
    )  # fmt: skip
    client = openai.AsyncOpenAI(base_url=settings.openai_base_url, api_key=settings.openai_api_key)
    limiter = Limiter(guard, identity=user_identity)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.close()
        await guard.close()
        ledger.close()  # drains what is spooled into the ledger database

    app = FastAPI(title="costcap example", lifespan=lifespan)
    limiter.install(app)

    @app.post("/api/v1/ai/generate", response_model=GenerateResponse)
    @limiter.limit("20/minute", "2 concurrent")
    async def generate(body: GenerateRequest, request: Request) -> GenerateResponse:
        user = user_identity(request).user
        messages = [{"role": "user", "content": body.prompt}]
        ticket = await guard.admit(
            model=settings.model, messages=messages, max_tokens=body.max_tokens,
            user_id=user, feature=body.feature, endpoint="/api/v1/ai/generate",
        )  # fmt: skip
        try:
            completion = await client.chat.completions.create(
                model=settings.model, messages=messages,  # type: ignore[arg-type]
                max_tokens=ticket.max_tokens,
            )  # fmt: skip
        except openai.APIError as exc:
            await guard.release(ticket)
            raise HTTPException(
                status_code=502, detail=f"the model provider failed: {exc}"
            ) from exc
        cost = await guard.settle(ticket, completion.usage)
        usage = completion.usage
        assert usage is not None
        return GenerateResponse(
            text=completion.choices[0].message.content or "",
            model=completion.model,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            cost_usd=str(cost.total_usd),
            max_tokens=ticket.max_tokens,
            clamped=ticket.clamped,
        )

    return app
