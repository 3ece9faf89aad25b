"""What the sync and async caches share: deciding, naming, reading values, counting, and
stepping aside while the backend is down. No waiting and no I/O of its own."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import TypeVar

from costcap.cache._entry import CachedAnswer, CorruptEntry
from costcap.cache._key import Uncanonical, canonical_request, deterministic, digest
from costcap.cache._lookup import CacheRequest, CacheStats, Lookup, Status
from costcap.cache._policy import CachePolicy, Rules
from costcap.cache.backends import CacheBackend, CacheUnavailable, open_cache_backend

__all__ = ["CacheCore"]

log = logging.getLogger("costcap.cache")
T = TypeVar("T")

#: After a backend error, the cache steps aside this long (calls go to the provider unasked).
DOWN_S = 5.0


class CacheCore:
    def __init__(
        self,
        backend: str | CacheBackend,
        policy: CachePolicy | None,
        clock: Callable[[], float],
    ) -> None:
        self.backend: CacheBackend = (
            open_cache_backend(backend) if isinstance(backend, str) else backend
        )
        self.policy = policy or CachePolicy()
        self.clock = clock
        self._stats = CacheStats()
        self._down_until = 0.0
        self._owner_prefix = f"{os.getpid()}-{secrets.token_hex(6)}-"
        self._owners = 0

    @property
    def stats(self) -> CacheStats:
        """A copy of what this cache did so far."""
        return self._stats.snapshot()

    def decide(self, request: CacheRequest) -> Lookup:
        """The request's key and rules, or a bypass saying why (no I/O)."""
        rules = self.policy.rules(request.feature)
        reason = _bypass_reason(request, rules)
        if reason is None:
            try:
                canonical = canonical_request(request.body)
            except Uncanonical as exc:
                reason = f"not canonical: {exc}"
            else:
                key = digest(
                    canonical, provider=request.provider, endpoint=request.endpoint,
                    shape=request.shape, namespace=_namespace(request, rules),
                )  # fmt: skip
                status: Status = "miss" if request.read else "bypass"
                return Lookup(
                    status, key, reason=None if request.read else "no-cache", write=True,
                    ttl_s=rules.ttl_s, max_entry_bytes=rules.max_entry_bytes,
                )  # fmt: skip
        self._stats.bypasses += 1
        return Lookup("bypass", reason=reason)

    def new_owner(self) -> str:
        self._owners += 1
        return f"{self._owner_prefix}{self._owners}"

    def read(self, key: str, value: bytes | None) -> CachedAnswer | None:
        """The answer in ``value``; a value that does not read is dropped (None)."""
        if value is None:
            return None
        try:
            return CachedAnswer.decode(value)
        except CorruptEntry as exc:
            self._stats.corrupt += 1
            log.warning("cache entry %s… dropped: %s", key[:12], exc)
            return None

    def encoded(self, lookup: Lookup, answer: CachedAnswer) -> bytes | None:
        """What to store for ``answer`` (None: not to be stored, and why is counted)."""
        if not lookup.write or lookup.key is None:
            return None
        value = answer.encode()
        if len(value) > lookup.max_entry_bytes:
            self._stats.too_large += 1
            return None
        return value

    def up(self) -> bool:
        return self.clock() >= self._down_until

    def failed(self, step: str, exc: CacheUnavailable) -> None:
        """A backend operation failed: count it, say it once per outage, step aside a while."""
        self._stats.errors += 1
        if self.up():
            log.warning("cache %s failed, calls go to the provider for %ss: %s", step, DOWN_S, exc)
        self._down_until = self.clock() + DOWN_S

    def counted(self, lookup: Lookup) -> Lookup:
        if lookup.status == "hit":
            self._stats.hits += 1
        elif lookup.status == "miss":
            self._stats.misses += 1
        return lookup


def _bypass_reason(request: CacheRequest, rules: Rules) -> str | None:
    if not rules.enabled:
        return "off"
    if not request.write:
        return "no-store"
    if rules.mode == "deterministic" and not deterministic(request.body):
        return "not deterministic"
    return None


def _namespace(request: CacheRequest, rules: Rules) -> str:
    feature = request.feature or ""
    if rules.namespace == "shared":
        return ""
    if rules.namespace == "user":
        return f"feature={feature}\x00user={request.user_id or ''}"
    if rules.namespace == "api_key":
        return f"feature={feature}\x00key={request.api_key or ''}"
    return f"feature={feature}"


def monotonic() -> float:
    return time.monotonic()
