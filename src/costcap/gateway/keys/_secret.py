"""A virtual key's secret and id: both random, neither derived from the other.

The secret is ``sk-cc-`` and 32 random bytes in URL-safe base64 (256 bits). Only its SHA-256 is
stored. A fast hash is enough here: a slow KDF (bcrypt, scrypt, argon2) protects passwords people
choose, which are guessable; nobody can enumerate 2**256 random secrets, however fast each guess
is. A fast hash also lets the gateway find a key by an indexed equality lookup on every request.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = [
    "ID_PREFIX",
    "SECRET_PREFIX",
    "hash_secret",
    "looks_like_secret",
    "new_key_id",
    "new_secret",
]

SECRET_PREFIX = "sk-cc-"
ID_PREFIX = "ck_"
_SECRET_BYTES = 32  # 256 bits
_ID_BYTES = 6  # 12 hex digits: public, unique in the table (a clash is drawn again)
_MAX_SECRET = 256  # characters: anything longer is not one of ours


def new_secret() -> str:
    """A fresh secret: ``sk-cc-`` and 256 random bits (43 URL-safe characters)."""
    return SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def new_key_id() -> str:
    """A fresh public key id such as ``ck_7f3a9c21e0b4`` (random, not derived from a secret)."""
    return ID_PREFIX + secrets.token_hex(_ID_BYTES)


def hash_secret(secret: str) -> str:
    """The SHA-256 of ``secret`` (UTF-8) in hex: what the key stores keep and look up by."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_secret(value: object) -> bool:
    """Whether ``value`` could be a virtual key's secret: the gateway asks no store about a
    provider's own key or a header of garbage (nor caches the answer)."""
    return (
        isinstance(value, str)
        and value.startswith(SECRET_PREFIX)
        and len(value) <= _MAX_SECRET
        and value.isascii()
    )
