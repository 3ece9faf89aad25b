"""Which requests the wire guard admits, which it refuses, and which it lets through.

A request is read by its method and its path after the last ``v1`` segment (``/v1/messages``,
``https://proxy.example/openai/v1/chat/completions``); a path without one (Azure's
``/openai/deployments/NAME/chat/completions``) is read by its last segments, and refused when
any of its segments names an endpoint that spends.

======================================= =========================================================
``POST …/chat/completions``              guarded: OpenAI Chat Completions
``POST …/responses``                     guarded: OpenAI Responses
``POST …/v1/messages``                   guarded: Anthropic Messages (``?beta=true`` too)
``POST`` to an endpoint that spends      refused (:class:`UnmeteredEndpoint`): embeddings,
but cannot be metered                    images, audio, files, uploads, batches, fine-tuning,
                                         legacy completions, realtime, videos, Assistants runs,
                                         Anthropic message batches, ``responses/compact``
anything else                            passed through untouched (``GET /v1/models``,
                                         ``POST /v1/messages/count_tokens``, retrievals…)
======================================= =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Api", "Route", "route"]

Api = Literal["chat", "responses", "messages"]
Flavor = Literal["openai", "anthropic"]

_GUARDED: dict[tuple[str, ...], Api] = {
    ("chat", "completions"): "chat",
    ("responses",): "responses",
    ("messages",): "messages",
}

#: The first segment after ``v1`` of endpoints that spend without a usage costcap can meter.
_SPENDING_ROOTS: dict[str, str] = {
    "embeddings": "embeddings",
    "images": "image generation",
    "audio": "audio (speech, transcription, translation)",
    "files": "file uploads (they feed batches and fine-tuning)",
    "uploads": "uploads (they feed batches and fine-tuning)",
    "batches": "batches (billed when the batch runs, later)",
    "fine_tuning": "fine-tuning",
    "completions": "legacy completions",
    "complete": "legacy Anthropic completions",
    "realtime": "the Realtime API",
    "videos": "video generation",
}

#: Longer paths that spend: (segments after v1, what they are).
_SPENDING_PATHS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("messages", "batches"), "Anthropic message batches (billed when the batch runs, later)"),
    (("responses", "compact"), "response compaction"),
)


@dataclass(frozen=True, slots=True)
class Route:
    """What to do with one request: ``guard`` it as ``api``, ``refuse`` it (``what`` spends
    unmetered), or ``pass`` it through."""

    action: Literal["guard", "refuse", "pass"]
    api: Api | None = None
    what: str = ""

    anthropic: bool = False  # a refused endpoint of Anthropic's API (batches, completions)

    @property
    def flavor(self) -> Flavor:
        """The provider whose error format answers a refusal of this request."""
        return "anthropic" if self.api == "messages" or self.anthropic else "openai"


_PASS = Route("pass")


def _segments(path: str) -> tuple[tuple[str, ...], bool]:
    """The path's segments after its last ``v1`` segment (and whether there was one)."""
    parts = [p for p in path.split("/") if p]
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == "v1":
            return tuple(parts[index + 1 :]), True
    return tuple(parts), False


def route(method: str, path: str) -> Route:
    """How the wire guard treats ``method path``."""
    if method.upper() != "POST":
        return _PASS
    rest, versioned = _segments(path)
    if versioned:
        api = _GUARDED.get(rest)
        if api is not None:
            return Route("guard", api)
        for spending, what in _SPENDING_PATHS:
            if rest[: len(spending)] == spending:
                return Route("refuse", what=what, anthropic=spending[0] == "messages")
        if rest and rest[0] in _SPENDING_ROOTS:
            return Route("refuse", what=_SPENDING_ROOTS[rest[0]], anthropic=rest[0] == "complete")
        if rest[:1] == ("threads",) and "runs" in rest:
            return Route("refuse", what="Assistants runs")
        return _PASS
    if rest[-2:] == ("chat", "completions"):
        return Route("guard", "chat")
    if rest[-1:] == ("responses",):
        return Route("guard", "responses")
    root = next((part for part in rest if part in _SPENDING_ROOTS), None)
    if root is not None:
        return Route("refuse", what=_SPENDING_ROOTS[root])
    return _PASS
