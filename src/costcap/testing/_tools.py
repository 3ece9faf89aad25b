"""Tool calls: which tool a request offers, arguments made from its JSON schema, and the
argument text cut into the pieces a stream sends.

Arguments are made deterministically from the tool's schema: each required property (every
property when none is required) gets a value by its type — string ``"hello"``, integer and
number ``1``, boolean ``true``, array ``[]``, null ``null``, object: its own properties the
same way (``{}`` without any) — or the first value of its ``enum`` (``const`` when it has one).
``anyOf`` / ``oneOf`` / ``allOf`` take their first branch, local ``$ref`` s are followed, and a
property without a type is ``"hello"``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["arguments_for", "pick_tool", "split_arguments"]

_NESTING = 8  # deeper objects (or a $ref cycle) are given {}
_CONTEXT = 32  # characters before a cut over which its counts are checked to add up
_LONGEST = 16  # characters in one piece of streamed arguments, at most (when one token)
_FALLBACK = 256  # characters in one piece, at most, where no one-token piece adds up
_SCALARS: Mapping[str, Any] = {
    "string": "hello",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "null": None,
}


def pick_tool(wanted: str | None, offered: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The tool to call: *wanted* when offered, the first one offered for ``"auto"``."""
    if wanted is None or not offered:
        return None
    if wanted == "auto":
        return next(iter(offered))
    return wanted if wanted in offered else None


def arguments_for(schema: Mapping[str, Any]) -> str:
    """The arguments of a call to a tool with this JSON *schema*: a compact JSON object."""
    value = _value(schema, schema, _NESTING)
    return json.dumps(value if isinstance(value, dict) else {}, separators=(",", ":"))


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for key in ref[2:].split("/"):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _value(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for branches in ("anyOf", "oneOf", "allOf"):
        options = schema.get(branches)
        if isinstance(options, list) and options and isinstance(options[0], Mapping):
            return _value(options[0], root, depth)
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first type that is not null
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and isinstance(schema.get("properties"), Mapping)):
        return _object(schema, root, depth)
    if isinstance(kind, str) and kind in _SCALARS:
        return _SCALARS[kind]
    return "hello"


def _object(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if depth <= 0 or not isinstance(properties, Mapping):
        return {}
    required = schema.get("required")
    names = required if isinstance(required, list) and required else list(properties)
    return {
        name: _value(sub if isinstance(sub, Mapping) else {}, root, depth - 1)
        for name in names
        if isinstance(name, str)
        for sub in [properties.get(name, {})]
    }


def split_arguments(text: str, model: str) -> tuple[str, ...]:
    """*text* cut into pieces of about one token each, as the real APIs stream arguments.

    A cut goes where the token counts add up — the count of the text before it plus the count
    of the piece after it is the count of both (checked over the last ``_CONTEXT`` characters
    or more, back to an earlier cut; a piece runs up to 256 characters when no cut adds up) —
    so a client counting the pieces it received one by one counts what the provider bills for
    them. Counted with the model's encoding, ``o200k_base`` for a model without a public one.
    """
    from costcap.tokens import encoding_for_model
    from costcap.tokens._encodings import count_encoded

    encoding = encoding_for_model(model) or "o200k_base"

    def count(part: str) -> int:
        return count_encoded(part, encoding)

    cuts = [0]
    while cuts[-1] < len(text):
        start = cuts[-1]
        anchor = next((c for c in reversed(cuts) if c <= start - _CONTEXT), 0)
        cuts.append(_piece_end(text, anchor, start, count))
    return tuple(text[a:b] for a, b in itertools.pairwise(cuts))


def _piece_end(text: str, anchor: int, start: int, count: Callable[[str], int]) -> int:
    """The end of the longest one-token piece from *start* whose count adds up to the text's
    since *anchor*, else of the shortest piece whose count adds up (``_FALLBACK`` characters
    at most)."""
    before = count(text[anchor:start])

    def adds_up(end: int) -> bool:
        return before + count(text[start:end]) == count(text[anchor:end])

    ends = range(min(len(text), start + _LONGEST), start, -1)
    longest = next((e for e in ends if count(text[start:e]) == 1 and adds_up(e)), None)
    if longest is not None:
        return longest
    last = min(len(text), start + _FALLBACK)
    return next((end for end in range(start + 1, last) if adds_up(end)), last)
