"""Walk request payloads (OpenAI Chat, Anthropic Messages, OpenAI Responses) into a tally.

A tally separates what the model reads verbatim (``texts``: counted exactly for OpenAI
models), what it reads in a format we can only approximate (``approx``: tool definitions,
tool-call arguments, ids — counted as compact JSON), images, and message framing.

Content given as several text parts is counted part by part, as OpenAI's one public
renderer (``openai/harmony``, the gpt-oss chat format) tokenizes them: each part on its own,
nothing between them. How the hosted models join parts is not published (a separator, or
the joined text tokenized as one, can count more or fewer tokens), so every extra part is a
``join``: the count is then not exact and its bound carries an allowance per join.
Unknown part types raise ``UncountableContent``: nothing is ever counted as 0 silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from costcap.errors import UncountableContent

__all__ = ["Tally", "tally_chat", "tally_responses"]

# Message keys that carry no prompt text (metadata the provider does not render).
_SILENT_KEYS = frozenset({"role", "content", "name", "cache_control", "type", "id", "status"})


@dataclass
class Tally:
    """What a request puts in front of the model, sorted by how exactly it can be counted."""

    texts: list[str] = field(default_factory=list)
    approx: list[str] = field(default_factory=list)
    images: int = 0
    messages: int = 0  # each gets the per-message framing
    names: int = 0  # OpenAI: +1 token per ``name`` field
    joins: int = 0  # text parts beyond the first in one content list (rendering unpublished)
    has_system: bool = False
    has_tools: bool = False
    documented_framing: bool = True  # False for the Responses API (framing unpublished)

    @property
    def exact(self) -> bool:
        """True when an OpenAI count of this tally follows the documented formula only."""
        return self.documented_framing and not self.approx and not self.images and not self.joins


def to_json(value: object) -> str:
    """Compact JSON, the form in which structured values are counted."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def _kind(part: Mapping[str, Any]) -> str:
    return str(part.get("type", "<no type>"))


def _add_parts(tally: Tally, content: object, where: str) -> None:
    """Add a content value: a string, ``None``, or a list of typed parts/blocks."""
    if content is None:
        return
    if isinstance(content, str):
        tally.texts.append(content)
        return
    if not isinstance(content, Sequence) or isinstance(content, bytes | bytearray):
        raise UncountableContent(type(content).__name__, f"{where} content")
    pieces = 0  # parts that add text: each after the first is a join
    for part in content:
        before = len(tally.texts)
        if isinstance(part, str):
            tally.texts.append(part)
        elif isinstance(part, Mapping):
            _add_part(tally, part, where)
        else:
            raise UncountableContent(type(part).__name__, f"{where} content part")
        pieces += len(tally.texts) > before
    tally.joins += max(pieces - 1, 0)


def _add_part(tally: Tally, part: Mapping[str, Any], where: str) -> None:
    kind = _kind(part)
    match kind:
        case "text" | "input_text" | "output_text":
            tally.texts.append(str(part.get("text", "")))
        case "refusal":
            tally.texts.append(str(part.get("refusal", "")))
        case "image_url" | "image" | "input_image":
            tally.images += 1
        case "tool_use" | "server_tool_use":  # Anthropic: the model reads name + JSON input
            tally.approx.append(str(part.get("name", "")))
            tally.approx.append(to_json(part.get("input", {})))
            tally.approx.append(str(part.get("id", "")))
        case "tool_result":  # Anthropic: content is a string or text/image blocks
            tally.approx.append(str(part.get("tool_use_id", "")))
            _add_parts(tally, part.get("content"), f"{where} tool_result")
        case "thinking":
            tally.texts.append(str(part.get("thinking", "")))
        case "redacted_thinking":
            tally.approx.append(str(part.get("data", "")))
        case "document" if _is_text_source(part):
            tally.texts.append(str(part["source"].get("data", "")))
            tally.approx.append(to_json({k: v for k, v in part.items() if k != "source"}))
        case _:
            raise UncountableContent(kind, f"in {where}")


def _is_text_source(part: Mapping[str, Any]) -> bool:
    source = part.get("source")
    return isinstance(source, Mapping) and source.get("type") == "text"


def _add_system(tally: Tally, system: object) -> None:
    """``system`` is a string or a list of text blocks (Anthropic) — one system message."""
    if system is None:
        return
    tally.has_system = True
    tally.messages += 1
    tally.texts.append("system")
    _add_parts(tally, system, "system")


def _add_tools(tally: Tally, tools: object) -> None:
    if tools is None:
        return
    if not isinstance(tools, Sequence) or isinstance(tools, str | bytes):
        raise UncountableContent(type(tools).__name__, "tools must be a list of definitions")
    if tools:
        tally.has_tools = True
        tally.approx.append(to_json(list(tools)))


def _add_message(tally: Tally, message: Mapping[str, Any]) -> None:
    """One chat message: OpenAI Chat Completions or Anthropic Messages shape."""
    if not isinstance(message, Mapping):
        raise UncountableContent(type(message).__name__, "a message must be a mapping")
    tally.messages += 1
    role = message.get("role")
    if role is not None:
        tally.texts.append(str(role))
    where = f"{role or 'message'} message"
    _add_parts(tally, message.get("content"), where)
    name = message.get("name")
    if name is not None:
        tally.texts.append(str(name))
        tally.names += 1
    for call in message.get("tool_calls") or ():
        function = call.get("function", {})
        tally.approx.append(str(call.get("id", "")))
        tally.approx.append(str(function.get("name", "")))
        tally.approx.append(str(function.get("arguments", "")))
    legacy = message.get("function_call")
    if legacy is not None:
        tally.approx.append(str(legacy.get("name", "")))
        tally.approx.append(str(legacy.get("arguments", "")))
    if message.get("tool_call_id") is not None:
        tally.approx.append(str(message["tool_call_id"]))
    if "audio" in message and message["audio"] is not None:
        raise UncountableContent("audio", f"in {where}")
    # Any other string field would be rendered by the cookbook formula; count it too.
    for key, value in message.items():
        if key in _SILENT_KEYS or key in {"tool_calls", "function_call", "tool_call_id"}:
            continue
        if isinstance(value, str):
            tally.approx.append(value)


def tally_chat(
    messages: Iterable[Mapping[str, Any]], *, system: object = None, tools: object = None
) -> Tally:
    """Tally a Chat Completions or Anthropic Messages request."""
    if isinstance(messages, str | bytes | Mapping):
        raise UncountableContent(type(messages).__name__, "messages must be a list of messages")
    tally = Tally()
    _add_system(tally, system)
    texts = tally.texts
    for message in messages:
        # The common message, {"role": …, "content": "…"}, without the general walk.
        if type(message) is dict and len(message) == 2:
            role, content = message.get("role"), message.get("content")
            if type(role) is str and type(content) is str:
                tally.messages += 1
                texts.append(role)
                texts.append(content)
                continue
        _add_message(tally, message)
    _add_tools(tally, tools)
    return tally


def _add_item(tally: Tally, item: Mapping[str, Any]) -> None:
    """One Responses API input item."""
    kind = item.get("type", "message")
    match kind:
        case "message":
            _add_message(tally, item)
        case "function_call" | "custom_tool_call":
            tally.messages += 1
            tally.approx.append(str(item.get("call_id", "")))
            tally.approx.append(str(item.get("name", "")))
            tally.approx.append(str(item.get("arguments", item.get("input", ""))))
        case "function_call_output" | "custom_tool_call_output":
            tally.messages += 1
            tally.approx.append(str(item.get("call_id", "")))
            output = item.get("output", "")
            _add_parts(tally, output, f"{kind} item")
        case "reasoning":
            tally.messages += 1
            for summary in item.get("summary") or ():
                tally.approx.append(str(summary.get("text", "")))
            for part in item.get("content") or ():
                tally.approx.append(str(part.get("text", "")))
            if item.get("encrypted_content"):
                tally.approx.append(str(item["encrypted_content"]))
        case _:
            raise UncountableContent(str(kind), "Responses input item")


def tally_responses(input_: object, *, instructions: object = None, tools: object = None) -> Tally:
    """Tally an OpenAI Responses API ``input`` (a string or a list of items)."""
    tally = Tally()
    _add_system(tally, instructions)
    if isinstance(input_, str):
        _add_message(tally, {"role": "user", "content": input_})
    elif isinstance(input_, Sequence) and not isinstance(input_, bytes | bytearray):
        for item in input_:
            if not isinstance(item, Mapping):
                raise UncountableContent(type(item).__name__, "Responses input item")
            _add_item(tally, item)
    else:
        raise UncountableContent(type(input_).__name__, "Responses input")
    _add_tools(tally, tools)
    tally.documented_framing = False
    return tally
