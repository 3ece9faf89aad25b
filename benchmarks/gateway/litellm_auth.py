"""LiteLLM ``custom_auth`` for the benchmark: one virtual key held in memory, with a budget.

LiteLLM's own virtual keys live in its database through Prisma, whose query engine is a binary
downloaded at ``prisma generate`` time from a host this machine cannot reach (see README.md). This
hook gives LiteLLM the same key object its database path would hand it — a ``UserAPIKeyAuth`` with
``max_budget``, ``budget_duration`` and ``rpm_limit`` — and keeps it in LiteLLM's
``user_api_key_cache``, where LiteLLM's cost callback adds each call's spend (as it does for a key
read from the database). With ``custom_auth_run_common_checks: true`` LiteLLM runs its usual
checks on it (key budget, model access, ...) and its rate limiter enforces ``rpm_limit``.

Loaded by the LiteLLM proxy (its own venv), never imported by costcap.
"""

from __future__ import annotations

import os
from typing import Any

from litellm.proxy._types import UserAPIKeyAuth
from litellm.proxy.utils import hash_token

_SECRET = os.environ["BENCH_LITELLM_KEY"]
_HASHED = hash_token(_SECRET)
_KEY: dict[str, Any] = {
    "token": _HASHED,
    "api_key": _HASHED,
    "key_alias": "bench",
    "user_id": "u1",
    "metadata": {"feature": "bench"},
    "max_budget": float(os.environ.get("BENCH_KEY_BUDGET_USD", "100")),
    "budget_duration": "1d",
    "rpm_limit": int(os.environ.get("BENCH_KEY_RPM", "1000000")),
    "models": [],
}


async def user_api_key_auth(request: Any, api_key: str) -> UserAPIKeyAuth:
    """The key's object from LiteLLM's cache (spend included), or a refusal."""
    from litellm.proxy.proxy_server import user_api_key_cache

    if api_key != _SECRET:
        raise ValueError("invalid virtual key")
    cached = await user_api_key_cache.async_get_cache(key=_HASHED)
    if isinstance(cached, UserAPIKeyAuth):
        return cached
    key = UserAPIKeyAuth(**_KEY)
    await user_api_key_cache.async_set_cache(key=_HASHED, value=key, ttl=24 * 3600)
    return key
