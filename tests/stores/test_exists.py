"""``store_exists``: read-only commands ask it before opening a store, which would create one."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from costcap.cli.app import run
from costcap.stores import open_store, store_exists
from tests.services import POSTGRES_URL

EXPECTED_BEFORE = {"memory": False, "sqlite": False, "redis": True, "postgres": False}


def backend_of(url: str) -> str:
    return url.split(":", 1)[0].replace("postgresql", "postgres")


def schema_present(url: str) -> bool:
    schema = url.partition("?schema=")[2]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [schema]
        ).fetchone()
    return found is not None


def test_a_store_not_created_yet_is_not_there(store_url: str) -> None:
    """Before a store is opened, only Redis (no schema to create) counts as holding one."""
    assert store_exists(store_url) is EXPECTED_BEFORE[backend_of(store_url)]


def test_asking_creates_nothing(store_url: str, tmp_path: Path) -> None:
    """Asking leaves no SQLite file and no PostgreSQL schema behind."""
    store_exists(store_url)
    assert not (tmp_path / "costcap.db").exists()
    if backend_of(store_url) == "postgres":
        assert not schema_present(store_url)


def test_an_opened_store_is_there(store_url: str) -> None:
    """Once a store has been opened (and so created), it is found, except the memory store,
    which every process starts anew."""
    open_store(store_url).close()
    assert store_exists(store_url) is (backend_of(store_url) != "memory")


def test_an_sqlite_file_that_is_not_a_store_is_not_one(tmp_path: Path) -> None:
    """An SQLite file without costcap's tables is not a store (and is left as it was)."""
    path = tmp_path / "other.db"
    path.write_bytes(b"")
    assert store_exists(f"sqlite:///{path}") is False
    assert path.read_bytes() == b""


def test_budgets_reads_a_missing_store_as_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``costcap budgets`` on a store that does not exist yet shows $0 spent and creates no
    file (it only reads)."""
    store = tmp_path / "store.db"
    config = tmp_path / "costcap.toml"
    config.write_text(
        f'[guard]\nstore = "sqlite:///{store}"\n'
        '[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = "100"\n'
    )
    assert run(["budgets", "--config", str(config), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["spent_usd"], row["limit_usd"]) == ("0.00", "100.00")
    assert not store.exists()
