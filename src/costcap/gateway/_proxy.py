"""The proxy: one provider request in, the same request out to the provider, guarded.

Each request is authenticated by its virtual key (``Authorization: Bearer`` or ``x-api-key``),
read with a capped body, and handed to the same :class:`~costcap.wire.AsyncGuardedTransport`
the SDK clients use — admission, ``max_tokens``, stream metering and settling all happen there
— with the key's user, feature, budgets, limits and models in a
:class:`~costcap.wire.WireContext`. The answer goes back as the provider gave it (a refusal in
the provider's error format), with ``x-costcap-*`` headers; a stream is passed on chunk by
chunk, and when the client goes away the upstream is closed at once and what was streamed is
settled.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import anyio
import httpx2

from costcap.errors import BudgetExceeded, plain_usd
from costcap.gateway._settings import GatewaySettings, Provider, Upstream
from costcap.gateway._upstream import UpstreamTransport
from costcap.integrations._attribution import Attribution
from costcap.limits import RateLimited
from costcap.wire import AsyncGuardedTransport, WireContext, error_body, refusal, refusal_answer
from costcap.wire._routes import Flavor

if TYPE_CHECKING:
    from costcap.gateway.keys import KeyRing, VirtualKey
    from costcap.guard import AsyncGuard
    from costcap.ticket import Ticket

__all__ = ["Proxy"]

log = logging.getLogger("costcap.gateway")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Request headers never forwarded: the connection's own, the client's credentials (the
#: provider key replaces them), and the body's framing (the body may be rewritten).
_DROPPED = frozenset({
    b"host", b"connection", b"keep-alive", b"proxy-authorization", b"proxy-connection", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"content-length", b"authorization",
    b"x-api-key", b"accept-encoding", b"cookie",
})  # fmt: skip
#: Response headers not passed back: framing (the body is re-framed, decoded) and connection.
_ANSWER_DROPPED = frozenset({
    "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
    "date", "server", "set-cookie",
})  # fmt: skip
_NO_KEY = (
    "costcap: this gateway needs a virtual key (Authorization: Bearer <key> or x-api-key: "
    "<key>); create one with `costcap keys create`"
)
_PICO = Decimal(10) ** 12
_MICRO = Decimal(10) ** 6


@dataclass(frozen=True, slots=True)
class _Target:
    upstream: Upstream
    flavor: Flavor
    url: str
    lists_models: bool = False  # GET /v1/models: a key's list shows the models it may use


class _ClientGone(Exception):
    """The client disconnected while its answer was being sent."""


def _usd(amount: Decimal) -> str:
    return plain_usd(amount.normalize()) if amount else "0"


def _pico_usd(pico: int) -> str:
    return _usd(Decimal(pico) / _PICO)


def _micro_usd(micros: int) -> str:
    return _usd(Decimal(micros) / _MICRO)


class Proxy:
    """The ``/v1/…`` endpoints of the gateway, an ASGI app of their own."""

    def __init__(
        self,
        guard: AsyncGuard,
        settings: GatewaySettings,
        ring: KeyRing | None,
        *,
        inner: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.guard = guard
        self.settings = settings
        self.ring = ring
        self.transport = AsyncGuardedTransport(guard, inner=inner or UpstreamTransport())
        timeout = settings.timeout_s
        self._timeout = {"connect": min(timeout, 30.0), "read": timeout, "write": timeout,
                         "pool": timeout}  # fmt: skip
        self._keys = {p: u.api_key() for p, u in settings.upstreams.items()}

    async def aclose(self) -> None:
        await self.transport.aclose()

    # -- the request -----------------------------------------------------------------------------

    def target(self, scope: Scope, headers: dict[bytes, bytes]) -> _Target | None:
        """Where ``scope``'s request goes: the Anthropic upstream for ``/v1/messages…`` and for
        another path asked with Anthropic's ``anthropic-version`` header (``GET /v1/models``
        from the Anthropic SDK), else the OpenAI one. Chat Completions and Responses always go
        to OpenAI's, whatever header carries the key."""
        path: str = scope["path"]
        if not path.startswith("/v1/"):
            return None
        openai_api = path.startswith(("/v1/chat/", "/v1/responses"))
        anthropic = path.startswith("/v1/messages") or (
            not openai_api and b"anthropic-version" in headers
        )
        provider: Provider = "anthropic" if anthropic else "openai"
        upstream = self.settings.upstreams[provider]
        rest = path if anthropic else path[3:]  # the OpenAI base URL carries the /v1
        query = scope.get("query_string") or b""
        url = upstream.base_url + rest + ("?" + query.decode("latin-1") if query else "")
        flavor: Flavor = "anthropic" if anthropic else "openai"
        lists = scope["method"] == "GET" and path.rstrip("/") == "/v1/models"
        return _Target(upstream, flavor, url, lists)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        target = self.target(scope, headers)
        if target is None:
            return await _error(send, 404, "openai", "not_found_error",
                                f"costcap: no such endpoint: {scope['path']}")  # fmt: skip
        flavor = target.flavor
        key, problem = await self._authenticate(headers)
        if problem is not None:
            return await _error(send, 401, flavor, "authentication_error", problem)
        try:
            body = await _read_body(receive, self.settings.max_body_bytes)
        except _TooLarge as too_large:
            return await _error(send, 413, flavor, "request_too_large", str(too_large))
        except _ClientGone:
            return None
        context = _context(key, headers)
        try:
            request = httpx2.Request(
                scope["method"], target.url, headers=self._forwarded(scope, target),
                content=body, extensions={"costcap": context, "timeout": self._timeout},
            )  # fmt: skip
        except httpx2.InvalidURL as exc:  # a path of "/v1/%00", "/v1/a%0d%0ab"…
            problem = f"costcap: this request's URL cannot be forwarded: {exc}"
            return await _error(send, 400, flavor, "invalid_request_error", problem)
        try:
            response = await self.transport.handle_async_request(request)
        except httpx2.TimeoutException as exc:
            log.warning("upstream %s timed out: %s", target.upstream.provider, exc)
            problem = f"costcap: the {target.upstream.provider} upstream timed out"
            return await _error(send, 504, flavor, "api_error", problem)
        except httpx2.TransportError as exc:
            log.warning("upstream %s unreachable: %s", target.upstream.provider, exc)
            problem = f"costcap: the {target.upstream.provider} upstream is unreachable"
            return await _error(send, 502, flavor, "api_error", problem)
        except Exception:  # a fault of costcap's own: logged in full, answered in one line
            log.exception("the gateway failed on %s %s", scope["method"], scope["path"])
            problem = "costcap: the gateway failed on this request (see its log)"
            return await _error(send, 500, flavor, "api_error", problem)
        await self._answer(receive, send, response, context, target)
        return None

    async def _authenticate(
        self, headers: dict[bytes, bytes]
    ) -> tuple[VirtualKey | None, str | None]:
        """The request's key, or why it is refused (401)."""
        secret = _secret(headers)
        if self.settings.allow_anonymous and (secret is None or self.ring is None):
            return None, None  # charged by its x-costcap-* headers (or body) alone
        if secret is None:
            return None, _NO_KEY
        if self.ring is None:
            return None, "costcap: this gateway keeps no virtual keys"
        key = await self.ring.lookup(secret)
        if key is None:
            return None, "costcap: unknown API key"
        now = self.guard.clock()
        if key.revoked_at is not None:
            return None, f"costcap: API key {key.id} was revoked"
        if not key.usable(now):
            return None, f"costcap: API key {key.id} expired"
        return key, None

    def _forwarded(self, scope: Scope, target: _Target) -> list[tuple[bytes, bytes]]:
        """The request's headers to send upstream: the client's, less its credentials and
        framing, plus the provider key."""
        out = [(k, v) for k, v in scope["headers"] if k not in _DROPPED]
        api_key = self._keys.get(target.upstream.provider)
        if api_key is not None:
            if target.upstream.provider == "anthropic":
                out.append((b"x-api-key", api_key.encode("latin-1")))
            else:
                out.append((b"authorization", b"Bearer " + api_key.encode("latin-1")))
        return out

    # -- the answer ------------------------------------------------------------------------------

    async def _answer(
        self,
        receive: Receive,
        send: Send,
        response: httpx2.Response,
        context: WireContext,
        target: _Target,
    ) -> None:
        ticket = context.ticket
        status = response.status_code
        refused = refusal(response)
        extra: list[tuple[bytes, bytes]] = []
        if refused is not None:
            if isinstance(refused, BudgetExceeded):
                status = self.settings.budget_status
                left = refused.limit_usd - refused.spent_usd - refused.reserved_usd
                extra.append(
                    (b"x-costcap-budget-remaining-usd", _usd(max(left, Decimal(0))).encode())
                )
            elif isinstance(refused, RateLimited):
                extra += _rate_limit_headers(refused, "retry-after" in response.headers)
        headers = _answer_headers(response, ticket, context, extra)
        if response.headers.get("content-type", "").startswith("text/event-stream") and (
            ticket is not None
        ):
            reserved = _micro_usd(ticket.reserved_micros).encode()
            headers.append((b"x-costcap-reserved-usd", reserved))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await _stream(receive, send, response, ticket)
            return
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        if context.models is not None and target.lists_models and status == 200:
            content = _listed(content, context.models)
        if refused is not None and _refused_flavor(content) != target.flavor:
            # the wire reads the path's API from its last v1 segment; the gateway answers in
            # the format of the upstream the path goes to (/v1/messages/v1/completions)
            content = refusal_answer(refused, target.flavor).body
        if 400 <= status < 500 and "json" not in response.headers.get("content-type", ""):
            content = _error_page(target, status, content)  # a router's 404/405, a proxy's page
            headers = [(k, v) for k, v in headers if k != b"content-type"]
            headers.append((b"content-type", b"application/json"))
        if ticket is not None and ticket.cost is not None:
            headers += _spent_headers(ticket)
        elif ticket is None or ticket.done:
            headers.append((b"x-costcap-cost-usd", b"0"))
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _stream(receive: Receive, send: Send, response: httpx2.Response, ticket: Ticket) -> None:
    """Pass a metered stream on (its headers sent); a client that goes away closes the upstream
    at once and settles what was streamed."""
    body = cast(httpx2.AsyncByteStream, response.stream)
    gone = False
    try:
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                nonlocal gone
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        gone = True
                        group.cancel_scope.cancel()
                        return

            group.start_soon(watch)
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await response.aclose()  # settled on reaching the end; idempotent
            tail = b""
            if ticket.cost is not None:  # a comment line: SSE readers skip it
                tail = b": x-costcap-cost-usd " + _pico_usd(ticket.cost.total_pico).encode()
                tail += b"\n\n"
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            group.cancel_scope.cancel()
    except OSError:  # the client's socket failed under a send
        gone = True
    finally:
        with anyio.CancelScope(shield=True):
            await response.aclose()  # closes the upstream and settles, once
    if gone:
        log.info("client went away mid-stream; call %s settled with what was streamed", ticket.id)


def _listed(content: bytes, allowed: frozenset[str]) -> bytes:
    """A model list (OpenAI's or Anthropic's: ``{"data": [{"id": …}, …]}``) cut to ``allowed``."""
    try:
        listing = json.loads(content)
    except ValueError:
        return content
    if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
        return content
    kept = [m for m in listing["data"] if isinstance(m, dict) and m.get("id") in allowed]
    listing["data"] = kept
    if "first_id" in listing:  # Anthropic's page bounds
        listing["first_id"] = kept[0]["id"] if kept else None
        listing["last_id"] = kept[-1]["id"] if kept else None
    return json.dumps(listing).encode()


def _refused_flavor(body: bytes) -> Flavor:
    """The format of a refusal's body (costcap writes Anthropic's with ``"type":"error"``)."""
    return "anthropic" if body.startswith(b'{"type":"error"') else "openai"


def _secret(headers: dict[bytes, bytes]) -> str | None:
    auth = headers.get(b"authorization")
    if auth is not None:
        scheme, _, value = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get(b"x-api-key")
    if key is not None and key.strip():
        return key.decode("latin-1").strip()
    return None


def _context(key: VirtualKey | None, headers: dict[bytes, bytes]) -> WireContext:
    if key is None:
        return WireContext(cut_notice=True)
    who = Attribution(user_id=key.user, feature=key.feature, api_key=key.id)
    models = frozenset(key.models) if key.models is not None else None
    return WireContext(who=who, budgets=key.budgets, limits=key.limits, models=models,
                       cut_notice=True)  # fmt: skip


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _TooLarge(f"costcap: the request body is larger than this gateway's limit of "
                            f"{cap:,} bytes ([gateway] max_body_bytes)")  # fmt: skip
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _answer_headers(
    response: httpx2.Response,
    ticket: Ticket | None,
    context: WireContext,
    extra: list[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    out = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.multi_items()
        if k.lower() not in _ANSWER_DROPPED
    ]
    request_id = ticket.id if ticket is not None else secrets.token_hex(16)
    out.append((b"x-costcap-request-id", request_id.encode()))
    out.append((b"x-costcap-cache", context.cache.encode()))
    if ticket is not None:
        # the model sent (routed: the router's choice), as named in the body, which pricing may
        # have read loosely: escaped, so that a "\r\n", a NUL or a lone surrogate in it can
        # neither break the answer nor add a header
        sent = context.model or ticket.requested_model or ticket.model
        model = sent.encode("unicode_escape")
        out.append((b"x-costcap-model", model))
    out += extra
    return out


def _spent_headers(ticket: Ticket) -> list[tuple[bytes, bytes]]:
    assert ticket.cost is not None
    out = [(b"x-costcap-cost-usd", _pico_usd(ticket.cost.total_pico).encode())]
    if ticket.remaining_micros is not None:
        # what was left once reserved, plus what the call did not spend of its reservation
        spent = -(-ticket.cost.total_pico // 10**6)
        left = max(0, ticket.remaining_micros + ticket.reserved_micros - spent)
        out.append((b"x-costcap-budget-remaining-usd", _micro_usd(left).encode()))
    return out


def _rate_limit_headers(error: RateLimited, has_retry: bool) -> list[tuple[bytes, bytes]]:
    """IETF ``RateLimit-Policy`` and ``RateLimit`` for a refused request, and ``Retry-After``
    when the refusal has none (a client that is not an SDK waits that long)."""
    out = [(b"ratelimit-policy", error.policy.encode("latin-1"))]
    if error.retry_after_s is not None:
        name = error.policy.split(";", 1)[0]
        seconds = str(max(1, math.ceil(error.retry_after_s))).encode()
        out.append((b"ratelimit", f"{name};r=0;t=".encode("latin-1") + seconds))
        if not has_retry:  # the wire leaves it off a wait longer than the SDKs honour
            out.append((b"retry-after", seconds))
    return out


_PAGE_KINDS = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
               413: "request_too_large", 429: "rate_limit_error"}  # fmt: skip


def _error_page(target: _Target, status: int, content: bytes) -> bytes:
    """An upstream's 4xx that is not JSON (``Not Found`` in plain text…) as an error object in
    the provider's format, quoting its text."""
    text = " ".join(content.decode("utf-8", "replace").split())[:200]
    message = f"costcap: the {target.upstream.provider} upstream answered {status}"
    kind = _PAGE_KINDS.get(status, "invalid_request_error")
    return error_body(target.flavor, kind, f"{message}: {text}" if text else message)


async def _error(send: Send, status: int, flavor: Flavor, kind: str, message: str) -> None:
    body = error_body(flavor, kind, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-costcap-request-id", secrets.token_hex(16).encode()),
        (b"x-costcap-cost-usd", b"0"),
        (b"x-costcap-cache", b"bypass"),
    ]
    if status == 401 and flavor == "openai":
        headers.append((b"www-authenticate", b'Bearer realm="costcap"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
