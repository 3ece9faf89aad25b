"""Opening and closing what a running gateway holds: the guard (from ``costcap.toml``), its
ledger and Prometheus observers, the key store and the proxy."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from costcap.config import load_config
from costcap.gateway._app import GatewayState
from costcap.gateway._proxy import Proxy
from costcap.gateway._settings import GatewaySettings

if TYPE_CHECKING:
    import httpx2

    from costcap.guard import AsyncGuard

__all__ = ["close_state", "open_state"]

log = logging.getLogger("costcap.gateway")


def _metrics(registry: Any) -> tuple[object | None, Any]:
    """A Prometheus observer and the ASGI app serving it, when prometheus-client is installed;
    each gateway gets a registry of its own (several in one process, in tests)."""
    try:
        from prometheus_client import CollectorRegistry

        from costcap.observability.prometheus import PrometheusObserver, make_asgi_app
    except ImportError:
        return None, None
    chosen = CollectorRegistry() if registry is None else registry
    return PrometheusObserver(chosen), make_asgi_app(chosen)


async def open_state(
    settings: GatewaySettings,
    guard: AsyncGuard | None,
    inner: httpx2.AsyncBaseTransport | None,
    registry: Any,
) -> GatewayState:
    from costcap.async_guard import AsyncGuard
    from costcap.ledger import Ledger

    config = await anyio.to_thread.run_sync(load_config, settings.config)
    for notifier in config.notifiers:  # read for its ledger url; the guard builds its own
        close = getattr(notifier, "close", None)
        if close is not None:
            await anyio.to_thread.run_sync(close)
    ledger = None
    metrics_app = None
    closers: list[Any] = []
    if guard is None:
        observers: list[object] = []
        if config.ledger_url is not None:
            ledger = Ledger(config.ledger_url)
            observers.append(ledger)
        observer, metrics_app = _metrics(registry)
        if observer is not None:
            observers.append(observer)
        guard = AsyncGuard.from_config(settings.config, observers=observers)
    else:
        _, metrics_app = _metrics(registry)
    store = ring = None
    if not settings.allow_anonymous or settings.keys:  # keys are kept: open where they live
        from costcap.gateway.keys import KeyRing, keys_url, open_key_store

        store = open_key_store(keys_url(config, settings.keys))
        ring = KeyRing(store, ttl_s=settings.key_cache_s)
    proxy = Proxy(guard, settings, ring, inner=inner)
    return GatewayState(
        settings=settings, guard=guard, proxy=proxy, keys=store, ring=ring, ledger=ledger,
        ledger_url=config.ledger_url, metrics=metrics_app, closers=closers,
    )  # fmt: skip


async def close_state(state: GatewayState, *, own_guard: bool) -> None:
    with anyio.CancelScope(shield=True):
        await state.proxy.aclose()
        if own_guard:
            await state.guard.close()
        if state.ledger is not None:
            await anyio.to_thread.run_sync(state.ledger.close)
        if state.keys is not None:
            await anyio.to_thread.run_sync(state.keys.close)
        for close in state.closers:
            close()
