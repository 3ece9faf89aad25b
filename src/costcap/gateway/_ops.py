"""The gateway's operations endpoints: ``/healthz`` (the process answers), ``/readyz`` (the
store and the ledger are reachable), ``/metrics`` (Prometheus), the admin API under
``/admin`` (:mod:`costcap.gateway._admin`) and the dashboard under ``/dashboard/``
(:mod:`costcap.gateway._dashboard`)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from costcap.errors import StoreUnavailable
from costcap.gateway._admin import admin_routes
from costcap.gateway._app import GatewayState
from costcap.gateway._dashboard import dashboard_routes

__all__ = ["ops_app"]

log = logging.getLogger("costcap.gateway")


def ops_app(state: GatewayState) -> Any:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await state.guard.store.read([("costcap:readyz",)])
            checks["store"] = "ok"
        except StoreUnavailable as exc:
            checks["store"] = f"unavailable: {exc}"
        if state.ledger is not None:
            checks["ledger"] = "failing (events are spooled)" if state.ledger.failing else "ok"
        if state.keys is not None:
            checks["keys"] = "ok"
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
    ]
    routes += admin_routes(state)  # /metrics is served by the gateway itself (an ASGI app)
    routes += dashboard_routes(state)

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {"error": {"message": f"costcap: no such endpoint: {request.url.path}",
                       "type": "not_found_error", "param": None, "code": "costcap_not_found"}},
            status_code=404,
        )  # fmt: skip

    return Starlette(routes=routes, exception_handlers={404: not_found})
