"""``AsyncGuardedTransport``: :class:`~costcap.wire._transport.GuardedTransport` for
``httpx2.AsyncClient`` (``AsyncOpenAI``, ``AsyncAnthropic``) over an :class:`AsyncGuard`.

The same steps, awaited. Closing and settling a stream is shielded from cancellation: a
cancelled reader is exactly when the upstream must close and the call settle. A stream dropped
unread is closed and settled in a task the guard holds (``await guard.close()`` waits for it).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from types import AsyncGeneratorType, TracebackType
from typing import TYPE_CHECKING, cast

import anyio
import httpx2

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._cache_answers import Keeper
from costcap.integrations._cache_replay import answer_hit_async
from costcap.integrations._routing import asks_route
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
from costcap.wire._transport import client_default

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncGuardedTransport"]

log = logging.getLogger("costcap.wire")


class AsyncGuardedTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2.AsyncBaseTransport`` guarding the LLM calls sent through ``inner`` (by
    default ``httpx2.AsyncHTTPTransport()``); given an ``httpx.AsyncHTTPTransport`` as
    ``inner``, it serves an ``httpx.AsyncClient`` too."""

    def __init__(
        self,
        guard: AsyncGuard,
        *,
        inner: httpx2.AsyncBaseTransport | httpx.AsyncBaseTransport | None = None,
        feature: str | None = None,
        user_id: str | None = None,
        api_key: str | None = None,
        service_tier: str | None = None,
    ) -> None:
        if not isinstance(guard, AsyncGuard):
            hint = " (use costcap.GuardedTransport)" if isinstance(guard, Guard) else ""
            need = "AsyncGuardedTransport needs a costcap.AsyncGuard"
            raise TypeError(f"{need}, not {guard!r}{hint}")
        self.guard = guard
        # An httpx transport takes httpx requests: the client it serves hands it those.
        self.inner = cast(httpx2.AsyncBaseTransport, inner or httpx2.AsyncHTTPTransport())
        self.default = client_default(feature, user_id, api_key, service_tier)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        exchange = plan(request)
        where = exchange.route
        if where.action == "pass":
            return await self.inner.handle_async_request(request)
        if where.action == "refuse":
            return unmetered(request, where)
        guard = self.guard
        context = context_of(request.extensions)
        route: WireRoute | None = None
        try:
            call = exchange.read(await request.aread(), self.default, context)
            if asks_route(call.body):
                asked = route_request(guard, call, exchange.said)
                pressure = await asked.pressure_async(guard)
                route = WireRoute(asked.decide(guard, pressure, False), call, context)
        except REFUSALS as exc:  # answered in the provider's format; nothing is sent
            return exchange.refusal(exc)
        while True:  # a routed request falls back along its chain when the provider fails
            try:
                response = await self._attempt(exchange, call, context)
            except Exception as exc:
                if route is None or not route.again(request, exc):
                    raise
                continue
            if route is None or not route.again(request, response):
                return response
            await response.aclose()

    async def _attempt(
        self, exchange: Exchange, call: WireCall, context: WireContext | None
    ) -> httpx2.Response:
        """One model tried (see ``GuardedTransport._attempt``)."""
        guard, request = self.guard, exchange.request
        keeper: Keeper | None = None
        try:
            cache = guard.cache
            if cache is not None:
                ask = cache_ask(guard, call, exchange.said, request.headers)
                asked = ask.asked(await cache.lookup(ask.request))
                if asked.lookup.hit:
                    return replay(request, call, await answer_hit_async(guard, asked), context)
                keeper = keeper_for(cache, asked, context)
            ticket = await guard.admit(**call.admission)
        except BaseException as exc:
            if keeper is not None:
                await keeper.end_async(False)
            if isinstance(exc, REFUSALS):  # answered in the provider's format; nothing is sent
                return exchange.refusal(exc)
            raise
        if keeper is not None:
            admitted(keeper, ticket)
        if context is not None:
            context.ticket, context.model = ticket, call.body["model"]
        try:
            return await self._send(request, call, ticket, context, keeper)
        except BaseException:
            if keeper is not None:
                await keeper.end_async(False)
            raise

    async def _send(
        self, request: httpx2.Request, call: WireCall, ticket: Ticket,
        context: WireContext | None, keeper: Keeper | None,
    ) -> httpx2.Response:  # fmt: skip
        guard = self.guard
        try:
            upstream = await self.inner.handle_async_request(sent(request, call.bound(ticket)))
        except Exception:  # no answer: the connection failed, nothing billed costcap can know of
            with anyio.CancelScope(shield=True):
                await guard.release(ticket)
            raise
        except BaseException:  # cancelled in flight: the provider may bill it
            await self._interrupted(call.stream, ticket)
            raise
        if not upstream.is_success:
            with anyio.CancelScope(shield=True):
                await guard.release(ticket)  # nothing billed; a retry is admitted anew
                if keeper is not None:
                    await keeper.end_async(False)
            return upstream
        if call.stream and is_event_stream(upstream):
            wire = wire_stream(call, ticket, guard.lease_s, context, keeper)
            run = _AsyncRun(guard, wire, upstream)
            body = for_module(AsyncMeteredBody, module_of(request).__name__)(run)
            return streamed(request, upstream, body)
        try:
            await upstream.aread()
        except BaseException:  # answered, then lost: the provider finished (and billed) it
            await self._interrupted(call.stream, ticket)
            raise
        usage, tier = usage_of(call, ticket, upstream.content)
        await guard.settle(ticket, usage, service_tier=tier)
        if keeper is not None:
            keeper.add(upstream.content)
            await keeper.end_async(True)
        return upstream  # read: the client finds its body there, decoded

    async def _interrupted(self, stream: bool, ticket: Ticket) -> None:
        with anyio.CancelScope(shield=True):
            try:
                usage = interrupted(ticket, stream=stream)
                await self.guard.settle(ticket, usage, status="cut")
            except Exception:  # the interruption propagates; the failed settle is logged
                log.exception("could not settle interrupted call %s", ticket.id)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> AsyncGuardedTransport:
        await self.inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.inner.__aexit__(exc_type, exc_value, traceback)


class _AsyncRun:
    """One metered stream's state (see ``_transport._Run``), closed and settled once, by
    whichever task gets there first; the others wait for it."""

    __slots__ = (
        "__weakref__", "_stopped", "_stopper", "guard", "loop", "source", "upstream", "wire",
    )  # fmt: skip

    def __init__(self, guard: AsyncGuard, wire: WireStream, upstream: httpx2.Response) -> None:
        self.guard, self.wire, self.upstream = guard, wire, upstream
        self.source: AsyncIterator[bytes] | None = None  # the upstream's decoded bytes
        self._stopped: anyio.Event | None = None  # set once stop() has ended
        self._stopper: int | None = None  # the task running stop()
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # trio (under anyio): no loop to settle a dropped stream on
            self.loop = None

    async def stop(self, ending: Ending, *, quiet: bool) -> None:
        """Close the upstream, then settle what was streamed; shielded from cancellation."""
        if self._stopped is not None:  # stopping in another task: wait, so that a close()
            if self._stopper != anyio.get_current_task().id:  # returns with the call settled
                with anyio.CancelScope(shield=True):
                    await self._stopped.wait()
            return
        self._stopped, self._stopper = anyio.Event(), anyio.get_current_task().id
        with anyio.CancelScope(shield=True):
            try:
                await self._close_upstream()
            finally:
                try:
                    await self._settle(ending, quiet=quiet)
                finally:
                    self._stopped.set()

    async def _close_upstream(self) -> None:
        source = self.source
        if isinstance(source, AsyncGeneratorType) and not source.ag_running:  # not being read
            await source.aclose()
        await self.upstream.aclose()  # ends a read under way in another task, if any

    async def _settle(self, ending: Ending, *, quiet: bool) -> None:
        wire = self.wire
        status = wire.settlement(ending)
        if status is None:
            return
        try:
            await self.guard.settle(
                wire.ticket, wire.final_usage(), stream=True, status=status,
                service_tier=wire.served,
            )  # fmt: skip
        except Exception:
            if not quiet:
                raise
            log.exception("could not settle streamed call %s; its lease will charge it in full",
                          wire.ticket.id)  # fmt: skip
        finally:
            if wire.keeper is not None:  # a cache miss: stored when read through, settled ok
                await wire.keeper.end_async(status == "ok")

    async def renew(self) -> None:
        try:
            await self.guard.extend(self.wire.ticket)
        except Exception:  # the stream goes on; at worst its lease charges it in full
            log.warning("could not renew the lease of streamed call %s", self.wire.ticket.id,
                        exc_info=True)  # fmt: skip

    def abandon(self) -> None:
        """The body was garbage-collected before its end: close and settle it on its loop, in
        a task the guard holds."""
        if self._stopped is not None or self.wire.done:
            return
        loop = self.loop
        if loop is None or loop.is_closed():
            log.error("a streamed answer (call %s) was dropped unclosed with no event loop "
                      "to settle it on; its lease will charge it in full",
                      self.wire.ticket.id)  # fmt: skip
            return
        log.warning("a streamed answer (call %s) was dropped unclosed; closing it and settling "
                    "what was read", self.wire.ticket.id)  # fmt: skip
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # collected in another thread
            running = None
        if running is loop:
            self._spawn_stop()
        else:
            loop.call_soon_threadsafe(self._spawn_stop)

    def _spawn_stop(self) -> None:
        self.guard._in_background(self._stop_logged())

    async def _stop_logged(self) -> None:
        try:
            await self.stop("stopped", quiet=True)
        except Exception:  # a task of its own: nobody to raise to
            log.exception("settling the dropped stream of call %s failed", self.wire.ticket.id)


class AsyncMeteredBody(httpx2.AsyncByteStream):
    """The body of a guarded streamed answer, metered as it is read (async)."""

    def __init__(self, run: _AsyncRun) -> None:
        self._run = run
        weakref.finalize(self, run.abandon)

    def __aiter__(self) -> AsyncIterator[bytes]:
        # An iterator object, not an async generator: one dropped half-read is not finalized
        # by the event loop in a task of its own, racing the close of the chunks it reads.
        return _Chunks(self._run)

    async def aclose(self) -> None:
        """Close the upstream (the provider stops generating) and settle what was read."""
        await self._run.stop("stopped", quiet=False)


class _Chunks(AsyncIterator[bytes]):
    """The metered chunks of one streamed answer."""

    __slots__ = ("_run",)

    def __init__(self, run: _AsyncRun) -> None:
        self._run = run

    async def __anext__(self) -> bytes:
        run = self._run
        wire = run.wire
        if wire.done:  # settled: ended, cut or closed
            raise StopAsyncIteration
        if run.source is None:
            run.source = run.upstream.aiter_bytes()
        try:
            while True:
                try:
                    chunk = await run.source.__anext__()
                except StopAsyncIteration:
                    passed = wire.end()
                    if wire.cut is None:
                        await run.stop("completed", quiet=False)
                        if passed:
                            return passed
                        raise
                else:
                    passed = wire.feed(chunk)
                if wire.cut is not None:  # the output reached the reservation: end it cleanly
                    log.warning("%s", wire.cut)
                    await run.stop("cut", quiet=True)
                    passed += wire.closing()
                    if passed:
                        return passed
                    raise StopAsyncIteration
                if wire.meter.lease_due():
                    await run.renew()
                if passed:
                    return passed
        except StopAsyncIteration:
            raise
        except Exception:  # the provider or the network failed mid-stream
            await run.stop("failed", quiet=True)
            raise
        except BaseException:  # the reading task was cancelled
            await run.stop("stopped", quiet=True)
            raise
