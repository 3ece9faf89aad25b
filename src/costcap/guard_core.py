"""What the sync and async Guards share: every step that is not I/O.

``Guard`` and ``AsyncGuard`` only move data between these steps and their store, so the two
cannot drift apart.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from random import getrandbits
from typing import TYPE_CHECKING, Any, Literal

from costcap import admission as adm
from costcap._checks import usd
from costcap.alerts import Alert, CallableNotifier, LogNotifier, Notifier, notify_all
from costcap.budgets import MAX_LIMIT_USD, MAX_ROLLING_S, Budget, CallScope
from costcap.errors import BudgetExceeded, ConfigError, StoreUnavailable, UsageError
from costcap.ledger import CostEvent, InFlight, Status
from costcap.limits import (
    AppliedLimit,
    Kind,
    RateLimit,
    RateLimited,
    limit_charges,
    retry_after_s,
    settled_amount,
)
from costcap.money import (
    PICO_PER_MICRO,
    micros_ceil_from_usd,
    parse_usd,
    pico_ceil_from_usd,
    to_micros_ceil,
    usd_text,
)
from costcap.observe import (
    AdmissionObserver,
    AlertObserver,
    InFlightObserver,
    Observer,
    notify_admission,
    notify_alert,
    notify_event,
    notify_in_flight,
)
from costcap.policy import Bounds, CostCapExceeded, Policy, PolicyViolation
from costcap.pricing import Cost, PriceCatalog, Usage, default_catalog, usage_from
from costcap.service_tiers import TIERS, check_tier, price_context
from costcap.stores import Admission, Charge, CounterState
from costcap.ticket import Hit, Routing, Ticket
from costcap.tokens import TokenCount, count_messages, count_responses_input
from costcap.usage_bounds import BEYOND_REQUEST, beyond_alert, bounded_usage
from costcap.worst_case import WorstCase, cache_write_possible, worst_case_for

if TYPE_CHECKING:
    from costcap.cache import CachedAnswer
    from costcap.router import Pressure, Router

__all__ = [
    "DEFAULT_LEASE_S",
    "DEFAULT_STORE",
    "GuardCore",
    "Money",
    "config_kwargs",
    "remaining",
    "utc_now",
]

log = logging.getLogger("costcap.guard")
DEFAULT_STORE = "sqlite:///costcap.db"
DEFAULT_LEASE_S = 600.0
CONCURRENCY_RETRY_HINT_S = 1.0  # a slot frees when some call ends; we cannot know when
Due = list[tuple[str, Alert]]
_BOUNDS_MEMORY = 4096  # (model, feature, max_tokens) combinations remembered
_FIRED_MEMORY = 100_000  # alert markers remembered locally (each saves the store a round trip)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A unique request id, 32 hex digits: the time in milliseconds (48 bits), then 80 random
    bits — like a UUIDv7, ids sort by time, so the ledger's unique index on them grows at its
    end instead of being written at random pages (SQLite measured 14k → see
    ``benchmarks/results/ledger.md`` on a ledger of a million events).

    From ``random`` (seeded from the OS, re-seeded in a forked child), not ``os.urandom``:
    ids need uniqueness, not secrecy, and ``os.urandom`` is a system call that gives up the
    GIL on every admission — letting a busy background thread (the ledger's drain) in.
    """
    # bytes.hex rather than two ``:0Nx`` formats: the same 32 digits (the milliseconds fit 48
    # bits until the year 10889), half the time after an SDK call has left the latter cold
    return ((time.time_ns() // 1_000_000) << 80 | getrandbits(80)).to_bytes(16, "big").hex()


class GuardCore:
    def __init__(
        self,
        *,
        budgets: Iterable[Budget],
        limits: Iterable[RateLimit],
        policy: Policy | None,
        catalog: PriceCatalog | None,
        notifiers: Iterable[Notifier | Callable[[Alert], object]] | None,
        lease_s: float,
        strict: bool,
        fail_open: bool,
        clock: Callable[[], datetime],
        observers: Iterable[object] = (),
        router: Router | None = None,
    ) -> None:
        if router is not None:
            from costcap.router import Router

            if not isinstance(router, Router):
                raise ConfigError(f"router: a costcap.router.Router or None, not {router!r}")
        #: Routes ``costcap:auto`` / ``costcap:<tier>`` calls of the wrapped clients (None: a
        #: route name is refused with NoRoutes).
        self.router = router
        self.observers: tuple[object, ...] = tuple(observers)
        self._event_observers = tuple(o for o in self.observers if isinstance(o, Observer))
        self._timing_observers = tuple(
            o for o in self.observers if isinstance(o, AdmissionObserver)
        )
        self._flight_observers = tuple(o for o in self.observers if isinstance(o, InFlightObserver))
        self._alert_observers = tuple(o for o in self.observers if isinstance(o, AlertObserver))
        self.budgets: tuple[Budget, ...] = tuple(budgets)
        self.limits: tuple[RateLimit, ...] = tuple(limits)
        for kind, ids in (
            ("budgets", [b.id for b in self.budgets]),
            ("rate limits", [r.id for r in self.limits]),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"two {kind} share an id; name them: {sorted(ids)}")
        self.policy = policy or Policy()
        self.catalog = catalog or default_catalog()
        chosen = [LogNotifier()] if notifiers is None else list(notifiers)
        self.notifiers: tuple[Notifier, ...] = tuple(
            n if isinstance(n, Notifier) else CallableNotifier(n) for n in chosen
        )
        number = isinstance(lease_s, int | float) and not isinstance(lease_s, bool)
        if not number or not 0 < lease_s <= MAX_ROLLING_S:
            raise ConfigError(
                f"lease_s must be a number of seconds above 0 and at most {MAX_ROLLING_S} "
                f"(366 days, the longest window a store keeps), not {lease_s!r}"
            )
        self.lease_s = lease_s
        self.strict = strict
        self.fail_open = fail_open
        self.clock = clock
        self._fired: set[str] = set()
        self._applied: adm.AppliedCache = {}
        self._bounds_of = self.policy
        self._bounds: dict[tuple[str, str | None, int | None, int | None], Bounds] = {}

    # -- admission ---------------------------------------------------------------------------------

    def prepare(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]] | None,
        max_tokens: int | None,
        user_id: str | None,
        feature: str | None,
        api_key: str | None,
        endpoint: str | None,
        system: Any,
        tools: Iterable[Mapping[str, Any]] | None,
        input: Any,
        instructions: str | None,
        reserve_usd: Decimal | int | float | str | None,
        service_tier: str | None = None,
        modalities: Iterable[str] | None = None,
        routing: Routing | None = None,
        budgets: Sequence[Budget] = (),
        limits: Sequence[RateLimit] = (),
    ) -> tuple[Ticket, list[Charge]]:
        """Policy, worst case and the charges of every budget and limit; raises a
        PolicyViolation (or UnknownServiceTier) before anything is reserved. ``routing``: how
        the router chose ``model`` (the Ticket carries it). ``budgets`` and ``limits``: this
        call's own (a gateway key's), reserved with the guard's in the same atomic step."""
        price = self.catalog.resolve(model)
        if check_tier(service_tier) is not None:
            context = price_context(price.provider, service_tier)
            if context is not None:
                price = self.catalog.resolve(model, context=context)
        bounds = self._bound(model, feature, max_tokens, price.max_output_tokens)
        counted: TokenCount | None = None
        worst: WorstCase | None = None
        input_tokens = 0
        cache = False
        if reserve_usd is not None:
            value = usd(reserve_usd, "reserve_usd")
            if value > MAX_LIMIT_USD:
                raise ConfigError(f"reserve_usd is at most $1,000,000,000, not {reserve_usd!r}")
            amount = micros_ceil_from_usd(value)
        else:
            counted = self._count(model, messages, system, tools, input, instructions)
            input_tokens = counted.upper_bound if self.strict else counted.tokens
            # the input may be billed as a cache write dearer than input (see worst_case.py)
            cache = cache_write_possible(price, messages, system, tools, input)
            audio = modalities is not None and "audio" in modalities  # audio output asked for
            if bounds.max_cost_usd is not None or audio:  # priced in full (dollar cap, audio)
                worst = worst_case_for(price, counted, max_tokens=bounds.max_tokens,
                                       strict=self.strict, cache_write=cache,
                                       audio_output=audio)  # fmt: skip
                if bounds.max_cost_usd is not None and worst.usd > bounds.max_cost_usd:
                    raise CostCapExceeded(worst.usd, bounds.max_cost_usd)
                pico = worst.pico
            else:
                pico = price.total_pico(input_tokens, bounds.max_tokens,
                                        input_tokens if cache else 0)  # fmt: skip
            amount = to_micros_ceil(pico)
        scope = CallScope(
            model=price.model, feature=feature, user_id=user_id, api_key=api_key, endpoint=endpoint
        )
        # seconds, for budgets and limits alike: the default clock gives them without building a
        # datetime (after an SDK call datetime.now costs ~10 µs, time.time ~1 µs); a clock given
        # to the Guard (tests, simulations) is asked as before
        now_s = time.time() if self.clock is utc_now else self.clock().timestamp()
        applied, charges = adm.charges_for(self.budgets, scope, amount, now_s, self._applied)
        if budgets:  # the call's own: few, and not remembered (they change with their key)
            own, own_charges = adm.charges_for(budgets, scope, amount, now_s)
            applied += own
            charges += own_charges
        tokens = input_tokens + bounds.max_tokens
        limited: list[AppliedLimit] = []
        rules = (*self.limits, *limits) if limits else self.limits
        if rules:
            amounts: dict[Kind, int] = {
                "requests": 1, "tokens": tokens, "dollars": amount, "concurrent": 1,
            }  # fmt: skip
            limited, limit_charged = limit_charges(
                rules, scope, amounts, now_s=now_s, lease_s=self.lease_s
            )
            charges += limit_charged
        ticket = Ticket(
            requested_model=model,
            prompt_hash=self._digest(model, messages, system, input, instructions),
            started=time.perf_counter(),
            id=new_id(),
            model=price.model,
            scope=scope,
            max_tokens=bounds.max_tokens,
            requested_max_tokens=bounds.requested_max_tokens,
            clamped=bounds.clamped,
            injected=bounds.injected,
            counted=counted,
            price=price,
            reserved_micros=amount,
            reserved_tokens=tokens,
            applied=applied,
            limits=limited,
            input_tokens=input_tokens,
            strict=self.strict,
            cache_write=cache,
            service_tier=service_tier,
            _worst=worst,
        )
        if routing is not None:
            routed(ticket, routing)
        return ticket, charges

    def _bound(
        self, model: str, feature: str | None, max_tokens: int | None, max_output: int | None
    ) -> Bounds:
        """``policy.bound``, remembered per (model, feature, max_tokens): the same few
        combinations recur on every call. Violations raise every time (never cached)."""
        policy = self.policy
        if type(max_tokens) is not int and max_tokens is not None:  # let the policy say why
            return policy.bound(
                model=model, feature=feature, max_tokens=max_tokens, model_max_output=max_output
            )
        if self._bounds_of is not policy:  # policy replaced on this Guard
            self._bounds_of, self._bounds = policy, {}
        key = (model, feature, max_tokens, max_output)
        found = self._bounds.get(key)
        if found is None:
            found = policy.bound(
                model=model, feature=feature, max_tokens=max_tokens, model_max_output=max_output
            )
            if len(self._bounds) >= _BOUNDS_MEMORY:
                self._bounds.clear()
            self._bounds[key] = found
        return found

    def _digest(
        self, model: str, messages: Any, system: Any, input: Any, instructions: Any
    ) -> str | None:
        """A digest of the request (runaway-loop detection), equal for equal requests in any
        process. ``repr`` of the request's plain values (str, int, dict, list: the same in every
        process) is ~2x cheaper than ``json.dumps``; dicts keep their keys' order, which a
        repeating code path repeats."""
        if not self._event_observers or (messages is None and input is None):
            return None
        body = repr((model, messages, system, input, instructions))
        return hashlib.blake2b(body.encode(errors="surrogatepass"), digest_size=16).hexdigest()

    # -- events ------------------------------------------------------------------------------------

    def emit(
        self,
        ticket: Ticket,
        status: Status,
        *,
        usage: Usage | None = None,
        cost_pico: int = 0,
        refused_by: str | None = None,
        stream: bool = False,
    ) -> None:
        """Tell the observers (ledger, metrics, traces) what happened to an admitted call."""
        if not self._event_observers:
            return
        scope = ticket.scope
        event = CostEvent(
            request_id=ticket.id,
            ts=self.clock(),
            status=status,
            model=ticket.model,
            requested_model=ticket.requested_model,
            provider=ticket.price.provider,
            user_id=scope.user_id,
            feature=scope.feature,
            api_key_id=scope.api_key,
            endpoint=scope.endpoint,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cache_read_tokens=usage.cache_read_tokens if usage else 0,
            cache_write_tokens=usage.cache_write_tokens if usage else 0,
            cost_pico=cost_pico,
            latency_ms=(time.perf_counter() - ticket.started) * 1000 if ticket.started else None,
            stream=stream,
            refused_by=refused_by,
            cache_miss=ticket.cache_miss,
            prompt_hash=ticket.prompt_hash,
            tier=ticket.tier,
            route_reason=ticket.route_reason,
            cascade_id=ticket.cascade_id,
            flag=BEYOND_REQUEST if ticket.beyond else ticket.flag,
            service_tier=ticket.service_tier,
        )
        notify_event(self._event_observers, event)

    def in_flight(self, ticket: Ticket) -> Ticket:
        """Tell the observers that keep calls in flight (the ledger) that ``ticket`` was admitted,
        or its lease renewed: it holds its reservation for ``lease_s`` from now. Returns it."""
        if self._flight_observers:
            if self.clock is utc_now:  # microseconds since the epoch, without a datetime
                at = time.time_ns() // 1000
            else:
                at = round(self.clock().timestamp() * 1e6)
            scope = ticket.scope
            call = InFlight(
                ticket.id, at, at + round(self.lease_s * 1e6), ticket.model,
                ticket.requested_model, ticket.price.provider, scope.user_id, scope.feature,
                scope.api_key, scope.endpoint, ticket.reserved_micros * PICO_PER_MICRO,
                ticket.input_tokens, ticket.max_tokens, ticket.service_tier,
            )  # fmt: skip
            notify_in_flight(self._flight_observers, call)
        return ticket

    def renewed(self, ticket: Ticket, extended: bool) -> bool:
        """After a lease renewal (``extended``: the store renewed it): the call is still in
        flight (also without a reservation, whose lease is only the ledger's). ``extended``."""
        if extended or not (ticket.reserved or ticket.done):
            self.in_flight(ticket)
        return extended

    def emit_refused_early(  # noqa: PLR0917 - a private step with the admit arguments
        self, model: str, user_id: str | None, feature: str | None, api_key: str | None,
        endpoint: str | None, reason: str, routing: Routing | None = None,
    ) -> None:  # fmt: skip
        """A call refused by policy before a ticket existed (``routing``: after the router
        chose ``model``)."""
        if not self._event_observers:
            return
        event = CostEvent(
            request_id=new_id(), ts=self.clock(), status="refused", model=model,
            requested_model=model if routing is None else routing.requested_model,
            user_id=user_id, feature=feature, api_key_id=api_key, endpoint=endpoint,
            refused_by=reason, tier=routing.tier if routing else None,
            route_reason=routing.reason if routing else None,
            cascade_id=routing.cascade_id if routing else None,
        )  # fmt: skip
        notify_event(self._event_observers, event)

    def timed(self, started: float, outcome: str) -> None:
        if self._timing_observers:
            notify_admission(self._timing_observers, time.perf_counter() - started, outcome)

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

    def admitted(self, ticket: Ticket, result: Admission) -> Due:
        """Record the state the atomic step returned; the thresholds it shows as reached."""
        applied = ticket.applied
        ticket.spent_before = [state.spent for state in result.states[: len(applied)]]
        left = [
            a.budget.limit_micros - s.spent - s.reserved
            for a, s in zip(applied, result.states, strict=False)
            if a.budget.hard
        ]
        ticket.remaining_micros = max(0, min(left)) if left else None
        return adm.alerts_due(ticket.applied, ticket.spent_before, self._fired)

    def refused_limit(self, ticket: Ticket, result: Admission) -> AppliedLimit | None:
        """The rate limit that refused the call (None: a budget did)."""
        index = result.refused
        assert index is not None
        return None if index < len(ticket.applied) else ticket.limits[index - len(ticket.applied)]

    def budget_refusal(self, ticket: Ticket, result: Admission) -> tuple[BudgetExceeded, Due]:
        due = self._unfired(adm.exhausted_alert(ticket.applied, result, ticket.reserved_micros))
        return adm.refusal(ticket.applied, result, ticket.reserved_micros), due

    def limit_refusal(
        self, result: Admission, hit: AppliedLimit, buckets: Sequence[CounterState]
    ) -> RateLimited:
        """Explain a refused rate limit; ``buckets`` are its window's counters, oldest first."""
        assert result.refused is not None
        state = result.states[result.refused]
        rule = hit.rule
        if hit.window is None:
            retry: float | None = CONCURRENCY_RETRY_HINT_S
        else:
            retry = retry_after_s(
                hit.window, buckets, rule.limit, hit.amount, self.clock().timestamp()
            )
        return RateLimited(
            rule=rule.id,
            per=rule.per,
            identity=hit.member,
            kind=rule.kind,
            limit=rule.limit,
            used=state.spent + state.reserved,
            requested=hit.amount,
            window_s=rule.window_s,
            retry_after_s=retry,
            policy=rule.policy_header,
        )

    # -- endpoint hits (rate limits alone, no LLM call) -------------------------------------------

    def prepare_hit(
        self,
        rules: Sequence[RateLimit],
        *,
        user_id: str | None,
        api_key: str | None,
        endpoint: str | None,
        feature: str | None,
        model: str = "",
    ) -> tuple[Hit, list[Charge]]:
        for rule in rules:
            if rule.kind not in ("requests", "concurrent"):
                raise ValueError(f"rate limit {rule.id!r}: an endpoint hit carries no {rule.kind}")
        scope = CallScope(
            model=model, feature=feature, user_id=user_id, api_key=api_key, endpoint=endpoint
        )
        amounts: dict[Kind, int] = {"requests": 1, "concurrent": 1, "tokens": 0, "dollars": 0}
        applied, charges = limit_charges(
            rules, scope, amounts, now_s=self.clock().timestamp(), lease_s=self.lease_s
        )
        return Hit(new_id(), applied), charges

    # -- the response cache ------------------------------------------------------------------------

    def cache_cap(
        self,
        *,
        model: str,
        max_tokens: int | None,
        user_id: str | None = None,
        feature: str | None = None,
        api_key: str | None = None,
        endpoint: str | None = None,
        routing: Routing | None = None,
    ) -> int:
        """The output cap the policy gives a call (the cache's key holds it, so a request is
        looked up as it would be sent). A call the policy refuses is recorded and raised here,
        as :meth:`admit` would."""
        try:
            price = self.catalog.resolve(model)
            return self._bound(model, feature, max_tokens, price.max_output_tokens).max_tokens
        except PolicyViolation as exc:
            self.emit_refused_early(
                model, user_id, feature, api_key, endpoint, f"policy: {exc}", routing
            )
            raise

    def prepare_cached(
        self,
        model: str,
        *,
        user_id: str | None,
        feature: str | None,
        api_key: str | None,
        endpoint: str | None,
        limits: Sequence[RateLimit] = (),
    ) -> tuple[Hit, list[Charge]]:
        """A cache hit's charges: one request on each request-count rate limit that applies
        (no budget, no tokens, no dollars, no concurrency slot: nothing is sent) — the guard's
        and the call's own ``limits`` (a gateway key's). ``model`` is the model that answered,
        as billed."""
        rules = [rule for rule in (*self.limits, *limits) if rule.kind == "requests"]
        return self.prepare_hit(
            rules, user_id=user_id, api_key=api_key, endpoint=endpoint, feature=feature,
            model=model,
        )  # fmt: skip

    def emit_cached(  # noqa: PLR0917 - a private step with the hit's arguments
        self, answer: CachedAnswer, requested_model: str, user_id: str | None,
        feature: str | None, api_key: str | None, endpoint: str | None, stream: bool,
        started: float, routing: Routing | None = None,
    ) -> None:  # fmt: skip
        """The event of a call answered from the cache: $0, saving what the stored call cost
        (``routing``: the route of a routed call, its ``requested_model`` the route name)."""
        if not self._event_observers:
            return
        event = CostEvent(
            request_id=new_id(), ts=self.clock(), status="ok", model=answer.model,
            requested_model=requested_model if routing is None else routing.requested_model,
            provider=answer.provider, user_id=user_id,
            feature=feature, api_key_id=api_key, endpoint=endpoint,
            saved_pico=answer.cost_pico, cache_hit=True, stream=stream,
            latency_ms=(time.perf_counter() - started) * 1000,
            tier=routing.tier if routing else None,
            route_reason=routing.reason if routing else None,
            cascade_id=routing.cascade_id if routing else None,
        )  # fmt: skip
        notify_event(self._event_observers, event)

    # -- settling ----------------------------------------------------------------------------------

    def price(
        self, ticket: Ticket, usage: object, served: str | None = None
    ) -> tuple[Cost, Usage, list[int]]:
        """The exact cost of ``usage``, the usage read, and what each charge is settled with;
        ``served`` is the service tier the provider reports (None: the tier reserved)."""
        _open(ticket)
        normalized, ticket.beyond = bounded_usage(ticket, usage_from(usage))
        if served is not None and served != ticket.service_tier:
            self._served_at(ticket, served)
        cost = ticket.price.cost(normalized)
        if cost.flag is not None:  # audio the price data has no price for, charged dearest
            ticket.flag = ticket.flag or cost.flag
        if ticket.beyond:
            log.error(
                "call %s (%s) reported usage beyond its request: %s; charged $%s, flagged %s",
                ticket.id, ticket.model, ticket.beyond, usd_text(cost.total_pico), BEYOND_REQUEST,
            )  # fmt: skip
        tokens = normalized.input_tokens + normalized.output_tokens
        return cost, normalized, self._actuals(ticket, to_micros_ceil(cost.total_pico), tokens)

    def _served_at(self, ticket: Ticket, served: str) -> None:
        """Reprice ``ticket`` at the tier the provider served it at."""
        provider = ticket.price.provider
        context = price_context(provider, served)
        if context != price_context(provider, ticket.service_tier):
            if served not in TIERS:
                log.warning(
                    "call %s (%s) was served at service tier %r, which costcap does not know; "
                    "priced with that tier's variant if the price data has one",
                    ticket.id, ticket.model, served,
                )  # fmt: skip
            # a routed call's requested model is its route name: the model sent is priced
            asked = ticket.model if ticket.route_reason is not None else ticket.requested_model
            ticket.price = self.catalog.resolve(asked or ticket.model, context=context)
        ticket.service_tier = served

    def dollars(
        self, ticket: Ticket, cost_usd: Decimal | int | float | str
    ) -> tuple[int, list[int]]:
        """The cost in picodollars (rounded up) and what each charge is settled with, for a cost
        priced elsewhere (token limits keep what was reserved, the only count known)."""
        _open(ticket)
        try:
            amount = parse_usd(cost_usd, what="cost_usd")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if amount > MAX_LIMIT_USD:  # no store counts it: refused before anything is recorded
            raise UsageError(
                f"cost_usd is at most $1,000,000,000, not {cost_usd!r}; nothing was settled"
            )
        pico = pico_ceil_from_usd(amount)
        actual = micros_ceil_from_usd(amount)
        return pico, self._actuals(ticket, actual, ticket.reserved_tokens)

    def in_full(self, ticket: Ticket) -> list[int]:
        """Settle an abandoned ticket at everything it reserved."""
        return self._actuals(ticket, ticket.reserved_micros, ticket.reserved_tokens)

    def _actuals(self, ticket: Ticket, micros: int, tokens: int) -> list[int]:
        if not ticket.reserved:
            return []
        limits = [settled_amount(a.rule.kind, tokens=tokens, micros=micros) for a in ticket.limits]
        return [micros] * len(ticket.applied) + limits

    def settled(self, ticket: Ticket, actuals: Sequence[int]) -> Due:
        ticket.done = True
        due = self._unfired([beyond_alert(ticket, self.clock())]) if ticket.beyond else []
        if not ticket.applied:
            return due
        # At least what was spent at admission plus this call is spent now: no read needed.
        spent = [before + actuals[0] for before in ticket.spent_before]
        return due + adm.alerts_due(ticket.applied, spent, self._fired)

    # -- alerts, outages, status -----------------------------------------------------------------

    def _unfired(self, due: Due) -> Due:
        return [(marker, alert) for marker, alert in due if marker not in self._fired]

    def marker_ttl_s(self, alert: Alert) -> int:
        """How long the store keeps an alert's once-per-period marker: past the end of the
        period it names, with a day to spare, and never under ``MARKER_TTL_S``. A rolling
        budget's alert fires once per slot as long as its window (up to 366 days), and the
        marker is written somewhere inside that slot."""
        budget = next((b for b in self.budgets if b.id == alert.budget), None)
        if budget is not None and budget.window.kind == "rolling":
            left = float(budget.window.seconds)
        else:
            left = (alert.resets_at - self.clock()).total_seconds()
        return max(adm.MARKER_TTL_S, math.ceil(left) + 86_400)

    def fired(self, marker: str, alert: Alert, granted: bool) -> None:
        if len(self._fired) >= _FIRED_MEMORY:
            self._fired.clear()  # a cache of the store's markers: bounded, the store decides
        self._fired.add(marker)
        if granted:
            notify_all(self.notifiers, alert)
            if self._alert_observers:
                notify_alert(self._alert_observers, alert, self.clock())

    def store_failed(self, step: str, reservation_id: str, exc: StoreUnavailable | None) -> None:
        """A store step after admission failed (``exc``) or did not know the reservation
        (``None``). Logged, never raised: the call happened and its event is recorded; a
        reservation the store still holds is charged in full when its lease ends."""
        if exc is None:
            log.error("reservation %s was unknown to the store at %s", reservation_id, step)
        else:
            log.error(
                "could not %s reservation %s in the store (%s); its event is recorded, and the "
                "store charges what it reserved when the lease ends",
                step, reservation_id, exc,
            )  # fmt: skip

    def marker_failed(self, marker: str, exc: StoreUnavailable) -> bool:
        """The store could not say whether an alert already fired: it is sent (a duplicate
        alert is better than a missed one) and the call goes on."""
        log.error("could not record alert %s in the store (%s); sending it", marker, exc)
        return True

    def unavailable(self, exc: StoreUnavailable, ticket: Ticket) -> Ticket:
        if not self.fail_open:
            raise exc
        log.error("store unavailable, admitting without a reservation (fail_open): %s", exc)
        ticket.applied, ticket.limits = [], []
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

    def pressure_windows(
        self, feature: str | None, user_id: str | None, models: Iterable[str]
    ) -> list[tuple[tuple[str, str], adm.Applied]]:
        """The budget windows budget pressure reads, each tagged with what it stands for:
        ``("feature", "")`` and ``("user", "")`` for every budget of the feature's and of the
        user's, ``("model", name)`` for every hard budget of a model ``models`` names."""
        now_s = time.time() if self.clock is utc_now else self.clock().timestamp()
        who = CallScope(model="", feature=feature, user_id=user_id)
        out: list[tuple[tuple[str, str], adm.Applied]] = []
        resolved: list[tuple[str, CallScope]] | None = None
        for index, budget in enumerate(self.budgets):
            if budget.kind in ("feature", "user"):
                member = budget.applies_to(who)
                if member is not None:
                    out.append(((budget.kind, ""), self._applied_at(index, member, now_s)))
            elif budget.kind == "model" and budget.hard:
                if resolved is None:
                    resolved = [(name, CallScope(model=self.catalog.resolve(name).model))
                                for name in models]  # fmt: skip
                for name, scope in resolved:
                    member = budget.applies_to(scope)
                    if member is not None:
                        out.append((("model", name), self._applied_at(index, member, now_s)))
        return out

    def _applied_at(self, index: int, member: str, now_s: float) -> adm.Applied:
        """Budget ``index`` as it applies to ``member`` now: the one admission keeps while its
        period bucket lasts (:func:`costcap.admission.charges_for`), else a new one."""
        budget = self.budgets[index]
        window = budget.window_at(now_s)
        found = self._applied.get((index, member))
        if found is not None and found.window is window:
            return found
        return adm.Applied(budget, member, window)

    @staticmethod
    def pressure_of(
        windows: Sequence[tuple[tuple[str, str], adm.Applied]], states: Sequence[CounterState]
    ) -> Pressure:
        """The router's budget facts from :meth:`pressure_windows` and their states: the largest
        share spent (reservations counted) of the feature's and of the user's budgets, exact,
        and the models whose own budget has nothing left."""
        from costcap.router import Pressure

        largest: dict[str, tuple[int, int]] = {}  # kind -> (used, limit): compared as integers
        exhausted: set[str] = set()
        for ((kind, name), applied), state in zip(windows, states, strict=True):
            limit, used = applied.budget.limit_micros, state.spent + state.reserved
            if kind == "model":
                if used >= limit:
                    exhausted.add(name)
                continue
            if limit <= 0:
                used, limit = 1, 1
            top = largest.get(kind)
            if top is None or used * top[1] > top[0] * limit:
                largest[kind] = (used, limit)
        shares = {kind: Fraction(used, limit) for kind, (used, limit) in largest.items()}
        return Pressure(shares.get("feature"), shares.get("user"), exhausted)


def routed(ticket: Ticket, routing: Routing) -> None:
    """Give ``ticket`` the route that chose its model (its ``requested_model`` the route name)."""
    if not isinstance(routing, Routing):
        raise UsageError(f"routing: a costcap.ticket.Routing or None, not {routing!r}")
    ticket.requested_model = routing.requested_model
    ticket.tier, ticket.route_reason = routing.tier, routing.reason
    ticket.cascade_id = routing.cascade_id


def _open(ticket: Ticket) -> None:
    if ticket.done:
        raise ValueError(f"ticket {ticket.id} is already settled or released")


def config_kwargs(
    path: str | Path, overrides: Mapping[str, Any], *, cache: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """Guard arguments from ``costcap.toml``, with ``overrides`` winning. ``cache`` is the
    response cache class to build from a ``[cache]`` that names a ``url`` (``ResponseCache``
    for a Guard, ``AsyncResponseCache`` for an AsyncGuard; None: no cache is built)."""
    from costcap.config import load_config

    config = load_config(path)
    kwargs: dict[str, Any] = {
        "store": config.store,
        "budgets": config.budgets,
        "limits": config.limits,
        "policy": config.policy,
        "catalog": PriceCatalog.from_toml(path),
        "notifiers": [LogNotifier(), *config.notifiers],
        "lease_s": config.lease_s,
        "strict": config.strict,
        "fail_open": config.fail_open,
    }
    if config.router is not None:  # routes from [router]; costcap.router is loaded only then
        from costcap.router import Router

        kwargs["router"] = Router(config.router, catalog=kwargs["catalog"])
    if cache is not None and "cache" not in overrides:
        from costcap.cache import cache_in_config

        found = cache_in_config(path)
        kwargs["cache"] = None if found is None else cache(found[0], policy=found[1])
    kwargs.update(overrides)
    return kwargs


Money = Decimal | int | float | str  # an amount as callers give it


def remaining(hit: Hit, result: Admission) -> list[int]:
    """What each rule has left after this hit (for ``RateLimit`` response headers)."""
    return [
        max(0, a.rule.limit - s.spent - s.reserved)
        for a, s in zip(hit.limits, result.states, strict=True)
    ]
