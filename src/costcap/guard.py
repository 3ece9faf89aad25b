"""The Guard: policy → worst case → one atomic admission → settle, with alerts.

``Guard`` (sync) and ``AsyncGuard`` (asyncio) have the same methods; everything that is not I/O
lives in ``_Core`` and in :mod:`costcap.admission`, so the two cannot drift apart.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from costcap import admission as adm
from costcap.alerts import CallableNotifier, LogNotifier, Notifier, notify_all
from costcap.budgets import Budget, CallScope
from costcap.errors import StoreUnavailable
from costcap.money import micros_ceil_from_usd, parse_usd, to_micros_ceil
from costcap.policy import Bounds, CostCapExceeded, Policy
from costcap.pricing import Cost, ModelPrice, PriceCatalog, default_catalog, usage_from
from costcap.stores import AsyncStore, Store, open_async_store, open_store
from costcap.tokens import TokenCount, count_messages, count_responses_input
from costcap.worst_case import WorstCase, has_cache_control, worst_case_for

__all__ = ["AsyncGuard", "Guard", "Ticket"]

log = logging.getLogger("costcap.guard")
DEFAULT_STORE = "sqlite:///costcap.db"
DEFAULT_LEASE_S = 600.0


@dataclass(eq=False)
class Ticket:
    """An admitted call: what it may spend and where it was reserved."""

    id: str
    model: str
    scope: CallScope
    max_tokens: int
    requested_max_tokens: int | None
    clamped: bool  # the request asked for more than the cap and got the cap
    injected: bool  # the request carried no max_tokens; the policy's default was set
    worst_case: WorstCase | None  # None when admitted with an explicit dollar amount
    price: ModelPrice = field(repr=False)  # resolved at admission: provider and time window kept
    reserved_micros: int
    applied: list[adm.Applied] = field(repr=False)
    spent_before: list[int] = field(repr=False)
    done: bool = False
    cost: Cost | None = None

    @property
    def reserved_usd(self) -> Decimal:
        return adm.micros_usd(self.reserved_micros)

    @property
    def budgets(self) -> list[str]:
        return [a.budget.id for a in self.applied]

    def request_params(self) -> dict[str, Any]:
        """What the outgoing request must carry: ``{"max_tokens": …}``."""
        return {"max_tokens": self.max_tokens}


class _Core:
    def __init__(
        self,
        *,
        budgets: Iterable[Budget],
        policy: Policy | None,
        catalog: PriceCatalog | None,
        notifiers: Iterable[Notifier | Callable[[Any], object]] | None,
        lease_s: float,
        strict: bool,
        fail_open: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self.budgets: tuple[Budget, ...] = tuple(budgets)
        ids = [b.id for b in self.budgets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two budgets share an id; name them: {sorted(ids)}")
        self.policy = policy or Policy()
        self.catalog = catalog or default_catalog()
        chosen = [LogNotifier()] if notifiers is None else list(notifiers)
        self.notifiers: tuple[Notifier, ...] = tuple(
            n if isinstance(n, Notifier) else CallableNotifier(n) for n in chosen
        )
        self.lease_s = lease_s
        self.strict = strict
        self.fail_open = fail_open
        self.clock = clock
        self._fired: set[str] = set()

    # -- pure steps -------------------------------------------------------------------------------

    def prepare(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]] | None,
        max_tokens: int | None,
        user_id: str | None,
        feature: str | None,
        api_key: str | None,
        system: Any,
        tools: Iterable[Mapping[str, Any]] | None,
        input: Any,
        instructions: str | None,
        reserve_usd: Decimal | int | float | str | None,
    ) -> tuple[Ticket, list[Any]]:
        price = self.catalog.resolve(model)
        bounds: Bounds = self.policy.bound(
            model=model,
            feature=feature,
            max_tokens=max_tokens,
            model_max_output=price.max_output_tokens,
        )
        worst: WorstCase | None = None
        if reserve_usd is not None:
            amount = micros_ceil_from_usd(parse_usd(reserve_usd, what="reserve_usd"))
        else:
            counted = self._count(model, messages, system, tools, input, instructions)
            cache = has_cache_control(messages, system, tools)
            worst = worst_case_for(
                price, counted, max_tokens=bounds.max_tokens, strict=self.strict, cache_write=cache
            )
            if bounds.max_cost_usd is not None and worst.usd > bounds.max_cost_usd:
                raise CostCapExceeded(worst.usd, bounds.max_cost_usd)
            amount = to_micros_ceil(worst.pico)
        scope = CallScope(model=price.model, feature=feature, user_id=user_id, api_key=api_key)
        applied, charges = adm.charges_for(self.budgets, scope, amount, self.clock())
        ticket = Ticket(
            id=os.urandom(16).hex(),
            model=price.model,
            scope=scope,
            max_tokens=bounds.max_tokens,
            requested_max_tokens=bounds.requested_max_tokens,
            clamped=bounds.clamped,
            injected=bounds.injected,
            worst_case=worst,
            price=price,
            reserved_micros=amount,
            applied=applied,
            spent_before=[],
        )
        return ticket, charges

    def _count(  # noqa: PLR0917 - a private step fed by prepare()
        self, model: str, messages: Any, system: Any, tools: Any, input: Any, instructions: Any
    ) -> TokenCount:
        prefer: Literal["estimate", "upper-bound"] = "upper-bound" if self.strict else "estimate"
        tool_list = list(tools) if tools is not None else None
        if input is not None:
            return count_responses_input(
                input, model, instructions=instructions, tools=tool_list, prefer=prefer
            )
        return count_messages(
            list(messages or []), model, system=system, tools=tool_list, prefer=prefer
        )

    def price(self, ticket: Ticket, usage: object) -> tuple[Cost, list[int]]:
        """The exact cost of ``usage`` and what each reserved counter is settled with."""
        _open(ticket)
        cost = ticket.price.cost(usage_from(usage))
        return cost, [to_micros_ceil(cost.total_pico)] * len(ticket.applied)

    def dollars(self, ticket: Ticket, cost_usd: Decimal | int | float | str) -> list[int]:
        """What each reserved counter is settled with for a cost priced elsewhere."""
        _open(ticket)
        actual = micros_ceil_from_usd(parse_usd(cost_usd, what="cost_usd"))
        return [actual] * len(ticket.applied)

    def due_on_admit(self, ticket: Ticket) -> list[tuple[str, Any]]:
        return self._unfired(adm.alerts_due(ticket.applied, ticket.spent_before))

    def due_on_settle(self, ticket: Ticket, actual: int) -> list[tuple[str, Any]]:
        # At least what was spent at admission plus this call is spent now: no read needed.
        spent = [before + actual for before in ticket.spent_before]
        return self._unfired(adm.alerts_due(ticket.applied, spent))

    def _unfired(self, due: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        return [(marker, alert) for marker, alert in due if marker not in self._fired]

    def fired(self, marker: str, alert: Any, granted: bool) -> None:
        self._fired.add(marker)
        if granted:
            notify_all(self.notifiers, alert)

    def unavailable(self, exc: StoreUnavailable, ticket: Ticket) -> Ticket:
        if not self.fail_open:
            raise exc
        log.error("store unavailable, admitting without a reservation (fail_open): %s", exc)
        ticket.applied = []
        return ticket

    def status_windows(
        self, user_id: str | None, feature: str | None, api_key: str | None, model: str | None
    ) -> list[adm.Applied]:
        """Without a scope: the global and fixed-member budgets; with one: all that apply."""
        scope = None
        if any(v is not None for v in (user_id, feature, api_key, model)):
            scope = CallScope(model=model or "", feature=feature, user_id=user_id, api_key=api_key)
        now = self.clock()
        out = []
        for budget in self.budgets:
            member = budget.applies_to(scope) if scope is not None else None
            if member is None:
                if budget.member == "*" or (scope is not None):
                    continue
                member = budget.member or ""
            out.append(adm.Applied(budget, member, budget.window_at(now)))
        return out


def _now() -> datetime:
    return datetime.now(UTC)


def _open(ticket: Ticket) -> None:
    if ticket.done:
        raise ValueError(f"ticket {ticket.id} is already settled or released")


def _config_kwargs(path: str | Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    from costcap.config import load_config

    config = load_config(path)
    kwargs: dict[str, Any] = {
        "store": config.store,
        "budgets": config.budgets,
        "policy": config.policy,
        "catalog": PriceCatalog.from_toml(path),
        "notifiers": [LogNotifier(), *config.notifiers],
        "lease_s": config.lease_s,
        "strict": config.strict,
        "fail_open": config.fail_open,
    }
    kwargs.update(overrides)
    return kwargs


class Guard(_Core):
    """``Guard(store="sqlite:///costcap.db", budgets=[...], policy=Policy(...))``."""

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        *,
        budgets: Iterable[Budget] = (),
        policy: Policy | None = None,
        catalog: PriceCatalog | None = None,
        notifiers: Iterable[Notifier | Callable[[Any], object]] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        strict: bool = False,
        fail_open: bool = False,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(
            budgets=budgets,
            policy=policy,
            catalog=catalog,
            notifiers=notifiers,
            lease_s=lease_s,
            strict=strict,
            fail_open=fail_open,
            clock=clock,
        )
        self.store: Store = open_store(store) if isinstance(store, str) else store

    @classmethod
    def from_config(cls, path: str | Path, **overrides: Any) -> Guard:
        """A Guard from ``costcap.toml``: store, budgets, allocation, policy, alerts, prices."""
        return cls(**_config_kwargs(path, overrides))

    def admit(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]] | None = None,
        max_tokens: int | None = None,
        user_id: str | None = None,
        feature: str | None = None,
        api_key: str | None = None,
        system: Any = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
        input: Any = None,
        instructions: str | None = None,
        reserve_usd: Decimal | int | float | str | None = None,
    ) -> Ticket:
        """Bound the call, reserve its worst case in every budget that applies, or raise
        ``BudgetExceeded`` / a ``PolicyViolation`` / ``StoreUnavailable`` with nothing reserved."""
        ticket, charges = self.prepare(
            model=model, messages=messages, max_tokens=max_tokens, user_id=user_id,
            feature=feature, api_key=api_key, system=system, tools=tools, input=input,
            instructions=instructions, reserve_usd=reserve_usd,
        )  # fmt: skip
        if not charges:
            return ticket
        try:
            result = self.store.admit(ticket.id, charges, self.lease_s)
        except StoreUnavailable as exc:
            return self.unavailable(exc, ticket)
        if not result.admitted:
            marker, alert = adm.exhausted_alert(ticket.applied, result)
            if marker not in self._fired:
                self.fired(marker, alert, self.store.mark_once(marker, adm.MARKER_TTL_S))
            raise adm.refusal(ticket.applied, result, ticket.reserved_micros)
        ticket.spent_before = adm.spent_before(result)
        self._fire(self.due_on_admit(ticket), ticket)
        return ticket

    def settle(self, ticket: Ticket, usage: object) -> Cost:
        """Replace the reservation by the actual cost of ``usage`` (an SDK usage object or a
        mapping such as ``{"input_tokens": 812, "output_tokens": 230}``). Returns the exact cost."""
        cost, actuals = self.price(ticket, usage)
        if ticket.applied and not self.store.settle(ticket.id, actuals):
            log.error("reservation %s was unknown to the store at settle; cost %s", ticket.id, cost)
        ticket.done, ticket.cost = True, cost
        if actuals:
            self._fire(self.due_on_settle(ticket, actuals[0]), ticket)
        return cost

    def settle_cost(self, ticket: Ticket, cost_usd: Decimal | int | float | str) -> None:
        """Settle with a dollar amount instead of a usage (for costs priced elsewhere)."""
        actuals = self.dollars(ticket, cost_usd)
        ticket.done = True
        if actuals:
            self.store.settle(ticket.id, actuals)
            self._fire(self.due_on_settle(ticket, actuals[0]), ticket)

    def release(self, ticket: Ticket) -> None:
        """The call failed before the provider billed it: give the reservation back."""
        if ticket.done:
            return
        ticket.done = True
        if ticket.applied:
            self.store.release(ticket.id)

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
            self._settle_full(ticket)

    def _settle_full(self, ticket: Ticket) -> None:
        ticket.done = True
        if ticket.applied:
            self.store.settle(ticket.id, [ticket.reserved_micros] * len(ticket.applied))

    def _fire(self, due: list[tuple[str, Any]], ticket: Ticket) -> None:
        for marker, alert in due:
            self.fired(marker, alert, self.store.mark_once(marker, adm.MARKER_TTL_S))

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

    def close(self) -> None:
        self.store.close()


class AsyncGuard(_Core):
    """The Guard for asyncio code; the same methods, awaited."""

    def __init__(
        self,
        store: str | AsyncStore = DEFAULT_STORE,
        *,
        budgets: Iterable[Budget] = (),
        policy: Policy | None = None,
        catalog: PriceCatalog | None = None,
        notifiers: Iterable[Notifier | Callable[[Any], object]] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        strict: bool = False,
        fail_open: bool = False,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(
            budgets=budgets,
            policy=policy,
            catalog=catalog,
            notifiers=notifiers,
            lease_s=lease_s,
            strict=strict,
            fail_open=fail_open,
            clock=clock,
        )
        self.store: AsyncStore = open_async_store(store) if isinstance(store, str) else store

    @classmethod
    def from_config(cls, path: str | Path, **overrides: Any) -> AsyncGuard:
        return cls(**_config_kwargs(path, overrides))

    async def admit(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]] | None = None,
        max_tokens: int | None = None,
        user_id: str | None = None,
        feature: str | None = None,
        api_key: str | None = None,
        system: Any = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
        input: Any = None,
        instructions: str | None = None,
        reserve_usd: Decimal | int | float | str | None = None,
    ) -> Ticket:
        ticket, charges = self.prepare(
            model=model, messages=messages, max_tokens=max_tokens, user_id=user_id,
            feature=feature, api_key=api_key, system=system, tools=tools, input=input,
            instructions=instructions, reserve_usd=reserve_usd,
        )  # fmt: skip
        if not charges:
            return ticket
        try:
            result = await self.store.admit(ticket.id, charges, self.lease_s)
        except StoreUnavailable as exc:
            return self.unavailable(exc, ticket)
        if not result.admitted:
            marker, alert = adm.exhausted_alert(ticket.applied, result)
            if marker not in self._fired:
                granted = await self.store.mark_once(marker, adm.MARKER_TTL_S)
                self.fired(marker, alert, granted)
            raise adm.refusal(ticket.applied, result, ticket.reserved_micros)
        ticket.spent_before = adm.spent_before(result)
        await self._fire(self.due_on_admit(ticket), ticket)
        return ticket

    async def settle(self, ticket: Ticket, usage: object) -> Cost:
        cost, actuals = self.price(ticket, usage)
        if ticket.applied and not await self.store.settle(ticket.id, actuals):
            log.error("reservation %s was unknown to the store at settle; cost %s", ticket.id, cost)
        ticket.done, ticket.cost = True, cost
        if actuals:
            await self._fire(self.due_on_settle(ticket, actuals[0]), ticket)
        return cost

    async def settle_cost(self, ticket: Ticket, cost_usd: Decimal | int | float | str) -> None:
        actuals = self.dollars(ticket, cost_usd)
        ticket.done = True
        if actuals:
            await self.store.settle(ticket.id, actuals)
            await self._fire(self.due_on_settle(ticket, actuals[0]), ticket)

    async def release(self, ticket: Ticket) -> None:
        if ticket.done:
            return
        ticket.done = True
        if ticket.applied:
            await self.store.release(ticket.id)

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
            ticket.done = True
            if ticket.applied:
                await self.store.settle(ticket.id, [ticket.reserved_micros] * len(ticket.applied))

    async def _fire(self, due: list[tuple[str, Any]], ticket: Ticket) -> None:
        for marker, alert in due:
            granted = await self.store.mark_once(marker, adm.MARKER_TTL_S)
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

    async def close(self) -> None:
        await self.store.close()
