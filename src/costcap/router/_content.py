"""What the classifier reads of a request: the prompt, the system text, sizes and settings.

:func:`request_content` reads the request's keyword arguments in any of the shapes costcap
guards — OpenAI Chat (``messages``, ``response_format``, ``max_tokens`` /
``max_completion_tokens``), OpenAI Responses (``input``, ``instructions``, ``text.format``,
``max_output_tokens``) and Anthropic Messages (``messages``, ``system``, ``output_format``,
``max_tokens``) — plus ``tools``. It never raises: a part it cannot read (an image, audio, an
unknown block) adds no text. It does not count tokens: sizes are in characters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Content", "request_content"]

_SYSTEM_ROLES = frozenset({"system", "developer"})
_STRUCTURED = frozenset({"json_schema", "json_object"})


@dataclass(frozen=True, slots=True)
class Content:
    """A request as the classifier sees it.

    ``prompt`` is the text of the last user turn (what is asked now), ``system`` the system or
    developer text and instructions; ``chars`` counts the characters of all the request's text
    (every turn, system, tool results; at least those of ``prompt`` and ``system``); ``turns``
    the messages or input items; ``tools`` the tool definitions; ``structured`` whether the
    request asks for JSON output (``response_format``, ``text.format``, ``output_format``);
    ``max_tokens`` the output limit it asks for.
    """

    prompt: str = ""
    system: str = ""
    chars: int = 0
    turns: int = 1
    tools: int = 0
    structured: bool = False
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        least = len(self.prompt) + len(self.system)
        if self.chars < least:
            object.__setattr__(self, "chars", least)


def request_content(request: Mapping[str, Any]) -> Content:
    """The Content of a request given as its keyword arguments (any guarded shape)."""
    walk = _Walk()
    system = request.get("system")
    if system is not None:
        walk.system.append(_text(system))
    instructions = request.get("instructions")
    if isinstance(instructions, str):
        walk.system.append(instructions)
    messages = request.get("messages")
    if isinstance(messages, Sequence) and not isinstance(messages, str):
        walk.items(messages)
    items = request.get("input")
    if isinstance(items, str):
        walk.user(items)
        walk.turns += 1
    elif isinstance(items, Sequence):
        walk.items(items)
    tools = request.get("tools")
    system_text = "\n".join(t for t in walk.system if t)
    return Content(
        prompt=walk.prompt,
        system=system_text,
        chars=walk.chars + len(system_text),
        turns=max(walk.turns, 1),
        tools=len(tools) if isinstance(tools, Sequence) and not isinstance(tools, str) else 0,
        structured=_structured(request),
        max_tokens=_max_tokens(request),
    )


class _Walk:
    def __init__(self) -> None:
        self.system: list[str] = []
        self.prompt = ""
        self.chars = 0
        self.turns = 0

    def user(self, text: str) -> None:
        self.prompt = text
        self.chars += len(text)

    def items(self, items: Sequence[Any]) -> None:
        for item in items:
            if not isinstance(item, Mapping):
                continue
            role = item.get("role")
            text = _text(item.get("content"))
            if role in _SYSTEM_ROLES:
                self.system.append(text)
                continue
            self.turns += 1
            if role == "user":
                self.user(text)
                continue
            self.chars += len(text)
            if role is None:  # a Responses item: function_call_output, function_call, …
                output = item.get("output") or item.get("arguments")
                if isinstance(output, str):
                    self.chars += len(output)


def _text(content: object) -> str:
    """The text of a content value: a string, or the text of its parts (other parts: none)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, Sequence):
        return ""
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping):
            text = part.get("text")
            if isinstance(text, str):
                texts.append(text)
            elif part.get("type") == "tool_result":
                texts.append(_text(part.get("content")))
    return "\n".join(texts)


def _structured(request: Mapping[str, Any]) -> bool:
    for key in ("response_format", "output_format"):
        value = request.get(key)
        if isinstance(value, Mapping) and value.get("type") in _STRUCTURED:
            return True
        if isinstance(value, type):  # the SDK's parse(response_format=SomeModel)
            return True
    text = request.get("text")
    if isinstance(text, Mapping):
        fmt = text.get("format")
        return isinstance(fmt, Mapping) and fmt.get("type") in _STRUCTURED
    return False


def _max_tokens(request: Mapping[str, Any]) -> int | None:
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = request.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
