"""``costcap.wrap(client, guard=…)``: the two-line adoption for the official SDKs."""

from __future__ import annotations

from typing import Any, TypeVar

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._attribution import Attribution
from costcap.service_tiers import check_tier

__all__ = ["wrap"]

C = TypeVar("C")


def wrap(
    client: C,
    *,
    guard: Guard | AsyncGuard,
    feature: str | None = None,
    user_id: str | None = None,
    api_key: str | None = None,
    service_tier: str | None = None,
) -> C:
    """Return ``client`` guarded: use it exactly as before.

    ``openai.OpenAI`` / ``AsyncOpenAI`` (``chat.completions.create``, ``responses.create``) and
    ``anthropic.Anthropic`` / ``AsyncAnthropic`` (``messages.create``, ``messages.stream``). A sync
    client needs a :class:`Guard`, an async one an :class:`AsyncGuard`. ``feature``/``user_id``
    are defaults; ``costcap.attribute(...)`` blocks and ``costcap_user_id=`` /
    ``costcap_feature=`` keyword arguments on a call override them.

    ``service_tier`` is the OpenAI tier your project serves a call that names none (or
    ``"auto"``): leave it unset for the standard tier, set ``"priority"`` if the project is
    configured for priority processing, so such calls are reserved at what they can cost.
    """
    default = Attribution(
        user_id=user_id, feature=feature, api_key=api_key,
        service_tier=check_tier(service_tier, "wrap(service_tier=...)"),
    )  # fmt: skip
    module = type(client).__module__.split(".", 1)[0]
    is_async = type(client).__name__.startswith("Async")
    if is_async != isinstance(guard, AsyncGuard):
        need = "AsyncGuard" if is_async else "Guard"
        raise TypeError(f"{type(client).__name__} needs a costcap.{need}")
    wrapped: Any
    if module == "openai":
        from costcap.integrations.openai import guarded_openai

        wrapped = guarded_openai(client, guard, default)
    elif module == "anthropic":
        from costcap.integrations.anthropic import guarded_anthropic

        wrapped = guarded_anthropic(client, guard, default)
    else:
        raise TypeError(
            f"costcap.wrap supports openai.OpenAI/AsyncOpenAI and anthropic.Anthropic/"
            f"AsyncAnthropic clients, not {type(client).__module__}.{type(client).__name__}"
        )
    return wrapped  # type: ignore[no-any-return]
