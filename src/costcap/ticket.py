"""The Ticket: an admitted call, what it may spend and where it was reserved."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from costcap.admission import Applied, micros_usd
from costcap.budgets import CallScope
from costcap.limits import AppliedLimit
from costcap.pricing import Cost, ModelPrice
from costcap.tokens import TokenCount
from costcap.worst_case import WorstCase, worst_case_for

__all__ = ["Hit", "Routing", "Ticket"]


@dataclass(frozen=True, slots=True)
class Routing:
    """How a routed call was routed, for its Ticket and events: the route name the caller asked
    for (``costcap:auto``), the tier and reason of the model it is sent to, and the id shared by
    the calls of one cascaded answer (None: not cascaded)."""

    requested_model: str
    tier: str | None
    reason: str | None
    cascade_id: str | None = None


@dataclass(eq=False)
class Ticket:
    """An admitted call. Charges are the budgets (``applied``) then the rate limits (``limits``),
    in that order, in one reservation named ``id``."""

    id: str
    model: str
    scope: CallScope
    max_tokens: int
    requested_max_tokens: int | None
    clamped: bool  # the request asked for more than the cap and got the cap
    injected: bool  # the request carried no max_tokens; the policy's default was set
    counted: TokenCount | None  # the input as counted; None when admitted with a dollar amount
    price: ModelPrice = field(repr=False)  # resolved at admission: provider and time window kept
    reserved_micros: int
    reserved_tokens: int  # input counted (or bounded) + max_tokens, for token rate limits
    applied: list[Applied] = field(repr=False)
    limits: list[AppliedLimit] = field(repr=False, default_factory=list)
    spent_before: list[int] = field(repr=False, default_factory=list)
    done: bool = False
    cost: Cost | None = None
    requested_model: str | None = None  # as the caller named it (alias, snapshot, …)
    prompt_hash: str | None = None  # digest of the request, for runaway-loop detection
    started: float = 0.0  # time.perf_counter() at admission, for latency
    input_tokens: int = 0  # the input reserved for (counted, or its bound when strict)
    strict: bool = False  # admitted with the input's upper bound
    cache_write: bool = False  # input reserved as a (dearer) cache write
    beyond: str | None = None  # how the settled usage passed what the request allows, if it did
    flag: str | None = None  # CostEvent.flag for a charge that is a bound, not a count
    service_tier: str | None = None  # reserved at (as asked), then settled at (as reported)
    remaining_micros: int | None = None  # the least a hard budget had left once this reserved
    cache_miss: bool = False  # cacheable, not in the response cache: its answer is stored
    tier: str | None = None  # the routing tier it was sent at
    route_reason: str | None = None  # why that model (CostEvent.route_reason)
    cascade_id: str | None = None  # shared by the calls of one cascaded answer
    _worst: WorstCase | None = field(default=None, repr=False)

    @property
    def worst_case(self) -> WorstCase | None:
        """What was reserved, priced in full (built when first asked for; None when admitted
        with an explicit dollar amount)."""
        if self._worst is None and self.counted is not None:
            self._worst = worst_case_for(
                self.price, self.counted, max_tokens=self.max_tokens, strict=self.strict,
                cache_write=self.cache_write,
            )  # fmt: skip
        return self._worst

    @property
    def reserved_usd(self) -> Decimal:
        return micros_usd(self.reserved_micros)

    @property
    def budgets(self) -> list[str]:
        return [a.budget.id for a in self.applied]

    @property
    def reserved(self) -> bool:
        """Whether the store holds a reservation for this ticket."""
        return bool(self.applied or self.limits)

    def request_params(self) -> dict[str, Any]:
        """What the outgoing request must carry: ``{"max_tokens": …}``."""
        return {"max_tokens": self.max_tokens}


@dataclass(eq=False)
class Hit:
    """A request admitted by rate limits alone (an endpoint hit, no LLM call)."""

    id: str
    limits: list[AppliedLimit]
    remaining: list[int] = field(default_factory=list)  # per rule, after this hit
    done: bool = False

    def settle_amounts(self) -> list[int]:
        """A finished hit keeps its request and gives its concurrency slots back."""
        return [0 if a.rule.kind == "concurrent" else a.amount for a in self.limits]
