"""The day's gateway: ``costcap serve`` in front of the same fake provider, for the services of
other teams that are not written in Python.

The gateway is served in-process (uvicorn in a thread) from the day's own ``costcap.toml``: the
same ``[guard] store`` file — so the global budget, each user's budget and each user's rate
limits count the calls of both paths, and the virtual keys live in that database, where
``costcap serve`` looks for them by default — and the same ``[ledger] url``, written by a ledger
writer of the gateway's own, as a ``costcap serve`` process would have one. The only difference
from ``costcap serve`` is that the demo builds the gateway's guard itself (as the gateway does,
``AsyncGuard.from_config``, at the ASGI lifespan's startup) to add its running-spend counter
and alert list to the guard's observers and notifiers.

The services send what any HTTP client sends: JSON, ``Authorization: Bearer <virtual key>``; a
share of them streamed (server-sent events read line by line, some dropped mid-answer).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from uuid import uuid4

import httpx

from costcap.demo._providers import ABANDON_AFTER_CHUNKS, ABANDONED
from costcap.demo._traffic import FEATURES, Feature, Request, Service
from costcap.gateway import create_app, load_settings
from costcap.gateway.keys import open_key_store, parse_key_spec
from costcap.testing import serve_asgi

if TYPE_CHECKING:
    from costcap.async_guard import AsyncGuard
    from costcap.gateway import Gateway
    from costcap.gateway._proxy import Message, Receive, Scope, Send
    from costcap.ledger import Ledger

__all__ = ["DemoGateway", "GatewayKey", "Sent", "gateway_features"]

#: Where each API is served, and the headers its own clients send besides the key.
_PATHS = {"openai-chat": "/v1/chat/completions", "openai-responses": "/v1/responses",
          "anthropic": "/v1/messages"}  # fmt: skip
_API_HEADERS = {"anthropic": {"anthropic-version": "2023-06-01"}}


def gateway_features() -> list[Feature]:
    """The day's features whose requests go through the gateway."""
    return [f for f in FEATURES if f.service is not None]


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """A virtual key made for one service: its public id (what the ledger's ``api_key_id``
    holds), who it charges and what bounds it."""

    id: str
    service: Service
    feature: str  # the key's feature: every request on it is charged to it
    user: str | None  # None: each request names its user


@dataclass(frozen=True, slots=True)
class Sent:
    """What a service got back: the HTTP status, and for a refusal, why (``budget <name>``,
    ``rate limit <rule>``, ``policy: …``) as the error body's ``costcap`` object says."""

    status: Literal["ok", "refused", "error"]
    http_status: int
    refused_by: str = ""
    request_id: str | None = None  # x-costcap-request-id: the ledger event's request_id


class _Served:
    """``costcap serve``'s ASGI app (:func:`costcap.gateway.create_app`) for ``config``, its
    guard built at the lifespan's startup in the server's event loop, as the gateway builds its
    own, with ``observers`` and ``notifiers`` added; its own ledger writer on ``ledger_url``."""

    def __init__(
        self, config: Path, ledger_url: str, observers: Iterable[object], notifiers: list[Any]
    ) -> None:
        self._config = config
        self._ledger_url = ledger_url
        self._observers = list(observers)
        self._notifiers = notifiers
        self._app: Gateway | None = None
        self._guard: AsyncGuard | None = None
        self._ledger: Ledger | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            assert self._app is not None, "served before the lifespan's startup"
            await self._app(scope, receive, send)
            return
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start()
                except Exception as exc:  # noqa: BLE001 - the server does not start; serve_asgi says so
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        from costcap.async_guard import AsyncGuard
        from costcap.ledger import Ledger

        self._ledger = Ledger(self._ledger_url)
        self._guard = AsyncGuard.from_config(
            self._config, observers=[self._ledger, *self._observers], notifiers=self._notifiers
        )
        self._app = create_app(load_settings(self._config), guard=self._guard)
        await self._app.startup()

    async def _stop(self) -> None:
        import anyio.to_thread

        if self._app is not None:
            await self._app.shutdown()  # the proxy, the key store (the guard is ours)
        if self._guard is not None:
            await self._guard.close()  # settles what is still settling
        if self._ledger is not None:
            ledger = self._ledger
            await anyio.to_thread.run_sync(lambda: ledger.flush(timeout=30))
            await anyio.to_thread.run_sync(ledger.close)


class DemoGateway:
    """The gateway running for the day (a context manager): one virtual key per service,
    created in the store's database before it starts, and an HTTP client for the services."""

    def __init__(
        self,
        config: Path,
        store_url: str,
        ledger_url: str,
        *,
        observers: Iterable[object] = (),
        notifiers: list[Any] | None = None,
    ) -> None:
        self.app = _Served(config, ledger_url, observers, notifiers or [])
        self.keys: dict[str, GatewayKey] = {}  # by feature
        self.statuses: dict[str, Counter[int]] = {}  # the HTTP statuses each key's service got
        self._secrets: dict[str, str] = {}
        self._store_url = store_url
        self._lock = threading.Lock()
        self._serving: Any = None
        self._client: httpx.Client | None = None
        self.base_url = ""

    def __enter__(self) -> DemoGateway:
        store = open_key_store(self._store_url)
        try:
            for feature in gateway_features():
                service = feature.service
                assert service is not None
                spec = parse_key_spec(
                    name=service.name, feature=feature.name, budgets=(service.budget,),
                    limits=(service.limit,),
                )  # fmt: skip
                key, secret = store.create(spec)
                self.keys[feature.name] = GatewayKey(key.id, service, feature.name, key.user)
                self.statuses[feature.name] = Counter()
                self._secrets[feature.name] = secret
        finally:
            store.close()
        self._serving = serve_asgi(self.app, lifespan="on")
        port = self._serving.__enter__()
        self.base_url = f"http://127.0.0.1:{port}"
        self._client = httpx.Client(base_url=self.base_url, timeout=60)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            self._client.close()
        if self._serving is not None:
            self._serving.__exit__(kind, exc, tb)  # the lifespan's shutdown: settled, flushed

    def send(self, request: Request) -> Sent:
        """``request`` as its service sends it: JSON over HTTP with its virtual key."""
        assert self._client is not None
        feature = request.feature
        service = feature.service
        assert service is not None
        headers = {
            "authorization": f"Bearer {self._secrets[feature.name]}",
            **_API_HEADERS.get(feature.api, {}),
            "x-fake-output-tokens": str(request.output_tokens),
            # how the provider's record tells the streams users abandon from the rest
            "x-fake-request-key": f"{ABANDONED if request.abandon else 'whole'}-{uuid4().hex}",
        }
        body: dict[str, Any] = {"model": feature.model, "messages": request.messages}
        if feature.api == "anthropic":
            if request.system is not None:
                body["system"] = request.system
        elif request.system is not None:
            body["messages"] = [{"role": "system", "content": request.system}, *request.messages]
        if feature.max_tokens is not None:
            body["max_output_tokens" if feature.api == "openai-responses" else "max_tokens"] = (
                feature.max_tokens
            )
        if service.user_from == "metadata.user_id":
            body["metadata"] = {"user_id": request.user}
        else:
            headers[service.user_from] = request.user
        if request.stream:
            body["stream"] = True
        with self._client.stream("POST", _PATHS[feature.api], json=body, headers=headers) as got:
            if got.status_code == 200 and request.stream:
                events = 0
                for line in got.iter_lines():
                    events += line.startswith("data:")
                    if request.abandon and events >= ABANDON_AFTER_CHUNKS:
                        break  # the caller hangs up: the gateway closes the upstream, settles
            else:
                got.read()
        sent = _sent(got, got.headers.get("x-costcap-request-id"))
        with self._lock:
            self.statuses[feature.name][got.status_code] += 1
        return sent


def _sent(response: httpx.Response, request_id: str | None) -> Sent:
    if response.status_code == 200:
        return Sent("ok", 200, request_id=request_id)
    try:
        error = json.loads(response.content)["error"]
        details = error.get("costcap") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return Sent("error", response.status_code)
    kind = details.get("error")
    if kind == "BudgetExceeded":
        return Sent("refused", response.status_code, f"budget {details.get('budget')}")
    if kind == "RateLimited":
        return Sent("refused", response.status_code, f"rate limit {details.get('rule')}")
    if kind == "PolicyViolation":
        return Sent("refused", response.status_code, f"policy: {error.get('message', '')}")
    return Sent("error", response.status_code)
