"""Routing in the wrapped clients: a call whose ``model`` is a route name (``costcap:auto``,
``costcap:<tier>``) is sent to the model the Guard's router decides, falls back along the
feature's chain when the provider fails, and — a plain call of a feature whose cascade is on —
is asked again one tier up when a validator rejects its answer.

The step sits between the read of the call and the cache (:func:`route_call`, sync, and
:func:`route_call_async`):

1. who the call is for is read as the call itself will read it (``costcap_*`` arguments, a
   ``costcap.attribute()`` block, the client's defaults); ``costcap_complexity=`` (the call's)
   or the block's ``complexity`` choose the tier of ``costcap:auto``;
2. budget pressure, only when the feature's routes configure ``pressure``: one store read
   (:meth:`costcap.Guard.pressure`) of the feature's and the user's budgets and of the routes'
   models' own budgets;
3. ``router.decide``; a route the router cannot follow (``NoRoutes``, ``UnknownTier``, a tier
   of another provider) is recorded as refused and raised, nothing sent;
4. each attempt is the caller's own path — cache, admission, provider, settle — run with the
   decided model and a :class:`~costcap.ticket.Routing` the Ticket carries (tier, reason, the
   route name as ``requested_model``, the cascade id) before anything is emitted;
5. after a provider failure (HTTP 429, 408, 5xx, a timeout or connection error, after the
   SDK's retries), whose reservation the send step has already released: the next model of
   the chain (``route_reason="fallback"``), admitted anew; the chain exhausted, the last error
   is raised;
6. a plain call of a cascaded feature: its answer (text and finish reason) goes through the
   cascade's validators; rejected, the next tier up is asked (``route_reason="cascade"``), the
   calls sharing one ``cascade_id``; with no tier left, the last answer is returned.

Each attempt holds its own reservation only while it runs: a failed one is released, a
cascaded one settled, before the next is admitted.

The guarded HTTP transports (:mod:`costcap.wire`) route a request's JSON body with the same
pieces — :meth:`RouteRequest.of`, its pressure, :meth:`RouteRequest.decide` and
:meth:`RoutePlan.next_model` — with no cascade (the transport hands back bytes, not an answer
to judge).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from costcap.errors import StoreUnavailable
from costcap.guard_core import new_id
from costcap.integrations._attribution import Attribution, metadata_user, pop_call_attribution
from costcap.integrations._opening import AsyncOpening, Opening
from costcap.ticket import Routing

if TYPE_CHECKING:
    from costcap.guard import AsyncGuard, Guard
    from costcap.guard_core import GuardCore
    from costcap.router import Cascade, Decision, FeatureRoutes, Pressure, Router

__all__ = [
    "ROUTE_PREFIX",
    "AsyncRoutedOpening",
    "RoutePlan",
    "RouteRequest",
    "RoutedOpening",
    "Sdk",
    "answer_of",
    "asks_route",
    "failed_status",
    "route_call",
    "route_call_async",
]

log = logging.getLogger("costcap.integrations.routing")

R = TypeVar("R")

#: ``costcap.router.ROUTE_PREFIX``, here so that a client without routes never loads the router.
ROUTE_PREFIX = "costcap:"
_ONE_SHOT = ("messages", "input", "tools")  # read by the classifier, then sent


def asks_route(kwargs: Mapping[str, Any]) -> bool:
    """Whether the call names a route: the one check an unrouted call pays."""
    model = kwargs.get("model")
    return type(model) is str and model.startswith(ROUTE_PREFIX)


@dataclass(frozen=True, slots=True)
class Sdk:
    """What routing needs to know of an SDK: its provider (the models its client can send),
    the errors of a provider that failed (its ``APIStatusError``, ``APIConnectionError``), and
    the errors that reject an answer (OpenAI's ``LengthFinishReasonError`` from ``parse``)."""

    provider: str
    failures: tuple[type[BaseException], ...]
    rejections: tuple[type[BaseException], ...] = ()

    def failed(self, exc: BaseException) -> bool:
        """A provider failure a fallback answers: 429, 408, 5xx, a timeout or connection error."""
        if not isinstance(exc, self.failures):
            return False
        status = getattr(exc, "status_code", None)
        return not isinstance(status, int) or failed_status(status)


def failed_status(status: int) -> bool:
    """Whether an HTTP status says the provider failed (a fallback answers it): 408, 429, 5xx."""
    return status in (408, 429) or status >= 500


# -- the answer a validator reads ---------------------------------------------------------------


def answer_of(answer: Any) -> tuple[str, str | None]:
    """The text and finish reason of an SDK answer: a chat completion (its first choice; a
    refusal is the text, finish reason ``refusal``), a Responses ``Response`` (incomplete: the
    reason, e.g. ``max_output_tokens``; a function call: ``tool_calls``), an Anthropic
    ``Message`` (its text blocks, ``stop_reason``)."""
    choices = getattr(answer, "choices", None)
    if choices is not None:
        if not choices:
            return "", None
        message = choices[0].message
        refusal = getattr(message, "refusal", None)
        if refusal:
            return refusal, "refusal"
        return message.content or "", choices[0].finish_reason
    stop = getattr(answer, "stop_reason", None)
    content = getattr(answer, "content", None)
    if isinstance(content, list):  # an Anthropic message
        text = "".join(b.text for b in content if getattr(b, "type", None) == "text")
        return text, stop
    output = getattr(answer, "output", None)
    if isinstance(output, list):  # a Responses response
        return answer.output_text or "", _responses_finish(answer, output)
    return "", None


def _responses_finish(response: Any, output: list[Any]) -> str | None:
    details = getattr(response, "incomplete_details", None)
    if response.status == "incomplete" and details is not None and details.reason:
        return str(details.reason)
    for item in output:
        if item.type == "function_call":
            return "tool_calls"
        for part in getattr(item, "content", None) or ():
            if getattr(part, "type", None) == "refusal":
                return "refusal"
    status = response.status
    return status if isinstance(status, str) else None


def _parsed(answer: Any) -> Any:
    """A raw response's parsed answer (the SDK keeps it: the caller's ``parse()`` gives the
    same object); any other answer as it is."""
    if hasattr(answer, "http_response") and callable(getattr(answer, "parse", None)):
        return answer.parse()
    return answer


# -- one routed call ------------------------------------------------------------------------------


class RoutePlan:
    """A routed call under way: its decision, the keyword arguments each attempt is sent with,
    and what follows an attempt — a fallback, an escalation, or the end."""

    def __init__(
        self, guard: GuardCore, asked: RouteRequest, decision: Decision,
        pressure: Pressure | None, plain: bool,
    ) -> None:  # fmt: skip
        assert guard.router is not None
        assert asked.routes is not None
        self.router: Router = guard.router
        self.sdk = asked.sdk
        self.base = asked.kwargs
        self.decision = decision
        self.exhausted = frozenset(pressure.exhausted) if pressure is not None else frozenset()
        cascade = asked.routes.cascade
        self.cascade: Cascade | None = cascade if plain and cascade.enabled else None
        self.cascade_id = new_id() if self.cascade is not None else None

    def routing(self) -> Routing:
        """The route the next attempt's Ticket carries (its ``requested_model`` the route name)."""
        d = self.decision
        return Routing(d.requested_model, d.tier, d.reason, self.cascade_id)

    def kwargs(self) -> dict[str, Any]:
        """The next attempt's keyword arguments: the decided model, and the routing its Ticket
        carries (read with the call's other ``costcap_*`` arguments)."""
        kwargs = dict(self.base)
        kwargs["model"] = self.decision.model
        kwargs["costcap_route"] = self.routing()
        return kwargs

    def fall_back(self, exc: Exception) -> bool:
        """After an attempt raised: whether a cascade rejected it (an SDK error that rejects
        the answer) and a tier above is left, or the provider failed and the chain has a next
        model. The decision moves to it."""
        if self.cascade is not None and isinstance(exc, self.sdk.rejections):
            return self._up(f"{type(exc).__name__}")
        return self.sdk.failed(exc) and self.next_model(type(exc).__name__)

    def next_model(self, why: str, *, skip: Collection[str] = ()) -> bool:
        """After the provider failed (``why``): whether the chain has a next model of the
        client's provider, not tried, its budget not exhausted and not in ``skip``. The
        decision moves to it."""
        failed = self.decision.model
        after = self.router.next_in_chain(
            self.decision, failed, provider=self.sdk.provider,
            exhausted=self.exhausted | frozenset(skip) if skip else self.exhausted,
        )  # fmt: skip
        if after is None:
            log.warning("%s failed (%s) and the fallback chain of feature %r has no model left",
                        failed, why, self.decision.feature)  # fmt: skip
            return False
        log.warning("%s failed (%s); falling back to %s", failed, why, after.model)
        self.decision = after
        return True

    def escalate(self, answer: Any) -> bool:
        """After an answer: whether the cascade rejects it and a tier above is left (the
        decision moves to it)."""
        if self.cascade is None:
            return False
        from costcap.router import check_answer

        try:
            text, finish = answer_of(_parsed(answer))
        except Exception as exc:  # noqa: BLE001 - an answer that cannot be read is rejected
            return self._up(f"unreadable answer ({type(exc).__name__}: {exc})")
        verdict = check_answer(self.cascade, text, finish)
        if verdict.accepted:
            return False
        return self._up(f"validator {verdict.validator}: {verdict.detail}")

    async def escalate_async(self, answer: Any) -> bool:
        """:meth:`escalate` for an async client (whose raw response parses awaited)."""
        if self.cascade is None:
            return False
        if hasattr(answer, "http_response") and callable(getattr(answer, "parse", None)):
            parsed = answer.parse()
            answer = await parsed if inspect.isawaitable(parsed) else parsed
        return self.escalate(answer)

    def _up(self, why: str) -> bool:
        rejected = self.decision
        up = self.router.escalate(rejected)
        while up is not None and self.router.provider_of(up.model) not in (None, self.sdk.provider):
            up = self.router.escalate(up)  # a tier this client cannot send: the next one
        if up is None:
            log.info("the %s answer of %s was rejected (%s); no tier above: it is returned",
                     rejected.tier, rejected.model, why)  # fmt: skip
            return False
        log.info("the %s answer of %s was rejected (%s); asking %s (%s)",
                 rejected.tier, rejected.model, why, up.model, up.tier)  # fmt: skip
        self.decision = up
        return True


@dataclass(slots=True)
class RouteRequest:
    """A call naming a route, read as the call itself will read it: its keyword arguments (or,
    at the wire, its JSON body), who it is for, the complexity it names itself."""

    sdk: Sdk
    kwargs: dict[str, Any]
    model: str
    who: Attribution
    user_id: str | None
    own_complexity: Any
    routes: FeatureRoutes | None

    @classmethod
    def read(
        cls, guard: GuardCore, default: Attribution, kwargs: dict[str, Any], sdk: Sdk
    ) -> RouteRequest:
        """An SDK call's keyword arguments (its ``costcap_*`` ones are read, not removed)."""
        for name in _ONE_SHOT:  # a one-shot iterable: read by the classifier, then sent
            value = kwargs.get(name)
            if isinstance(value, Iterator):
                kwargs[name] = list(value)
        probe = dict(kwargs)
        who = pop_call_attribution(probe, default)
        user = who.user_id if who.user_id is not None else metadata_user(probe)
        complexity = kwargs.get("costcap_complexity")
        return cls.of(guard, sdk, kwargs, who, user_id=user, complexity=complexity)

    @classmethod
    def of(
        cls, guard: GuardCore, sdk: Sdk, request: dict[str, Any], who: Attribution, *,
        user_id: str | None, complexity: Any,
    ) -> RouteRequest:  # fmt: skip
        """A call whose ``request`` (keyword arguments or JSON body) names a route, for ``who``
        (``user_id``: the end user it names when nothing else does), asking for the tier
        ``complexity`` (None: it names none). Without a router it is refused (``NoRoutes``)."""
        router = guard.router
        routes = router.routes(who.feature) if router is not None else None
        asked = cls(sdk, request, request["model"], who, user_id, complexity, routes)
        if router is None:
            from costcap.router import NoRoutes

            asked.refuse(guard, NoRoutes(asked.model, who.feature))
        return asked

    def pressure(self, guard: Guard) -> Pressure | None:
        """The budget pressure the routes ask for (None when they set none, or when the store
        cannot be read: logged, the call is routed without it)."""
        if self.routes is None or self.routes.pressure is None:
            return None
        try:
            return guard.pressure(
                feature=self.who.feature, user_id=self.user_id, models=self.routes.models
            )
        except StoreUnavailable as exc:
            _pressure_failed(exc)
            return None

    async def pressure_async(self, guard: AsyncGuard) -> Pressure | None:
        """:meth:`pressure` read through an :class:`AsyncGuard`."""
        if self.routes is None or self.routes.pressure is None:
            return None
        try:
            return await guard.pressure(
                feature=self.who.feature, user_id=self.user_id, models=self.routes.models
            )
        except StoreUnavailable as exc:
            _pressure_failed(exc)
            return None

    def decide(self, guard: GuardCore, pressure: Pressure | None, plain: bool) -> RoutePlan:
        from costcap.router import RouteError

        assert guard.router is not None
        try:
            decision = guard.router.decide(
                self.who.feature, self.model, complexity=self.own_complexity,
                attribute_complexity=self.who.complexity, request=self.kwargs,
                pressure=pressure, provider=self.sdk.provider,
            )  # fmt: skip
        except RouteError as exc:
            self.refuse(guard, exc)
        return RoutePlan(guard, self, decision, pressure, plain)

    def refuse(self, guard: GuardCore, exc: Exception) -> Any:
        """Record the call as refused by the policy and raise ``exc``: nothing was sent."""
        who = self.who
        guard.emit_refused_early(
            self.model, self.user_id, who.feature, who.api_key, who.endpoint, f"policy: {exc}"
        )
        raise exc


def _pressure_failed(exc: StoreUnavailable) -> None:
    log.warning("budget pressure unknown (%s): the call is routed without it", exc)


def route_call(
    guard: Guard,
    default: Attribution,
    kwargs: dict[str, Any],
    attempt: Callable[[dict[str, Any]], R],
    sdk: Sdk,
    *,
    plain: bool,
) -> R:
    """Route a call naming a route (``kwargs``: the caller's keyword arguments) and run
    ``attempt`` — the caller's own path — with each model tried; ``plain``: a call whose answer
    a cascade may judge (not streamed)."""
    asked = RouteRequest.read(guard, default, kwargs, sdk)
    plan = asked.decide(guard, asked.pressure(guard), plain)
    while True:
        try:
            answer = attempt(plan.kwargs())
        except Exception as exc:
            if plan.fall_back(exc):
                continue
            raise
        if not plan.escalate(answer):
            return answer


async def route_call_async(
    guard: AsyncGuard,
    default: Attribution,
    kwargs: dict[str, Any],
    attempt: Callable[[dict[str, Any]], Awaitable[R]],
    sdk: Sdk,
    *,
    plain: bool,
) -> R:
    """:func:`route_call` for an async client."""
    asked = RouteRequest.read(guard, default, kwargs, sdk)
    plan = asked.decide(guard, await asked.pressure_async(guard), plain)
    while True:
        try:
            answer = await attempt(plan.kwargs())
        except Exception as exc:
            if plan.fall_back(exc):
                continue
            raise
        if not await plan.escalate_async(answer):
            return answer


# -- what a ``with`` block opens -------------------------------------------------------------------


class RoutedOpening(Opening[Any]):
    """``with`` routes the call, each attempt entering the opening ``inner`` gives for the
    model tried (``with_streaming_response``: nothing is sent before the block is entered);
    leaving leaves the one that opened (which closes, settles and keeps its answer)."""

    def __init__(
        self,
        route: Callable[[Callable[[dict[str, Any]], Any]], Any],
        inner: Callable[[dict[str, Any]], Opening[Any]],
    ) -> None:
        self._entered: Opening[Any] | None = None

        def attempt(kwargs: dict[str, Any]) -> Any:
            opening = inner(kwargs)
            opened = opening.__enter__()
            self._entered = opening
            return opened

        super().__init__(lambda: route(attempt))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._entered is not None:
            self._entered.__exit__(exc_type, exc, exc_tb)


class AsyncRoutedOpening(AsyncOpening[Any]):
    """:class:`RoutedOpening` for an async client."""

    def __init__(
        self,
        route: Callable[[Callable[[dict[str, Any]], Awaitable[Any]]], Awaitable[Any]],
        inner: Callable[[dict[str, Any]], AsyncOpening[Any]],
    ) -> None:
        self._entered: AsyncOpening[Any] | None = None

        async def attempt(kwargs: dict[str, Any]) -> Any:
            opening = inner(kwargs)
            opened = await opening.__aenter__()
            self._entered = opening
            return opened

        super().__init__(lambda: route(attempt))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._entered is not None:
            await self._entered.__aexit__(exc_type, exc, exc_tb)
