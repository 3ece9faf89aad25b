"""The exception hierarchy, in one place::

    CostcapError
    ├── ConfigError            bad costcap.toml / bad arguments (names file, key and problem)
    ├── UnknownModel           a model with no known price (names the closest known models)
    ├── UsageError             a usage object costcap cannot read (never priced as $0)
    └── UncountableContent     request content costcap cannot count or bound (audio, files…)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ConfigError", "CostcapError", "UncountableContent", "UnknownModel", "UsageError"]


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
