"""Rate-limit rules: requests, tokens or dollars per sliding window, and concurrent calls.

Written the familiar way — ``"20/minute"``, ``"100000 tokens/hour"``, ``"$2/day"``,
``"5 concurrent"`` — the time part (``minute``, ``2 hours``, ``per day``…) is parsed by the
``limits`` package's own grammar, so every form it accepts works here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal

import limits as _limits

from costcap.errors import ConfigError

__all__ = ["IDENTITY_KINDS", "Kind", "RateLimit"]

Kind = Literal["requests", "tokens", "dollars", "concurrent"]
IDENTITY_KINDS = ("user", "key", "feature", "model", "endpoint", "global")

_FORM = re.compile(
    r"^\s*(?P<dollar>\$)?\s*(?P<amount>[\d_.,]+)\s*(?P<unit>requests?|calls?|tokens?)?\s*"
    r"(?:/|per\s)\s*(?P<window>.+?)\s*$",
    re.IGNORECASE,
)
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
        where = f"rate limit {self.rate!r}"
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
        if self.name is None:
            set_(self, "name", f"{self.rate.strip()} per {self.per}")

    def _windowed(self, match: re.Match[str], where: str) -> None:
        set_ = object.__setattr__
        raw = match.group("amount").replace("_", "").replace(",", "")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise ConfigError(f"{where}: {raw!r} is not a number") from None
        try:
            window = _limits.parse(f"1/{match.group('window')}")
        except ValueError:
            raise ConfigError(f"{where}: {match.group('window')!r} is not a time window") from None
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
        set_(self, "window_s", float(window.get_expiry()))

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


def _token(name: str) -> str:
    return re.sub(r"[^a-z0-9_.*-]", "-", name.lower())
