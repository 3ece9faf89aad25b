"""The admin API under ``/admin``, behind the admin key.

Every route needs a key, sent as ``Authorization: Bearer <key>`` or ``x-api-key: <key>``:

* the admin key (the variable ``[gateway] admin_key_env`` names; compared in constant time)
  may call every route;
* a virtual key may read its own usage, ``GET /admin/me``, and nothing else (403);
* anything else is 401. Without an admin key configured the admin API is off: 403, saying so.

=================================  ============================================================
``GET /admin/keys``                the keys (``?all=true``: revoked ones too)
``POST /admin/keys``               a new key, and its secret once (201)
``GET /admin/keys/{id}``           one key
``DELETE /admin/keys/{id}``        revoke it
``POST /admin/keys/{id}/rotate``   a new secret for it, once
``PATCH /admin/keys/{id}``         ``{"expires": "7d" | "2027-01-01" | null}``
``GET /admin/budgets``             every budget's status now (``?user= &feature= &key= &model=``)
``GET /admin/usage?by=…``          spend by user, feature or model (``since``, ``until``, filters)
``GET /admin/reports/{name}``      ``costcap report NAME --json``, options as query parameters
``GET /admin/me``                  the calling virtual key, its budgets' status (also at
                                   ``/admin/usage/me``)
=================================  ============================================================

Routes: :mod:`~costcap.gateway._admin_keys`, :mod:`~costcap.gateway._admin_budgets`,
:mod:`~costcap.gateway._admin_reports`; what they share: :mod:`~costcap.gateway._admin_http`.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import typer
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from costcap.errors import ConfigError, StoreUnavailable
from costcap.gateway._admin_budgets import ME_PATHS, budget_routes
from costcap.gateway._admin_http import CALLER, AdminError, error_response
from costcap.gateway._admin_keys import key_routes
from costcap.gateway._admin_reports import report_routes
from costcap.gateway._app import GatewayState
from costcap.gateway._proxy import Receive, Scope, Send, _secret
from costcap.gateway.keys import KeyNotFound, KeyRevoked
from costcap.reports import NoLedger

__all__ = ["admin_routes"]

log = logging.getLogger("costcap.gateway")

_DISABLED = (
    "costcap: the admin API is off on this gateway: name the variable holding its key with "
    '[gateway] admin_key_env = "COSTCAP_ADMIN_KEY" in costcap.toml and set it'
)
_NO_KEY = (
    "costcap: the admin API needs a key: Authorization: Bearer <admin key> (or x-api-key), "
    "or a virtual key for GET /admin/me"
)
_WRONG_KEY = "costcap: neither the admin key nor a usable virtual key"
_ONLY_ME = (
    "costcap: a virtual key may read only its own usage, GET /admin/me; this route needs the "
    "admin key"
)


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return error_response(exc.status, exc.kind, exc.message, exc.param)


def _mapped(status: int, kind: str) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        return error_response(status, kind, str(exc))

    return handler


async def _bad_option(request: Request, exc: Exception) -> Response:
    """A check one of the CLI's option helpers made (``--useful-hit-rate`` and the like),
    named as the query parameter."""
    assert isinstance(exc, typer.BadParameter)
    hint = exc.param_hint if isinstance(exc.param_hint, str) else None
    param = None if hint is None else hint.removeprefix("--")
    message = exc.message if param is None else f"{param}: {exc.message}"
    return error_response(400, "invalid_request_error", message, param)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        message = f"costcap: {request.method} is not allowed on {request.url.path}"
        return error_response(405, "invalid_request_error", message)
    if exc.status_code == 404:
        message = f"costcap: no such admin endpoint: {request.url.path}"
        return error_response(404, "not_found_error", message)
    return error_response(exc.status_code, "invalid_request_error", str(exc.detail))


async def _crash(request: Request, exc: Exception) -> Response:
    log.error("costcap admin API: %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "api_error", "costcap: the admin API failed (see the gateway's log)")


def _handlers() -> dict[Any, Any]:
    return {
        AdminError: _admin_error,
        KeyNotFound: _mapped(404, "not_found_error"),
        NoLedger: _mapped(404, "not_found_error"),
        KeyRevoked: _mapped(409, "invalid_request_error"),
        ConfigError: _mapped(400, "invalid_request_error"),
        StoreUnavailable: _mapped(503, "api_error"),
        typer.BadParameter: _bad_option,
        HTTPException: _http_error,
        Exception: _crash,
    }


class _Authenticated:
    """The admin app behind its key: who asks is left in the scope for the routes."""

    def __init__(self, state: GatewayState, app: Any) -> None:
        self.state, self.app = state, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        refusal = await self._authenticate(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Response | None:
        """None when the request may go on (its caller in ``scope[CALLER]``), else the
        refusal."""
        admin = self.state.settings.admin_key()
        if admin is None:
            return error_response(403, "permission_error", _DISABLED, code="costcap_admin_off")
        secret = _secret(dict(scope["headers"]))
        if secret is None:
            return error_response(401, "authentication_error", _NO_KEY)
        if hmac.compare_digest(secret.encode(), admin.encode()):
            scope[CALLER] = None
            return None
        ring = self.state.ring
        try:
            key = None if ring is None else await ring.find(secret)
        except StoreUnavailable as exc:
            return error_response(503, "api_error", f"costcap: keys unavailable: {exc}")
        if key is None:
            return error_response(401, "authentication_error", _WRONG_KEY)
        if scope["path"] not in ME_PATHS:
            return error_response(403, "permission_error", _ONLY_ME)
        scope[CALLER] = key
        return None


def admin_routes(state: GatewayState) -> list[BaseRoute]:
    routes: list[BaseRoute] = [*key_routes(state), *budget_routes(state), *report_routes(state)]
    app = Starlette(routes=routes, exception_handlers=_handlers())
    return [Mount("/admin", app=_Authenticated(state, app))]
