"""``create_app(settings)``: the gateway as one ASGI app.

Nothing is opened when the app is created: the guard (its store, its response cache), the
ledger, the key store and the upstream connections are opened at the ASGI lifespan's startup
— in each worker process — and closed at its shutdown. ``/v1/…`` goes to the proxy (raw ASGI,
the hot path); everything else (``/healthz``, ``/readyz``, ``/metrics``, ``/admin``,
``/dashboard/``) to the operations app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from costcap.gateway._proxy import Message, Proxy, Receive, Scope, Send
from costcap.gateway._settings import GatewaySettings

if TYPE_CHECKING:
    import httpx2

    from costcap.gateway.keys import KeyRing, KeyStore
    from costcap.guard import AsyncGuard
    from costcap.ledger import Ledger

__all__ = ["Gateway", "GatewayState", "create_app"]

log = logging.getLogger("costcap.gateway")

ASGIApp = Callable[[Scope, Receive, Send], Any]


@dataclass
class GatewayState:
    """What a running gateway holds, opened at startup."""

    settings: GatewaySettings
    guard: AsyncGuard
    proxy: Proxy
    keys: KeyStore | None = None
    ring: KeyRing | None = None
    ledger: Ledger | None = None
    ledger_url: str | None = None
    metrics: ASGIApp | None = None
    closers: list[Callable[[], Any]] = field(default_factory=list)


class Gateway:
    """The ASGI app ``create_app`` returns. ``state`` is set while it runs (between the
    lifespan's startup and shutdown)."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        guard: AsyncGuard | None = None,
        inner: httpx2.AsyncBaseTransport | None = None,
        metrics_registry: Any = None,
    ) -> None:
        self.settings = settings
        self._guard = guard  # given (tests): used as it is, not closed here
        self._inner = inner  # the transport to the upstreams (tests: an in-process one)
        self._registry = metrics_registry
        self.state: GatewayState | None = None
        self._ops: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            state = self.state
            if state is None:
                await self.startup()
                state = self.state
                assert state is not None
            path = scope["path"]
            if path.startswith("/v1/"):
                await state.proxy(scope, receive, send)
                return
            if path == "/metrics" and state.metrics is not None:
                await state.metrics(_readable(scope), receive, send)
                return
            assert self._ops is not None
            await self._ops(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # websockets: not served (the ASGI server answers 403)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # noqa: BLE001 - any failure: the server stops with one line
                    log.error("costcap gateway could not start: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        if self.state is not None:
            return
        from costcap.gateway._open import open_state
        from costcap.gateway._ops import ops_app

        self.state = await open_state(self.settings, self._guard, self._inner, self._registry)
        self._ops = ops_app(self.state)

    async def shutdown(self) -> None:
        state, self.state = self.state, None
        if state is None:
            return
        from costcap.gateway._open import close_state

        await close_state(state, own_guard=self._guard is None)


def _readable(scope: Scope) -> Scope:
    """``scope`` without the header values that are not UTF-8: prometheus_client's app decodes
    them (an ``Accept`` of other bytes would be a 500; without it, the text format is served)."""
    headers = scope["headers"]
    kept = [(k, v) for k, v in headers if v.isascii() or _utf8(v)]
    return scope if len(kept) == len(headers) else {**scope, "headers": kept}


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def create_app(
    settings: GatewaySettings,
    *,
    guard: AsyncGuard | None = None,
    inner: httpx2.AsyncBaseTransport | None = None,
    metrics_registry: Any = None,
) -> Gateway:
    """The gateway's ASGI app for ``settings`` (see :func:`costcap.gateway.load_settings`).
    ``guard``: an AsyncGuard to use instead of the one ``settings.config`` describes (the
    caller closes it); ``inner``: the transport to the upstreams (default: HTTP)."""
    return Gateway(settings, guard=guard, inner=inner, metrics_registry=metrics_registry)
