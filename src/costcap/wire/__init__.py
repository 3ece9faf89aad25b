"""costcap at the wire: the OpenAI and Anthropic HTTP APIs read, bounded and metered as bytes.

::

    client = OpenAI(http_client=costcap.http_client(guard, feature="chat"))
    client = AsyncAnthropic(http_client=costcap.async_http_client(async_guard))
    httpx2.Client(transport=costcap.GuardedTransport(guard, inner=httpx2.HTTPTransport()))

Every ``POST`` to ``/v1/chat/completions``, ``/v1/responses`` or ``/v1/messages`` sent through
a guarded client is admitted before it leaves, sent with the admitted ``max_tokens``, and
settled with the provider's usage — a stream as the caller reads it, cut at its reservation.
Refusals are answered in the provider's error format (:func:`refusal` gives the costcap
exception back); endpoints that spend unmetered are refused; anything else passes untouched.
A body naming a route (``model="costcap:auto"``) is routed by the guard's router, falling back
along its chain when the provider fails; a guard holding a response cache answers identical
cacheable requests from it (``x-costcap-cache: bypass`` and ``Cache-Control`` opt out).

The pieces, apart from HTTP (a gateway reuses them): :func:`route` (what to do with a request),
:func:`read_call` (its body: what to admit, the body to send), :class:`WireStream` (a streamed
answer's bytes metered), :func:`answer_usage` (a JSON answer's usage) and
:func:`refusal_answer` (a refusal in a provider's format).
"""

from __future__ import annotations

from costcap.wire._answers import answer_usage, served_tier
from costcap.wire._async_transport import AsyncGuardedTransport
from costcap.wire._calls import (
    CACHE_HEADER,
    COMPLEXITY_HEADER,
    FEATURE_HEADER,
    USER_HEADER,
    WireCall,
    read_call,
)
from costcap.wire._clients import async_http_client, http_client
from costcap.wire._context import CONTEXT_EXTENSION, WireContext
from costcap.wire._metering import WireStream
from costcap.wire._refusals import (
    MalformedRequest,
    Refusal,
    UnmeteredEndpoint,
    error_body,
    refusal,
    refusal_answer,
)
from costcap.wire._routes import Route, route
from costcap.wire._transport import GuardedTransport

__all__ = [
    "CACHE_HEADER",
    "COMPLEXITY_HEADER",
    "CONTEXT_EXTENSION",
    "FEATURE_HEADER",
    "USER_HEADER",
    "AsyncGuardedTransport",
    "GuardedTransport",
    "MalformedRequest",
    "Refusal",
    "Route",
    "UnmeteredEndpoint",
    "WireCall",
    "WireContext",
    "WireStream",
    "answer_usage",
    "async_http_client",
    "error_body",
    "http_client",
    "read_call",
    "refusal",
    "refusal_answer",
    "route",
    "served_tier",
]
