"""The KeyStore protocol, and what its two SQL backends share: one table, the same statements.

Table ``costcap_virtual_keys``, one row per key::

    id           text primary key      public id, ck_…
    secret_hash  text unique not null  SHA-256 of the secret (hex); the secret is never stored
    name, user_id, feature             text, nullable
    models       text                  JSON array of names; NULL: every model
    budgets      text not null         JSON array of spellings ("$5/day")
    limits       text not null         JSON array of spellings ("20/minute")
    created_at, expires_at, revoked_at times in UTC (expires_at, revoked_at nullable)

Every method is one statement in a transaction of its own, so several processes can create,
rotate and revoke keys at once. Times come from the process clock (``clock=`` for tests).
"""

from __future__ import annotations

import builtins
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from costcap.gateway.keys._errors import KeyNotFound, KeyRevoked
from costcap.gateway.keys._key import KeySpec, VirtualKey
from costcap.gateway.keys._secret import hash_secret, new_key_id, new_secret

__all__ = ["TABLE", "Clock", "Duplicate", "KeyStore", "SqlKeyStore", "utc_now"]

TABLE = "costcap_virtual_keys"
Clock = Callable[[], datetime]
_COLUMNS = "id, name, user_id, feature, models, budgets, limits, created_at, expires_at, revoked_at"
_ID_DRAWS = 5  # fresh ids drawn before a clash is taken for something else


def utc_now() -> datetime:
    return datetime.now(UTC)


class Duplicate(Exception):
    """Raised by a backend's ``_run`` when an insert hits a unique constraint."""


class KeyStore(Protocol):
    """Where virtual keys live (synchronous; :class:`~costcap.gateway.keys.KeyRing` runs
    lookups in worker threads). Unknown ids raise :class:`KeyNotFound`; an unreachable database
    raises :class:`~costcap.errors.StoreUnavailable`."""

    def create(self, spec: KeySpec) -> tuple[VirtualKey, str]:
        """A new key and its secret (returned once: only its hash is stored)."""
        ...

    def find(self, secret: str) -> VirtualKey | None:
        """The key whose secret this is (revoked and expired keys too), or None."""
        ...

    def find_by_hash(self, secret_hash: str) -> VirtualKey | None:
        """:meth:`find` given the secret's :func:`hash_secret`."""
        ...

    def get(self, key_id: str) -> VirtualKey: ...

    def list(self, *, include_revoked: bool = False) -> builtins.list[VirtualKey]:
        """Every key, oldest first (expired keys too; revoked ones with ``include_revoked``)."""
        ...

    def revoke(self, key_id: str) -> VirtualKey:
        """Revoke the key now; a key revoked already keeps its first revocation time."""
        ...

    def rotate(self, key_id: str) -> tuple[VirtualKey, str]:
        """A new secret for the key (same id, budgets and spend); the old secret stops working
        at once. A revoked key raises :class:`KeyRevoked`."""
        ...

    def set_expiry(self, key_id: str, expires_at: datetime | None) -> VirtualKey:
        """Expire the key at ``expires_at`` (None: never). A revoked key raises KeyRevoked."""
        ...

    def close(self) -> None: ...


def _load(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(json.loads(value))


class SqlKeyStore(ABC):
    """The KeyStore methods over one table; a backend supplies ``_run`` and its time type.

    Statements are written with ``?`` placeholders; ``_run`` executes one in a transaction of
    its own and returns its rows (``RETURNING`` for writes)."""

    def __init__(self, *, clock: Clock, where: str) -> None:
        self._clock = clock
        self._where = where  # for messages: the database, never a password

    @abstractmethod
    def _run(self, statement: str, params: Sequence[Any]) -> builtins.list[tuple[Any, ...]]:
        """Run ``statement`` in its own transaction; Duplicate on a unique violation."""

    @abstractmethod
    def _time_in(self, value: datetime) -> Any:
        """A time as the database takes it."""

    @abstractmethod
    def _time_out(self, value: Any) -> datetime:
        """A time the database returned, aware and in UTC."""

    @abstractmethod
    def close(self) -> None: ...

    def _when(self, value: Any) -> datetime | None:
        return None if value is None else self._time_out(value)

    def _key(self, row: tuple[Any, ...]) -> VirtualKey:
        key_id, name, user, feature, models, budgets, limits, created, expires, revoked = row
        return VirtualKey(
            id=key_id, name=name, user=user, feature=feature, models=_load(models),
            created_at=self._time_out(created), expires_at=self._when(expires),
            revoked_at=self._when(revoked), budget_specs=_load(budgets) or (),
            limit_specs=_load(limits) or (),
        )  # fmt: skip

    def _one(self, statement: str, params: Sequence[Any]) -> VirtualKey | None:
        rows = self._run(statement, params)
        return self._key(rows[0]) if rows else None

    def create(self, spec: KeySpec) -> tuple[VirtualKey, str]:
        now = self._time_in(self._clock())
        expires = None if spec.expires_at is None else self._time_in(spec.expires_at)
        models = None if spec.models is None else json.dumps(spec.models)
        for _ in range(_ID_DRAWS):
            key_id, secret = new_key_id(), new_secret()
            params = (key_id, hash_secret(secret), spec.name, spec.user, spec.feature, models,
                      json.dumps(spec.budgets), json.dumps(spec.limits), now, expires)  # fmt: skip
            try:
                key = self._one(
                    f"INSERT INTO {TABLE} (id, secret_hash, name, user_id, feature, models,"
                    " budgets, limits, created_at, expires_at)"
                    f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                    params,
                )
            except Duplicate:  # an id drawn twice: 48 random bits, so next to never
                continue
            assert key is not None
            return key, secret
        raise RuntimeError(f"{_ID_DRAWS} fresh key ids in a row were taken in {self._where}")

    def find(self, secret: str) -> VirtualKey | None:
        return self.find_by_hash(hash_secret(secret))

    def find_by_hash(self, secret_hash: str) -> VirtualKey | None:
        # An equality lookup on the hash: timing reveals nothing of a secret nobody can choose
        # the hash of.
        return self._one(f"SELECT {_COLUMNS} FROM {TABLE} WHERE secret_hash = ?", (secret_hash,))

    def get(self, key_id: str) -> VirtualKey:
        key = self._one(f"SELECT {_COLUMNS} FROM {TABLE} WHERE id = ?", (key_id,))
        if key is None:
            raise KeyNotFound(key_id, self._where)
        return key

    def list(self, *, include_revoked: bool = False) -> builtins.list[VirtualKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._run(f"SELECT {_COLUMNS} FROM {TABLE}{where} ORDER BY created_at, id", ())
        return [self._key(row) for row in rows]

    def revoke(self, key_id: str) -> VirtualKey:
        key = self._one(
            f"UPDATE {TABLE} SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?"
            f" RETURNING {_COLUMNS}",
            (self._time_in(self._clock()), key_id),
        )
        if key is None:
            raise KeyNotFound(key_id, self._where)
        return key

    def _change(self, key_id: str, assignment: str, value: Any) -> VirtualKey:
        """Set one column of a key that is not revoked."""
        key = self._one(
            f"UPDATE {TABLE} SET {assignment} = ? WHERE id = ? AND revoked_at IS NULL"
            f" RETURNING {_COLUMNS}",
            (value, key_id),
        )
        if key is not None:
            return key
        revoked_at = self.get(key_id).revoked_at  # KeyNotFound when there is no such key
        assert revoked_at is not None
        raise KeyRevoked(key_id, revoked_at)

    def rotate(self, key_id: str) -> tuple[VirtualKey, str]:
        secret = new_secret()
        return self._change(key_id, "secret_hash", hash_secret(secret)), secret

    def set_expiry(self, key_id: str, expires_at: datetime | None) -> VirtualKey:
        value = None if expires_at is None else self._time_in(expires_at)
        return self._change(key_id, "expires_at", value)

    def __enter__(self) -> SqlKeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
