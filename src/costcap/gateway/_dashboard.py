"""``/dashboard/``: the dashboard (:mod:`costcap.dashboard`) over the gateway's ledger, behind
the admin key.

A request passes with the admin key as ``Authorization: Bearer``, ``x-api-key``, or the
password of HTTP Basic (any user name): a browser asks for it when the answer is 401 with
``WWW-Authenticate: Basic``. A virtual key gets 403 (its own usage is ``GET /admin/me``); without
an admin key configured the dashboard is off (403, saying how to turn it on), as the admin API
is. Budget pacing reads the gateway's own guard; the reports its ``[ledger] url``, read-only.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from costcap.dashboard._auth import basic_password, challenge, same_secret
from costcap.errors import StoreUnavailable
from costcap.gateway._admin_reports import gateway_sources
from costcap.gateway._app import GatewayState
from costcap.gateway._proxy import Receive, Scope, Send, _secret

__all__ = ["dashboard_routes"]

_OFF = (
    "costcap: the dashboard is off on this gateway: it needs the admin key. Name the variable "
    'holding it with [gateway] admin_key_env = "COSTCAP_ADMIN_KEY" in costcap.toml and set it'
)
_ASK = "costcap: the dashboard needs the admin key (as the password; any user name)"
_VIRTUAL = (
    "costcap: a virtual key cannot open the dashboard, which needs the admin key (a key's own "
    "usage: GET /admin/me)"
)
_NO_LEDGER = (
    'This gateway keeps no ledger: set [ledger] url = "sqlite:///costcap-ledger.db" (or '
    "postgresql://…) in costcap.toml and restart it."
)


class _AdminOnly:
    """The dashboard behind the admin key (see the module docstring)."""

    def __init__(self, state: GatewayState, app: Any) -> None:
        self.state, self.app = state, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        refusal = await self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope) -> Response | None:
        admin = self.state.settings.admin_key()
        if admin is None:
            return PlainTextResponse(f"{_OFF}\n", status_code=403)
        headers = scope["headers"]
        secret = _secret(dict(headers)) or basic_password(headers)
        if secret is None:
            return challenge(_ASK)
        if same_secret(secret, admin):
            return None
        ring = self.state.ring
        try:
            key = None if ring is None else await ring.find(secret)
        except StoreUnavailable as exc:
            return PlainTextResponse(f"costcap: keys unavailable: {exc}\n", status_code=503)
        if key is not None:
            return PlainTextResponse(f"{_VIRTUAL}\n", status_code=403)
        return challenge(_ASK)  # a wrong password: the browser asks again


async def _slash(request: Request) -> Response:
    """``/dashboard`` → ``dashboard/``: the page's links are relative to its own folder."""
    query = request.url.query
    return RedirectResponse(f"dashboard/{'?' + query if query else ''}", status_code=307)


def dashboard_routes(state: GatewayState) -> list[BaseRoute]:
    from costcap.dashboard import create_dashboard_app

    app = create_dashboard_app(
        state.ledger_url, sources=gateway_sources(state), no_ledger=_NO_LEDGER
    )
    return [
        Route("/dashboard", _slash, methods=["GET", "HEAD"]),
        Mount("/dashboard", app=_AdminOnly(state, app)),
    ]
