"""The cache backend protocol: bytes under keys, with a time to live, and short leases.

A backend stores opaque values (encoded :class:`~costcap.cache.CachedAnswer` s) under string
keys. ``put`` replaces; a value past its time to live is never returned. ``lease`` gives one
owner at a time the right to fill a key (the others wait for the value instead of asking the
provider too); a lease ends when its owner releases it or its time runs out. Every operation
either completes or raises :class:`CacheUnavailable`: the cache then answers from the provider,
never fails a call.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["CacheBackend", "CacheUnavailable"]


class CacheUnavailable(Exception):
    """The cache backend cannot be reached or used just now."""


@runtime_checkable
class CacheBackend(Protocol):
    """Where cached answers live: ``memory://``, ``sqlite:///path.db`` or ``redis://…``."""

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None (absent or expired)."""
        ...

    def put(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds; False when the backend keeps no
        value that large."""
        ...

    def delete(self, key: str) -> None: ...

    def lease(self, key: str, owner: str, ttl_s: float) -> bool:
        """Take the right to fill ``key`` for ``ttl_s`` seconds: True if ``owner`` holds it now
        (newly or already), False if another owner does."""
        ...

    def release(self, key: str, owner: str) -> None:
        """End ``owner``'s lease on ``key`` (nothing if another owner holds it)."""
        ...

    def close(self) -> None: ...
