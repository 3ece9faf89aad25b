"""Deterministic output text, and token accounting through costcap's own counter.

The output is ``word`` repeated (``" hello"`` by default: one token in o200k and cl100k), so the
usage the fake provider reports is exactly the count of the text the client received.
``costcap.tokens`` is imported on first use, never when ``costcap.testing`` is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costcap.testing._errors import ApiError

if TYPE_CHECKING:
    from costcap.errors import UncountableContent

__all__ = ["OutputPlan", "TokenAccounting"]

_CACHE_LIMIT = 8192


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """What one request generates: ``words`` pieces of text, ``tokens`` tokens in all."""

    words: int
    tokens: int
    truncated: bool


class TokenAccounting:
    """Counts prompts and generated text with :mod:`costcap.tokens` (one per fake provider)."""

    def __init__(self, word: str) -> None:
        self.word = word
        self._lengths: dict[tuple[str, int], int] = {}

    def text(self, words: int) -> str:
        return self.word * words

    def input_tokens(
        self,
        messages: Sequence[Mapping[str, Any]],
        model: str,
        *,
        system: Any = None,
        tools: Any = None,
    ) -> int:
        from costcap.errors import UncountableContent
        from costcap.tokens import count_messages

        try:
            return count_messages(messages, model, system=system, tools=tools).tokens
        except UncountableContent as exc:
            raise _uncountable(exc) from None

    def responses_input_tokens(
        self, value: str | Sequence[Mapping[str, Any]], model: str, *, instructions: Any, tools: Any
    ) -> int:
        from costcap.errors import UncountableContent
        from costcap.tokens import count_responses_input

        try:
            return count_responses_input(
                value, model, instructions=instructions, tools=tools
            ).tokens
        except UncountableContent as exc:
            raise _uncountable(exc) from None

    def output_tokens(self, model: str, words: int) -> int:
        """The token count of ``words`` repetitions of the output word under *model*."""
        if words <= 0:
            return 0
        key = (model, words)
        cached = self._lengths.get(key)
        if cached is None:
            from costcap.tokens import count_text

            if len(self._lengths) >= _CACHE_LIMIT:
                self._lengths.clear()
            cached = self._lengths[key] = count_text(self.text(words), model)
        return cached

    def plan(self, model: str, wanted: int, cap: int | None) -> OutputPlan:
        """The longest output of at most ``min(wanted, cap)`` tokens.

        ``truncated`` is true when *cap* (the request's ``max_tokens``) cut the output short.
        """
        truncated = cap is not None and wanted > cap
        target = min(wanted, cap) if cap is not None else wanted
        if target <= 0:
            return OutputPlan(0, 0, truncated)
        if self.output_tokens(model, target) == target:  # the usual case: one token per word
            return OutputPlan(target, target, truncated)
        # Another tokenizer: find the most words whose count stays within the target.
        low, high = 0, 1
        while self.output_tokens(model, high) <= target and high < 16 * target:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            if self.output_tokens(model, middle) <= target:
                low = middle
            else:
                high = middle
        return OutputPlan(low, self.output_tokens(model, low), truncated)


def _uncountable(exc: UncountableContent) -> ApiError:
    return ApiError(
        400,
        f"The costcap fake provider cannot count this content ({exc}).",
        code="invalid_value",
    )
