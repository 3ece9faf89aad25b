"""The exception hierarchy, in one place::

CostcapError
├── ConfigError            bad costcap.toml / bad arguments (names file, key and problem)
├── UnknownModel           a model with no known price (names the closest known models)
├── UnpricedModality       a request for audio a model's price data has no audio price for
├── UsageError             a usage object costcap cannot read (never priced as $0)
├── UncountableContent     request content costcap cannot count or bound (audio, files…)
├── StoreUnavailable       the budget store cannot be reached (fail closed)
├── BudgetExceeded         a hard budget has no room for the call (nothing was reserved)
└── PolicyViolation        (costcap.policy) model not allowed, max_tokens over the cap, $ cap
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "CostcapError",
    "StoreUnavailable",
    "UncountableContent",
    "UnknownModel",
    "UnpricedModality",
    "UsageError",
]


class CostcapError(Exception):
    """Base class of every error costcap raises on purpose."""


class ConfigError(CostcapError, ValueError):
    """Configuration that cannot be used. The message names the source, key and problem."""


class UsageError(CostcapError, ValueError):
    """A usage object or mapping that costcap cannot turn into token counts."""


class UnknownModel(CostcapError, LookupError):
    """A model costcap has no price for. Never priced silently as $0."""

    def __init__(self, model: str, suggestions: Sequence[str] = ()) -> None:
        self.model = model
        self.suggestions = tuple(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(
            f"unknown model {model!r}: no price known{hint} "
            "(add it under [models] in costcap.toml to price it)"
        )

    def __reduce__(self) -> tuple[type[UnknownModel], tuple[str, tuple[str, ...]]]:
        return (type(self), (self.model, self.suggestions))


class UnpricedModality(CostcapError, LookupError):
    """A request with audio (``modality``: ``"input audio"`` or ``"output audio"``) for a model
    whose price data has no price for it, refused before the call: audio is billed well above
    text, and pricing it as text would reserve too little."""

    def __init__(self, model: str, modality: str, key: str) -> None:
        self.model, self.modality, self.key = model, modality, key
        super().__init__(
            f"model {model!r} has no {modality} price in the price data (refused rather than "
            f'priced as text); set {key} under [models."{model}"] in costcap.toml to price it'
        )

    def __reduce__(self) -> tuple[type[UnpricedModality], tuple[str, str, str]]:
        return (type(self), (self.model, self.modality, self.key))


class UncountableContent(CostcapError, ValueError):
    """Request content whose tokens costcap can neither count nor bound (never counted as 0).

    Raised for parts such as audio, files and unknown block types; ``kind`` names the part.
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail
        extra = f": {detail}" if detail else ""
        super().__init__(
            f"cannot count the tokens of a {kind!r} content part{extra} "
            "(costcap refuses to count it as 0 tokens)"
        )

    def __reduce__(self) -> tuple[type[UncountableContent], tuple[str, str]]:
        return (type(self), (self.kind, self.detail))


class StoreUnavailable(CostcapError, ConnectionError):
    """The budget/limit store cannot be reached. Calls are refused (fail closed) unless the
    configuration says to fail open."""


class BudgetExceeded(CostcapError):
    """A hard budget has no room for the call's worst-case cost; nothing was reserved anywhere.

    Carries what was hit: the budget's id and scope member, its limit, what is spent and reserved
    in the current period, what this call needed, and when the period resets.
    """

    def __init__(
        self,
        *,
        budget: str,
        member: str,
        limit_usd: Decimal,
        spent_usd: Decimal,
        reserved_usd: Decimal,
        requested_usd: Decimal,
        resets_at: datetime,
    ) -> None:
        self.budget, self.member = budget, member
        self.limit_usd, self.spent_usd, self.reserved_usd = limit_usd, spent_usd, reserved_usd
        self.requested_usd, self.resets_at = requested_usd, resets_at
        who = f" for {member!r}" if member else ""
        limit, spent = plain_usd(limit_usd), plain_usd(spent_usd)
        reserved, requested = plain_usd(reserved_usd), plain_usd(requested_usd)
        super().__init__(
            f"budget {budget!r}{who} has no room: limit ${limit}, spent ${spent}, "
            f"reserved ${reserved}, this call needs up to ${requested}; "
            f"resets at {resets_at.isoformat()}"
        )

    @property
    def retry_after_s(self) -> float:
        return max(0.0, (self.resets_at - datetime.now(UTC)).total_seconds())


def plain_usd(amount: Decimal) -> str:
    """A dollar amount in plain decimal notation, exact: ``Decimal("1E+2")`` is ``100`` and
    ``Decimal("0.000001")`` stays ``0.000001`` (``str()`` of a normalized Decimal would give
    ``1E+2``; the figures in messages and JSON bodies are read by people and parsers alike)."""
    return f"{amount:f}"
