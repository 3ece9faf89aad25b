"""The result type of a message count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Method", "TokenCount"]

Method = Literal["o200k_base", "cl100k_base", "estimate", "upper-bound"]


@dataclass(frozen=True, slots=True)
class TokenCount:
    """Input tokens of one request.

    ``tokens`` is the best figure (exact where ``exact``); ``upper_bound`` is never below the
    true count and is what a budget should reserve. ``method`` says how ``tokens`` was made:
    an encoding name (OpenAI tokenizer), ``"estimate"`` (calibrated guess for a model with no
    public tokenizer) or ``"upper-bound"`` (``tokens`` is the guaranteed bound itself).
    """

    tokens: int
    exact: bool
    method: Method
    upper_bound: int

    def __post_init__(self) -> None:
        if self.tokens < 0 or self.upper_bound < self.tokens:
            msg = f"need 0 <= tokens <= upper_bound, got {self.tokens} and {self.upper_bound}"
            raise ValueError(msg)
