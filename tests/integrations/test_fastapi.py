"""The FastAPI Limiter in-process (httpx ASGITransport): identities, dependency form, answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from costcap import AsyncGuard, Budget, Policy
from costcap.errors import ConfigError
from costcap.integrations.fastapi import Limiter, key_id


def build(guard: AsyncGuard, **options: object) -> FastAPI:
    limiter = Limiter(guard, **options)  # type: ignore[arg-type]
    app = FastAPI()
    limiter.install(app)

    @app.get("/decorated")
    @limiter.limit("2/minute")
    async def decorated() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/dependency", dependencies=[Depends(limiter.dependency("1/minute"))])
    async def dependency() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/spend")
    async def spend() -> dict[str, str]:
        await guard.admit(model="gpt-4o-mini", reserve_usd="1", user_id="alice")
        return {"ok": "yes"}

    @app.get("/clamp")
    async def clamp() -> dict[str, str]:
        await guard.admit(model="gpt-4o", reserve_usd="0.01", max_tokens=10_000)
        return {"ok": "yes"}

    return app


@pytest.fixture
async def guard(tmp_path: Path) -> AsyncIterator[AsyncGuard]:
    g = AsyncGuard(
        f"sqlite:///{tmp_path / 'c.db'}",
        budgets=[Budget(scope="user:*", period="day", limit_usd="0.5")],
        policy=Policy(max_tokens_cap=1000, on_over_cap="refuse"),
        notifiers=[],
    )
    yield g
    await g.close()


def client(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


async def test_client_ip_is_the_last_resort_identity(guard: AsyncGuard) -> None:
    """With no user and no key, requests are counted per client IP."""
    async with client(build(guard)) as c:
        assert (await c.get("/decorated")).status_code == 200
        assert (await c.get("/decorated")).status_code == 200
        refused = await c.get("/decorated")
    assert refused.status_code == 429
    assert refused.json()["error"]["identity"] == "ip:10.1.2.3|/decorated"


async def test_api_keys_are_hashed_and_isolated(guard: AsyncGuard) -> None:
    """Two API keys from one IP have separate limits; the key itself is never used as the id."""
    app = build(guard)
    async with client(app, authorization="Bearer sk-one") as one:
        for _ in range(2):
            await one.get("/decorated")
        refused = await one.get("/decorated")
    assert refused.json()["error"]["identity"] == f"key:{key_id('sk-one')}|/decorated"
    assert "sk-one" not in refused.text
    async with client(app, **{"x-api-key": "sk-two"}) as two:
        assert (await two.get("/decorated")).status_code == 200


async def test_dependency_form_limits_too(guard: AsyncGuard) -> None:
    """``Depends(limiter.dependency("1/minute"))`` refuses the second request of a minute."""
    async with client(build(guard)) as c:
        ok = await c.get("/dependency")
        refused = await c.get("/dependency")
    assert ok.status_code == 200
    assert ok.headers["RateLimit"].endswith(";r=0;t=60")
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers


async def test_budget_refusal_status_is_configurable(guard: AsyncGuard) -> None:
    """``budget_status=429`` answers budget refusals with 429 instead of 402."""
    async with client(build(guard, budget_status=429)) as c:
        refused = await c.get("/spend")
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "budget_exceeded"


async def test_policy_violation_is_400(guard: AsyncGuard) -> None:
    """A request the policy refuses (max_tokens above the cap) answers 400 naming the rule."""
    async with client(build(guard)) as c:
        refused = await c.get("/clamp")
    assert refused.status_code == 400
    assert "above the cap of 1000" in refused.json()["error"]["message"]


async def test_store_outage_is_503() -> None:
    """An unreachable store answers 503, failing closed."""
    down = AsyncGuard("redis://127.0.0.1:1/0", notifiers=[])
    async with client(build(down)) as c:
        response = await c.get("/decorated")
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "store_unavailable"
    await down.close()


def test_budget_status_must_be_402_or_429(guard: AsyncGuard) -> None:
    """Any other status for budget refusals is refused at construction."""
    with pytest.raises(ConfigError, match="402 or 429"):
        Limiter(guard, budget_status=500)


def test_identity_must_be_a_function(guard: AsyncGuard) -> None:
    """An identity that cannot be called is refused when the Limiter is built."""
    with pytest.raises(ConfigError, match="identity must be a function of the request"):
        Limiter(guard, identity="x-user-id")  # type: ignore[arg-type]


class Prompt(BaseModel):
    prompt: str = Field(min_length=1)
    user: str = "alice"


def surrogate_app(guard: AsyncGuard) -> FastAPI:
    """An app whose body text reaches costcap: the user id is taken from the body."""
    app = FastAPI()
    Limiter(guard).install(app)

    @app.post("/ask")
    async def ask(body: Prompt) -> dict[str, str]:
        await guard.admit(model="gpt-4o-mini", reserve_usd="1", user_id=body.user)
        return {"ok": "yes"}

    return app


SURROGATE = b'{"prompt": "\\ud800"}'  # valid JSON: a lone surrogate, which UTF-8 cannot encode


async def test_validation_error_on_a_lone_surrogate_is_422(guard: AsyncGuard) -> None:
    """FastAPI's own 422 answer fails (a 500) on a lone surrogate; after install it is a 422."""
    headers = {"content-type": "application/json"}
    async with client(surrogate_app(guard)) as c:
        response = await c.post("/ask", content=SURROGATE, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["input"] == "\ud800"


async def test_identity_holding_a_lone_surrogate_is_400(guard: AsyncGuard) -> None:
    """A user id from the body holding a lone surrogate is refused as a policy violation (400),
    never a 500 from a store that cannot encode it."""
    body = b'{"prompt": "hi", "user": "\\ud800"}'
    async with client(surrogate_app(guard)) as c:
        response = await c.post("/ask", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "user_id '\\ud800' is not valid Unicode text" in response.json()["error"]["message"]


async def test_your_own_validation_handler_is_kept(guard: AsyncGuard) -> None:
    """install replaces only FastAPI's default 422 answer, never one the app registered."""
    app = FastAPI()

    async def mine(request: Request, exc: Exception) -> Response:
        return JSONResponse({"mine": True}, status_code=400)

    app.add_exception_handler(RequestValidationError, mine)
    Limiter(guard).install(app)

    @app.post("/ask")
    async def ask(body: Prompt) -> dict[str, str]:
        return {"ok": "yes"}

    async with client(app) as c:
        response = await c.post("/ask", json={"prompt": ""})
    assert (response.status_code, response.json()) == (400, {"mine": True})


async def test_budget_figures_are_plain_decimals(tmp_path: Path) -> None:
    """A $100 budget refusing a $200 call answers "100" and "200", never "1E+2"."""
    guard = AsyncGuard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=100)])
    app = FastAPI()
    Limiter(guard).install(app)

    @app.get("/big")
    async def big() -> dict[str, str]:
        await guard.admit(model="gpt-4o", reserve_usd="200")
        return {"ok": "yes"}

    async with client(app) as c:
        error = (await c.get("/big")).json()["error"]
    await guard.close()
    assert (error["limit_usd"], error["spent_usd"], error["requested_usd"]) == ("100", "0", "200")
    assert "limit $100, spent $0, reserved $0, this call needs up to $200" in error["message"]
