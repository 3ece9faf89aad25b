"""``GuardedTransport``: an ``httpx2`` transport (the OpenAI and Anthropic SDKs' HTTP client)
that admits, bounds, meters and settles every LLM call sent through it.

::

    client = OpenAI(http_client=httpx2.Client(transport=GuardedTransport(guard)))

For each request (see :mod:`costcap.wire._routes` for which are guarded):

1. a guarded one is read (its JSON body) and attributed; a body naming a route
   (``costcap:auto``) is sent to the model the guard's router picks (:mod:`costcap.wire._routed`);
2. with a response cache on the guard, it is looked up: a hit is answered from the cache at $0
   (:mod:`costcap.wire._caching`), a miss goes on and its answer is kept;
3. it is admitted — a refusal is answered at once in the provider's error format
   (:mod:`costcap.wire._refusals`), nothing is sent — and sent carrying the admitted cap
   (:mod:`costcap.wire._calls`);
4. an error answer (4xx/5xx) releases the reservation and is handed back as it came: the
   provider billed nothing, and the client's retry is a request of its own, admitted again (a
   routed request whose provider failed first tries the next model of its chain, from step 2);
5. a JSON answer is read and settled with its usage before it is handed back (a miss's stored);
6. a streamed answer is metered as the caller reads it (:mod:`costcap.wire._metering`),
   ended cleanly when its output reaches the reservation (upstream closed), and settled when
   the caller reads it to the end or closes it — closed early or dropped unread, it is settled
   ``cut`` with what was read (``Guard(strict=True)``: its whole ``max_tokens``); a miss's is
   stored when read through and settled ``ok``.

A request interrupted in flight (``KeyboardInterrupt``) may still be billed: it is settled
``cut`` at its prompt, plus ``max_tokens`` when not streamed.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, cast

import httpx2

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._attribution import Attribution
from costcap.integrations._cache_answers import Keeper
from costcap.integrations._cache_replay import answer_hit
from costcap.integrations._routing import asks_route
from costcap.service_tiers import check_tier
from costcap.ticket import Ticket
from costcap.wire._caching import admitted, cache_ask, keeper_for, replay
from costcap.wire._calls import WireCall
from costcap.wire._context import WireContext, context_of
from costcap.wire._exchange import (
    REFUSALS,
    Exchange,
    for_module,
    interrupted,
    is_event_stream,
    module_of,
    plan,
    sent,
    streamed,
    unmetered,
    usage_of,
    wire_stream,
)
from costcap.wire._metering import Ending, WireStream
from costcap.wire._routed import WireRoute, route_request

if TYPE_CHECKING:
    import httpx

__all__ = ["GuardedTransport", "client_default"]

log = logging.getLogger("costcap.wire")


def client_default(
    feature: str | None, user_id: str | None, api_key: str | None, service_tier: str | None
) -> Attribution:
    """Who a transport's calls are for when nothing else says (and the tier they are served
    at when they name none)."""
    return Attribution(
        user_id=user_id, feature=feature, api_key=api_key,
        service_tier=check_tier(service_tier, "service_tier"),
    )  # fmt: skip


class GuardedTransport(httpx2.BaseTransport):
    """An ``httpx2.BaseTransport`` guarding the LLM calls sent through ``inner`` (by default
    ``httpx2.HTTPTransport()``). It serves an ``httpx.Client`` too, given an
    ``httpx.HTTPTransport`` as ``inner``."""

    def __init__(
        self,
        guard: Guard,
        *,
        inner: httpx2.BaseTransport | httpx.BaseTransport | None = None,
        feature: str | None = None,
        user_id: str | None = None,
        api_key: str | None = None,
        service_tier: str | None = None,
    ) -> None:
        if not isinstance(guard, Guard):
            hint = " (use costcap.AsyncGuardedTransport)" if isinstance(guard, AsyncGuard) else ""
            raise TypeError(f"GuardedTransport needs a costcap.Guard, not {guard!r}{hint}")
        self.guard = guard
        # An httpx transport takes httpx requests: the client it serves hands it those.
        self.inner = cast(httpx2.BaseTransport, inner or httpx2.HTTPTransport())
        self.default = client_default(feature, user_id, api_key, service_tier)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        exchange = plan(request)
        where = exchange.route
        if where.action == "pass":
            return self.inner.handle_request(request)
        if where.action == "refuse":
            return unmetered(request, where)
        guard = self.guard
        context = context_of(request.extensions)
        route: WireRoute | None = None
        try:
            call = exchange.read(request.read(), self.default, context)
            if asks_route(call.body):
                asked = route_request(guard, call, exchange.said)
                route = WireRoute(asked.decide(guard, asked.pressure(guard), False), call, context)
        except REFUSALS as exc:  # answered in the provider's format; nothing is sent
            return exchange.refusal(exc)
        while True:  # a routed request falls back along its chain when the provider fails
            try:
                response = self._attempt(exchange, call, context)
            except Exception as exc:
                if route is None or not route.again(request, exc):
                    raise
                continue
            if route is None or not route.again(request, response):
                return response
            response.close()

    def _attempt(
        self, exchange: Exchange, call: WireCall, context: WireContext | None
    ) -> httpx2.Response:
        """One model tried: the response cache asked (when the guard has one), then the call
        admitted, sent and settled."""
        guard, request = self.guard, exchange.request
        keeper: Keeper | None = None
        try:
            cache = guard.cache
            if cache is not None:
                ask = cache_ask(guard, call, exchange.said, request.headers)
                asked = ask.asked(cache.lookup(ask.request))
                if asked.lookup.hit:
                    return replay(request, call, answer_hit(guard, asked), context)
                keeper = keeper_for(cache, asked, context)
            ticket = guard.admit(**call.admission)
        except BaseException as exc:
            if keeper is not None:
                keeper.end(False)
            if isinstance(exc, REFUSALS):  # answered in the provider's format; nothing is sent
                return exchange.refusal(exc)
            raise
        if keeper is not None:
            admitted(keeper, ticket)
        if context is not None:
            context.ticket, context.model = ticket, call.body["model"]
        try:
            return self._send(request, call, ticket, context, keeper)
        except BaseException:
            if keeper is not None:
                keeper.end(False)
            raise

    def _send(
        self, request: httpx2.Request, call: WireCall, ticket: Ticket,
        context: WireContext | None, keeper: Keeper | None,
    ) -> httpx2.Response:  # fmt: skip
        guard = self.guard
        try:
            upstream = self.inner.handle_request(sent(request, call.bound(ticket)))
        except Exception:  # no answer: the connection failed, nothing billed costcap can know of
            guard.release(ticket)
            raise
        except BaseException:  # interrupted in flight: the provider may bill it
            self._interrupted(call.stream, ticket)
            raise
        if not upstream.is_success:
            guard.release(ticket)  # the provider billed nothing; a retry is admitted anew
            if keeper is not None:
                keeper.end(False)
            return upstream
        if call.stream and is_event_stream(upstream):
            wire = wire_stream(call, ticket, guard.lease_s, context, keeper)
            body = for_module(MeteredBody, module_of(request).__name__)(_Run(guard, wire, upstream))
            return streamed(request, upstream, body)
        try:
            upstream.read()
        except BaseException:  # answered, then lost: the provider finished (and billed) it
            self._interrupted(call.stream, ticket)
            raise
        usage, tier = usage_of(call, ticket, upstream.content)
        guard.settle(ticket, usage, service_tier=tier)
        if keeper is not None:
            keeper.add(upstream.content)
            keeper.end(True)
        return upstream  # read: the client finds its body there, decoded

    def _interrupted(self, stream: bool, ticket: Ticket) -> None:
        try:
            self.guard.settle(ticket, interrupted(ticket, stream=stream), status="cut")
        except Exception:  # the interruption propagates; the failed settle is logged
            log.exception("could not settle interrupted call %s", ticket.id)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> GuardedTransport:
        self.inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.inner.__exit__(exc_type, exc_value, traceback)


class _Run:
    """One metered stream's state, apart from the body object so that a finalizer can hold
    it: closing the upstream and settling, once."""

    __slots__ = ("__weakref__", "guard", "upstream", "wire")

    def __init__(self, guard: Guard, wire: WireStream, upstream: httpx2.Response) -> None:
        self.guard, self.wire, self.upstream = guard, wire, upstream

    def stop(self, ending: Ending, *, quiet: bool) -> None:
        """Close the upstream now (paying stops first), then settle what was streamed."""
        try:
            self.upstream.close()
        finally:
            self._settle(ending, quiet=quiet)

    def _settle(self, ending: Ending, *, quiet: bool) -> None:
        wire = self.wire
        status = wire.settlement(ending)
        if status is None:
            return
        try:
            self.guard.settle(
                wire.ticket, wire.final_usage(), stream=True, status=status,
                service_tier=wire.served,
            )  # fmt: skip
        except Exception:
            if not quiet:
                raise
            # Another exception is in flight, or no caller is left to tell: the reservation
            # stays and its lease charges it in full (never lost).
            log.exception("could not settle streamed call %s; its lease will charge it in full",
                          wire.ticket.id)  # fmt: skip
        finally:
            if wire.keeper is not None:  # a cache miss: stored when read through, settled ok
                wire.keeper.end(status == "ok")

    def renew(self) -> None:
        try:
            self.guard.extend(self.wire.ticket)
        except Exception:  # the stream goes on; at worst its lease charges it in full
            log.warning("could not renew the lease of streamed call %s", self.wire.ticket.id,
                        exc_info=True)  # fmt: skip

    def abandon(self) -> None:
        """The body was garbage-collected before its end: close and settle now."""
        if not self.wire.done:
            log.warning("a streamed answer (call %s) was dropped unclosed; closing it and "
                        "settling what was read", self.wire.ticket.id)  # fmt: skip
            self.stop("stopped", quiet=True)


class MeteredBody(httpx2.SyncByteStream):
    """The body of a guarded streamed answer: the upstream's bytes, metered as they are read."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        weakref.finalize(self, run.abandon)

    def __iter__(self) -> Iterator[bytes]:
        run = self._run
        wire = run.wire
        try:
            for chunk in run.upstream.iter_bytes():
                passed = wire.feed(chunk)
                if wire.cut is not None:
                    break
                if wire.meter.lease_due():
                    run.renew()
                if passed:
                    yield passed
                    if wire.done:  # closed while the reader held the chunk: read no further
                        return
            else:
                passed = wire.end()
                if wire.cut is None:  # settled before the reader sees the end
                    run.stop("completed", quiet=False)
                    if passed:
                        yield passed
                    return
            # The output reached the reservation: stop paying first, then end it cleanly.
            log.warning("%s", wire.cut)
            run.stop("cut", quiet=True)
            passed += wire.closing()
            if passed:
                yield passed
        except GeneratorExit:  # the reader went away
            run.stop("stopped", quiet=True)
            raise
        except Exception:  # the provider or the network failed mid-stream
            run.stop("failed", quiet=True)
            raise
        except BaseException:  # KeyboardInterrupt and the like: the reader stopped
            run.stop("stopped", quiet=True)
            raise

    def close(self) -> None:
        """Close the upstream (the provider stops generating) and settle what was read."""
        self._run.stop("stopped", quiet=False)
