"""``costcap.wrap(client, guard=…)``: the two-line adoption for the official SDKs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._attribution import Attribution
from costcap.service_tiers import check_tier

if TYPE_CHECKING:
    from costcap.cache import AsyncResponseCache, ResponseCache

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
    cache: ResponseCache | AsyncResponseCache | str | bool | None = None,
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

    ``cache`` answers identical requests from a response cache (:mod:`costcap.cache`): a
    ``ResponseCache`` for a sync client, an ``AsyncResponseCache`` for an async one, or a
    cache URL (``"sqlite:///costcap-cache.db"``) to build one with the default policy. Without
    one, the guard's own cache is used (``Guard.from_config`` builds it from a ``[cache]`` that
    names a ``url``); ``cache=False`` wraps without any.
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
    if cache is None or cache is True:
        cache = getattr(guard, "cache", None)
    answers = _cache_for(cache or None, is_async, type(client).__name__)
    wrapped: Any
    if module == "openai":
        from costcap.integrations.openai import guarded_openai

        wrapped = guarded_openai(client, guard, default, answers)
    elif module == "anthropic":
        from costcap.integrations.anthropic import guarded_anthropic

        wrapped = guarded_anthropic(client, guard, default, answers)
    else:
        raise TypeError(
            f"costcap.wrap supports openai.OpenAI/AsyncOpenAI and anthropic.Anthropic/"
            f"AsyncAnthropic clients, not {type(client).__module__}.{type(client).__name__}"
        )
    return wrapped  # type: ignore[no-any-return]


def _cache_for(
    cache: ResponseCache | AsyncResponseCache | str | bool | None, is_async: bool, client: str
) -> ResponseCache | AsyncResponseCache | None:
    """The cache for a sync (``ResponseCache``) or async (``AsyncResponseCache``) client."""
    if cache is None or isinstance(cache, bool):
        return None
    from costcap.cache import AsyncResponseCache, ResponseCache

    if isinstance(cache, str):
        return AsyncResponseCache(cache) if is_async else ResponseCache(cache)
    need = AsyncResponseCache if is_async else ResponseCache
    if not isinstance(cache, need):
        raise TypeError(f"{client} needs a costcap.cache.{need.__name__}, not {cache!r}")
    return cache
