"""A core install without the ``redis`` or ``postgres`` extra: opening such a store or ledger is a
one-line ConfigError saying what to install, not a ModuleNotFoundError.

Each test hides the driver (``sys.modules[name] = None`` makes importing it fail) and forgets
costcap's backend module, as in a fresh process where the driver was never installed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from costcap.errors import ConfigError
from costcap.ledger import Ledger, open_sink
from costcap.stores import open_async_store, open_store

REDIS = "redis://127.0.0.1:6379/15"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)
    for backend in ("costcap.stores.redis", "costcap.stores.postgres"):
        monkeypatch.delitem(sys.modules, backend, raising=False)


def test_redis_store_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """``redis://`` without redis-py names the extra to install."""
    hide(monkeypatch, "redis")
    with pytest.raises(
        ConfigError, match=r"^the redis store needs: pip install 'costcap\[redis\]'$"
    ):
        open_store(REDIS)


def test_async_redis_store_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The asyncio store says the same."""
    hide(monkeypatch, "redis")
    with pytest.raises(ConfigError, match=r"pip install 'costcap\[redis\]'"):
        open_async_store(REDIS)


@pytest.mark.parametrize("module", ["psycopg", "psycopg_pool"])
def test_postgres_store_without_the_extra(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """``postgresql://`` without psycopg (or its pool) names the extra to install."""
    hide(monkeypatch, module)
    with pytest.raises(
        ConfigError, match=r"^the postgres store needs: pip install 'costcap\[postgres\]'$"
    ):
        open_store(POSTGRES)


def test_async_postgres_store_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The asyncio store says the same."""
    hide(monkeypatch, "psycopg")

    async def open_it() -> None:
        open_async_store(POSTGRES)

    with pytest.raises(ConfigError, match=r"pip install 'costcap\[postgres\]'"):
        asyncio.run(open_it())


def test_postgres_ledger_without_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PostgreSQL Ledger without psycopg names the extra when it is created."""
    hide(monkeypatch, "psycopg")
    with pytest.raises(
        ConfigError, match=r"^a PostgreSQL ledger needs: pip install 'costcap\[postgres\]'$"
    ):
        Ledger(POSTGRES, spool_dir=tmp_path / "spool")


def test_postgres_sink_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a PostgreSQL sink directly says the same."""
    hide(monkeypatch, "psycopg")
    with pytest.raises(ConfigError, match=r"pip install 'costcap\[postgres\]'"):
        open_sink(POSTGRES)
