"""Cache backends by URL: ``memory://``, ``sqlite:///path.db``, ``redis://host:port/db``."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from costcap._extras import missing_extra
from costcap.cache.backends._base import CacheBackend, CacheUnavailable
from costcap.errors import ConfigError
from costcap.stores._urls import redact

__all__ = ["CacheBackend", "CacheUnavailable", "open_cache_backend"]


def open_cache_backend(url: str) -> CacheBackend:
    """The backend a cache URL names. A URL that does not parse, names an unknown scheme or
    option, or needs an extra that is not installed is a ConfigError."""
    if not isinstance(url, str):
        raise ConfigError(f"a cache URL must be a string like 'sqlite:///cache.db', not {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"cache URL {redact(url)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "memory":
        from costcap.cache.backends.memory import DEFAULT_MAX_BYTES, MemoryCacheBackend

        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.netloc or parts.path or set(options) - {"max_bytes"}:
            raise ConfigError(
                f"cache URL {url!r}: the memory cache takes only ?max_bytes=N (memory://)"
            )
        raw = options.get("max_bytes", str(DEFAULT_MAX_BYTES))
        if not raw.isdecimal() or int(raw) < 1:
            raise ConfigError(f"cache URL {url!r}: max_bytes must be a whole number above 0")
        return MemoryCacheBackend(max_bytes=int(raw))
    if scheme == "sqlite":
        from costcap.cache.backends.sqlite import SQLiteCacheBackend

        return SQLiteCacheBackend.from_url(url)
    if scheme in ("redis", "rediss"):
        try:
            from costcap.cache.backends.redis import RedisCacheBackend
        except ImportError:
            raise missing_extra(extra="redis", what="the Redis cache") from None
        return RedisCacheBackend.from_url(url)
    raise ConfigError(
        f"cache URL {redact(url)!r}: unknown scheme {scheme!r} "
        "(use memory://, sqlite:///path.db or redis://host:port/db)"
    )
