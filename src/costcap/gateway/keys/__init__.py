"""Virtual keys: secrets the gateway hands out in place of provider keys, each charged to its
own id, with its user, feature, allowed models, budgets, rate limits and expiry.

=====================  ========================================================================
:class:`VirtualKey`    a key's record (never its secret): id, who it charges, what it may do
:class:`KeySpec`       what a new key is made of (:func:`parse_key_spec`: the CLI's spellings)
:class:`KeyStore`      where keys live: SQLite or PostgreSQL (:func:`open_key_store`)
:class:`KeyRing`       the gateway's cached async lookup of a request's secret
:func:`keys_url`       the keys' URL from ``--keys`` or costcap.toml
=====================  ========================================================================

Errors: :class:`KeyNotFound` (no key with that id) and :class:`KeyRevoked` (a revoked key cannot
be rotated or given an expiry), both :class:`~costcap.errors.CostcapError`; bad spellings are
:class:`~costcap.errors.ConfigError`.
"""

from __future__ import annotations

from costcap.gateway.keys._errors import KeyNotFound, KeyRevoked
from costcap.gateway.keys._key import (
    KeySpec,
    KeyState,
    VirtualKey,
    key_budgets,
    key_limits,
    parse_duration,
    parse_expiry,
    parse_key_spec,
    parse_moment,
)
from costcap.gateway.keys._open import keys_url, open_key_store
from costcap.gateway.keys._ring import KeyRing
from costcap.gateway.keys._secret import (
    SECRET_PREFIX,
    hash_secret,
    looks_like_secret,
    new_key_id,
    new_secret,
)
from costcap.gateway.keys._store import KeyStore

__all__ = [
    "SECRET_PREFIX",
    "KeyNotFound",
    "KeyRevoked",
    "KeyRing",
    "KeySpec",
    "KeyState",
    "KeyStore",
    "VirtualKey",
    "hash_secret",
    "key_budgets",
    "key_limits",
    "keys_url",
    "looks_like_secret",
    "new_key_id",
    "new_secret",
    "open_key_store",
    "parse_duration",
    "parse_expiry",
    "parse_key_spec",
    "parse_moment",
]
