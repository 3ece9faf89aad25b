"""The response cache: identical requests answered once, for $0, with what they saved recorded.

In the life of a call the cache comes after policy (the key holds the output cap the policy
gave) and before admission (a hit reserves no budget; request-count rate limits still apply).

* :mod:`costcap.cache._key` — the canonical request and its key;
* :mod:`costcap.cache._policy` — what may be cached, per feature (code or ``[cache]``);
* :mod:`costcap.cache.backends` — ``memory://``, ``sqlite:///path.db``, ``redis://…``;
* :class:`ResponseCache` / :class:`AsyncResponseCache` — lookups with one provider call per
  set of identical requests in flight, across threads, tasks and processes.
"""

from __future__ import annotations

from costcap.cache._async_cache import AsyncResponseCache
from costcap.cache._cache import ResponseCache, cache_in_config, load_cache
from costcap.cache._entry import CachedAnswer, CorruptEntry
from costcap.cache._key import IGNORED, Uncanonical, canonical_request, deterministic, digest
from costcap.cache._lookup import CacheRequest, CacheStats, Lookup, Status
from costcap.cache._policy import CachePolicy, FeatureCache, parse_cache_table
from costcap.cache.backends import CacheBackend, CacheUnavailable, open_cache_backend

__all__ = [
    "IGNORED",
    "AsyncResponseCache",
    "CacheBackend",
    "CachePolicy",
    "CacheRequest",
    "CacheStats",
    "CacheUnavailable",
    "CachedAnswer",
    "CorruptEntry",
    "FeatureCache",
    "Lookup",
    "ResponseCache",
    "Status",
    "Uncanonical",
    "cache_in_config",
    "canonical_request",
    "deterministic",
    "digest",
    "load_cache",
    "open_cache_backend",
    "parse_cache_table",
]
