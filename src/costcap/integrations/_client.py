"""What every guarded SDK client shares: it stands in for the SDK's client (``isinstance`` holds),
delegates everything it does not guard, stays guarded through ``with_options``/``copy``, and
refuses the paths that would spend without a reservation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NoReturn

from costcap.integrations._attribution import Attribution

__all__ = [
    "Delegating",
    "GuardedAsyncClient",
    "GuardedClient",
    "GuardedResource",
    "GuardedSyncClient",
    "GuardedView",
    "keep_parsed",
    "refuse_unguarded",
]

#: What a guarded view sends its guarded methods to: (the SDK's method, its keyword arguments).
Route = Callable[[Callable[..., Any], dict[str, Any]], Any]


_LOW_LEVEL_HINT = (
    "Call the guarded resources, or give the SDK client http_client=costcap.http_client(guard) "
    "(async_http_client for async clients): that guards any request sent to a provider."
)


def refuse_unguarded(what: str, hint: str) -> NoReturn:
    raise NotImplementedError(
        f"costcap does not guard {what}: it would spend without a reservation. {hint}"
    )


class GuardedClient:
    """Base of the guarded clients. Subclasses add the resources they guard; their own state
    lives in ``__slots__`` named ``_costcap_*``; everything else goes to the SDK client."""

    __slots__ = ("_costcap_cache", "_costcap_client", "_costcap_default", "_costcap_guard")
    _refusal_hint: ClassVar[str] = ""

    def __init__(self, client: Any, guard: Any, default: Attribution, cache: Any = None) -> None:
        self._costcap_client = client
        self._costcap_guard = guard
        self._costcap_default = default
        self._costcap_cache = cache  # a ResponseCache / AsyncResponseCache, or None

    # ``isinstance(wrapped, openai.OpenAI)`` holds, as for the client it stands for.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._costcap_client)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_costcap_"):  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._costcap_client, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_costcap_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._costcap_client, name, value)

    def __repr__(self) -> str:
        return f"<costcap guarded {self._costcap_client!r}>"

    @property
    def unguarded(self) -> Any:
        """The SDK client itself: calls made on it are NOT metered."""
        return self._costcap_client

    def with_options(self, **options: Any) -> Any:
        """The SDK's ``with_options`` / ``copy``, guarded by the same guard, defaults and
        cache."""
        return type(self)(  # type(self) is the real class: __class__ is overridden, type() is not
            self._costcap_client.with_options(**options), self._costcap_guard,
            self._costcap_default, self._costcap_cache,
        )  # fmt: skip

    copy = with_options

    @property
    def with_raw_response(self) -> NoReturn:
        refuse_unguarded("with_raw_response", self._refusal_hint)

    # The SDK's low-level request methods send any body to any path (LiteLLM calls post()):
    # refused, as the client-level raw views are. The guarded HTTP client guards them.
    @property
    def post(self) -> NoReturn:
        refuse_unguarded("post()", _LOW_LEVEL_HINT)

    @property
    def request(self) -> NoReturn:
        refuse_unguarded("request()", _LOW_LEVEL_HINT)

    @property
    def with_streaming_response(self) -> NoReturn:
        refuse_unguarded("with_streaming_response", self._refusal_hint)


class GuardedSyncClient(GuardedClient):
    __slots__ = ()

    def __enter__(self) -> GuardedSyncClient:
        self._costcap_client.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._costcap_client.__exit__(*exc_info)


class GuardedAsyncClient(GuardedClient):
    __slots__ = ()

    async def __aenter__(self) -> GuardedAsyncClient:
        await self._costcap_client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._costcap_guard._finish_background()
        await self._costcap_client.__aexit__(*exc_info)

    async def close(self) -> None:
        """Finish the settles under way (streams left early close and settle in the
        background), then close the SDK client."""
        await self._costcap_guard._finish_background()
        await self._costcap_client.close()


class Delegating:
    """Stands for an SDK object (a resource, a namespace such as ``client.chat``): every
    attribute it does not define is the real one's."""

    __slots__ = ("_real",)

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<costcap guarded {self._real!r}>"


class GuardedResource(Delegating):
    """Base of a guarded SDK resource (``client.messages``, ``client.chat.completions``…):
    subclasses add the guarded methods; every other attribute is the real resource's."""

    __slots__ = ("_default", "_guard")

    def __init__(self, real: Any, guard: Any, default: Attribution) -> None:
        super().__init__(real)
        self._guard = guard
        self._default = default


class GuardedView(Delegating):
    """A guarded resource's ``with_raw_response`` / ``with_streaming_response``: ``create`` and
    ``parse`` go through ``route`` (admitted, metered, settled), with the SDK view's own method;
    every other attribute is the SDK view's."""

    __slots__ = ("_route",)

    def __init__(self, real: Any, route: Route) -> None:
        super().__init__(real)
        self._route = route

    def create(self, **kwargs: Any) -> Any:
        return self._route(self._real.create, kwargs)

    def parse(self, **kwargs: Any) -> Any:
        return self._route(self._real.parse, kwargs)


def keep_parsed(raw: Any, parsed: object) -> None:
    """Make the SDK's raw response give ``parsed`` from ``raw.parse()`` (the SDK keeps what
    ``parse()`` built, per type; costcap's metered stream replaces the plain one it built)."""
    raw._parsed_by_type[raw._cast_to] = parsed
