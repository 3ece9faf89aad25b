"""Token usage: one normalized shape, read from whatever a provider SDK returns.

Providers disagree on what "input tokens" means:

* Anthropic Messages ``usage.input_tokens`` EXCLUDES ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``; the total input is the sum of the three.
* OpenAI Chat Completions ``usage.prompt_tokens`` INCLUDES ``prompt_tokens_details.cached_tokens``
  (and ``cache_write_tokens``); the Responses API ``input_tokens`` likewise includes
  ``input_tokens_details.cached_tokens``.

:class:`Usage` always holds the TOTAL input, as genai-prices does, so the two meet in one place.
Audio and image tokens are read from the details OpenAI reports (Chat Completions, Responses,
image generation, Realtime); they are parts of the input and output totals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from costcap.errors import UsageError

__all__ = ["Usage", "usage_from"]

_set = object.__setattr__  # how a frozen dataclass sets its fields


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Usage:
    """Token counts of one call, normalized.

    ``input_tokens`` is the TOTAL number of input (prompt) tokens, INCLUDING the tokens read from
    and written to the prompt cache: ``cache_read_tokens`` and ``cache_write_tokens`` are parts of
    ``input_tokens``, not additions to it. ``cache_write_1h_tokens`` is the part of
    ``cache_write_tokens`` written with Anthropic's one-hour TTL (billed at a higher rate).

    Audio and image counts are parts too, named as genai-prices names them: ``input_audio_tokens``
    and ``input_image_tokens`` of ``input_tokens``; ``cache_audio_read_tokens`` of both
    ``input_audio_tokens`` and ``cache_read_tokens`` (``cache_image_read_tokens`` likewise);
    ``output_audio_tokens`` and ``output_image_tokens`` of ``output_tokens``.

    Every count is a non-negative ``int`` (an audio or image count of ``None`` is 0, as not
    reported); anything else raises :class:`~costcap.errors.UsageError`.
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    # The audio and image counts in _MEDIA order, None when all are 0 (text: the common case).
    _media: tuple[int, int, int, int, int, int] | None = None

    def __init__(  # noqa: PLR0917 - one parameter per count, as a dataclass has
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        input_audio_tokens: int = 0,
        cache_audio_read_tokens: int = 0,
        output_audio_tokens: int = 0,
        input_image_tokens: int = 0,
        cache_image_read_tokens: int = 0,
        output_image_tokens: int = 0,
    ) -> None:
        # Written out (not generated) to keep building a Usage cheap: it happens on every call.
        _set(self, "input_tokens", input_tokens)
        _set(self, "output_tokens", output_tokens)
        _set(self, "cache_read_tokens", cache_read_tokens)
        _set(self, "cache_write_tokens", cache_write_tokens)
        _set(self, "cache_write_1h_tokens", cache_write_1h_tokens)
        if (
            input_audio_tokens or cache_audio_read_tokens or output_audio_tokens
            or input_image_tokens or cache_image_read_tokens or output_image_tokens
        ):  # fmt: skip
            ia, ca, oa, ii, ci, oi = media = tuple(
                0 if n is None else n
                for n in (input_audio_tokens, cache_audio_read_tokens, output_audio_tokens,
                          input_image_tokens, cache_image_read_tokens, output_image_tokens)
            )  # fmt: skip
            _set(self, "_media", media)
            i, o, r = input_tokens, output_tokens, cache_read_tokens
            w, w1 = cache_write_tokens, cache_write_1h_tokens
            if (
                type(i) is int and type(o) is int and type(r) is int and type(w) is int
                and type(w1) is int and type(ia) is int and type(ca) is int and type(oa) is int
                and type(ii) is int and type(ci) is int and type(oi) is int
                and o >= 0 and r >= 0 and w >= w1 >= 0 and r + w <= i
                and ia >= ca >= 0 and ii >= ci >= 0 and ia + ii <= i and ca + ci <= r
                and oa >= 0 and oi >= 0 and oa + oi <= o
            ):  # fmt: skip
                return  # a consistent usage with audio or images, checked in one expression
            self._validate()
            return
        _set(self, "_media", None)
        i, o, r = input_tokens, output_tokens, cache_read_tokens
        w, w1 = cache_write_tokens, cache_write_1h_tokens
        if (
            type(i) is int and type(o) is int and type(r) is int and type(w) is int
            and type(w1) is int and o >= 0 and r >= 0 and w >= w1 >= 0 and r + w <= i
        ):  # fmt: skip
            return  # the common case, checked in one expression
        self._validate()

    @property
    def input_audio_tokens(self) -> int:
        return 0 if self._media is None else self._media[0]

    @property
    def cache_audio_read_tokens(self) -> int:
        return 0 if self._media is None else self._media[1]

    @property
    def output_audio_tokens(self) -> int:
        return 0 if self._media is None else self._media[2]

    @property
    def input_image_tokens(self) -> int:
        return 0 if self._media is None else self._media[3]

    @property
    def cache_image_read_tokens(self) -> int:
        return 0 if self._media is None else self._media[4]

    @property
    def output_image_tokens(self) -> int:
        return 0 if self._media is None else self._media[5]

    def __repr__(self) -> str:
        shown = [*_FIELDS[:5], *(n for n in _FIELDS[5:] if getattr(self, n))]
        return f"Usage({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

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
        for part, whole in _PARTS:
            if getattr(self, part) > getattr(self, whole):
                raise UsageError(
                    f"usage {part} ({getattr(self, part)}) exceed {whole} "
                    f"({getattr(self, whole)}): it is a part of it"
                )
        for parts, whole in _SUMS:
            total = sum(getattr(self, p) for p in parts)
            if total > getattr(self, whole):
                raise UsageError(
                    f"usage {' + '.join(parts)} ({total}) exceed {whole} ({getattr(self, whole)})"
                )

    def bounded(self, input_tokens: int, output_tokens: int) -> Usage:
        """This usage cut to at most ``input_tokens`` and ``output_tokens``, every part cut with
        its whole (audio, the dearest tokens, kept before images and text)."""
        total = min(self.input_tokens, input_tokens)
        output = min(self.output_tokens, output_tokens)
        read = min(self.cache_read_tokens, total)
        write = min(self.cache_write_tokens, total - read)
        audio = min(self.input_audio_tokens, total)
        image = min(self.input_image_tokens, total - audio)
        audio_read = min(self.cache_audio_read_tokens, audio, read)
        out_audio = min(self.output_audio_tokens, output)
        return Usage(
            total,
            output,
            read,
            write,
            min(self.cache_write_1h_tokens, write),
            audio,
            audio_read,
            out_audio,
            image,
            min(self.cache_image_read_tokens, image, read - audio_read),
            min(self.output_image_tokens, output - out_audio),
        )


_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
           "cache_write_1h_tokens", "input_audio_tokens", "cache_audio_read_tokens",
           "output_audio_tokens", "input_image_tokens", "cache_image_read_tokens",
           "output_image_tokens")  # fmt: skip
_PARTS = (
    ("cache_audio_read_tokens", "input_audio_tokens"),
    ("cache_image_read_tokens", "input_image_tokens"),
)
_SUMS = (
    (("input_audio_tokens", "input_image_tokens"), "input_tokens"),
    (("cache_audio_read_tokens", "cache_image_read_tokens"), "cache_read_tokens"),
    (("output_audio_tokens", "output_image_tokens"), "output_tokens"),
)

_Getter = Callable[[Any, str], Any]
_Reader = Callable[[Any, _Getter], Usage]


def _get_attr(obj: Any, key: str) -> Any:
    return getattr(obj, key, None)


def _get_item(obj: Any, key: str) -> Any:
    return obj.get(key)


# The fields each details class declares (None: not declared), cached per class met: reading an
# undeclared name from a pydantic model costs ~2 µs (it raises inside), a declared one ~40 ns.
_class_fields: dict[type, frozenset[str] | None] = {}
_NO_EXTRA: dict[str, Any] = {}


def _declared(cls: type) -> frozenset[str] | None:
    try:
        return _class_fields[cls]
    except KeyError:
        pass
    fields = getattr(cls, "model_fields", None) or getattr(cls, "__dataclass_fields__", None)
    declared = frozenset(fields) if isinstance(fields, Mapping) else None
    _class_fields[cls] = declared
    return declared


_Values = Callable[[Any], tuple[Any, ...]]


def _values(obj: Any, parts: tuple[tuple[str, ...], dict[type, _Values]]) -> tuple[Any, ...]:
    """The values ``parts[0]`` of a details object (``None`` where absent): an SDK model (its
    undeclared extras too) or a dict. ``parts[1]`` caches one reader per class met."""
    read = parts[1].get(type(obj))
    if read is None:
        read = parts[1][type(obj)] = _reader(type(obj), parts[0])
    return read(obj)


def _reader(cls: type, keys: tuple[str, ...]) -> _Values:
    """How to read ``keys`` from instances of ``cls``: one ``attrgetter`` call when the class
    declares them all; declared fields and the pydantic extras when it declares some."""
    if issubclass(cls, Mapping):
        return lambda obj: tuple(obj.get(k) for k in keys)
    declared = _declared(cls)
    if declared is None:
        return lambda obj: tuple(getattr(obj, k, None) for k in keys)
    if declared.issuperset(keys):
        return attrgetter(*keys)

    def read(obj: Any) -> tuple[Any, ...]:
        extra = getattr(obj, "__pydantic_extra__", None) or _NO_EXTRA
        return tuple(getattr(obj, k) if k in declared else extra.get(k) for k in keys)

    return read


def _counts(values: tuple[Any, ...], keys: tuple[str, ...]) -> list[int]:
    """``values`` as counts: ``None`` is 0, anything but an int a :class:`UsageError`."""
    return [_count(v, k, required=False) for v, k in zip(values, keys, strict=True)]


def _detail(obj: Any, key: str) -> Any:
    """One value of a details object (see :func:`_details`), ``None`` where absent."""
    if obj is None:
        return None
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(key)
    declared = _declared(type(obj))
    if declared is None or key in declared:
        return getattr(obj, key, None)
    return (getattr(obj, "__pydantic_extra__", None) or _NO_EXTRA).get(key)


def _count(value: Any, what: str, *, required: bool) -> int:
    if value is None:
        if required:
            raise UsageError(f"usage has no {what}")
        return 0
    if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
        raise UsageError(f"usage {what} must be an int token count, got {value!r}")
    return value


# The names read from OpenAI's details objects, with a cache of one reader per class met.
_INPUT_PARTS: tuple[tuple[str, ...], dict[type, _Values]] = (
    ("cached_tokens", "cache_write_tokens", "audio_tokens", "image_tokens"),
    {},
)
_OUTPUT_PARTS: tuple[tuple[str, ...], dict[type, _Values]] = (("audio_tokens", "image_tokens"), {})
_CACHED_PARTS: tuple[tuple[str, ...], dict[type, _Values]] = (("audio_tokens", "image_tokens"), {})


def _openai(total_in: int, total_out: int, details: Any, out_details: Any) -> Usage:
    """OpenAI's totals and details: ``details`` holds the cached, cache-write, audio and image
    parts of the input; ``out_details`` the audio and image parts of the output."""
    if details is None:
        read = write = audio = image = 0
    else:
        read, write, audio, image = _values(details, _INPUT_PARTS)
        # None (not reported) is 0; written out, as this runs on every call
        if type(read) is not int:
            read = _count(read, "cached_tokens", required=False)
        if type(write) is not int:
            write = _count(write, "cache_write_tokens", required=False)
        if type(audio) is not int:
            audio = _count(audio, "audio_tokens", required=False)
        if type(image) is not int:
            image = _count(image, "image_tokens", required=False)
    if out_details is None:
        out_audio = out_image = 0
    else:
        values = _values(out_details, _OUTPUT_PARTS)
        out_audio, out_image = _counts(values, _OUTPUT_PARTS[0])
    if not (audio or image or out_audio or out_image):
        return Usage(total_in, total_out, read, write)
    cached = _detail(details, "cached_tokens_details")  # Realtime: the cached audio and images
    if cached is not None:
        values = _values(cached, _CACHED_PARTS)
        audio_read, image_read = _counts(values, _CACHED_PARTS[0])
    else:  # not reported: the fewest the totals allow (uncached audio is the dearest input)
        audio_read = max(0, read + audio - total_in)
        image_read = max(0, read + image - total_in)
    return Usage(total_in, total_out, read, write, 0,
                 audio, audio_read, out_audio, image, image_read, out_image)  # fmt: skip


def _openai_reader(total_in: str, total_out: str, details: str, out_details: str) -> _Reader:
    """A reader of one OpenAI usage shape: its totals' and details' names."""

    def read(obj: Any, get: _Getter) -> Usage:
        return _openai(
            _count(get(obj, total_in), total_in, required=True),
            _count(get(obj, total_out), total_out, required=True),
            get(obj, details),
            get(obj, out_details),
        )

    return read


# Chat Completions' ``CompletionUsage``: ``prompt_tokens`` includes cached and cache-write tokens.
_openai_chat = _openai_reader(
    "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"
)
# ``ResponseUsage`` (and the Images API's usage): ``input_tokens`` includes the cached tokens.
_openai_responses = _openai_reader(
    "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"
)
# Realtime's ``RealtimeResponseUsage``: ``input_token_details.cached_tokens_details`` also says
# which cached tokens are audio and images.
_openai_realtime = _openai_reader(
    "input_tokens", "output_tokens", "input_token_details", "output_token_details"
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
        _detail(get(obj, "cache_creation"), "ephemeral_1h_input_tokens"),
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
    """``{"input_tokens": …, "output_tokens": …}`` with optional genai-prices style cache, audio
    and image counts (``cache_read_tokens``, ``input_audio_tokens``, …).

    Here ``input_tokens`` is the total input (the genai-prices convention).
    """
    return Usage(*(_count(get(obj, name), name, required=i < 2) for i, name in enumerate(_FIELDS)))


def _pick_reader(has: Callable[[str], bool]) -> _Reader | None:
    if has("prompt_tokens"):
        return _openai_chat
    if has("input_tokens_details"):
        return _openai_responses
    if has("input_token_details"):
        return _openai_realtime
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
    ``ResponseUsage``, the Images API's usage, Realtime's ``RealtimeResponseUsage``) and the
    Anthropic SDK (``Usage``, ``MessageDeltaUsage``); dicts of those shapes; a plain
    ``{"input_tokens": 812, "output_tokens": 230}`` dict (``input_tokens`` being the total input,
    optional cache, audio and image counts named as :class:`Usage` names them); or the same as
    keyword arguments: ``usage_from(input_tokens=812, output_tokens=230)``.

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
