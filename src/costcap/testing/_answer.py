"""What one request is answered: thinking, then text or a tool call, and what a stream cut
after any number of its pieces has cost.

An answer is sent in *units*, in this order: the thinking (one unit per word of it when the
API shows it, one for all of it when the API hides it), then the text (one per word) or the
tool call: its name (one unit, the event that first carries it), then its arguments (one per
piece, about a token each). A stream's events carry the cumulative units sent, and
:meth:`Answer.sent` turns that count into what was billed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from costcap.testing._output import OutputPlan, TokenAccounting
from costcap.testing._tools import arguments_for, pick_tool, split_arguments

__all__ = ["Answer", "Sent", "ThinkingMode", "ToolCall", "plan_answer"]

#: How an API shows the thinking a request asked for: its text, or only its token count.
ThinkingMode = Literal["visible", "hidden"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call of a tool the request offered: its name, its arguments as a JSON text and in
    pieces, and its output tokens: the name's and the arguments', each counted on its own."""

    name: str
    arguments: str
    pieces: tuple[str, ...]
    name_tokens: int  # costcap.tokens.count_text(name, model)
    tokens: int  # name_tokens + costcap.tokens.count_text(arguments, model)

    @property
    def units(self) -> int:
        """The name, then each piece of the arguments."""
        return 1 + len(self.pieces)


@dataclass(frozen=True, slots=True)
class Sent:
    """What the units sent so far cost: output tokens (thinking included), the text or
    arguments sent, and the thinking tokens among the output tokens."""

    tokens: int
    text: str
    thinking_tokens: int


@dataclass(frozen=True, slots=True)
class Answer:
    """The planned answer to one request."""

    model: str
    accounting: TokenAccounting
    thinking: OutputPlan  # words 0 (and tokens 0) without thinking, or when it is hidden
    thinking_visible: bool
    tool_call: ToolCall | None
    plan: OutputPlan  # the text: no words with a tool call

    @property
    def truncated(self) -> bool:
        """The request's output cap cut the answer short."""
        return self.thinking.truncated or self.plan.truncated

    @property
    def thinking_tokens(self) -> int:
        return self.thinking.tokens

    @property
    def thinking_text(self) -> str:
        return self.accounting.text(self.thinking.words)

    @property
    def thinking_units(self) -> int:
        if self.thinking_visible:
            return self.thinking.words
        return 1 if self.thinking.tokens else 0

    @property
    def units(self) -> int:
        """Every unit of the answer."""
        content = self.tool_call.units if self.tool_call else self.plan.words
        return self.thinking_units + content

    @property
    def tokens(self) -> int:
        """The answer's output tokens, thinking included."""
        content = self.tool_call.tokens if self.tool_call else self.plan.tokens
        return self.thinking.tokens + content

    @property
    def text(self) -> str:
        """The answer's text, or its tool call's arguments (its name is in the record apart)."""
        if self.tool_call is not None:
            return self.tool_call.arguments
        return self.accounting.text(self.plan.words)

    def sent(self, units: int) -> Sent:
        """What the first *units* units of the answer cost (:meth:`sent` of :attr:`units` is
        the whole answer: its :attr:`tokens`)."""
        thought = min(units, self.thinking_units)
        if not thought:
            thinking = 0
        elif self.thinking_visible:
            thinking = self.accounting.output_tokens(self.model, thought)
        else:
            thinking = self.thinking.tokens
        content = max(0, units - self.thinking_units)
        call = self.tool_call
        if call is None:
            text = self.accounting.text(content)
            tokens = self.accounting.output_tokens(self.model, content)
        elif content >= call.units:
            text, tokens = call.arguments, call.tokens
        elif content == 0:
            text, tokens = "", 0
        else:  # the name went out, and content - 1 pieces of the arguments
            text = "".join(call.pieces[: content - 1])
            tokens = call.name_tokens + _count(text, self.model)
        return Sent(thinking + tokens, text, thinking)


def _count(text: str, model: str) -> int:
    from costcap.tokens import count_text

    return count_text(text, model) if text else 0


def plan_answer(
    accounting: TokenAccounting,
    *,
    model: str,
    cap: int | None,
    output_tokens: int,
    thinking_tokens: int,
    thinking: ThinkingMode | None,
    tool: str | None,
    tool_args: str | None,
    tools: Mapping[str, Mapping[str, Any]],
    tool_result: bool,
) -> Answer:
    """The answer to a request: thinking first when the request enables it, then a call of
    *tool* (a name or ``"auto"``) when the request offers it, holds no tool result yet and the
    cap leaves room for it, else the text. Everything stays within *cap*."""
    room = cap
    thought = OutputPlan(0, 0, False)
    if thinking is not None and thinking_tokens > 0:
        if thinking == "visible":
            thought = accounting.plan(model, thinking_tokens, cap)
        else:
            hidden = thinking_tokens if cap is None else min(thinking_tokens, cap)
            thought = OutputPlan(0, hidden, cap is not None and thinking_tokens > cap)
        room = None if cap is None else cap - thought.tokens
    call: ToolCall | None = None
    name = pick_tool(tool, tools) if not tool_result and not thought.truncated else None
    if name is not None:
        arguments = tool_args if tool_args is not None else arguments_for(tools[name])
        name_tokens = _count(name, model)
        tokens = name_tokens + _count(arguments, model)
        if room is None or tokens <= room:
            pieces = split_arguments(arguments, model)
            call = ToolCall(name, arguments, pieces, name_tokens, tokens)
    if call is not None or thought.truncated:
        text = OutputPlan(0, 0, thought.truncated)
    else:
        text = accounting.plan(model, output_tokens, room)
    return Answer(model, accounting, thought, thinking == "visible", call, text)
