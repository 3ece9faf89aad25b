"""The FastAPI Limiter in-process (httpx ASGITransport): identities, dependency form, answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from costcap import AsyncGuard, Budget, Policy
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
    with pytest.raises(ValueError, match="402 or 429"):
        Limiter(guard, budget_status=500)
