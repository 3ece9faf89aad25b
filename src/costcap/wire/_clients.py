"""``costcap.http_client(guard)`` / ``costcap.async_http_client(guard)``: an ``httpx2`` client,
for the SDKs' ``http_client=``, whose every transport is guarded.

The keyword arguments are ``httpx2.Client``'s. Those that shape the connection (``verify``,
``cert``, ``trust_env``, ``http1``, ``http2``, ``limits``, ``proxy``) build the guarded
transport's inner ``HTTPTransport``; a ``transport=`` of your own becomes the inner transport
itself, and each transport in ``mounts=`` is guarded too, so no route leaves unguarded. As with
any client given a transport, proxies named by the environment (``HTTP_PROXY``…) are not read:
pass ``proxy=``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2

from costcap.guard import AsyncGuard, Guard
from costcap.wire._async_transport import AsyncGuardedTransport
from costcap.wire._transport import GuardedTransport

__all__ = ["async_http_client", "http_client"]

_CONNECTION = ("verify", "cert", "trust_env", "http1", "http2", "limits", "proxy")


def _client_kwargs(
    guarded: Callable[[Any], object], default_inner: Callable[..., Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``httpx2`` client keyword arguments whose transport and mounts are all ``guarded``."""
    connection = {k: kwargs.pop(k) for k in _CONNECTION if k in kwargs}
    if "trust_env" in connection:
        kwargs["trust_env"] = connection["trust_env"]  # the client reads it too (netrc)
    inner = kwargs.pop("transport", None) or default_inner(**connection)
    mounts = kwargs.pop("mounts", None) or {}
    kwargs["transport"] = guarded(inner)
    kwargs["mounts"] = {pattern: guarded(t) for pattern, t in mounts.items() if t is not None}
    return kwargs


def http_client(
    guard: Guard,
    *,
    feature: str | None = None,
    user_id: str | None = None,
    api_key: str | None = None,
    service_tier: str | None = None,
    **httpx_kwargs: Any,
) -> httpx2.Client:
    """An ``httpx2.Client`` guarding every LLM call sent through it, for
    ``OpenAI(http_client=…)`` / ``Anthropic(http_client=…)``: ``feature``, ``user_id`` and
    ``api_key`` attribute calls nothing else attributes; ``service_tier`` is the OpenAI tier
    a call naming none is served at (see ``costcap.wrap``)."""

    def guarded(inner: httpx2.BaseTransport) -> GuardedTransport:
        return GuardedTransport(
            guard, inner=inner, feature=feature, user_id=user_id, api_key=api_key,
            service_tier=service_tier,
        )  # fmt: skip

    return httpx2.Client(**_client_kwargs(guarded, httpx2.HTTPTransport, httpx_kwargs))


def async_http_client(
    guard: AsyncGuard,
    *,
    feature: str | None = None,
    user_id: str | None = None,
    api_key: str | None = None,
    service_tier: str | None = None,
    **httpx_kwargs: Any,
) -> httpx2.AsyncClient:
    """:func:`http_client` for ``AsyncOpenAI`` / ``AsyncAnthropic``: an ``httpx2.AsyncClient``
    over an :class:`AsyncGuard`."""

    def guarded(inner: httpx2.AsyncBaseTransport) -> AsyncGuardedTransport:
        return AsyncGuardedTransport(
            guard, inner=inner, feature=feature, user_id=user_id, api_key=api_key,
            service_tier=service_tier,
        )  # fmt: skip

    return httpx2.AsyncClient(**_client_kwargs(guarded, httpx2.AsyncHTTPTransport, httpx_kwargs))
