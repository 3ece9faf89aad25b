"""The guarded OpenAI client's own parts: its guarded resources (``chat.completions``,
``responses``), built when first used, and what it says of the paths it refuses. The resources
and the two clients are in :mod:`costcap.integrations.openai`."""

from __future__ import annotations

from typing import Any

from costcap.integrations._attribution import Attribution
from costcap.integrations._client import Delegating, GuardedClient
from costcap.integrations._openai_cache import CacheSide

__all__ = ["HINT", "Chat", "Client"]

HINT = (
    "Use create() (stream=True for streams) on the wrapped client, or the unwrapped client with "
    "guard.admit/settle."
)


class Chat(Delegating):
    """``client.chat``: ``completions`` guarded, the rest the real resource's."""

    __slots__ = ("completions",)

    def __init__(self, real: Any, completions: Any) -> None:
        super().__init__(real)
        self.completions = completions


class Client(GuardedClient):
    """OpenAI's guarded resources, built lazily (``_completions_cls`` / ``_responses_cls``: the
    sync or async resources of the client)."""

    __slots__ = ("_costcap_chat", "_costcap_responses", "_costcap_side")
    _completions_cls: type[Any]
    _responses_cls: type[Any]
    _refusal_hint = HINT

    def __init__(self, client: Any, guard: Any, default: Attribution, cache: Any = None) -> None:
        super().__init__(client, guard, default, cache)
        self._costcap_chat: Chat | None = None
        self._costcap_responses: Any = None
        self._costcap_side = None if cache is None else CacheSide(cache, client)

    @property
    def chat(self) -> Chat:
        if self._costcap_chat is None:
            real = self._costcap_client.chat
            completions = self._completions_cls(
                real.completions, self._costcap_guard, self._costcap_default, self._costcap_side
            )
            self._costcap_chat = Chat(real, completions)
        return self._costcap_chat

    @property
    def responses(self) -> Any:
        if self._costcap_responses is None:
            self._costcap_responses = self._responses_cls(
                self._costcap_client.responses, self._costcap_guard, self._costcap_default,
                self._costcap_side,
            )  # fmt: skip
        return self._costcap_responses
