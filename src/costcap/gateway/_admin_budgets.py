"""``/admin/budgets`` (every budget's status now) and ``/admin/me`` (a virtual key's own).

A row is what ``costcap budgets --json`` prints (:class:`costcap.admission.BudgetStatus`):
budget, scope, member, mode, period, bucket, limit / spent / reserved / remaining in dollars
(exact decimal strings) and when it resets. A key's own budgets are not the guard's: their
status is read here the way the guard reads its own (the counters of the current window, from
the same store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from costcap import admission as adm
from costcap.gateway._admin_http import AdminError, Params, blocking, caller_key, json_response
from costcap.gateway._app import GatewayState

if TYPE_CHECKING:
    from costcap.gateway.keys import VirtualKey
    from costcap.guard import AsyncGuard

__all__ = ["ME_PATHS", "budget_routes", "key_budget_status"]

#: The routes a virtual key may call (its own usage); every other admin route needs the admin
#: key. Both paths answer the same.
ME_PATHS = ("/admin/me", "/admin/usage/me")


async def key_budget_status(guard: AsyncGuard, key: VirtualKey) -> list[adm.BudgetStatus]:
    """The status of ``key``'s own budgets now, read as the guard reads its budgets'."""
    now = guard.clock()
    windows = [adm.Applied(b, b.member or "", b.window_at(now)) for b in key.budgets]
    if not windows:
        return []
    states = await guard.store.read([a.window_keys for a in windows])
    return [adm.status_of(a, s) for a, s in zip(windows, states, strict=True)]


def budget_routes(state: GatewayState) -> list[Route]:
    async def budgets(request: Request) -> Response:
        params = Params(request, ("user", "feature", "key", "model"))
        key_id = params.text("key")
        rows = await state.guard.status(
            user_id=params.text("user"),
            feature=params.text("feature"),
            api_key=key_id,
            model=params.text("model"),
        )
        if key_id is not None and state.keys is not None:
            keys = state.keys
            key = await blocking(lambda: keys.get(key_id))  # KeyNotFound: 404
            rows += await key_budget_status(state.guard, key)
        return json_response(rows)

    async def me(request: Request) -> Response:
        Params(request, ())
        key = caller_key(request)
        if key is None:
            raise AdminError(
                400,
                "invalid_request_error",
                "the admin key is not a virtual key: ask for a key's usage with "
                "GET /admin/keys/{id} and GET /admin/budgets?key={id}",
            )
        rows = await key_budget_status(state.guard, key)
        return json_response({"key": key.to_json(), "budgets": rows})

    return [
        Route("/budgets", budgets, methods=["GET"]),
        *(Route(path.removeprefix("/admin"), me, methods=["GET"]) for path in ME_PATHS),
    ]
