"""What every endpoint shares: the parsed request, the planned answer, and the API protocol."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from costcap.testing._answer import Answer, Sent, ThinkingMode
from costcap.testing._errors import ApiError, Flavor
from costcap.testing._output import TokenAccounting
from costcap.testing._record import Endpoint

__all__ = [
    "Api",
    "Exchange",
    "Parsed",
    "Rendered",
    "Streamed",
    "new_id",
    "optional_int",
    "require_model",
]

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True, slots=True)
class Parsed:
    """A valid request: its model, stream flag, counted input and output cap; the tools it
    offers (name → JSON schema of the arguments, in order; none when it forbids calling them),
    whether it holds a tool result already, and how the API shows thinking it enables."""

    model: str
    stream: bool
    input_tokens: int
    cap: int | None
    options: Mapping[str, Any]
    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tool_result: bool = False
    thinking: ThinkingMode | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """Everything needed to render one answer, in either shape."""

    id: str
    created: int
    parsed: Parsed
    cached_tokens: int
    cache_write_tokens: int
    answer: Answer
    service_tier: str = "default"  # the tier served (OpenAI's name; Anthropic: standard or fast)

    @property
    def model(self) -> str:
        return self.parsed.model

    @property
    def word(self) -> str:
        return self.answer.accounting.word

    @property
    def text(self) -> str:
        """The answer's text, or its tool call's arguments."""
        return self.answer.text


@dataclass(frozen=True, slots=True)
class Rendered:
    """A non-streaming answer: its JSON body, the usage in it, and its finish/stop reason."""

    body: Mapping[str, Any]
    usage: Mapping[str, Any]
    finish_reason: str


@dataclass(frozen=True, slots=True)
class Streamed:
    """A streaming answer: ``(event bytes, cumulative units of output sent)`` pairs; what the
    units sent so far cost (``sent``); and the usage and finish reason the client sees when it
    reads the stream to the end (usage may be absent)."""

    events: list[tuple[bytes, int]]
    sent: Callable[[int], Sent]
    usage: Mapping[str, Any] | None
    finish_reason: str


class Api(Protocol):
    """One provider endpoint of the fake provider."""

    flavor: Flavor
    endpoint: Endpoint
    id_prefix: str

    def parse(self, body: Mapping[str, Any], accounting: TokenAccounting) -> Parsed: ...

    def render(self, exchange: Exchange) -> Rendered: ...

    def stream(self, exchange: Exchange) -> Streamed: ...


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(
            400,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    return model


#: OpenAI's request ``service_tier`` values, and the tier each is served (and billed) at: ``auto``
#: is the project's default (standard here), ``fast`` is reported as ``priority``.
OPENAI_TIERS: Mapping[str, str] = {
    "auto": "default", "default": "default", "flex": "flex", "scale": "scale",
    "priority": "priority", "fast": "priority",
}  # fmt: skip


def openai_served_tier(body: Mapping[str, Any]) -> str:
    """The tier an OpenAI request is served at, or a 400 for a value OpenAI refuses."""
    tier = body.get("service_tier")
    if tier is None:
        return "default"
    if not isinstance(tier, str) or tier not in OPENAI_TIERS:
        raise ApiError(
            400,
            f"Invalid value for 'service_tier': {tier!r}. Supported values are: "
            + ", ".join(f"'{t}'" for t in OPENAI_TIERS) + ".",
            param="service_tier",
            code="invalid_value",
        )  # fmt: skip
    return OPENAI_TIERS[tier]


def optional_int(body: Mapping[str, Any], name: str, *, minimum: int) -> int | None:
    """An optional integer parameter of at least *minimum*, or a 400 naming it."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(
            400,
            f"Invalid type for '{name}': expected an integer, but got {type(value).__name__}.",
            param=name,
            code="invalid_type",
        )
    if value < minimum:
        raise ApiError(
            400,
            f"Invalid '{name}': integer below minimum value. "
            f"Expected a value >= {minimum}, but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return value
