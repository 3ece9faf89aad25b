"""Where virtual keys live: a URL (:func:`keys_url`) and the store it names
(:func:`open_key_store`).

Keys live in SQLite or PostgreSQL only: they must outlast every process and be shared by all of
them. Redis is a counter store (no durable rows, no unique index to look a hash up by), and
``memory://`` forgets everything when the process ends.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from typing import Any

from costcap._extras import missing_extra
from costcap._toml import read_toml
from costcap.config import GuardConfig, parse_config
from costcap.errors import ConfigError
from costcap.gateway.keys._store import Clock, KeyStore, utc_now
from costcap.stores._urls import redact, split

__all__ = ["keys_url", "open_key_store"]

_SET_IT = 'set [gateway] keys = "postgresql://…" (or "sqlite:///path.db") in costcap.toml'


def _scheme(url: object, what: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{what} must be a URL such as 'sqlite:///costcap.db', not {url!r}")
    return split(url, what).scheme.lower()


def open_key_store(url: str, *, clock: Clock = utc_now) -> KeyStore:
    """The KeyStore at ``url``: ``sqlite:///path.db`` (``sqlite://``: in memory, for tests) or
    ``postgresql://user@host:port/db?schema=…``. Any other URL is a ConfigError."""
    scheme = _scheme(url, "keys URL")
    if scheme == "sqlite":
        from costcap.gateway.keys._sqlite import SQLiteKeyStore

        return SQLiteKeyStore.from_url(url, clock=clock)
    if scheme in ("postgresql", "postgres"):
        if any(importlib.util.find_spec(m) is None for m in ("psycopg", "psycopg_pool")):
            raise missing_extra(extra="postgres", what="virtual keys in PostgreSQL")
        from costcap.gateway.keys._postgres import PostgresKeyStore

        return PostgresKeyStore.from_url(url, clock=clock)
    shown = redact(url)
    if scheme in ("redis", "rediss", "memory"):
        kind = "Redis" if scheme.startswith("redis") else "memory://"
        raise ConfigError(
            f"keys URL {shown!r}: virtual keys live in SQLite or PostgreSQL, not {kind} "
            f"(they must be durable and shared by every process); {_SET_IT}"
        )
    raise ConfigError(
        f"keys URL {shown!r}: unknown scheme {scheme!r} (use sqlite:///path.db or postgresql://…)"
    )


def _in_memory(url: str) -> bool:
    from costcap.stores.sqlite import _read_url

    return _read_url(url)[0] == ":memory:"


def _durable(url: object, what: str) -> str:
    """``url``, unless it is a SQLite database in memory: keys there die with the command."""
    if _scheme(url, what) == "sqlite" and _in_memory(str(url)):
        raise ConfigError(
            f"{what} {url!r} is a database in memory, gone when the process ends: "
            "name a file (sqlite:///costcap.db) or postgresql://…"
        )
    return str(url)


def _keeps_keys(url: str | None) -> bool:
    if url is None:
        return False
    scheme = _scheme(url, "URL")
    return scheme in ("postgresql", "postgres") or (scheme == "sqlite" and not _in_memory(url))


def _gateway_keys(data: Mapping[str, Any], source: str) -> str | None:
    """``[gateway] keys`` of a parsed costcap.toml, checked (None when not set)."""
    table = data.get("gateway", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: gateway: must be a table")
    if "keys" not in table:
        return None
    return _durable(table["keys"], f"{source}: gateway.keys")


def _guard_config(data: Mapping[str, Any], source: str) -> GuardConfig:
    """The guard's settings from ``data``, checked as the Guard checks them; the webhooks the
    file names are closed again at once (nothing is sent from here)."""
    config = parse_config(data, source=source)
    for notifier in config.notifiers:
        close = getattr(notifier, "close", None)
        if callable(close):
            close()
    return config


def keys_url(
    config: str | os.PathLike[str] | GuardConfig | None, explicit: str | None = None
) -> str:
    """Where the keys live: ``explicit`` (``--keys``) when given; else ``[gateway] keys`` of
    the costcap.toml at ``config``; else its ``[guard] store`` when that is SQLite or
    PostgreSQL; else its ``[ledger] url`` when that is. Anything else is a ConfigError saying
    what to set. (Given a GuardConfig, already read, ``[gateway] keys`` is not looked at.)"""
    if explicit is not None:
        return _durable(explicit, "keys URL")
    if config is None:
        raise ConfigError(
            "no costcap.toml in this directory to say where the keys live: pass --config PATH "
            "(or set COSTCAP_CONFIG), or --keys URL"
        )
    if isinstance(config, GuardConfig):
        source, guard = "costcap.toml", config
    else:
        source = os.fspath(config)
        data = read_toml(config)
        setting = _gateway_keys(data, source)
        if setting is not None:
            return setting
        guard = _guard_config(data, source)
    for url in (guard.store, guard.ledger_url):
        if _keeps_keys(url):
            assert url is not None
            return url
    ledger = "is not set" if guard.ledger_url is None else f"is {redact(guard.ledger_url)!r}"
    raise ConfigError(
        f"{source}: no place for virtual keys: [guard] store is {redact(guard.store)!r} and "
        f"[ledger] url {ledger}, and keys live in SQLite or PostgreSQL; {_SET_IT}, "
        "or pass --keys URL"
    )
