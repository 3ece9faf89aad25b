"""The Guard: policy → worst case → one atomic admission (budgets and rate limits) → settle.

``Guard`` (sync, here) and ``AsyncGuard`` (asyncio, :mod:`costcap.async_guard`, re-exported
here) have the same methods; every step that is not I/O lives in
:class:`costcap.guard_core.GuardCore`, so the two cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import (
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costcap import admission as adm
from costcap.alerts import Alert, Notifier
from costcap.async_guard import AsyncGuard  # the asyncio twin, re-exported here
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
    Store,
    open_store,
)
from costcap.ticket import Hit, Routing, Ticket

if TYPE_CHECKING:
    from costcap.cache import CachedAnswer, ResponseCache
    from costcap.router import Pressure, Router

__all__ = ["AsyncGuard", "Guard", "Hit", "Ticket"]


class Guard(GuardCore):
    """``Guard(store="sqlite:///costcap.db", budgets=[...], limits=[...], policy=Policy(...))``.

    ``router`` (a :class:`costcap.router.Router`; ``from_config`` builds it from ``[router]``)
    routes the wrapped clients' calls that name a route (``model="costcap:auto"``); without
    one, a route name is refused with ``NoRoutes``. ``cache`` (a
    :class:`costcap.cache.ResponseCache`; ``from_config`` builds it from a ``[cache]`` that
    names a ``url``) answers the wrapped clients' identical requests unless ``wrap`` is given
    another (or ``cache=False``)."""

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
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
        cache: ResponseCache | None = None,
    ) -> None:
        super().__init__(
            budgets=budgets, limits=limits, policy=policy, catalog=catalog, notifiers=notifiers,
            lease_s=lease_s, strict=strict, fail_open=fail_open, clock=clock, observers=observers,
            router=router,
        )  # fmt: skip
        self.store: Store = open_store(store) if isinstance(store, str) else store
        self.cache = cache

    @classmethod
    def from_config(cls, path: str | Path, **overrides: Any) -> Guard:
        """A Guard from ``costcap.toml``: store, budgets, limits, policy, alerts, prices."""
        from costcap.cache import ResponseCache

        return cls(**config_kwargs(path, overrides, cache=ResponseCache))

    def admit(
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
        """Bound the call and reserve its worst case in every budget and rate limit that applies,
        in one atomic step — or raise ``BudgetExceeded`` / ``RateLimited`` / a
        ``PolicyViolation`` / ``StoreUnavailable`` with nothing reserved anywhere.

        ``budgets`` and ``limits`` are this call's own (a gateway key's, say), reserved in the
        same atomic step as the guard's; their ids must differ from the guard's.
        ``ticket.remaining_micros`` is the least any hard budget had left once it reserved."""
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
            result = self.store.admit(ticket.id, charges, self.lease_s)
        except StoreUnavailable as exc:
            self.timed(started, "store_unavailable")
            if not self.fail_open:
                self.emit(ticket, "refused", refused_by="store unavailable")
            return self.in_flight(self.unavailable(exc, ticket))
        if not result.admitted:
            self._refuse(ticket, result, started)
        self._fire(self.admitted(ticket, result))
        self.timed(started, "admitted")
        return self.in_flight(ticket)

    def _refuse(self, ticket: Ticket, result: Admission, started: float) -> None:
        hit = self.refused_limit(ticket, result)
        if hit is not None:
            buckets = self.store.read([(key,) for key in hit.window_keys])
            self.emit(ticket, "refused", refused_by=f"rate limit {hit.rule.id}")
            self.timed(started, "rate_limit")
            raise self.limit_refusal(result, hit, buckets)
        error, due = self.budget_refusal(ticket, result)
        self.emit(ticket, "refused", refused_by=f"budget {error.budget}")
        self.timed(started, "budget")
        self._fire(due)
        raise error

    def hit(
        self,
        rules: Sequence[RateLimit],
        *,
        user_id: str | None = None,
        api_key: str | None = None,
        endpoint: str | None = None,
        feature: str | None = None,
    ) -> Hit:
        """Count one request against request/concurrency ``rules`` alone (no LLM call), in one
        atomic step, or raise ``RateLimited``. Call :meth:`finish` when the request is done."""
        hit, charges = self.prepare_hit(
            rules, user_id=user_id, api_key=api_key, endpoint=endpoint, feature=feature
        )
        if not charges:
            return hit
        try:
            result = self.store.admit(hit.id, charges, self.lease_s)
        except StoreUnavailable as exc:
            if not self.fail_open:
                raise
            log.error("store unavailable, letting a request through (fail_open): %s", exc)
            hit.limits = []
            return hit
        if not result.admitted:
            assert result.refused is not None
            limited = hit.limits[result.refused]
            buckets = self.store.read([(key,) for key in limited.window_keys])
            raise self.limit_refusal(result, limited, buckets)
        hit.remaining = remaining(hit, result)
        return hit

    def answer_cached(
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
        """A call answered from the response cache: counted on the request-count rate limits
        that apply (or ``RateLimited``, recorded as refused) and recorded at $0, saving what
        the stored call cost. No budget is reserved: nothing is sent."""
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
                result = self.store.admit(hit.id, charges, self.lease_s)
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
                    buckets = self.store.read([(key,) for key in limited.window_keys])
                    self.emit_refused_early(
                        answer.model, user_id, feature, api_key, endpoint,
                        f"rate limit {limited.rule.id}", routing,
                    )  # fmt: skip
                    raise self.limit_refusal(result, limited, buckets)
                self._store_settle(hit.id, hit.settle_amounts())
        self.emit_cached(
            answer, requested_model, user_id, feature, api_key, endpoint, stream, began, routing
        )

    def finish(self, hit: Hit) -> None:
        """The request is done: keep its count, give its concurrency slots back."""
        if hit.done:
            return
        hit.done = True
        if hit.limits:
            self._store_settle(hit.id, hit.settle_amounts())

    def settle(
        self,
        ticket: Ticket,
        usage: object,
        *,
        stream: bool = False,
        status: Status = "ok",
        service_tier: str | None = None,
    ) -> Cost:
        """Replace the reservation by the actual cost of ``usage`` (an SDK usage object or a
        mapping such as ``{"input_tokens": 812, "output_tokens": 230}``), priced at the
        ``service_tier`` the provider reports it served (None: the tier admitted). Returns the
        exact cost."""
        cost, used, actuals = self.price(ticket, usage, service_tier)
        ticket.cost = cost
        try:
            if actuals:
                self._store_settle(ticket.id, actuals)
        finally:  # interrupted at the store or not, the call was billed: its event is recorded
            self.emit(ticket, status, usage=used, cost_pico=cost.total_pico, stream=stream)
        self._fire(self.settled(ticket, actuals))
        return cost

    def settle_cost(self, ticket: Ticket, cost_usd: Money) -> None:
        """Settle with a dollar amount instead of a usage (for costs priced elsewhere)."""
        pico, actuals = self.dollars(ticket, cost_usd)
        try:
            if actuals:
                self._store_settle(ticket.id, actuals)
        finally:
            self.emit(ticket, "ok", cost_pico=pico)
        self._fire(self.settled(ticket, actuals))

    def extend(self, ticket: Ticket) -> bool:
        """Renew the ticket's lease (a long stream): it runs ``lease_s`` from now again."""
        extended = (
            ticket.reserved and not ticket.done and self.store.extend(ticket.id, self.lease_s)
        )
        return self.renewed(ticket, bool(extended))

    def release(self, ticket: Ticket) -> None:
        """The call failed before the provider billed it: give the reservation back."""
        if ticket.done:
            return
        ticket.done = True
        if ticket.reserved:
            try:
                self.store.release(ticket.id)
            except StoreUnavailable as exc:
                self.store_failed("release", ticket.id, exc)
        self.emit(ticket, "error")

    @contextmanager
    def call(self, **kwargs: Any) -> Iterator[Ticket]:
        """``with guard.call(model=…, messages=…) as ticket: …; guard.settle(ticket, usage)``.

        An exception inside the block releases the reservation; leaving the block without
        settling charges the full reservation (spend that may have been billed is never lost).
        """
        ticket = self.admit(**kwargs)
        try:
            yield ticket
        except BaseException:
            self.release(ticket)
            raise
        if not ticket.done:
            log.warning("ticket %s left unsettled; charging its full reservation", ticket.id)
            actuals = self.in_full(ticket)
            if actuals:
                self._store_settle(ticket.id, actuals)
            self.emit(ticket, "ok", cost_pico=ticket.reserved_micros * PICO_PER_MICRO)
            self._fire(self.settled(ticket, actuals))

    def _store_settle(self, reservation_id: str, actuals: list[int]) -> None:
        """Settle in the store; a store that fails here is logged, never raised: the call was
        answered and billed, its event is recorded all the same, and the lease charges the
        reservation in full if the store never hears of it."""
        try:
            known = self.store.settle(reservation_id, actuals)
        except StoreUnavailable as exc:
            self.store_failed("settle", reservation_id, exc)
        else:
            if not known:
                self.store_failed("settle", reservation_id, None)

    def _fire(self, due: Due) -> None:
        for marker, alert in due:
            try:
                granted = self.store.mark_once(marker, self.marker_ttl_s(alert))
            except StoreUnavailable as exc:
                granted = self.marker_failed(marker, exc)
            self.fired(marker, alert, granted)

    def status(
        self,
        *,
        user_id: str | None = None,
        feature: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
    ) -> list[adm.BudgetStatus]:
        """Each budget's limit, spent, reserved and period as plain data. Without arguments:
        the global and fixed-member budgets; with a scope: every budget that applies to it."""
        windows = self.status_windows(user_id, feature, api_key, model)
        states = self.store.read([a.window_keys for a in windows])
        return [adm.status_of(a, s) for a, s in zip(windows, states, strict=True)]

    def pressure(
        self, *, feature: str | None = None, user_id: str | None = None, models: Iterable[str] = ()
    ) -> Pressure:
        """Budget pressure for the router (:class:`costcap.router.Pressure`), in one store
        read: the largest share spent — reservations counted — of the budgets of ``feature``
        and of ``user_id``, and which of ``models`` have a hard budget of their own with
        nothing left."""
        windows = self.pressure_windows(feature, user_id, models)
        states = self.store.read([a.window_keys for _, a in windows]) if windows else []
        return self.pressure_of(windows, states)

    def close(self) -> None:
        """Close the store, and the response cache the Guard holds."""
        self.store.close()
        if self.cache is not None:
            self.cache.close()
