"""The guarded Anthropic client's own parts: its guarded ``messages`` and ``beta.messages``
(built when first used: not every client has ``beta``), and the paths it refuses (batches,
``tool_runner``: they spend unseen). The resources and the two clients are in
:mod:`costcap.integrations.anthropic`."""

from __future__ import annotations

from typing import Any, NoReturn

from costcap.integrations._anthropic_cache import CacheSide
from costcap.integrations._attribution import Attribution
from costcap.integrations._client import Delegating, GuardedClient, GuardedView, refuse_unguarded

__all__ = [
    "BATCH_SPENDING",
    "BETA_REFUSED",
    "HINT",
    "Beta",
    "Client",
    "Refusing",
    "View",
    "unguarded",
]

HINT = (
    "Use messages.create() / messages.stream() on the wrapped client, or the unwrapped client "
    "(`.unguarded`) with guard.admit/settle."
)
BATCH_SPENDING = frozenset({"create", "with_raw_response", "with_streaming_response"})
BETA_REFUSED = frozenset({"tool_runner"})  # it calls the model again and again, unseen


def unguarded(what: str) -> NoReturn:
    refuse_unguarded(what, HINT)


class Refusing(Delegating):
    """An SDK resource whose spending methods raise; every other attribute is the real one's."""

    __slots__ = ("_refused", "_what")

    def __init__(self, real: Any, what: str, refused: frozenset[str]) -> None:
        super().__init__(real)
        self._what, self._refused = what, refused

    def __getattr__(self, name: str) -> Any:
        if name in self._refused:
            unguarded(f"{self._what}.{name}")
        return getattr(self._real, name)


class View(GuardedView):
    """A guarded ``with_raw_response`` / ``with_streaming_response``: its batches refused."""

    __slots__ = ("_path",)

    def __init__(self, real: Any, route: Any, path: str) -> None:
        super().__init__(real, route)
        self._path = path

    @property
    def batches(self) -> Refusing:
        return Refusing(self._real.batches, f"{self._path}.batches", BATCH_SPENDING)


class Beta(Delegating):
    """``client.beta``: its ``messages`` guarded, the rest the real one's."""

    __slots__ = ("messages",)

    def __init__(self, real: Any, messages: Any) -> None:
        super().__init__(real)
        self.messages = messages


class Client(GuardedClient):
    """Anthropic's guarded resources (``_messages_cls`` / ``_beta_messages_cls``: the sync or
    async resources of the client)."""

    __slots__ = ("_costcap_beta", "_costcap_messages", "_costcap_side")
    _messages_cls: type[Any]
    _beta_messages_cls: type[Any]
    _refusal_hint = HINT

    def __init__(self, client: Any, guard: Any, default: Attribution, cache: Any = None) -> None:
        super().__init__(client, guard, default, cache)
        side = None if cache is None else CacheSide(cache, client)
        self._costcap_side = side
        self._costcap_messages = self._messages_cls(client.messages, guard, default, side)
        self._costcap_beta: Beta | None = None

    @property
    def messages(self) -> Any:
        return self._costcap_messages

    @property
    def beta(self) -> Beta:
        if self._costcap_beta is None:
            real = self._costcap_client.beta
            messages = self._beta_messages_cls(
                real.messages, self._costcap_guard, self._costcap_default, self._costcap_side
            )
            self._costcap_beta = Beta(real, messages)
        return self._costcap_beta
