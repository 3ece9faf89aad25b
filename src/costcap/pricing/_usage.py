"""Token usage: one normalized shape, read from whatever a provider SDK returns.

Providers disagree on what "input tokens" means:

* Anthropic Messages ``usage.input_tokens`` EXCLUDES ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``; the total input is the sum of the three.
* OpenAI Chat Completions ``usage.prompt_tokens`` INCLUDES ``prompt_tokens_details.cached_tokens``
  (and ``cache_write_tokens``); the Responses API ``input_tokens`` likewise includes
  ``input_tokens_details.cached_tokens``.

:class:`Usage` always holds the TOTAL input, as genai-prices does, so the two meet in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from costcap.errors import UsageError

__all__ = ["Usage", "usage_from"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call, normalized.

    ``input_tokens`` is the TOTAL number of input (prompt) tokens, INCLUDING the tokens read from
    and written to the prompt cache: ``cache_read_tokens`` and ``cache_write_tokens`` are parts of
    ``input_tokens``, not additions to it. ``cache_write_1h_tokens`` is the part of
    ``cache_write_tokens`` written with Anthropic's one-hour TTL (billed at a higher rate).

    Every count is a non-negative ``int``; anything else raises :class:`~costcap.errors.UsageError`.
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0

    def __post_init__(self) -> None:
        i, o = self.input_tokens, self.output_tokens
        r, w, w1 = self.cache_read_tokens, self.cache_write_tokens, self.cache_write_1h_tokens
        if (
            type(i) is int and type(o) is int and type(r) is int and type(w) is int
            and type(w1) is int and o >= 0 and r >= 0 and w >= w1 >= 0 and r + w <= i
        ):  # fmt: skip
            return  # the common case, checked in one expression
        self._validate()

    def _validate(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
                raise UsageError(f"usage {name} must be an int token count, got {value!r}")
            if value < 0:
                raise UsageError(f"usage {name} must not be negative, got {value!r}")
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens:
            raise UsageError(
                f"usage cache_read_tokens ({self.cache_read_tokens}) + cache_write_tokens "
                f"({self.cache_write_tokens}) exceed input_tokens ({self.input_tokens}); "
                "input_tokens is the total input including cached tokens"
            )
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise UsageError(
                f"usage cache_write_1h_tokens ({self.cache_write_1h_tokens}) exceed "
                f"cache_write_tokens ({self.cache_write_tokens})"
            )


_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
           "cache_write_1h_tokens")  # fmt: skip

_Getter = Callable[[Any, str], Any]


def _get_attr(obj: Any, key: str) -> Any:
    return getattr(obj, key, None)


def _get_item(obj: Any, key: str) -> Any:
    return obj.get(key)


def _get_any(obj: Any, key: str) -> Any:
    """Nested details may be SDK objects or plain dicts."""
    if obj is None:
        return None
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _count(value: Any, what: str, *, required: bool) -> int:
    if value is None:
        if required:
            raise UsageError(f"usage has no {what}")
        return 0
    if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
        raise UsageError(f"usage {what} must be an int token count, got {value!r}")
    return value


def _openai_chat(obj: Any, get: _Getter) -> Usage:
    """``CompletionUsage``: ``prompt_tokens`` already includes cached and cache-write tokens."""
    details = get(obj, "prompt_tokens_details")
    return Usage(
        _count(get(obj, "prompt_tokens"), "prompt_tokens", required=True),
        _count(get(obj, "completion_tokens"), "completion_tokens", required=True),
        _count(_get_any(details, "cached_tokens"), "cached_tokens", required=False),
        _count(_get_any(details, "cache_write_tokens"), "cache_write_tokens", required=False),
    )


def _openai_responses(obj: Any, get: _Getter) -> Usage:
    """``ResponseUsage``: ``input_tokens`` already includes cached and cache-write tokens."""
    details = get(obj, "input_tokens_details")
    return Usage(
        _count(get(obj, "input_tokens"), "input_tokens", required=True),
        _count(get(obj, "output_tokens"), "output_tokens", required=True),
        _count(_get_any(details, "cached_tokens"), "cached_tokens", required=False),
        _count(_get_any(details, "cache_write_tokens"), "cache_write_tokens", required=False),
    )


def _anthropic(obj: Any, get: _Getter) -> Usage:
    """``anthropic.types.Usage`` / ``MessageDeltaUsage``: ``input_tokens`` excludes the cache.

    ``MessageDeltaUsage.input_tokens`` may be ``None`` (not reported in that event); it counts as 0.
    """
    uncached = _count(get(obj, "input_tokens"), "input_tokens", required=False)
    read = _count(get(obj, "cache_read_input_tokens"), "cache_read_input_tokens", required=False)
    write = _count(
        get(obj, "cache_creation_input_tokens"), "cache_creation_input_tokens", required=False
    )
    write_1h = _count(
        _get_any(get(obj, "cache_creation"), "ephemeral_1h_input_tokens"),
        "cache_creation.ephemeral_1h_input_tokens",
        required=False,
    )
    return Usage(
        uncached + read + write,
        _count(get(obj, "output_tokens"), "output_tokens", required=True),
        read,
        write,
        write_1h,
    )


def _plain(obj: Any, get: _Getter) -> Usage:
    """``{"input_tokens": …, "output_tokens": …}`` with optional genai-prices style cache counts.

    Here ``input_tokens`` is the total input (the genai-prices convention).
    """
    return Usage(
        _count(get(obj, "input_tokens"), "input_tokens", required=True),
        _count(get(obj, "output_tokens"), "output_tokens", required=True),
        _count(get(obj, "cache_read_tokens"), "cache_read_tokens", required=False),
        _count(get(obj, "cache_write_tokens"), "cache_write_tokens", required=False),
        _count(get(obj, "cache_write_1h_tokens"), "cache_write_1h_tokens", required=False),
    )


_Reader = Callable[[Any, _Getter], Usage]


def _pick_reader(has: Callable[[str], bool]) -> _Reader | None:
    if has("prompt_tokens"):
        return _openai_chat
    if has("input_tokens_details"):
        return _openai_responses
    if has("cache_creation_input_tokens") or has("cache_read_input_tokens"):
        return _anthropic
    if has("input_tokens") and has("output_tokens"):
        return _plain
    return None


# A cache of one reader per class met (bounded by the classes a process uses).
_class_readers: dict[type, _Reader | None] = {}


def _reader_for_class(cls: type) -> _Reader | None:
    """The reader for a class whose fields are declared (pydantic models, dataclasses), cached.

    Returns ``None`` for classes without declared fields; those are inspected per instance.
    """
    try:
        return _class_readers[cls]
    except KeyError:
        pass
    fields = getattr(cls, "model_fields", None) or getattr(cls, "__dataclass_fields__", None)
    reader = _pick_reader(fields.__contains__) if isinstance(fields, Mapping) else None
    _class_readers[cls] = reader
    return reader


def usage_from(obj: object = None, /, **counts: int) -> Usage:
    """Normalize a usage object into :class:`Usage`.

    Accepts a :class:`Usage`; the ``usage`` objects of the OpenAI SDK (``CompletionUsage``,
    ``ResponseUsage``) and the Anthropic SDK (``Usage``, ``MessageDeltaUsage``); dicts of those
    shapes; a plain ``{"input_tokens": 812, "output_tokens": 230}`` dict (``input_tokens`` being the
    total input, optional ``cache_read_tokens``/``cache_write_tokens``); or the same as keyword
    arguments: ``usage_from(input_tokens=812, output_tokens=230)``.

    Anything unreadable raises :class:`~costcap.errors.UsageError`; it is never priced as $0.
    """
    if counts:
        if obj is not None:
            raise UsageError("pass a usage object or keyword counts, not both")
        return _plain(counts, _get_item)
    if type(obj) is Usage:
        return obj
    cls = type(obj)
    reader = _class_readers.get(cls)
    if reader is not None:  # the hot path: an SDK usage object of a class seen before
        return reader(obj, _get_attr)
    if isinstance(obj, Mapping):
        reader = _pick_reader(obj.__contains__)
        if reader is None:
            raise UsageError(f"cannot read token usage from a mapping with keys {sorted(obj)!r}")
        return reader(obj, _get_item)
    if obj is None or isinstance(obj, (str, bytes, int, float)):
        raise UsageError(f"cannot read token usage from {obj!r:.200}")
    reader = _reader_for_class(cls) or _pick_reader(lambda name: hasattr(obj, name))
    if reader is None:
        raise UsageError(
            f"cannot read token usage from {type(obj).__qualname__} object: {obj!r:.200}"
        )
    return reader(obj, _get_attr)
