"""Where the keys live: open_key_store's URLs, and keys_url's choice from --keys and
costcap.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from costcap.config import load_config
from costcap.errors import ConfigError
from costcap.gateway.keys import keys_url, open_key_store
from costcap.gateway.keys._postgres import PostgresKeyStore
from costcap.gateway.keys._sqlite import SQLiteKeyStore

PG = "postgresql://postgres@127.0.0.1:5432/test"


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "costcap.toml"
    path.write_text(text)
    return path


def test_each_url_opens_its_backend(keys_url: str) -> None:
    store = open_key_store(keys_url)
    try:
        kind = SQLiteKeyStore if keys_url.startswith("sqlite") else PostgresKeyStore
        assert isinstance(store, kind)
    finally:
        store.close()


@pytest.mark.parametrize(("url", "message"), [
    ("redis://127.0.0.1:6379/0", "virtual keys live in SQLite or PostgreSQL, not Redis"),
    ("rediss://u:secret@host/0", "'rediss://u:***@host/0'"),
    ("memory://", "not memory://"),
    ("mysql://host/db", "unknown scheme 'mysql'"),
    ("", "must be a URL"),
    ("sqlite:/relative.db", "use sqlite:///relative.db"),
    (f"{PG}?bogus=1", "bogus"),
])  # fmt: skip
def test_other_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_key_store(url)
    assert message in str(caught.value)


def test_redis_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match=r'set \[gateway\] keys = "postgresql://…"'):
        open_key_store("redis://127.0.0.1:6379/0")


def test_an_explicit_url_wins(tmp_path: Path) -> None:
    path = toml(tmp_path, '[gateway]\nkeys = "sqlite:///from-file.db"\n')
    assert keys_url(path, "sqlite:///given.db") == "sqlite:///given.db"
    assert keys_url(None, f"{PG}?schema=k") == f"{PG}?schema=k"


def test_gateway_keys_comes_first(tmp_path: Path) -> None:
    path = toml(tmp_path, f'[gateway]\nkeys = "{PG}"\n[guard]\nstore = "sqlite:///s.db"\n')
    assert keys_url(path, None) == PG


@pytest.mark.parametrize(("text", "expected"), [
    ('[guard]\nstore = "sqlite:///store.db"\n', "sqlite:///store.db"),
    (f'[guard]\nstore = "{PG}"\n', PG),
    ("", "sqlite:///costcap.db"),  # the Guard's default store
    ('[guard]\nstore = "redis://h:6379/0"\n[ledger]\nurl = "sqlite:///ledger.db"\n',
     "sqlite:///ledger.db"),
    ('[guard]\nstore = "sqlite://"\n[ledger]\nurl = "sqlite:///ledger.db"\n',
     "sqlite:///ledger.db"),
])  # fmt: skip
def test_else_the_store_then_the_ledger(tmp_path: Path, text: str, expected: str) -> None:
    assert keys_url(toml(tmp_path, text), None) == expected


def test_a_guard_config_already_read_is_taken_too(tmp_path: Path) -> None:
    config = load_config(toml(tmp_path, '[guard]\nstore = "sqlite:///store.db"\n'))
    assert keys_url(config, None) == "sqlite:///store.db"


@pytest.mark.parametrize(("text", "message"), [
    ('[guard]\nstore = "redis://h:6379/0"\n',
     "[guard] store is 'redis://h:6379/0' and [ledger] url is not set"),
    ('[guard]\nstore = "memory://"\n[ledger]\nurl = "sqlite://"\n',
     "keys live in SQLite or PostgreSQL; set [gateway] keys"),
    ('[gateway]\nkeys = "sqlite://"\n', "gateway.keys 'sqlite://' is a database in memory"),
    ('[gateway]\nkeys = 5\n', "gateway.keys must be a URL"),
    ("gateway = 1\n", "gateway: must be a table"),
    ('[guard]\nstrict = "yes"\n', "guard.strict"),  # the rest of the file is checked
    ("[budgets\n", "not valid TOML"),
])  # fmt: skip
def test_no_place_for_keys_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        keys_url(toml(tmp_path, text), None)
    assert message in str(caught.value)


def test_without_a_config_or_url_the_error_says_what_to_pass() -> None:
    with pytest.raises(ConfigError, match=r"pass --config PATH .* or --keys URL"):
        keys_url(None, None)


def test_an_explicit_url_in_memory_is_refused() -> None:
    with pytest.raises(ConfigError, match="keys URL 'sqlite://' is a database in memory"):
        keys_url(None, "sqlite://")
