"""The exception hierarchy, in one place::

    CostcapError
    ├── ConfigError            bad costcap.toml / bad arguments (names file, key and problem)
    ├── UnknownModel           a model with no known price (names the closest known models)
    └── UsageError             a usage object costcap cannot read (never priced as $0)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ConfigError", "CostcapError", "UnknownModel", "UsageError"]


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
