"""What the sync and async transports share: reading a request, the request sent instead, and
the responses handed back (refusals, metered streams).

Requests and responses are built with the classes of the request the client handed over, so
one transport serves ``httpx2`` clients (the OpenAI and Anthropic SDKs') and ``httpx`` ones.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

import httpx2

from costcap.errors import CostcapError
from costcap.integrations._attribution import Attribution
from costcap.integrations._cache_answers import Keeper
from costcap.pricing import Usage
from costcap.ticket import Ticket
from costcap.wire._answers import answer_usage, served_tier
from costcap.wire._calls import COSTCAP_HEADERS, WireCall, read_call
from costcap.wire._context import WireContext
from costcap.wire._metering import WireStream
from costcap.wire._refusals import (
    REFUSAL_EXTENSION,
    MalformedRequest,
    UnmeteredEndpoint,
    refusal_answer,
)
from costcap.wire._routes import Route, route

__all__ = [
    "REFUSALS",
    "Exchange",
    "for_module",
    "interrupted",
    "is_event_stream",
    "module_of",
    "plan",
    "refused",
    "sent",
    "streamed",
    "transport_failed",
    "unmetered",
    "usage_of",
    "wire_stream",
]

log = logging.getLogger("costcap.wire")

T = TypeVar("T")

#: What reading and admitting a request can raise: costcap's refusals, and the errors an odd
#: body causes (a string where a list belongs…, JSON nested too deeply to count). The request
#: is answered, never sent.
REFUSALS = (CostcapError, TypeError, ValueError, LookupError, AttributeError, RecursionError)

_BODY_HEADERS = ("content-length", "content-encoding", "transfer-encoding")


@dataclass(slots=True)
class Exchange:
    """One request on its way: its route and the ``x-costcap-*`` headers it carried."""

    request: httpx2.Request
    route: Route
    said: dict[str, str]  # the x-costcap-* headers (taken off the request)

    def read(
        self, raw: bytes, default: Attribution, context: WireContext | None = None
    ) -> WireCall:
        """The guarded call ``raw`` (the request's body) asks for."""
        assert self.route.api is not None
        return read_call(self.route.api, raw, self.said, default, context)

    def refusal(self, error: Exception) -> httpx2.Response:
        if not isinstance(error, CostcapError):
            error = MalformedRequest(f"costcap could not read this request: {error}")
        return refused(self.request, error, self.route)


def plan(request: httpx2.Request) -> Exchange:
    """Route ``request`` and take the ``x-costcap-*`` headers off it."""
    headers = request.headers
    said = {name: headers[name] for name in COSTCAP_HEADERS if name in headers}
    for name in said:
        del headers[name]
    return Exchange(request, route(request.method, request.url.path), said)


def module_of(obj: object) -> ModuleType:
    """``httpx2`` or ``httpx``: the package whose classes ``obj`` is."""
    return sys.modules[type(obj).__module__.partition(".")[0]]


def sent(request: httpx2.Request, body: bytes | None) -> httpx2.Request:
    """``request`` carrying ``body`` instead of its own (None: its own). Changed in place: a
    client builds a request per attempt, and a new one costs more than costcap's whole
    admission (measured in ``benchmarks/results/wire.md``)."""
    if body is None:
        return request
    headers = request.headers
    for name in _BODY_HEADERS:
        if name in headers:
            del headers[name]
    headers["content-length"] = str(len(body))
    request.stream = module_of(request).ByteStream(body)
    request._content = body  # what ``request.content`` reads once a body is read
    return request


def refused(request: httpx2.Request, error: Exception, where: Route) -> httpx2.Response:
    """The provider-format answer to a refused request (nothing was sent)."""
    answer = refusal_answer(error, where.flavor)
    log.info("refused %s %s: %s", request.method, request.url.path, error)
    response: httpx2.Response = module_of(request).Response(
        answer.status, headers=answer.headers, content=answer.body, request=request,
        extensions={REFUSAL_EXTENSION: error},
    )  # fmt: skip
    return response


def unmetered(request: httpx2.Request, where: Route) -> httpx2.Response:
    return refused(request, UnmeteredEndpoint(request.url.path, where.what), where)


def _headers(upstream: httpx2.Response) -> list[tuple[str, str]]:
    """The upstream's headers but those describing its body as encoded: the body handed back
    is decoded (costcap had to read it)."""
    return [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _BODY_HEADERS]


def streamed(request: httpx2.Request, upstream: httpx2.Response, stream: object) -> httpx2.Response:
    """A streamed answer, handed back reading through ``stream`` (a metered byte stream)."""
    response: httpx2.Response = module_of(request).Response(
        upstream.status_code, headers=_headers(upstream), stream=stream, request=request,
        extensions=upstream.extensions,
    )  # fmt: skip
    return response


def is_event_stream(upstream: httpx2.Response) -> bool:
    return upstream.headers.get("content-type", "").startswith("text/event-stream")


def usage_of(call: WireCall, ticket: Ticket, content: bytes) -> tuple[object, str | None]:
    """The usage and served tier of a read answer."""
    try:
        body: Any = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    tier = served_tier(call.api, body) if isinstance(body, dict) else None
    return answer_usage(call.api, body, ticket), tier


def interrupted(ticket: Ticket, *, stream: bool) -> Usage:
    """What a call interrupted in flight may have cost: its prompt as counted, and
    ``max_tokens`` of output when not streamed (the provider finishes the generation)."""
    return Usage(input_tokens=ticket.input_tokens, output_tokens=0 if stream else ticket.max_tokens)


def wire_stream(
    call: WireCall, ticket: Ticket, lease_s: float, context: WireContext | None = None,
    keeper: Keeper | None = None,
) -> WireStream:  # fmt: skip
    notice = context is not None and context.cut_notice
    return WireStream(call.api, ticket, lease_s, injected=call.usage_injected, notice=notice,
                      keeper=keeper)  # fmt: skip


def transport_failed(request: httpx2.Request, error: Exception) -> bool:
    """Whether ``error``, raised sending ``request``, is the connection failing (a timeout,
    a refused or broken connection): a routed request falls back on it."""
    return isinstance(error, module_of(request).TransportError)


@functools.cache
def for_module(cls: type[T], module_name: str) -> type[T]:
    """``cls`` (built on an ``httpx2`` byte stream) made a byte stream of ``module_name`` too,
    so that an ``httpx`` client accepts it."""
    if module_name == "httpx2":
        return cls
    base = sys.modules[module_name]
    extra = base.SyncByteStream if issubclass(cls, httpx2.SyncByteStream) else base.AsyncByteStream
    made: type[T] = type(cls.__name__, (cls, extra), {"__slots__": ()})
    return made
