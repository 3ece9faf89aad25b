"""The Budget: a dollar limit on a scope over a period, hard or soft, with alert thresholds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Literal, NoReturn

from costcap._checks import dollars, text, usd
from costcap.budgets._periods import ROLLING_BUCKETS, Period, PeriodWindow, parse_period
from costcap.errors import ConfigError
from costcap.money import micros_ceil_from_usd
from costcap.policy import PolicyViolation
from costcap.stores import MAX_AMOUNT

__all__ = ["MAX_LIMIT_USD", "SCOPE_KINDS", "Budget", "CallScope"]

#: The largest ``limit_usd``: $1,000,000,000, the most micro-dollars every store counts exactly.
MAX_LIMIT_USD = Decimal(MAX_AMOUNT // 1_000_000)

# global; or kind:value, where value "*" makes a template: every member gets its own budget.
SCOPE_KINDS = ("feature", "user", "key", "model")
DEFAULT_THRESHOLDS = (Decimal(50), Decimal(80), Decimal(100))
SOFT_EXTRA_THRESHOLD = Decimal(120)
ANONYMOUS = "-"  # the member a template charges when the call does not name one
_SCOPE_FIELDS = ("model", "feature", "user_id", "api_key", "endpoint")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MEMBER_FIELDS = {"feature": "feature", "user": "user_id", "key": "api_key", "model": "model",
                  "endpoint": "endpoint"}  # fmt: skip


def _refuse(values: tuple[object, ...]) -> NoReturn:
    for name, value in zip(_SCOPE_FIELDS, values, strict=True):
        if value is not None and not isinstance(value, str):
            raise PolicyViolation(f"{name} must be a str, not {value!r}")
        if isinstance(value, str) and _SURROGATE.search(value):
            raise PolicyViolation(
                f"{name} {value!r} is not valid Unicode text (a lone surrogate): "
                "no store or ledger can keep it"
            )
    raise AssertionError("a call scope was refused with nothing wrong in it")


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class CallScope:
    """Who and what a call is for: decides which budgets apply.

    Each field is a str (or None): text that is not valid Unicode — a lone surrogate such as
    ``"\\ud800"``, which a JSON body may carry — is refused with a PolicyViolation, since no
    store or ledger can keep it (its spend would be counted nowhere).
    """

    model: str
    feature: str | None = None
    user_id: str | None = None
    api_key: str | None = None
    endpoint: str | None = None

    def __post_init__(self) -> None:
        values = (self.model, self.feature, self.user_id, self.api_key, self.endpoint)
        for value in values:
            if value is not None and not (
                isinstance(value, str) and (value.isascii() or _SURROGATE.search(value) is None)
            ):
                _refuse(values)

    def member(self, kind: str) -> str | None:
        value: str | None = getattr(self, _MEMBER_FIELDS[kind])
        return value


@dataclass(frozen=True)
class Budget:
    """``Budget(scope="user:*", period="day", limit_usd=5)``.

    scope: ``global``, ``feature:chat``, ``user:alice``, ``key:k1``, ``model:gpt-4o``, or a template
    ``user:*`` / ``feature:*`` / ``key:*`` / ``model:*`` (each member its own budget).
    period: ``day``, ``week``, ``month`` (calendar, in ``timezone``) or ``rolling:24h``; a
    rolling window is at most 366 days (``MAX_ROLLING_S``).
    limit_usd: from 0 to $1,000,000,000 (``MAX_LIMIT_USD``, the most every store counts exactly),
    in whole micro-dollars.
    mode: ``hard`` refuses a call that could pass the limit; ``soft`` allows it and alerts.
    thresholds: percentages of the limit at which an alert fires, once per period each.

    Every bad argument is a :class:`~costcap.errors.ConfigError` naming it, raised here.
    """

    scope: str
    period: str | Period
    limit_usd: Decimal | int | float | str
    mode: Literal["hard", "soft"] = "hard"
    thresholds: Sequence[Decimal | int | float | str] | None = None
    timezone: str = "UTC"
    name: str | None = None
    limit_micros: int = field(init=False)
    window: Period = field(init=False)
    kind: str = field(init=False)
    member: str | None = field(init=False)  # None: global; "*": template; else one member
    alert_at: tuple[Decimal, ...] = field(init=False)
    alert_micros: tuple[int, ...] = field(init=False, repr=False, compare=False)
    hard: bool = field(init=False, repr=False, compare=False)
    _cache: tuple[float, float, PeriodWindow] | None = field(
        init=False, default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.name is not None:
            text(self.name, "budget name")
        scope = text(self.scope, f"budget {self.name!r}: scope" if self.name else "budget scope")
        where = f"budget {self.name or scope!r}"
        set_ = object.__setattr__
        limit = usd(self.limit_usd, f"{where}: limit_usd")
        if limit > MAX_LIMIT_USD:
            raise ConfigError(
                f"{where}: limit_usd {dollars(limit)} is above the largest limit every store "
                f"counts exactly, ${MAX_LIMIT_USD:,}"
            )
        micros = micros_ceil_from_usd(limit)
        if micros != -micros_ceil_from_usd(-limit):  # rounding up and down differ
            raise ConfigError(f"{where}: limit_usd is finer than a micro-dollar: {limit:f}")
        set_(self, "limit_micros", micros)
        if self.mode not in ("hard", "soft"):
            raise ConfigError(f"{where}: mode must be 'hard' or 'soft', not {self.mode!r}")
        set_(self, "hard", self.mode == "hard")
        window = (
            self.period
            if isinstance(self.period, Period)
            else parse_period(
                self.period,
                timezone=self.timezone,
                where=f"{where}: period",
                tz_where=f"{where}: timezone",
            )
        )
        set_(self, "window", window)
        kind, _, member = scope.partition(":")
        if kind == "global" and not member:
            set_(self, "kind", "global")
            set_(self, "member", None)
        elif kind in SCOPE_KINDS and member:
            set_(self, "kind", kind)
            set_(self, "member", member)
        else:
            raise ConfigError(
                f"{where}: scope must be 'global' or one of "
                f"{', '.join(k + ':<name|*>' for k in SCOPE_KINDS)}, not {scope!r}"
            )
        if self.thresholds is None:
            marks = DEFAULT_THRESHOLDS + ((SOFT_EXTRA_THRESHOLD,) if self.mode == "soft" else ())
        elif isinstance(self.thresholds, str) or not isinstance(self.thresholds, Sequence):
            raise ConfigError(
                f"{where}: thresholds must be a list of percentages, not {self.thresholds!r}"
            )
        else:
            marks = tuple(usd(t, f"{where}: threshold") for t in self.thresholds)
        set_(self, "alert_at", tuple(sorted(set(marks))))
        # The spend (micros) at which each threshold is reached: the least integer ``m`` with
        # m × 100 ≥ pct × limit, so admission compares integers, not Decimals.
        reached = (pct * self.limit_micros for pct in self.alert_at)
        set_(self, "alert_micros", tuple(_ceil(at.scaleb(-2)) for at in reached))
        if self.name is None:
            set_(self, "name", f"{scope}/{window.label}")

    def window_at(self, now: datetime | float) -> PeriodWindow:
        """The period window at ``now`` (aware, or seconds since the epoch), reused while
        ``now`` stays inside its current bucket (computing calendar boundaries in a time zone is
        the slow part of admission). The bucket's bounds are kept as seconds: the Guard's own
        clock passes ``time.time()`` and builds no ``datetime`` at all while they hold."""
        now_s = now.timestamp() if isinstance(now, datetime) else now
        cached = self._cache
        if cached is not None and cached[0] <= now_s < cached[1]:
            return cached[2]
        at = now if isinstance(now, datetime) else datetime.fromtimestamp(now_s, UTC)
        window = self.window.at(at)
        if self.window.kind == "rolling":
            size = max(1, self.window.seconds // ROLLING_BUCKETS)
            current = int(now_s) // size
            since, upto = float(current * size), float((current + 1) * size)
        else:
            since, upto = window.start.timestamp(), window.resets_at.timestamp()
        object.__setattr__(self, "_cache", (since, upto, window))
        return window

    @property
    def id(self) -> str:
        assert self.name is not None
        return self.name

    def applies_to(self, call: CallScope) -> str | None:
        """The member this budget charges for ``call`` (``""`` for global), or None."""
        if self.kind == "global":
            return ""
        value = call.member(self.kind)
        if self.member == "*":
            return value if value is not None else ANONYMOUS
        return self.member if value == self.member else None
