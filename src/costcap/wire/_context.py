"""What a gateway adds to one request it sends through a guarded transport.

A gateway (``costcap serve``) authenticates a request, then hands it to the same guarded
transport the SDK clients use, with a :class:`WireContext` in ``request.extensions["costcap"]``:
who pays (winning over the request's own ``x-costcap-*`` headers and body), the key's own
budgets and rate limits (reserved with the guard's in one atomic step), the models the key may
use. The transport fills in what happened — the ticket it admitted, the model the request went
to, how the response cache answered — for the gateway's ``x-costcap-*`` answer headers.

A key's ``models`` may name route names (``costcap:auto``, ``costcap:simple``): a request naming
a route is routed first (:mod:`costcap.wire._routed`), and the model it is routed to is allowed
when the key allows the route name, or that model itself. A key allowed ``costcap:auto`` may
thus use every model of its feature's routes, and a key allowed only ``gpt-4o-mini`` may send
``costcap:auto`` when it routes there (refused when it routes elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from costcap.budgets import Budget
from costcap.integrations._attribution import Attribution
from costcap.limits import RateLimit
from costcap.policy import PolicyViolation
from costcap.ticket import Ticket

__all__ = ["CONTEXT_EXTENSION", "WireContext", "context_of"]

#: The key of ``request.extensions`` that holds a request's :class:`WireContext`.
CONTEXT_EXTENSION = "costcap"

_NOBODY = Attribution()


@dataclass(slots=True, eq=False)
class WireContext:
    """One request's gateway context (in) and outcome (out)."""

    who: Attribution = _NOBODY  # who pays: set values win over the request's headers and body
    budgets: tuple[Budget, ...] = ()  # reserved with the guard's, in the same atomic step
    limits: tuple[RateLimit, ...] = ()
    models: frozenset[str] | None = None  # the models the request may name (None: any)
    cut_notice: bool = False  # a stream cut at its reservation ends with an error event
    ticket: Ticket | None = field(default=None, repr=False)  # set once admitted
    cache: Literal["hit", "miss", "bypass"] = "bypass"  # how the response cache answered
    model: str | None = None  # the model the request went to (routed: the router's choice)

    def permits(self, model: str, route: str | None = None) -> bool:
        """Whether the request may go to ``model`` (routed from the route name ``route``)."""
        models = self.models
        return models is None or model in models or (route is not None and route in models)

    def allow(self, model: str, route: str | None = None) -> None:
        """Refuse ``model`` (routed from ``route``) unless the context allows it."""
        if not self.permits(model, route):
            assert self.models is not None
            allowed = ", ".join(sorted(self.models)) or "none"
            via = f" (routed from {route!r})" if route is not None else ""
            raise PolicyViolation(
                f"this key may not use model {model!r}{via} (it may use: {allowed})"
            )


def context_of(extensions: Mapping[str, Any]) -> WireContext | None:
    found = extensions.get(CONTEXT_EXTENSION)
    return found if isinstance(found, WireContext) else None
