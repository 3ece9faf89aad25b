"""The fake provider's configuration and the per-request knobs resolved from it.

A knob's value for one request comes from, in order of precedence: its ``x-fake-*`` header,
its ``[[fake:NAME=N]]`` marker anywhere in the request body (only the token-count knobs), then
:class:`FakeProviderConfig`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from costcap.errors import ConfigError

__all__ = ["DEFAULT_MODELS", "FakeProviderConfig", "InvalidKnob", "Knobs", "resolve_knobs"]

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o4-mini",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
)

#: The status codes ``x-fake-error`` may inject.
INJECTABLE_ERRORS: frozenset[int] = frozenset(
    {400, 401, 403, 404, 408, 409, 429, 500, 502, 503, 529}
)

_MARKER = re.compile(
    rb"\[\[fake:(output_tokens|cached_tokens|cache_write_tokens|thinking_tokens)=(\d{1,9})\]\]"
)


_TIER = re.compile(r"[a-z_]{1,32}")
#: A tool name the fake provider can be told to call (the APIs' own rule for function names).
TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class InvalidKnob(ValueError):
    """An ``x-fake-*`` header with a value the fake provider cannot use (answered with 400)."""

    def __init__(self, header: str, value: str, expected: str) -> None:
        self.header = header
        super().__init__(f"invalid {header} header {value!r}: expected {expected}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeProviderConfig:
    """Defaults for every request the fake provider serves; headers and markers override them.

    See :mod:`costcap.testing` for the table of knobs.
    """

    output_tokens: int = 20
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: int = 0
    chunk_delay_ms: int = 0
    error: int | None = None
    fail_times: int = 0
    disconnect_after: int | None = None
    retry_after_ms: int = 1000
    thinking_tokens: int = 0
    tool_call: str | None = None  # a tool name, or "auto": the first tool the request offers
    word: str = " hello"
    models: tuple[str, ...] = field(default=DEFAULT_MODELS)

    def __post_init__(self) -> None:
        for name in (
            "output_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "latency_ms",
            "chunk_delay_ms",
            "fail_times",
            "retry_after_ms",
            "thinking_tokens",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(
                    f"FakeProviderConfig.{name}: expected an integer >= 0, not {value!r}"
                )
        if self.disconnect_after is not None and self.disconnect_after < 0:
            raise ConfigError(
                "FakeProviderConfig.disconnect_after: expected an integer >= 0 or None"
            )
        if self.error is not None and self.error not in INJECTABLE_ERRORS:
            raise ConfigError(
                f"FakeProviderConfig.error: {self.error!r} is not one of "
                f"{sorted(INJECTABLE_ERRORS)}"
            )
        if self.tool_call is not None and not (
            isinstance(self.tool_call, str) and TOOL_NAME.fullmatch(self.tool_call)
        ):
            raise ConfigError(
                f"FakeProviderConfig.tool_call: expected a tool name or 'auto', "
                f"not {self.tool_call!r}"
            )
        if not self.word:
            raise ConfigError("FakeProviderConfig.word: must not be empty")


@dataclass(frozen=True, slots=True)
class Knobs:
    """The knobs in force for one request."""

    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    latency_ms: int
    chunk_delay_ms: int
    error: int | None
    fail_times: int
    request_key: str | None
    disconnect_after: int | None
    retry_after_ms: int
    service_tier: str | None = None  # serve at this tier, whatever the request asked
    thinking_tokens: int = 0
    tool_call: str | None = None  # a tool name or "auto"
    tool_args: str | None = None  # the tool call's arguments (a JSON object), verbatim


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    value = raw.strip()
    if not value.isdigit() or len(value) > 9:
        raise InvalidKnob(name, raw, "an integer >= 0")
    return int(value)


def resolve_knobs(config: FakeProviderConfig, headers: Mapping[str, str], body: bytes) -> Knobs:
    """The knobs for one request: headers, then ``[[fake:…]]`` markers in *body*, then *config*.

    Raises :class:`InvalidKnob` for an ``x-fake-*`` header that is not a usable value.
    """
    markers: dict[str, int] = {}
    if b"[[fake:" in body:
        for match in _MARKER.finditer(body):
            markers[match.group(1).decode()] = int(match.group(2))

    def token_knob(name: str, default: int) -> int:
        header = _int_header(headers, "x-fake-" + name.replace("_", "-"))
        if header is not None:
            return header
        return markers.get(name, default)

    error = _int_header(headers, "x-fake-error")
    if error is not None and error not in INJECTABLE_ERRORS:
        raise InvalidKnob("x-fake-error", str(error), f"one of {sorted(INJECTABLE_ERRORS)}")
    latency = _int_header(headers, "x-fake-latency-ms")
    chunk_delay = _int_header(headers, "x-fake-chunk-delay-ms")
    fail_times = _int_header(headers, "x-fake-fail-times")
    disconnect = _int_header(headers, "x-fake-disconnect-after")
    retry_after = _int_header(headers, "x-fake-retry-after-ms")
    tier = headers.get("x-fake-service-tier")
    if tier is not None and not _TIER.fullmatch(tier):
        raise InvalidKnob("x-fake-service-tier", tier, "a tier name such as priority or fast")
    tool_call = headers.get("x-fake-tool-call")
    if tool_call is not None and not TOOL_NAME.fullmatch(tool_call):
        raise InvalidKnob("x-fake-tool-call", tool_call, "a tool name or auto")
    return Knobs(
        output_tokens=token_knob("output_tokens", config.output_tokens),
        cached_tokens=token_knob("cached_tokens", config.cached_tokens),
        cache_write_tokens=token_knob("cache_write_tokens", config.cache_write_tokens),
        latency_ms=config.latency_ms if latency is None else latency,
        chunk_delay_ms=config.chunk_delay_ms if chunk_delay is None else chunk_delay,
        error=config.error if error is None else error,
        fail_times=config.fail_times if fail_times is None else fail_times,
        request_key=headers.get("x-fake-request-key"),
        disconnect_after=config.disconnect_after if disconnect is None else disconnect,
        retry_after_ms=config.retry_after_ms if retry_after is None else retry_after,
        service_tier=tier,
        thinking_tokens=token_knob("thinking_tokens", config.thinking_tokens),
        tool_call=config.tool_call if tool_call is None else tool_call,
        tool_args=_tool_args(headers),
    )


def _tool_args(headers: Mapping[str, str]) -> str | None:
    """``x-fake-tool-args``: a JSON object, kept verbatim (surrounding whitespace aside)."""
    raw = headers.get("x-fake-tool-args")
    if raw is None:
        return None
    text = raw.strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidKnob("x-fake-tool-args", raw, "a JSON object")
    return text
