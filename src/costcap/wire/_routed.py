"""Routing at the wire: a guarded request whose body's ``model`` is a route name
(``costcap:auto``, ``costcap:<tier>``) is sent to the model the Guard's router picks.

The wrapped clients' routing step (:mod:`costcap.integrations._routing`) over a JSON body:

1. :func:`route_request` reads who the request is for as admission will (its ``x-costcap-*``
   headers, a gateway's context, the body) and the ``x-costcap-complexity`` header (the tier
   ``costcap:auto`` asks for, as ``costcap_complexity=`` does on an SDK call); a Guard without
   a router refuses it (``NoRoutes``), recorded as refused by the policy;
2. the transport reads the budget pressure the routes ask for and decides
   (``RouteRequest.decide``: a route the router cannot follow is refused and recorded);
3. :class:`WireRoute` sends the body to the decided model: its ``model`` replaced before the
   cache is asked and the call admitted (policy caps, allow-lists and budgets are the routed
   model's), the Ticket carrying the :class:`~costcap.ticket.Routing` (tier, reason, the route
   name as ``requested_model``), a gateway's key checked against the route name or the model;
4. after the provider failed — HTTP 408, 429 or 5xx, or the connection
   (:meth:`WireRoute.again`) — the next model of the chain (``fallback``) is tried, admitted
   anew: the failed attempt's reservation is already released.

Cascades (a validator's verdict asking a dearer tier again) stay with the wrapped clients: the
transport hands back bytes, which it does not judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from costcap.integrations._attribution import Attribution
from costcap.integrations._routing import RoutePlan, RouteRequest, Sdk, failed_status
from costcap.wire._calls import COMPLEXITY_HEADER, WireCall
from costcap.wire._context import WireContext
from costcap.wire._exchange import transport_failed
from costcap.wire._refusals import REFUSAL_EXTENSION
from costcap.wire._routes import Api

if TYPE_CHECKING:
    import httpx2

    from costcap.guard_core import GuardCore

__all__ = ["WireRoute", "route_request"]

#: The provider whose models each API's requests may be routed to.
_CLIENTS: dict[Api, Sdk] = {
    "chat": Sdk("openai", ()),
    "responses": Sdk("openai", ()),
    "messages": Sdk("anthropic", ()),
}


def route_request(guard: GuardCore, call: WireCall, said: Mapping[str, str]) -> RouteRequest:
    """The routed request ``call`` is (its body names a route); ``said``: its ``x-costcap-*``
    headers. Refused (recorded, raised) when the guard has no router."""
    a = call.admission
    who = Attribution(
        user_id=a["user_id"], feature=a["feature"], api_key=a["api_key"], endpoint=a["endpoint"]
    )
    return RouteRequest.of(
        guard, _CLIENTS[call.api], call.body, who, user_id=a["user_id"],
        complexity=said.get(COMPLEXITY_HEADER),
    )  # fmt: skip


class WireRoute:
    """A routed request under way: each model tried written into its call."""

    __slots__ = ("call", "context", "name", "plan")

    def __init__(self, plan: RoutePlan, call: WireCall, context: WireContext | None) -> None:
        self.plan, self.call, self.context = plan, call, context
        self.name: str = call.body["model"]  # the route name
        self._send_to_decision()

    def _send_to_decision(self) -> None:
        model = self.plan.decision.model
        if self.context is not None:
            self.context.allow(model, route=self.name)
        self.call.send_to(model, self.plan.routing())

    def fall_back(self, why: str) -> bool:
        """After the provider failed (``why``): whether a next model of the chain is left (one
        the gateway's key may use); the call is sent to it."""
        plan, context = self.plan, self.context
        skip: list[str] = []
        if context is not None and context.models is not None:  # models the key may not use
            chain = plan.router.chain(plan.decision)
            skip = [model for model in chain if not context.permits(model, self.name)]
        if not plan.next_model(why, skip=skip):
            return False
        self._send_to_decision()
        return True

    def again(self, request: httpx2.Request, outcome: httpx2.Response | Exception) -> bool:
        """Whether to try the next model after sending ``request`` gave ``outcome``: an answer
        of the provider failing (408, 429, 5xx — not costcap refusing), or the connection
        failing (the exception raised). The call is sent to that model."""
        if isinstance(outcome, Exception):
            return transport_failed(request, outcome) and self.fall_back(type(outcome).__name__)
        status = outcome.status_code
        failed = failed_status(status) and REFUSAL_EXTENSION not in outcome.extensions
        return failed and self.fall_back(f"HTTP {status}")
