"""Who a wrapped call is for: per call, per block (``costcap.attribute``), or per client."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from costcap.ticket import Routing

__all__ = ["Attribution", "attribute", "current", "pop_call_attribution"]


@dataclass(frozen=True, slots=True)
class Attribution:
    user_id: str | None = None
    feature: str | None = None
    api_key: str | None = None
    endpoint: str | None = None
    service_tier: str | None = None  # the client's: what a call naming none (auto) is served at
    complexity: str | None = None  # the tier a route name (costcap:auto) asks for
    route: Routing | None = None  # set by the routing step on the call it sends (never a block)

    def over(self, base: Attribution) -> Attribution:
        """These values where set, ``base``'s elsewhere."""
        return Attribution(
            user_id=self.user_id if self.user_id is not None else base.user_id,
            feature=self.feature if self.feature is not None else base.feature,
            api_key=self.api_key if self.api_key is not None else base.api_key,
            endpoint=self.endpoint if self.endpoint is not None else base.endpoint,
            service_tier=self.service_tier if self.service_tier is not None else base.service_tier,
            complexity=self.complexity if self.complexity is not None else base.complexity,
            route=self.route if self.route is not None else base.route,
        )


_NOBODY = Attribution()
_CURRENT: ContextVar[Attribution] = ContextVar("costcap_attribution", default=_NOBODY)


def current() -> Attribution:
    return _CURRENT.get()


@contextmanager
def attribute(
    *,
    user_id: str | None = None,
    feature: str | None = None,
    api_key: str | None = None,
    endpoint: str | None = None,
    complexity: str | None = None,
) -> Iterator[Attribution]:
    """``with costcap.attribute(user_id="alice", feature="chat"):`` — every wrapped call in the
    block (this thread or task) is charged to them; nested blocks override what they set.
    ``complexity`` (a tier name: ``"simple"``, ``"complex"``, …) is the tier of the block's
    calls that name a route (``model="costcap:auto"``); a call's own ``costcap_complexity``
    wins over it."""
    value = Attribution(user_id, feature, api_key, endpoint, complexity=complexity).over(
        _CURRENT.get()
    )
    token = _CURRENT.set(value)
    try:
        yield value
    finally:
        _CURRENT.reset(token)


_KWARGS = {"costcap_user_id": "user_id", "costcap_feature": "feature", "costcap_api_key": "api_key",
           "costcap_endpoint": "endpoint", "costcap_complexity": "complexity",
           "costcap_route": "route"}  # fmt: skip


def pop_call_attribution(kwargs: dict[str, Any], client_default: Attribution) -> Attribution:
    """Remove ``costcap_*`` keyword arguments from an SDK call's kwargs and resolve who the call
    is for: the call's own values, else the ``attribute()`` block's, else the client's."""
    block = _CURRENT.get()
    base = client_default if block is _NOBODY else block.over(client_default)
    if kwargs.keys().isdisjoint(_KWARGS):  # the hot path: nothing said on the call itself
        return base
    own = {field: kwargs.pop(name) for name, field in _KWARGS.items() if name in kwargs}
    return Attribution(**own).over(base)


def metadata_user(kwargs: Mapping[str, Any]) -> str | None:
    """The end user the request itself names (OpenAI ``user`` / ``safety_identifier``,
    Anthropic ``metadata.user_id``), used when nothing else attributes the call."""
    for key in ("safety_identifier", "user"):
        value = kwargs.get(key)
        if isinstance(value, str) and value:
            return value
    metadata = kwargs.get("metadata")
    if isinstance(metadata, Mapping):
        value = metadata.get("user_id")
        if isinstance(value, str) and value:
            return value
    return None
