"""Store URLs: every one that cannot work is a ConfigError when the store is opened (or, for a
Redis database the server does not have, at its first use), naming the URL and the problem."""

from __future__ import annotations

import asyncio

import pytest

from costcap.errors import ConfigError
from costcap.stores import open_async_store, open_store
from tests.services import require, unique

REDIS = "redis://127.0.0.1:6379"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def test_redis_database_the_server_lacks_is_named_at_first_use() -> None:
    """Database 99 (a default server has 16) is a ConfigError, not redis-py's ResponseError."""
    require("Redis", "127.0.0.1", 6379)
    store = open_store(f"{REDIS}/99?prefix={unique('cctest')}")
    try:
        with pytest.raises(ConfigError, match=r"Redis at 127\.0\.0\.1:6379/99: no such database"):
            store.read([("a",)])
    finally:
        store.close()


def test_async_redis_database_the_server_lacks_is_named_at_first_use() -> None:
    """The asyncio store reports the missing database the same way."""
    require("Redis", "127.0.0.1", 6379)

    async def first_use() -> None:
        store = open_async_store(f"{REDIS}/99?prefix={unique('cctest')}")
        try:
            await store.read([("a",)])
        finally:
            await store.close()

    with pytest.raises(ConfigError, match="no such database"):
        asyncio.run(first_use())


def test_redis_database_that_is_not_a_number_is_refused() -> None:
    """``/abc`` is refused, where redis-py would silently use database 0."""
    with pytest.raises(ConfigError, match="the path must be a database number"):
        open_store(f"{REDIS}/abc")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("socket_timeout=abc", "socket_timeout must be a number of seconds above 0, not 'abc'"),
        ("socket_timeout=-1", "socket_timeout must be a number of seconds above 0"),
        ("max_connections=0", "max_connections must be a whole number of at least 1"),
        ("socket_keepalive=maybe", "socket_keepalive must be true or false"),
        ("bogus=1", "unknown option 'bogus'"),
        ("retry_on_timeout=true", "costcap never retries a command"),
        ("ssl_ca_certs=/ca.pem", r"ssl_ca_certs needs a TLS URL \(rediss://\)"),
    ],
)
def test_bad_redis_option_is_named(query: str, message: str) -> None:
    """A query parameter costcap cannot pass on as meant is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=message):
        open_store(f"{REDIS}/15?{query}")


def test_async_redis_store_checks_its_url_too() -> None:
    """``open_async_store`` refuses the same bad option."""
    with pytest.raises(ConfigError, match="socket_timeout must be a number"):
        open_async_store(f"{REDIS}/15?socket_timeout=abc")


def test_redis_password_is_not_shown() -> None:
    """The password in a refused URL is masked in the message."""
    with pytest.raises(ConfigError) as caught:
        open_store("redis://app:s3cret@127.0.0.1:6379/15?bogus=1")
    assert "s3cret" not in str(caught.value)
    assert "app:***@127.0.0.1" in str(caught.value)


def test_postgres_port_out_of_range_is_refused() -> None:
    """Port 99999 is a ConfigError, not ``ValueError: Port out of range``."""
    with pytest.raises(ConfigError, match="Port out of range"):
        open_store("postgresql://postgres@127.0.0.1:99999/x")


def test_postgres_parameter_libpq_does_not_know_is_refused() -> None:
    """``?bogus=1`` is refused when the store is opened, naming the parameter."""
    with pytest.raises(ConfigError, match='invalid URI query parameter: "bogus"'):
        open_store(f"{POSTGRES}?bogus=1")


def test_postgres_connect_timeout_that_is_not_a_number_is_refused() -> None:
    """``connect_timeout=abc`` is a ConfigError naming it, not a psycopg ProgrammingError."""
    with pytest.raises(ConfigError, match="bad value for connect_timeout: 'abc'"):
        open_store(f"{POSTGRES}?connect_timeout=abc")


def test_postgres_pool_timeout_must_be_finite() -> None:
    """``pool_timeout=nan`` is refused (no comparison with NaN is ever true)."""
    with pytest.raises(ConfigError, match="pool_timeout a number of seconds above 0"):
        open_store(f"{POSTGRES}?pool_timeout=nan")


def test_postgres_schema_longer_than_an_identifier_is_refused() -> None:
    """PostgreSQL would cut a 64-byte schema name to 63 and share it with another store."""
    with pytest.raises(ConfigError, match="longer than PostgreSQL's 63 bytes"):
        open_store(f"{POSTGRES}?schema={'s' * 64}")


def test_postgres_libpq_parameters_reach_libpq_as_written() -> None:
    """Parameters for libpq are passed on without being decoded and encoded again: ``%20`` stays
    a space for libpq and ``+`` stays a plus; costcap's own parameters are taken out."""
    from costcap.stores._postgres_url import Settings

    options = "options=-c%20lock_timeout%3D2000%20-c%20statement_timeout%3D0"
    url = f"{POSTGRES}?schema=s&sslrootcert=/certs/a+b.pem&{options}&pool_max=3"
    settings = Settings.from_url(url)
    assert settings.conninfo == (
        f"{POSTGRES}?sslrootcert=/certs/a+b.pem&{options}"
        "&connect_timeout=5&application_name=costcap"
    )
    assert (settings.schema, settings.pool_max, settings.lock_timeout) == ("s", 3, "2 s")


@pytest.mark.parametrize("url", ["memory://somewhere", "memory://?size=10"])
def test_memory_url_takes_nothing_more(url: str) -> None:
    """The memory store has no host or options: anything after ``memory://`` is refused."""
    with pytest.raises(ConfigError, match="the memory store takes no host, path or options"):
        open_store(url)


def test_sqlite_url_without_slashes_is_refused() -> None:
    """``sqlite:x.db`` would have opened a file named ``.db``."""
    with pytest.raises(ConfigError, match=r"use sqlite:///relative\.db"):
        open_store("sqlite:x.db")


@pytest.mark.parametrize("timeout", ["nan", "inf"])
def test_sqlite_timeout_must_be_finite(timeout: str) -> None:
    """A busy timeout of NaN or infinity is refused."""
    with pytest.raises(ConfigError, match="busy timeout must be a number of seconds above 0"):
        open_store(f"sqlite://?timeout={timeout}")


@pytest.mark.parametrize("url", ["mysql://localhost/x", ""])
def test_unknown_scheme_is_refused(url: str) -> None:
    """A scheme costcap has no store for is a ConfigError listing the ones it has."""
    with pytest.raises(ConfigError, match="unknown scheme"):
        open_store(url)


def test_url_that_is_not_a_string_is_refused() -> None:
    """``open_store(None)`` names what a store URL looks like."""
    with pytest.raises(ConfigError, match="a store URL must be a string"):
        open_store(None)  # type: ignore[arg-type]
