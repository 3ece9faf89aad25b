"""The Guard for asyncio code: :class:`AsyncGuard`, the same methods as
:class:`costcap.guard.Guard`, awaited — and safe to cancel at any await: a store step runs in a
task the caller's cancellation does not reach, and what a cancelled call reserved is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from costcap import admission as adm
from costcap.alerts import Alert, Notifier
from costcap.budgets import Budget
from costcap.errors import StoreUnavailable, UnpricedModality
from costcap.guard_core import (
    DEFAULT_LEASE_S,
    DEFAULT_STORE,
    Due,
    GuardCore,
    Money,
    config_kwargs,
    log,
    remaining,
    utc_now,
)
from costcap.ledger import Status
from costcap.limits import RateLimit
from costcap.money import PICO_PER_MICRO
from costcap.policy import Policy, PolicyViolation
from costcap.pricing import Cost, PriceCatalog
from costcap.service_tiers import UnknownServiceTier
from costcap.stores import (
    Admission,
    AsyncAdapter,
    AsyncStore,
    Charge,
    open_async_store,
)
from costcap.ticket import Hit, Routing, Ticket

if TYPE_CHECKING:
    from costcap.cache import AsyncResponseCache, CachedAnswer
    from costcap.router import Pressure, Router

__all__ = ["AsyncGuard"]

T = TypeVar("T")


class AsyncGuard(GuardCore):
    """The Guard for asyncio code; the same methods, awaited (its ``cache`` an
    :class:`costcap.cache.AsyncResponseCache`)."""

    def __init__(
        self,
        store: str | AsyncStore = DEFAULT_STORE,
        *,
        budgets: Iterable[Budget] = (),
        limits: Iterable[RateLimit] = (),
        policy: Policy | None = None,
        catalog: PriceCatalog | None = None,
        notifiers: Iterable[Notifier | Callable[[Alert], object]] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        strict: bool = False,
        fail_open: bool = False,
        clock: Callable[[], datetime] = utc_now,
        observers: Iterable[object] = (),
        router: Router | None = None,
        cache: AsyncResponseCache | None = None,
    ) -> None:
        super().__init__(
            budgets=budgets, limits=limits, policy=policy, catalog=catalog, notifiers=notifiers,
            lease_s=lease_s, strict=strict, fail_open=fail_open, clock=clock, observers=observers,
            router=router,
        )  # fmt: skip
        self.store: AsyncStore = open_async_store(store) if isinstance(store, str) else store
        self.cache = cache
        self._background: set[asyncio.Task[Any]] = set()  # work close() waits for

    @classmethod
    def from_config(cls, path: str | Path, **overrides: Any) -> AsyncGuard:
        from costcap.cache import AsyncResponseCache

        return cls(**config_kwargs(path, overrides, cache=AsyncResponseCache))

    async def admit(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]] | None = None,
        max_tokens: int | None = None,
        user_id: str | None = None,
        feature: str | None = None,
        api_key: str | None = None,
        endpoint: str | None = None,
        system: Any = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
        input: Any = None,
        instructions: str | None = None,
        reserve_usd: Money | None = None,
        service_tier: str | None = None,
        modalities: Iterable[str] | None = None,
        routing: Routing | None = None,
        budgets: Sequence[Budget] = (),
        limits: Sequence[RateLimit] = (),
    ) -> Ticket:
        started = time.perf_counter()
        try:
            ticket, charges = self.prepare(
                model=model, messages=messages, max_tokens=max_tokens, user_id=user_id,
                feature=feature, api_key=api_key, endpoint=endpoint, system=system, tools=tools,
                input=input, instructions=instructions, reserve_usd=reserve_usd,
                service_tier=service_tier, modalities=modalities, routing=routing,
                budgets=budgets, limits=limits,
            )  # fmt: skip
        except (PolicyViolation, UnknownServiceTier, UnpricedModality) as exc:
            self.emit_refused_early(
                model, user_id, feature, api_key, endpoint, f"policy: {exc}", routing
            )
            self.timed(started, "policy")
            raise
        if not charges:
            self.timed(started, "admitted")
            return self.in_flight(ticket)
        try:
            result = await self._reserve(ticket.id, charges)
        except StoreUnavailable as exc:
            self.timed(started, "store_unavailable")
            if not self.fail_open:
                self.emit(ticket, "refused", refused_by="store unavailable")
            return self.in_flight(self.unavailable(exc, ticket))
        if not result.admitted:
            await self._refuse(ticket, result, started)
        try:
            await self._fire(self.admitted(ticket, result))
        except BaseException:  # cancelled after the reservation: the caller gets no ticket
            await self._undo(self._give_back(ticket.id))
            raise
        self.timed(started, "admitted")
        return self.in_flight(ticket)

    async def _refuse(self, ticket: Ticket, result: Admission, started: float) -> None:
        hit = self.refused_limit(ticket, result)
        if hit is not None:
            buckets = await self.store.read([(key,) for key in hit.window_keys])
            self.emit(ticket, "refused", refused_by=f"rate limit {hit.rule.id}")
            self.timed(started, "rate_limit")
            raise self.limit_refusal(result, hit, buckets)
        error, due = self.budget_refusal(ticket, result)
        self.emit(ticket, "refused", refused_by=f"budget {error.budget}")
        self.timed(started, "budget")
        await self._fire(due)
        raise error

    async def answer_cached(
        self,
        answer: CachedAnswer,
        *,
        requested_model: str,
        user_id: str | None = None,
        feature: str | None = None,
        api_key: str | None = None,
        endpoint: str | None = None,
        stream: bool = False,
        started: float | None = None,
        routing: Routing | None = None,
        limits: Sequence[RateLimit] = (),
    ) -> None:
        """As :meth:`costcap.Guard.answer_cached`."""
        began = time.perf_counter() if started is None else started
        hit, charges = self.prepare_cached(
            answer.model,
            user_id=user_id,
            feature=feature,
            api_key=api_key,
            endpoint=endpoint,
            limits=limits,
        )
        if charges:
            try:
                result = await self._reserve(hit.id, charges)
            except StoreUnavailable as exc:
                if not self.fail_open:
                    self.emit_refused_early(
                        answer.model, user_id, feature, api_key, endpoint, "store unavailable",
                        routing,
                    )  # fmt: skip
                    raise
                log.error("store unavailable, answering from the cache (fail_open): %s", exc)
            else:
                if not result.admitted:
                    assert result.refused is not None
                    limited = hit.limits[result.refused]
                    buckets = await self.store.read([(key,) for key in limited.window_keys])
                    self.emit_refused_early(
                        answer.model, user_id, feature, api_key, endpoint,
                        f"rate limit {limited.rule.id}", routing,
                    )  # fmt: skip
                    raise self.limit_refusal(result, limited, buckets)
                await self._store_settle(hit.id, hit.settle_amounts())
        self.emit_cached(
            answer, requested_model, user_id, feature, api_key, endpoint, stream, began, routing
        )

    async def hit(
        self,
        rules: Sequence[RateLimit],
        *,
        user_id: str | None = None,
        api_key: str | None = None,
        endpoint: str | None = None,
        feature: str | None = None,
    ) -> Hit:
        hit, charges = self.prepare_hit(
            rules, user_id=user_id, api_key=api_key, endpoint=endpoint, feature=feature
        )
        if not charges:
            return hit
        try:
            result = await self._reserve(hit.id, charges)
        except StoreUnavailable as exc:
            if not self.fail_open:
                raise
            log.error("store unavailable, letting a request through (fail_open): %s", exc)
            hit.limits = []
            return hit
        if not result.admitted:
            assert result.refused is not None
            limited = hit.limits[result.refused]
            buckets = await self.store.read([(key,) for key in limited.window_keys])
            raise self.limit_refusal(result, limited, buckets)
        hit.remaining = remaining(hit, result)
        return hit

    async def finish(self, hit: Hit) -> None:
        if hit.done:
            return
        hit.done = True
        if hit.limits:
            await self._store_settle(hit.id, hit.settle_amounts())

    async def settle(
        self,
        ticket: Ticket,
        usage: object,
        *,
        stream: bool = False,
        status: Status = "ok",
        service_tier: str | None = None,
    ) -> Cost:
        cost, used, actuals = self.price(ticket, usage, service_tier)
        ticket.cost = cost
        try:
            if actuals:
                await self._store_settle(ticket.id, actuals)
        finally:  # cancelled at the store step (which still completes) or not: recorded
            self.emit(ticket, status, usage=used, cost_pico=cost.total_pico, stream=stream)
        await self._fire(self.settled(ticket, actuals))
        return cost

    async def settle_cost(self, ticket: Ticket, cost_usd: Money) -> None:
        pico, actuals = self.dollars(ticket, cost_usd)
        try:
            if actuals:
                await self._store_settle(ticket.id, actuals)
        finally:
            self.emit(ticket, "ok", cost_pico=pico)
        await self._fire(self.settled(ticket, actuals))

    async def extend(self, ticket: Ticket) -> bool:
        if not ticket.reserved or ticket.done:
            return self.renewed(ticket, False)
        return self.renewed(ticket, await self.store.extend(ticket.id, self.lease_s))

    async def release(self, ticket: Ticket) -> None:
        if ticket.done:
            return
        ticket.done = True
        if ticket.reserved:
            try:
                await self._step(self.store.release(ticket.id))
            except StoreUnavailable as exc:
                self.store_failed("release", ticket.id, exc)
        self.emit(ticket, "error")

    @asynccontextmanager
    async def call(self, **kwargs: Any) -> AsyncIterator[Ticket]:
        ticket = await self.admit(**kwargs)
        try:
            yield ticket
        except BaseException:
            await self.release(ticket)
            raise
        if not ticket.done:
            log.warning("ticket %s left unsettled; charging its full reservation", ticket.id)
            actuals = self.in_full(ticket)
            if actuals:
                await self._store_settle(ticket.id, actuals)
            self.emit(ticket, "ok", cost_pico=ticket.reserved_micros * PICO_PER_MICRO)
            await self._fire(self.settled(ticket, actuals))

    async def _store_settle(self, reservation_id: str, actuals: list[int]) -> None:
        """:meth:`Guard._store_settle`, awaited."""
        try:
            known = await self._step(self.store.settle(reservation_id, actuals))
        except StoreUnavailable as exc:
            self.store_failed("settle", reservation_id, exc)
        else:
            if not known:
                self.store_failed("settle", reservation_id, None)

    async def _fire(self, due: Due) -> None:
        for marker, alert in due:
            try:
                granted = await self.store.mark_once(marker, self.marker_ttl_s(alert))
            except StoreUnavailable as exc:
                granted = self.marker_failed(marker, exc)
            self.fired(marker, alert, granted)

    async def status(
        self,
        *,
        user_id: str | None = None,
        feature: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
    ) -> list[adm.BudgetStatus]:
        windows = self.status_windows(user_id, feature, api_key, model)
        states = await self.store.read([a.window_keys for a in windows])
        return [adm.status_of(a, s) for a, s in zip(windows, states, strict=True)]

    async def pressure(
        self, *, feature: str | None = None, user_id: str | None = None, models: Iterable[str] = ()
    ) -> Pressure:
        """As :meth:`costcap.Guard.pressure`."""
        windows = self.pressure_windows(feature, user_id, models)
        states = await self.store.read([a.window_keys for _, a in windows]) if windows else []
        return self.pressure_of(windows, states)

    async def close(self) -> None:
        """Finish the work still under way — settles of streams that ended in the background,
        releases of cancelled admissions — then close the store."""
        await self._finish_background()
        await self.store.close()
        if self.cache is not None:
            await self.cache.close()

    # -- cancellation and background work ----------------------------------------------------

    async def _reserve(self, reservation_id: str, charges: Sequence[Charge]) -> Admission:
        """``store.admit``, run to its end whatever happens to its caller.

        A store step interrupted half-way may have reserved all the same (the server committed
        before the cancellation reached it) and, on PostgreSQL, strands a pooled connection
        mid-query. So the step runs in a task of its own, which the caller's cancellation does
        not reach: the cancelled caller waits for the step to end and releases what it reserved
        (:meth:`_undo`), then ``CancelledError`` goes on. A store whose steps never suspend (the
        memory store) is called directly: nothing can interrupt it.
        """
        store = self.store
        if isinstance(store, AsyncAdapter) and store.inline:
            return await store.admit(reservation_id, charges, self.lease_s)
        step = asyncio.ensure_future(store.admit(reservation_id, charges, self.lease_s))
        try:
            return await asyncio.shield(step)
        except asyncio.CancelledError:
            await self._undo(self._give_back(reservation_id, step))
            raise

    async def _step(self, work: Coroutine[Any, Any, T]) -> T:
        """Await a store step that must land once started (a settle, a release: interrupted,
        it would leave the reservation, or a concurrency slot, held until its lease ends). It
        runs in a task the caller's cancellation does not reach; a cancelled caller waits for it
        to end, then its ``CancelledError`` goes on (see :meth:`_wait_out`)."""
        store = self.store
        if isinstance(store, AsyncAdapter) and store.inline:
            return await work
        task = self._in_background(work)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await self._wait_out(task)
            raise

    async def _undo(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (the clean-up of a cancelled step) before the cancellation goes on, so
        that the store holds nothing for the cancelled call once its caller has stopped."""
        await self._wait_out(self._in_background(work))

    @staticmethod
    async def _wait_out(task: asyncio.Task[Any]) -> None:
        """Wait for ``task``, the end of a store step whose caller is cancelled. Cancelled
        again meanwhile, stop waiting at once: the guard holds ``task``, which ends in the
        background (:meth:`close` waits for it). The caller re-raises its own cancellation."""
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([task])
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("a store step of a cancelled call failed: %r", task.exception())

    async def _give_back(
        self, reservation_id: str, step: asyncio.Future[Admission] | None = None
    ) -> None:
        """Release the reservation of an admission whose caller got no ticket, once its store
        ``step`` (if still running) has ended."""
        if step is not None:
            try:
                result = await step
            except Exception as exc:  # noqa: BLE001 - nothing reserved that a release could undo
                log.warning("cancelled admission %s failed in the store: %r", reservation_id, exc)
                return
            if not result.admitted:
                return
        try:
            await self.store.release(reservation_id)
        except Exception:  # noqa: BLE001 - logged; the caller is cancelled and gone
            log.exception("could not release the reservation of cancelled admission %s; its "
                          "lease will charge it in full", reservation_id)  # fmt: skip

    def _in_background(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``work`` in a task held until it ends; :meth:`close` waits for it. Called on the
        event loop's thread (a coroutine, or a finalizer running there). ``work`` handles its
        own errors, unless its caller awaits it."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _finish_background(self) -> None:
        """Wait until no background work is left (work may start more: wait again)."""
        current = asyncio.current_task()
        while pending := [task for task in self._background if task is not current]:
            await asyncio.wait(pending)
