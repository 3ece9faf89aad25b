"""Rate-limit rules: requests, tokens or dollars per sliding window, and concurrent calls.

Written the familiar way — ``"20/minute"``, ``"100000 tokens/hour"``, ``"$2/day"``,
``"5 concurrent"`` — the time part (``minute``, ``2 hours``, ``per day``…) is one window of the
``limits`` package's grammar: an optional whole number of at least 1, then ``second``,
``minute``, ``hour``, ``day``, ``month`` (30 days) or ``year`` (360 days), singular or plural.

Bounds: a window is at most 366 days (``MAX_WINDOW_S``); a limit is at most 10**15 requests,
tokens or slots, or $1,000,000,000 (``MAX_AMOUNT`` micro-dollars): what every store counts
exactly. Anything else is a :class:`~costcap.errors.ConfigError` saying what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal

import limits as _limits

from costcap._checks import text
from costcap.budgets import MAX_ROLLING_S
from costcap.errors import ConfigError
from costcap.stores import MAX_AMOUNT

__all__ = ["IDENTITY_KINDS", "MAX_WINDOW_S", "Kind", "RateLimit"]

Kind = Literal["requests", "tokens", "dollars", "concurrent"]
IDENTITY_KINDS = ("user", "key", "feature", "model", "endpoint", "global")
MAX_WINDOW_S = MAX_ROLLING_S  # 366 days, as for rolling budgets

_FORM = re.compile(
    r"^\s*(?P<dollar>\$)?\s*(?P<amount>[\d_.,]+)\s*(?P<unit>requests?|calls?|tokens?)?\s*"
    r"(?:/|per\s)\s*(?P<window>.+?)\s*$",
    re.IGNORECASE,
)
# one window of the ``limits`` grammar: "minute", "2 hours" (its granularities come from it)
_WINDOW = re.compile(r"^\s*(?P<count>[0-9]+)?\s*(?P<unit>[a-z]+)\s*$", re.IGNORECASE)
_CONCURRENT = re.compile(r"^\s*(?P<amount>\d+)\s*(?:concurrent|in[- ]flight)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class RateLimit:
    """``RateLimit("20/minute", per="user")``; ``per`` may combine kinds: ``"user,endpoint"``.

    kinds: ``user``, ``key`` (API key id), ``feature``, ``model``, ``endpoint`` or ``global``.
    """

    rate: str
    per: str = "user"
    name: str | None = None
    kind: Kind = field(init=False)
    limit: int = field(init=False)  # requests, tokens, micro-dollars or slots
    window_s: float = field(init=False)  # 0 for concurrency
    identity: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        text(self.rate, "rate limit: rate")
        where = f"rate limit {self.rate!r}"
        if self.name is not None:
            text(self.name, f"{where}: name")
        if not isinstance(self.per, str):
            raise ConfigError(f"{where}: per must be a string such as 'user', not {self.per!r}")
        identity = tuple(part.strip() for part in self.per.split(",") if part.strip())
        bad = [part for part in identity if part not in IDENTITY_KINDS]
        if not identity or bad:
            raise ConfigError(
                f"{where}: per must be one or more of {', '.join(IDENTITY_KINDS)}, not {self.per!r}"
            )
        set_(self, "identity", tuple(k for k in identity if k != "global") or ("global",))
        if match := _CONCURRENT.match(self.rate):
            set_(self, "kind", "concurrent")
            set_(self, "limit", int(match.group("amount")))
            set_(self, "window_s", 0.0)
        elif match := _FORM.match(self.rate):
            self._windowed(match, where)
        else:
            raise ConfigError(
                f"{where}: not a rate (use '20/minute', '100000 tokens/hour', '$2/day' "
                "or '5 concurrent')"
            )
        if self.limit <= 0:
            raise ConfigError(f"{where}: the limit must be positive")
        if self.limit > MAX_AMOUNT:
            most = "$1,000,000,000" if self.kind == "dollars" else f"{MAX_AMOUNT:,}"
            raise ConfigError(f"{where}: the limit is above {most}, the most every store counts")
        if self.name is None:
            set_(self, "name", f"{self.rate.strip()} per {self.per}")

    def _windowed(self, match: re.Match[str], where: str) -> None:
        set_ = object.__setattr__
        raw = match.group("amount").replace("_", "").replace(",", "")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise ConfigError(f"{where}: {raw!r} is not a number") from None
        window_s = _window_s(match.group("window"), where)
        unit = (match.group("unit") or "").lower()
        if match.group("dollar"):
            if unit:
                raise ConfigError(f"{where}: a dollar rate takes no unit")
            micros = amount * 1_000_000
            if micros != micros.to_integral_value():
                raise ConfigError(f"{where}: finer than a micro-dollar")
            set_(self, "kind", "dollars")
            set_(self, "limit", int(micros))
        else:
            if amount != amount.to_integral_value():
                raise ConfigError(f"{where}: a count must be a whole number")
            set_(self, "kind", "tokens" if unit.startswith("token") else "requests")
            set_(self, "limit", int(amount))
        set_(self, "window_s", float(window_s))

    @property
    def id(self) -> str:
        assert self.name is not None
        return self.name

    @property
    def policy_header(self) -> str:
        """This rule as an IETF ``RateLimit-Policy`` item: ``"name";q=20;w=60``."""
        unit = {"requests": "requests", "tokens": "tokens", "dollars": "usd-micros",
                "concurrent": "concurrent-requests"}[self.kind]  # fmt: skip
        window = f";w={int(self.window_s)}" if self.kind != "concurrent" else ""
        return f'"{_token(self.id)}";q={self.limit}{window};qu="{unit}"'


def _window_s(window: str, where: str) -> int:
    """The length of ``"minute"``, ``"2 hours"``… in seconds: 1 second to 366 days."""
    match = _WINDOW.match(window)
    if match is None:
        raise _not_a_window(window, where)
    try:
        length = _limits.parse(f"1/{window}").get_expiry()
    except ValueError:
        raise _not_a_window(window, where) from None
    if match.group("count") is not None and int(match.group("count")) == 0:
        raise ConfigError(f"{where}: {window!r} is an empty window (the count must be 1 or more)")
    if length > MAX_WINDOW_S:
        raise ConfigError(f"{where}: {window!r}: a window is at most 366 days ({MAX_WINDOW_S} s)")
    return length


def _not_a_window(window: str, where: str) -> ConfigError:
    return ConfigError(
        f"{where}: {window!r} is not a time window (e.g. 'minute', '2 hours', 'day')"
    )


def _token(name: str) -> str:
    return re.sub(r"[^a-z0-9_.*-]", "-", name.lower())
