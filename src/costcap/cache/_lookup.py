"""One request's passage through the cache: what it asked, and what the cache said."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from costcap.cache._entry import CachedAnswer
from costcap.cache._key import Shape

__all__ = ["CacheRequest", "CacheStats", "Lookup", "Status"]

#: ``hit``: answered from the cache; ``miss``: cacheable, to be answered by the provider (and
#: stored); ``bypass``: the cache was not asked (off, not cacheable, or bypassed by the request).
Status = Literal["hit", "miss", "bypass"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheRequest:
    """A request as the cache sees it: the body as it goes on the wire (after policy), where
    it goes, the answer's shape, and who asks (the namespace)."""

    provider: str  # "openai", "anthropic"
    endpoint: str  # "chat.completions", "responses", "messages"
    body: Mapping[str, Any]
    shape: Shape = "json"
    feature: str | None = None
    user_id: str | None = None
    api_key: str | None = None
    read: bool = True  # False (Cache-Control: no-cache): ask the provider, store its answer
    write: bool = True  # False (no-store, costcap_cache=False): neither read nor store


@dataclass(slots=True)
class Lookup:
    """What the cache said. A ``miss`` that leads (``owner``) must be ended by
    :meth:`~costcap.cache.ResponseCache.store` or :meth:`~costcap.cache.ResponseCache.abandon`
    (identical requests wait for it); ending it twice does nothing."""

    status: Status
    key: str | None = None
    answer: CachedAnswer | None = None  # a hit's answer
    reason: str | None = None  # why a bypass (``off``, ``not deterministic``, ``no-store``, …)
    write: bool = False  # whether an answer may be stored
    ttl_s: float = 0.0
    max_entry_bytes: int = 0
    owner: str | None = None  # this lookup leads: it holds the right to fill the key
    ended: bool = field(default=False, repr=False)

    @property
    def hit(self) -> bool:
        return self.status == "hit"


@dataclass(slots=True)
class CacheStats:
    """What this process's cache did (since it was built)."""

    hits: int = 0
    misses: int = 0
    bypasses: int = 0
    stored: int = 0
    too_large: int = 0  # answers above max_entry_bytes, not stored
    corrupt: int = 0  # stored values that did not read back, dropped
    errors: int = 0  # backend operations that failed (the call went to the provider)
    waits: int = 0  # lookups that waited for an identical request in flight
    wait_timeouts: int = 0  # … and stopped waiting, to call the provider themselves

    def snapshot(self) -> CacheStats:
        return CacheStats(
            self.hits, self.misses, self.bypasses, self.stored, self.too_large, self.corrupt,
            self.errors, self.waits, self.wait_timeouts,
        )  # fmt: skip
