"""Rate-limit rules as they apply to one call: charges for the atomic admission step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from costcap.budgets import CallScope
from costcap.limits._rule import Kind, RateLimit
from costcap.limits._window import SlidingWindow, sliding_window
from costcap.stores import Charge

__all__ = ["AppliedLimit", "limit_charges", "settled_amount"]


@dataclass(frozen=True, slots=True)
class AppliedLimit:
    rule: RateLimit
    member: str  # the identity, e.g. "alice" or "alice|/api/v1/ai/generate"; "" for global
    window: SlidingWindow | None  # None for concurrency
    amount: int

    @property
    def prefix(self) -> str:
        return f"limit:{self.rule.id}:{self.member}:"

    @property
    def key(self) -> str:
        if self.window is None:
            return self.prefix + "inflight"
        return f"{self.prefix}w{self.window.current}"

    @property
    def window_keys(self) -> tuple[str, ...]:
        if self.window is None:
            return (self.key,)
        return tuple(self.prefix + name for name in self.window.names())


def member_of(rule: RateLimit, scope: CallScope) -> str:
    if rule.identity == ("global",):
        return ""
    return "|".join(scope.member(kind) or "-" for kind in rule.identity)


def limit_charges(
    rules: Sequence[RateLimit],
    scope: CallScope,
    amounts: Mapping[Kind, int],
    *,
    now_s: float,
    lease_s: float,
) -> tuple[list[AppliedLimit], list[Charge]]:
    """One charge per rule; ``amounts`` holds what this call reserves per kind of rule."""
    applied: list[AppliedLimit] = []
    charges: list[Charge] = []
    for rule in rules:
        amount = amounts[rule.kind]
        if rule.kind == "concurrent":
            a = AppliedLimit(rule, member_of(rule, scope), None, amount)
            ttl = int(lease_s) + 3600
        else:
            window = sliding_window(rule.window_s, now_s)
            a = AppliedLimit(rule, member_of(rule, scope), window, amount)
            ttl = window.ttl_s
        applied.append(a)
        charges.append(
            Charge(
                key=a.key,
                window=a.window_keys,
                limit=rule.limit,
                amount=amount,
                ttl_s=ttl,
                on_expiry="release" if rule.kind == "concurrent" else "spend",
            )
        )
    return applied, charges


def settled_amount(kind: Kind, *, tokens: int, micros: int) -> int:
    """What a finished call leaves on a rule's counter: the request, its actual tokens or cost;
    a concurrency slot is given back (0)."""
    return {"requests": 1, "tokens": tokens, "dollars": micros, "concurrent": 0}[kind]
