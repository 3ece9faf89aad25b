"""FastAPI / Starlette: rate-limit endpoints and answer costcap's refusals over HTTP.

::

    guard = AsyncGuard("redis://…", budgets=[…], limits=[…])
    limiter = Limiter(guard)                     # identity: user, else API key, else client IP
    app = FastAPI()
    limiter.install(app)                         # 429 / 402 answers for refusals

    @app.post("/api/v1/ai/generate")
    @limiter.limit("20/minute")                  # per user (the default), this endpoint
    async def generate(body: Body) -> dict: …

    @app.post("/api/v1/other", dependencies=[Depends(limiter.dependency("5/second"))])
    async def other() -> dict: …

A refused request answers ``429`` with ``Retry-After``, ``RateLimit-Policy`` and ``RateLimit``
headers (IETF draft-ietf-httpapi-ratelimit-headers) and a JSON body naming the limit. A budget
refusal raised while handling a request answers ``402`` (or ``429``: ``budget_status=``) the
same way. Admitted requests carry ``RateLimit`` headers with what is left.

Answers are ASCII JSON (other characters as ``\\u`` escapes), so text taken from a request — a
user id, a feature, a model name, possibly holding a lone surrogate (``"\\ud800"`` is valid
JSON) — can always be sent back. On a FastAPI app ``install`` also answers request validation
errors that way (FastAPI's own 422 answer fails with a 500 on such text); a handler you
registered for them yourself is kept.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from costcap.errors import BudgetExceeded, ConfigError, StoreUnavailable, plain_usd
from costcap.guard import AsyncGuard, Hit
from costcap.limits import RateLimit, RateLimited
from costcap.policy import PolicyViolation

__all__ = ["AsciiJSONResponse", "Identity", "Limiter", "default_identity", "validation_failed"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
_REQUEST = "costcap_request__"
_RESPONSE = "costcap_response__"
_KW_ONLY = inspect.Parameter.KEYWORD_ONLY


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling. ``user_id`` falls back to the API key's id, then to the client IP."""

    user_id: str | None = None
    api_key: str | None = None
    ip: str | None = None

    @property
    def user(self) -> str:
        if self.user_id:
            return self.user_id
        if self.api_key:
            return f"key:{self.api_key}"
        return f"ip:{self.ip or 'unknown'}"


def key_id(secret: str) -> str:
    """A stable id for an API key that never stores the key itself."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def default_identity(request: Request) -> Identity:
    """The authenticated user (``request.state.user_id`` or Starlette's ``request.user``), the
    API key (``X-API-Key`` or ``Authorization: Bearer``, hashed), and the client IP."""
    user = getattr(request.state, "user_id", None)
    if user is None and "user" in request.scope:
        auth_user = request.scope["user"]
        if getattr(auth_user, "is_authenticated", False):
            user = getattr(auth_user, "identity", None) or getattr(auth_user, "display_name", None)
    secret = request.headers.get("x-api-key")
    authorization = request.headers.get("authorization", "")
    if secret is None and authorization.lower().startswith("bearer "):
        secret = authorization[7:].strip()
    ip = request.client.host if request.client else None
    return Identity(user_id=user, api_key=key_id(secret) if secret else None, ip=ip)


class Limiter:
    """Endpoint rate limits and HTTP answers for costcap's refusals, over an :class:`AsyncGuard`."""

    def __init__(
        self,
        guard: AsyncGuard,
        *,
        identity: Callable[[Request], Identity | Awaitable[Identity]] = default_identity,
        budget_status: int = 402,
    ) -> None:
        if budget_status not in (402, 429) or isinstance(budget_status, bool):
            raise ConfigError(f"budget_status must be 402 or 429, not {budget_status!r}")
        if not callable(identity):
            raise ConfigError(f"identity must be a function of the request, not {identity!r}")
        self.guard = guard
        self.identity = identity
        self.budget_status = budget_status

    # -- limiting ---------------------------------------------------------------------------------

    def rules(self, *rates: str, per: str = "user") -> list[RateLimit]:
        """Rules for an endpoint; ``per`` is keyed on the endpoint too unless it is global."""
        keyed = per if per == "global" or "endpoint" in per else f"{per},endpoint"
        return [RateLimit(rate, per=keyed) for rate in rates]

    async def enter(self, request: Request, rules: list[RateLimit]) -> Hit:
        who = self.identity(request)
        if inspect.isawaitable(who):
            who = await who
        identity = who
        route = request.scope.get("route")
        endpoint = getattr(route, "path", None) or request.url.path
        hit = await self.guard.hit(
            rules, user_id=identity.user, api_key=identity.api_key, endpoint=endpoint
        )
        request.state.costcap_hit = hit
        return hit

    def limit(self, *rates: str, per: str = "user") -> Callable[[F], F]:
        """Decorate an endpoint: count each request against ``rates`` before the handler runs."""
        rules = self.rules(*rates, per=per)

        def decorate(endpoint: F) -> F:
            # FastAPI resolves string annotations in the wrapper's module, not the endpoint's:
            # resolve them here, where the endpoint's own globals are known.
            hints = typing.get_type_hints(endpoint, include_extras=True)
            params = [
                p.replace(annotation=hints.get(p.name, p.annotation))
                for p in inspect.signature(endpoint).parameters.values()
                if p.kind != p.VAR_KEYWORD
            ]
            # FastAPI injects one Request and one Response per endpoint: reuse the endpoint's own
            # parameters when it has them, else add hidden keyword-only ones.
            names = {}
            for kind, hidden in ((Request, _REQUEST), (Response, _RESPONSE)):
                own = next((p.name for p in params if p.annotation is kind), None)
                names[kind] = own or hidden
                if own is None:
                    params.append(inspect.Parameter(hidden, _KW_ONLY, annotation=kind))
            request_name, response_name = names[Request], names[Response]

            @functools.wraps(endpoint)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                request: Request = kwargs[request_name]
                response: Response = kwargs[response_name]
                if request_name == _REQUEST:
                    del kwargs[_REQUEST]
                if response_name == _RESPONSE:
                    del kwargs[_RESPONSE]
                hit = await self.enter(request, rules)
                try:
                    return await endpoint(*args, **kwargs)
                finally:
                    await self.guard.finish(hit)
                    for name, value in _headers(hit).items():
                        response.headers[name] = value

            wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
            return cast(F, wrapper)

        return decorate

    def dependency(self, *rates: str, per: str = "user") -> Callable[..., Awaitable[None]]:
        """A FastAPI dependency doing the same: ``Depends(limiter.dependency("20/minute"))``."""
        rules = self.rules(*rates, per=per)

        async def check(request: Request, response: Response) -> None:
            hit = await self.enter(request, rules)
            await self.guard.finish(hit)  # a dependency cannot wrap the handler: count it now
            for name, value in _headers(hit).items():
                response.headers[name] = value

        return check

    # -- answering refusals -----------------------------------------------------------------

    def install(self, app: Any) -> None:
        """Register answers for RateLimited, BudgetExceeded, PolicyViolation, StoreUnavailable;
        on a FastAPI app whose 422 answer is still FastAPI's own, replace it with the same
        answer in ASCII JSON (see the module's docstring)."""
        app.add_exception_handler(RateLimited, self.rate_limited)
        app.add_exception_handler(BudgetExceeded, self.budget_exceeded)
        app.add_exception_handler(PolicyViolation, self.policy_violation)
        app.add_exception_handler(StoreUnavailable, self.store_unavailable)
        _answer_validation_errors(app)

    async def rate_limited(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimited)
        retry = exc.retry_after_s
        headers = {"RateLimit-Policy": exc.policy}
        name = exc.policy.split(";", 1)[0]
        if retry is not None:
            seconds = max(1, math.ceil(retry))
            headers["Retry-After"] = str(seconds)
            headers["RateLimit"] = f"{name};r=0;t={seconds}"
        body = {
            "error": {
                "type": "rate_limited",
                "message": str(exc),
                "limit": exc.rule,
                "identity": exc.identity,
                "retry_after_s": None if retry is None else round(retry, 3),
            }
        }
        return AsciiJSONResponse(body, status_code=429, headers=headers)

    async def budget_exceeded(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BudgetExceeded)
        seconds = max(1, math.ceil(exc.retry_after_s))
        body = {
            "error": {
                "type": "budget_exceeded",
                "message": str(exc),
                "budget": exc.budget,
                "member": exc.member,
                "limit_usd": plain_usd(exc.limit_usd),
                "spent_usd": plain_usd(exc.spent_usd),
                "reserved_usd": plain_usd(exc.reserved_usd),
                "requested_usd": plain_usd(exc.requested_usd),
                "resets_at": exc.resets_at.isoformat(),
            }
        }
        return AsciiJSONResponse(
            body, status_code=self.budget_status, headers={"Retry-After": str(seconds)}
        )

    async def policy_violation(self, request: Request, exc: Exception) -> Response:
        body = {"error": {"type": "policy_violation", "message": str(exc)}}
        return AsciiJSONResponse(body, status_code=400)

    async def store_unavailable(self, request: Request, exc: Exception) -> Response:
        body = {"error": {"type": "store_unavailable", "message": str(exc)}}
        return AsciiJSONResponse(body, status_code=503, headers={"Retry-After": "5"})


class AsciiJSONResponse(JSONResponse):
    """Starlette's JSON answer, in ASCII: a lone surrogate is sent as ``\\ud800``, not a
    ``UnicodeEncodeError`` (and a 500) while encoding the body as UTF-8."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("ascii")


async def validation_failed(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 answer to a request that fails validation, in ASCII JSON."""
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


def _answer_validation_errors(app: Any) -> None:
    """Put :func:`validation_failed` in place of FastAPI's own 422 handler (only that one)."""
    try:
        from fastapi.exception_handlers import request_validation_exception_handler
        from fastapi.exceptions import RequestValidationError
    except ImportError:  # a Starlette app: no FastAPI validation to answer
        return
    handlers = getattr(app, "exception_handlers", None)
    if isinstance(handlers, dict) and (
        handlers.get(RequestValidationError) is request_validation_exception_handler
    ):
        app.add_exception_handler(RequestValidationError, validation_failed)


def _headers(hit: Hit) -> dict[str, str]:
    """``RateLimit-Policy`` for every rule and ``RateLimit`` for the windowed rule with the least
    left (a concurrency slot is already given back when the headers go out)."""
    if not hit.limits or not hit.remaining:
        return {}
    windowed = [i for i, a in enumerate(hit.limits) if a.rule.kind != "concurrent"]
    index = min(windowed or range(len(hit.limits)), key=lambda i: hit.remaining[i])
    rule = hit.limits[index].rule
    name = rule.policy_header.split(";", 1)[0]
    reset = int(rule.window_s) if rule.window_s else 1
    return {
        "RateLimit-Policy": ", ".join(a.rule.policy_header for a in hit.limits),
        "RateLimit": f"{name};r={hit.remaining[index]};t={reset}",
    }
